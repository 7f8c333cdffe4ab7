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

RecheckCache::Claim RecheckCache::ClaimComputing(const core::Filter& filter,
                                                 int64_t indexed_through) {
  std::unique_lock lock(mu_);
  std::optional<Found> waited_for;
  for (;;) {
    auto other = std::find_if(computing_.begin(), computing_.end(), [&](const Computing& c) {
      return c.indexed_through <= indexed_through && c.filter == filter;
    });
    if (other == computing_.end()) break;
    std::shared_future<std::optional<Found>> done = other->done;
    ++waits_;
    lock.unlock();
    const std::optional<Found>& published = done.get();
    if (published && published->indexed_through <= indexed_through &&
        (!waited_for || waited_for->indexed_through < published->indexed_through)) {
      waited_for = published;
    }
    lock.lock();
  }
  Claim claim(this, next_claim_++);
  claim.waited_for_ = std::move(waited_for);
  computing_.push_back(
      Computing{filter, indexed_through, claim.id_, claim.done_.get_future().share()});
  return claim;
}

RecheckCache::Claim::~Claim() {
  if (cache_ == nullptr) return;
  {
    std::lock_guard lock(cache_->mu_);
    cache_->computing_.remove_if([&](const Computing& c) { return c.id == id_; });
  }
  done_.set_value(std::move(published_));
}

uint64_t RecheckCache::waits() const {
  std::lock_guard lock(mu_);
  return waits_;
}

size_t RecheckCache::rows() const {
  std::lock_guard lock(mu_);
  return rows_;
}

}  // namespace evident::storage::sqlite
