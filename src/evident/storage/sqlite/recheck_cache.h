// The matches of recent searches that the index can only narrow (phrases: detail=none keeps no
// positions), each confirmed on its decoded event. Such a search's total needs every match, so
// without this every page of it, and its histogram after its first page, decoded every candidate
// again: a common two-word phrase in a large tenant took 3.6 s a request at 10M events, and
// paging through its 4,435 matches 20 at a time would have taken 13 minutes.
//
// An entry holds the matches among the events indexed through a watermark (every position up to
// it). Positions only grow and indexed events never change, so a later snapshot extends an
// entry by the events indexed since: their candidates are the index's past that position.
// Entries are keyed by the whole filter, tenants included: the API has narrowed those to what the
// caller may see before the store is asked, so a caller only finds what it could have computed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "evident/core/filter.h"
#include "evident/util/time.h"

namespace evident::storage::sqlite {

class RecheckCache {
 public:
  // (occurred_at, position) of each match, newest first.
  using Rows = std::vector<std::pair<util::UnixMillis, int64_t>>;
  struct Found {
    std::shared_ptr<const Rows> rows;
    int64_t indexed_through = 0;  // the matches among positions up to this one
  };

  // Keeps at most `max_entries` filters and `max_rows` matches in all (16 bytes each).
  RecheckCache(size_t max_rows, size_t max_entries)
      : max_rows_(max_rows), max_entries_(max_entries) {}

  // The matches of `filter` among the events indexed through some watermark no later than
  // `indexed_through`, if kept; the newest such. Thread-safe.
  std::optional<Found> Find(const core::Filter& filter, int64_t indexed_through);

  // Keeps `rows`, the matches of `filter` among the events indexed through `indexed_through`,
  // unless as new an entry is kept or they alone exceed max_rows; evicts the least recently used
  // entries beyond the limits. Thread-safe.
  void Insert(const core::Filter& filter, int64_t indexed_through,
              std::shared_ptr<const Rows> rows);

  // While alive, the holder is computing the matches of a filter at a watermark; others asking
  // for the same filter at that watermark or later wait until it is destroyed, and take what it
  // published (even matches too many to keep).
  class Claim {
   public:
    Claim(Claim&& other) noexcept
        : cache_(std::exchange(other.cache_, nullptr)),
          id_(other.id_),
          done_(std::move(other.done_)),
          published_(std::move(other.published_)),
          waited_for_(std::move(other.waited_for_)) {}
    Claim& operator=(Claim&&) = delete;
    ~Claim();

    // What the claim this one waited for published, if anything.
    const std::optional<Found>& waited_for() const { return waited_for_; }
    // The matches its waiters take once the claim goes.
    void Publish(Found found) { published_ = std::move(found); }

   private:
    friend class RecheckCache;
    Claim(RecheckCache* cache, uint64_t id) : cache_(cache), id_(id) {}
    RecheckCache* cache_;
    uint64_t id_;
    std::promise<std::optional<Found>> done_;
    std::optional<Found> published_;
    std::optional<Found> waited_for_;
  };

  // Registers the caller as computing the matches of `filter` at `indexed_through`, first
  // waiting for any other thread computing them at a watermark no later (the console asks for a
  // page and its histogram at once: the second then extends what the first found, rather than
  // decoding every candidate too). The caller then starts from waited_for() or Find, computes
  // what is missing, Inserts and Publishes. Thread-safe.
  Claim ClaimComputing(const core::Filter& filter, int64_t indexed_through);

  size_t rows() const;
  // How many ClaimComputing calls have waited for another.
  uint64_t waits() const;

 private:
  struct Entry {
    core::Filter filter;
    Found found;
  };
  struct Computing {
    core::Filter filter;
    int64_t indexed_through;
    uint64_t id;
    std::shared_future<std::optional<Found>> done;
  };
  const size_t max_rows_;
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::list<Entry> entries_;        // most recently used first; guarded by mu_
  size_t rows_ = 0;                 // in all entries; guarded by mu_
  std::list<Computing> computing_;  // guarded by mu_
  uint64_t next_claim_ = 0;         // guarded by mu_
  uint64_t waits_ = 0;              // guarded by mu_
};

}  // namespace evident::storage::sqlite
