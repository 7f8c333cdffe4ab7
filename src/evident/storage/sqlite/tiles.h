// Each tenant's Merkle tree in log.db, stored as tiles in the manner of C2SP tlog-tiles: the
// tile at (level L, index i) holds the hashes of the tree's nodes at height 8L with indexes
// [256 i, 256 i + width), width <= 256, in table `tiles`. Level-0 tiles hold the leaf hashes and,
// beside them, the log position of each leaf's event, so that a tenant's seq finds its event.
// Any node is read from one tile (at most 128 hashes to combine), so a proof costs O(log n) reads.
// The rightmost tile of each level is partial and rewritten as the tree grows.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "evident/merkle/merkle.h"
#include "evident/storage/sqlite/db.h"
#include "evident/util/result.h"

namespace evident::storage::sqlite {

inline constexpr int kTileHeight = 8;
inline constexpr uint64_t kTileWidth = uint64_t{1} << kTileHeight;

// One tile as stored: its hashes, and for level 0 its leaves' positions (encoded). Both empty
// when the tile does not exist.
struct StoredTile {
  std::string hashes;
  std::string positions;
};
util::Result<StoredTile> ReadTile(Db& db, int64_t tenant_id, int level, uint64_t index);

// The log positions a level-0 tile records. Errors: Corruption when malformed.
util::Result<std::vector<int64_t>> DecodeTilePositions(std::string_view bytes);

// Reads one tenant's nodes and leaf positions from tiles through `db` (not owned), caching the
// tiles it has read. Not thread-safe.
class TileReader {
 public:
  TileReader(Db& db, int64_t tenant_id) : db_(db), tenant_id_(tenant_id) {}

  // merkle::NodeSource. Errors: Corruption when the tile lacks the node.
  util::Result<merkle::Hash> Node(int level, uint64_t index);
  // The log positions of the leaves [start, end). Errors: Corruption when tiles lack them.
  util::Result<std::vector<int64_t>> Positions(uint64_t start, uint64_t end);

 private:
  struct Tile {
    std::string hashes;
    std::vector<int64_t> positions;  // level 0 only
  };
  util::Result<const Tile*> Read(int level, uint64_t index);

  Db& db_;
  const int64_t tenant_id_;
  std::map<std::pair<int, uint64_t>, Tile> cache_;
};

// The writer's state of one tenant's tree: its frontier and the rightmost tile of each level.
class TreeWriter {
 public:
  // The tree of `size` leaves as stored. Errors: Corruption when the tiles disagree with `size`.
  static util::Result<TreeWriter> Load(Db& db, int64_t tenant_id, uint64_t size);

  uint64_t size() const { return frontier_.size(); }
  // Appends the leaf of the event stored at `position` to the tree; full tiles are written at
  // once, partial ones by Flush.
  util::Status Append(Db& db, const merkle::Hash& leaf, int64_t position);
  // Writes every tile changed since the last Flush.
  util::Status Flush(Db& db);

 private:
  struct OpenTile {
    uint64_t index = 0;
    std::string hashes;
    std::string positions;  // level 0: LEB128 varints, the first absolute, then deltas
    int64_t last_position = 0;
    bool dirty = false;
  };
  util::Status Write(Db& db, int level, const OpenTile& tile);

  int64_t tenant_id_ = 0;
  merkle::Frontier frontier_;
  std::vector<OpenTile> tiles_;  // by level
};

}  // namespace evident::storage::sqlite
