#include "evident/storage/sqlite/recheck_cache.h"

#include <algorithm>

namespace evident::storage::sqlite {

std::optional<RecheckCache::Found> RecheckCache::Find(const core::Filter& filter,
                                                      int64_t indexed_through) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& entry) { return entry.filter == filter; });
  if (it == entries_.end() || it->found.indexed_through > indexed_through) return std::nullopt;
  entries_.splice(entries_.begin(), entries_, it);
  return it->found;
}

void RecheckCache::Insert(const core::Filter& filter, int64_t indexed_through,
                          std::shared_ptr<const Rows> rows) {
  if (rows == nullptr || rows->size() > max_rows_ || max_entries_ == 0) return;
  std::lock_guard lock(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& entry) { return entry.filter == filter; });
  if (it != entries_.end()) {
    if (it->found.indexed_through >= indexed_through) return;
    rows_ -= it->found.rows->size();
    entries_.erase(it);
  }
  rows_ += rows->size();
  entries_.push_front(Entry{filter, Found{std::move(rows), indexed_through}});
  while (entries_.size() > max_entries_ || rows_ > max_rows_) {
    rows_ -= entries_.back().found.rows->size();
    entries_.pop_back();
  }
}

size_t RecheckCache::rows() const {
  std::lock_guard lock(mu_);
  return rows_;
}

}  // namespace evident::storage::sqlite
