#include "evident/storage/sqlite/log_block.h"

#include <algorithm>

#include "evident/storage/sqlite/body_codec.h"
#include "evident/storage/sqlite/varint.h"

namespace evident::storage::sqlite {

using util::Error;

void AppendToBlock(std::string_view json, std::string& payload) {
  AppendVarint(json.size(), payload);
  payload.append(json);
}

util::Result<LogBlockPtr> LogBlock::Decode(int64_t first_position, std::string_view body) {
  auto block = std::make_shared<LogBlock>();
  block->first_position_ = first_position;
  EVIDENT_ASSIGN_OR_RETURN(block->payload_, DecompressBody(body));
  const std::string_view payload = block->payload_;
  size_t at = 0;
  while (at < payload.size()) {
    uint64_t size = 0;
    if (!ReadVarint(payload, at, size)) {
      return Error::Corruption("log block " + std::to_string(first_position) +
                               ": bad event length");
    }
    if (size > payload.size() - at) {
      return Error::Corruption("log block " + std::to_string(first_position) +
                               ": event runs past the block");
    }
    block->spans_.emplace_back(at, size);
    at += size;
  }
  if (block->spans_.empty()) {
    return Error::Corruption("log block " + std::to_string(first_position) + " is empty");
  }
  return LogBlockPtr(std::move(block));
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
