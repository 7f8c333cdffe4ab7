#include "evident/storage/sqlite/tiles.h"

#include <cstring>

#include "evident/storage/sqlite/varint.h"

namespace evident::storage::sqlite {

using util::Error;
using util::Result;
using util::Status;

Result<StoredTile> ReadTile(Db& db, int64_t tenant_id, int level, uint64_t index) {
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * select,
      db.Prepare("SELECT hashes, positions FROM tiles WHERE tenant_id = ? AND level = ? AND "
                 "idx = ?"));
  select->Bind(1, tenant_id).Bind(2, level).Bind(3, static_cast<int64_t>(index));
  EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
  StoredTile tile;
  if (found) {
    tile.hashes = std::string(select->ColumnBlob(0));
    tile.positions = std::string(select->ColumnBlob(1));
  }
  select->Reset();
  return tile;
}

Result<std::vector<int64_t>> DecodeTilePositions(std::string_view bytes) {
  std::vector<int64_t> positions;
  int64_t previous = 0;
  size_t at = 0;
  while (at < bytes.size()) {
    uint64_t value = 0;
    if (!ReadVarint(bytes, at, value)) return Error::Corruption("tile: bad position");
    previous =
        positions.empty() ? static_cast<int64_t>(value) : previous + static_cast<int64_t>(value);
    positions.push_back(previous);
  }
  return positions;
}

namespace {

merkle::Hash HashAt(std::string_view hashes, size_t i) {
  merkle::Hash hash;
  std::memcpy(hash.data(), hashes.data() + i * merkle::kHashSize, merkle::kHashSize);
  return hash;
}

std::string NodeName(int level, uint64_t index) {
  return "node " + std::to_string(index) + " at level " + std::to_string(level);
}

}  // namespace

Result<const TileReader::Tile*> TileReader::Read(int level, uint64_t index) {
  const auto key = std::make_pair(level, index);
  if (auto it = cache_.find(key); it != cache_.end()) return &it->second;
  EVIDENT_ASSIGN_OR_RETURN(StoredTile stored, ReadTile(db_, tenant_id_, level, index));
  Tile tile;
  tile.hashes = std::move(stored.hashes);
  EVIDENT_ASSIGN_OR_RETURN(tile.positions, DecodeTilePositions(stored.positions));
  if (tile.hashes.size() % merkle::kHashSize != 0 ||
      (level == 0 && tile.positions.size() != tile.hashes.size() / merkle::kHashSize)) {
    return Error::Corruption("tile " + std::to_string(index) + " at level " +
                             std::to_string(level) + " is damaged");
  }
  return &cache_.emplace(key, std::move(tile)).first->second;
}

Result<merkle::Hash> TileReader::Node(int level, uint64_t index) {
  const int tile_level = level / kTileHeight;
  const int height = level % kTileHeight;
  const uint64_t first = index << height;  // in units of the tile level's nodes
  const size_t count = size_t{1} << height;
  EVIDENT_ASSIGN_OR_RETURN(const Tile* tile, Read(tile_level, first / kTileWidth));
  const size_t offset = first % kTileWidth;
  if (tile->hashes.size() < (offset + count) * merkle::kHashSize) {
    return Error::Corruption("the tree lacks " + NodeName(level, index));
  }
  // Combine the 2^height hashes pairwise up to their root.
  std::vector<merkle::Hash> row(count);
  for (size_t i = 0; i < count; ++i) row[i] = HashAt(tile->hashes, offset + i);
  for (size_t width = count; width > 1; width /= 2) {
    for (size_t i = 0; i < width / 2; ++i)
      row[i] = merkle::HashChildren(row[2 * i], row[2 * i + 1]);
  }
  return row[0];
}

Result<std::vector<int64_t>> TileReader::Positions(uint64_t start, uint64_t end) {
  std::vector<int64_t> positions;
  positions.reserve(end - start);
  for (uint64_t seq = start; seq < end; ++seq) {
    EVIDENT_ASSIGN_OR_RETURN(const Tile* tile, Read(0, seq / kTileWidth));
    const size_t at = seq % kTileWidth;
    if (at >= tile->positions.size()) {
      return Error::Corruption("the tree lacks leaf " + std::to_string(seq));
    }
    positions.push_back(tile->positions[at]);
  }
  return positions;
}

Result<TreeWriter> TreeWriter::Load(Db& db, int64_t tenant_id, uint64_t size) {
  TreeWriter writer;
  writer.tenant_id_ = tenant_id;
  TileReader reader(db, tenant_id);
  EVIDENT_ASSIGN_OR_RETURN(writer.frontier_,
                           merkle::Frontier::Load(size, [&](int level, uint64_t index) {
                             return reader.Node(level, index);
                           }));
  // The rightmost tile of each level that has nodes: partial ones are reopened, full ones end.
  for (int level = 0; (size >> (level * kTileHeight)) > 0; ++level) {
    const uint64_t nodes = size >> (level * kTileHeight);
    OpenTile tile;
    tile.index = nodes / kTileWidth;
    if (nodes % kTileWidth != 0) {
      EVIDENT_ASSIGN_OR_RETURN(StoredTile stored, ReadTile(db, tenant_id, level, tile.index));
      tile.hashes = std::move(stored.hashes);
      tile.positions = std::move(stored.positions);
      if (tile.hashes.size() != (nodes % kTileWidth) * merkle::kHashSize) {
        return Error::Corruption("tenant " + std::to_string(tenant_id) + ": tile " +
                                 std::to_string(tile.index) + " at level " + std::to_string(level) +
                                 " disagrees with the tree size " + std::to_string(size));
      }
      if (level == 0) {
        EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> positions,
                                 DecodeTilePositions(tile.positions));
        if (!positions.empty()) tile.last_position = positions.back();
      }
    }
    writer.tiles_.push_back(std::move(tile));
  }
  return writer;
}

Status TreeWriter::Append(Db& db, const merkle::Hash& leaf, int64_t position) {
  Status status;
  frontier_.Append(leaf, [&](int level, uint64_t index, const merkle::Hash& hash) {
    if (!status || level % kTileHeight != 0) return;
    const int tile_level = level / kTileHeight;
    if (tiles_.size() <= static_cast<size_t>(tile_level)) tiles_.resize(tile_level + 1);
    OpenTile& tile = tiles_[tile_level];
    if (index / kTileWidth != tile.index ||
        index % kTileWidth != tile.hashes.size() / merkle::kHashSize) {
      status = Error::Internal("tree writer: tile out of step");
      return;
    }
    tile.hashes.append(reinterpret_cast<const char*>(hash.data()), hash.size());
    if (level == 0) {
      AppendVarint(
          static_cast<uint64_t>(tile.positions.empty() ? position : position - tile.last_position),
          tile.positions);
      tile.last_position = position;
    }
    tile.dirty = true;
    if (tile.hashes.size() == kTileWidth * merkle::kHashSize) {
      status = Write(db, tile_level, tile);
      const uint64_t next = tile.index + 1;
      tile = OpenTile();
      tile.index = next;
    }
  });
  return status;
}

Status TreeWriter::Flush(Db& db) {
  for (size_t level = 0; level < tiles_.size(); ++level) {
    if (!tiles_[level].dirty) continue;
    EVIDENT_RETURN_IF_ERROR(Write(db, static_cast<int>(level), tiles_[level]));
    tiles_[level].dirty = false;
  }
  return {};
}

Status TreeWriter::Write(Db& db, int level, const OpenTile& tile) {
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * upsert,
      db.Prepare("INSERT OR REPLACE INTO tiles(tenant_id, level, idx, hashes, positions) "
                 "VALUES(?, ?, ?, ?, ?)"));
  upsert->Bind(1, tenant_id_).Bind(2, level).Bind(3, static_cast<int64_t>(tile.index));
  upsert->BindBlobStatic(4, tile.hashes);
  if (level == 0) {
    upsert->BindBlobStatic(5, tile.positions);
  } else {
    upsert->BindNull(5);
  }
  return upsert->Run();
}

}  // namespace evident::storage::sqlite
