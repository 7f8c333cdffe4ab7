#include "evident/storage/sqlite/log_block.h"

#include <algorithm>

#include "evident/core/event.h"
#include "evident/storage/sqlite/body_codec.h"
#include "evident/storage/sqlite/varint.h"

namespace evident::storage::sqlite {

using util::Error;

void AppendToBlock(std::string_view json, std::string& payload) {
  AppendVarint(json.size(), payload);
  payload.append(json);
}

namespace {

constexpr char kSeqsZstd = 0x02;
constexpr char kSeqsRaw = 0x03;

Error BadBlock(int64_t first_position, std::string_view what) {
  return Error::Corruption("log block " + std::to_string(first_position) + ": " +
                           std::string(what));
}

// The events of a block of the written layout, in order: calls each(index, seqless JSON, seq_at,
// seq) until it answers false, decompressing into `buffer`. Having visited them all, checks that
// the payload holds no more.
template <typename Each>
util::Status ForEachSeqlessEvent(int64_t first_position, std::string_view body, std::string& buffer,
                                 Each&& each) {
  size_t at = 1;
  uint64_t count = 0;
  if (!ReadVarint(body, at, count) || count == 0 || count > body.size()) {
    return BadBlock(first_position, "bad event count");
  }
  thread_local std::vector<uint64_t> seqs;
  seqs.resize(count);
  for (uint64_t& seq : seqs) {
    if (!ReadVarint(body, at, seq)) return BadBlock(first_position, "bad seq");
  }
  std::string_view payload = body.substr(at);
  if (body[0] == kSeqsZstd) {
    EVIDENT_ASSIGN_OR_RETURN(payload, DecompressFrameInto(payload, buffer));
  }
  at = 0;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t size = 0, seq_at = 0;
    if (!ReadVarint(payload, at, size) || !ReadVarint(payload, at, seq_at)) {
      return BadBlock(first_position, "bad event length");
    }
    if (size > payload.size() - at || seq_at > size) {
      return BadBlock(first_position, "event runs past the block");
    }
    EVIDENT_ASSIGN_OR_RETURN(bool more, each(i, payload.substr(at, size), seq_at, seqs[i]));
    at += size;
    if (!more) return {};
  }
  if (at != payload.size()) return BadBlock(first_position, "more events than seqs");
  return {};
}

}  // namespace

void AppendSeqlessToBlock(std::string_view json, size_t seq_at, std::string& payload) {
  AppendVarint(json.size(), payload);
  AppendVarint(seq_at, payload);
  payload.append(json);
}

void MakeBlockFrame(std::string_view payload, BlockFrame& frame) {
  frame.bytes.clear();
  frame.compressed = AppendCompressed(payload, frame.bytes);
  if (!frame.compressed) frame.bytes.assign(payload);
}

void MakeBlockBody(const BlockFrame& frame, std::span<const uint64_t> seqs, std::string& body) {
  body.clear();
  body.reserve(1 + 10 * (seqs.size() + 1) + frame.bytes.size());
  body.push_back(frame.compressed ? kSeqsZstd : kSeqsRaw);
  AppendVarint(seqs.size(), body);
  for (uint64_t seq : seqs) AppendVarint(seq, body);
  body.append(frame.bytes);
}

util::Result<LogBlockPtr> LogBlock::Decode(int64_t first_position, std::string_view body) {
  auto block = std::make_shared<LogBlock>();
  block->first_position_ = first_position;
  if (!body.empty() && (body[0] == kSeqsZstd || body[0] == kSeqsRaw)) {
    std::string decompressed;
    EVIDENT_RETURN_IF_ERROR(ForEachSeqlessEvent(
        first_position, body, decompressed,
        [&](uint64_t index, std::string_view json, uint64_t seq_at,
            uint64_t seq) -> util::Result<bool> {
          if (index == 0) {
            // The payload is in `decompressed`, or in the body when stored as it is; each event
            // gains its seq's digits.
            block->payload_.reserve((body[0] == kSeqsZstd ? decompressed.size() : body.size()) +
                                    12 * kBlockMaxEvents);
          }
          const size_t start = block->payload_.size();
          core::AppendWithSeq(json, seq_at, seq, block->payload_);
          block->spans_.emplace_back(start, block->payload_.size() - start);
          return true;
        }));
    return LogBlockPtr(std::move(block));
  }
  EVIDENT_ASSIGN_OR_RETURN(block->payload_, DecompressBody(body));
  const std::string_view payload = block->payload_;
  size_t at = 0;
  while (at < payload.size()) {
    uint64_t size = 0;
    if (!ReadVarint(payload, at, size)) return BadBlock(first_position, "bad event length");
    if (size > payload.size() - at) return BadBlock(first_position, "event runs past the block");
    block->spans_.emplace_back(at, size);
    at += size;
  }
  if (block->spans_.empty()) return BadBlock(first_position, "holds no events");
  return LogBlockPtr(std::move(block));
}

util::Status VisitBlockEvents(int64_t first_position, std::string_view body,
                              std::span<const int64_t> positions, std::string& buffer,
                              const std::function<util::Status(int64_t, std::string_view)>& visit) {
  if (positions.empty()) return {};
  if (body.empty() || (body[0] != kSeqsZstd && body[0] != kSeqsRaw)) {
    // The read-only layouts, older than this reader: decoded whole.
    EVIDENT_ASSIGN_OR_RETURN(LogBlockPtr block, LogBlock::Decode(first_position, body));
    for (int64_t position : positions) {
      if (!block->Holds(position)) return BadBlock(first_position, "does not hold the event");
      EVIDENT_RETURN_IF_ERROR(visit(position, block->Event(position)));
    }
    return {};
  }
  if (positions.front() < first_position)
    return BadBlock(first_position, "does not hold the event");
  thread_local std::string json;
  size_t wanted = 0;
  auto each = [&](uint64_t index, std::string_view seqless, uint64_t seq_at,
                  uint64_t seq) -> util::Result<bool> {
    const int64_t position = first_position + static_cast<int64_t>(index);
    if (position == positions[wanted]) {
      json.clear();
      core::AppendWithSeq(seqless, seq_at, seq, json);
      EVIDENT_RETURN_IF_ERROR(visit(position, json));
      ++wanted;
    }
    return wanted < positions.size();
  };
  EVIDENT_RETURN_IF_ERROR(ForEachSeqlessEvent(first_position, body, buffer, each));
  // Positions past the block's last, out of order or repeated are never reached.
  if (wanted != positions.size()) return BadBlock(first_position, "does not hold the event");
  return {};
}

LogBlockPtr BlockCache::Find(int64_t position) {
  std::lock_guard lock(mu_);
  auto it = blocks_.upper_bound(position);
  if (it == blocks_.begin()) return nullptr;
  --it;
  if (!it->second.block->Holds(position)) return nullptr;
  it->second.last_used = ++clock_;
  return it->second.block;
}

void BlockCache::Insert(LogBlockPtr block) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  const int64_t first = block->first_position();
  blocks_[first] = Entry{std::move(block), ++clock_};
  if (blocks_.size() <= capacity_) return;
  // Evict the least recently used. A linear scan of a few hundred entries, paid only on a miss,
  // which has just cost a decompression many times dearer.
  auto oldest = std::min_element(blocks_.begin(), blocks_.end(), [](const auto& a, const auto& b) {
    return a.second.last_used < b.second.last_used;
  });
  blocks_.erase(oldest);
}

}  // namespace evident::storage::sqlite
