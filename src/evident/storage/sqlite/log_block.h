// The log stores events in blocks: the canonical JSON of consecutive positions, compressed together
// (docs/storage.md). A ~1 KB event alone leaves a compressor little to learn from; 64 of them share
// keys, actors, user agents and paths, so a block stores an event in ~165 bytes where one event
// alone took ~420, and one zstd call for 64 events costs a third of 64 calls.
//
// Two layouts (docs/storage.md), told apart by the body's first byte:
//   0x00 / 0x01 (read only): body_codec.h's raw or zstd form of a payload holding, for each event
//     in position order, its length as an unsigned LEB128 varint followed by its stored JSON.
//   0x02 / 0x03 (written): the events' seqs come first, outside the compressed part, which holds
//     each event's JSON without its seq's digits: 0x02 or 0x03, the number of events n, n seqs
//     (varints), then the zstd frame (0x02) or the bytes as they are (0x03) of a payload holding,
//     for each event, varint length, varint seq_at (core::SeqlessJson) and the JSON. So a batch's
//     blocks are compressed before the writer numbers its events, off the writer's thread.
// Hand-written because the framing is a few varints and no library's is simpler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "evident/util/result.h"

namespace evident::storage::sqlite {

// A block is closed when it holds this many events or this many payload bytes, whichever first.
inline constexpr size_t kBlockMaxEvents = 64;
inline constexpr size_t kBlockMaxBytes = 64 * 1024;

// Appends one event's JSON to a payload of the read-only layout (tests build old blocks with it).
void AppendToBlock(std::string_view json, std::string& payload);

// Appends one event, without its seq's digits, to a payload of the written layout.
void AppendSeqlessToBlock(std::string_view json, size_t seq_at, std::string& payload);

// The part of a written block made before its events have seqs: the payload, compressed when
// that makes it smaller.
struct BlockFrame {
  bool compressed = false;
  std::string bytes;
};
void MakeBlockFrame(std::string_view payload, BlockFrame& frame);

// The stored body of the block of `frame`, whose events (in order) have `seqs`.
void MakeBlockBody(const BlockFrame& frame, std::span<const uint64_t> seqs, std::string& body);

// One decompressed block. Immutable once built; shared between the cache and its readers.
class LogBlock {
 public:
  // Errors: Corruption when `body` is not a block of either layout.
  static util::Result<std::shared_ptr<const LogBlock>> Decode(int64_t first_position,
                                                              std::string_view body);

  int64_t first_position() const { return first_position_; }
  int64_t last_position() const {
    return first_position_ + static_cast<int64_t>(spans_.size()) - 1;
  }
  bool Holds(int64_t position) const {
    return position >= first_position_ && position <= last_position();
  }
  // The JSON of the event at `position`; Holds(position) must be true.
  std::string_view Event(int64_t position) const {
    const auto& [offset, size] = spans_[static_cast<size_t>(position - first_position_)];
    return std::string_view(payload_).substr(offset, size);
  }

 private:
  int64_t first_position_ = 0;
  std::string payload_;
  std::vector<std::pair<size_t, size_t>> spans_;  // (offset, size) in payload_, per event
};
using LogBlockPtr = std::shared_ptr<const LogBlock>;

// Calls visit(position, json) with the stored JSON of each of `positions` (ascending, each held
// by the block at `first_position` whose body is `body`), decompressing the block once into
// `buffer` (kept by the caller, so that it only grows) and copying out only those events: a
// search's recheck reads one or two events of most blocks it decompresses, and Decode copies all
// of them, seqs put back in, for that.
// Errors: Corruption as Decode, or for a position the block does not hold; the visitor's.
util::Status VisitBlockEvents(int64_t first_position, std::string_view body,
                              std::span<const int64_t> positions, std::string& buffer,
                              const std::function<util::Status(int64_t, std::string_view)>& visit);

// The blocks readers used last, so that a page of neighbouring events decompresses each block
// once. Thread-safe.
class BlockCache {
 public:
  explicit BlockCache(size_t capacity) : capacity_(capacity) {}

  LogBlockPtr Find(int64_t position);
  void Insert(LogBlockPtr block);

 private:
  struct Entry {
    LogBlockPtr block;
    uint64_t last_used = 0;
  };
  const size_t capacity_;
  std::mutex mu_;
  std::map<int64_t, Entry> blocks_;  // by first position; guarded by mu_
  uint64_t clock_ = 0;               // guarded by mu_
};

}  // namespace evident::storage::sqlite
