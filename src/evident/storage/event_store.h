// The EventStore: the durable event log (the truth) and the indexes derived from it. Backends:
// storage/sqlite (default), storage/memory (reference and test fake); PostgreSQL later. Every
// backend passes storage/conformance_test.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "evident/core/event.h"
#include "evident/core/filter.h"
#include "evident/merkle/merkle.h"
#include "evident/util/result.h"

namespace evident::storage {

// What the log says about one appended event, in request order.
struct Appended {
  std::string id;
  std::string tenant;
  uint64_t seq = 0;
  bool duplicate = false;  // an identical (tenant, id) was stored before; nothing new was stored
  bool operator==(const Appended&) const = default;
};

// One event as read back: the stored canonical JSON and where it sits in the order.
struct StoredEvent {
  std::string json;  // exactly EncodeEvent(event, kStored)
  util::UnixMillis occurred_at = 0;
  int64_t position = 0;  // global log position: unique, increasing in append order
};

struct Page {
  std::vector<StoredEvent> events;   // newest occurred_at first, ties by position desc
  std::optional<core::Cursor> next;  // set when more matching events follow
  uint64_t total = 0;                // exact count of all events matching the filter
};

struct HistogramBucket {
  util::UnixMillis start = 0;
  uint64_t count = 0;
};

struct Histogram {
  util::UnixMillis from = 0;  // inclusive
  util::UnixMillis to = 0;    // exclusive
  int64_t interval_ms = 0;
  std::vector<HistogramBucket> buckets;  // oldest first; counts add up to the filter's total
};

// A read-only view of one tenant's Merkle tree (RFC 6962) as committed when it was opened: leaf
// i is merkle::HashLeaf of the stored JSON of the tenant's event with seq i. Holds resources
// (e.g. a database connection) until destroyed; use it for one request, and never let it outlive
// the store.
struct TreeView {
  uint64_t size = 0;
  // Complete subtrees wholly inside the first `size` leaves. Errors: Corruption when the stored
  // tree lacks a node it should have.
  merkle::NodeSource nodes;
};

// One tenant's tree size, for the checkpoint signer.
struct TreeHead {
  std::string tenant;
  uint64_t size = 0;
};

// A signed tree head as kept in the log.
struct StoredCheckpoint {
  uint64_t size = 0;
  merkle::Hash root{};
  std::string note;  // the C2SP signed note, as served
  util::UnixMillis signed_at = 0;
};

// What the store holds in memory about itself: reading it touches no file, so a health probe may
// ask as often as it likes.
struct StoreStats {
  int64_t log_position = 0;      // last appended position (0 = empty)
  int64_t indexed_position = 0;  // the indexer's watermark
  uint64_t index_failures = 0;   // index batches that failed (each is retried) since the open
  bool index_retrying = false;   // the last one failed: the indexer is waiting to try it again
  // The tail: events acknowledged but not indexed yet, kept in memory, and the bytes they take.
  uint64_t tail_events = 0;
  uint64_t tail_bytes = 0;
  // Back-pressure: appends that waited for the indexer to make room in the tail since the open,
  // and whether one waits now.
  uint64_t append_waits = 0;
  bool append_waiting = false;
  // Appends refused since the open because the indexer has failed for so long that the events not
  // indexed yet take all the memory kept for them.
  uint64_t append_refusals = 0;
};

// What the store takes on disk, measured by reading its files' sizes.
struct DiskUsage {
  uint64_t log_bytes = 0;    // the log database(s), WAL included
  uint64_t index_bytes = 0;  // all index files
};

// What a backend made of one request's events ahead of the writer (EventStore::Prepare): the work
// that needs no state of the log, done on the submitting thread so that the one writer only numbers
// and writes them. Opaque to everyone but the backend that made it.
class PreparedEvents {
 public:
  virtual ~PreparedEvents() = default;
};

// One request's events on their way to Append, with what Prepare made of them (null: nothing).
struct Batch {
  std::vector<core::Event> events;
  std::unique_ptr<PreparedEvents> prepared;
};

// Thread-safety: Append is called by one thread at a time (the ledger's writer); every other
// method may be called from any thread concurrently with Append and with each other.
class EventStore {
 public:
  virtual ~EventStore() = default;
  EventStore() = default;
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends several requests' events in one durable transaction (group commit). Each element of
  // `batches` is all-or-nothing on its own: its result is either one Appended per event, in
  // order, or an error and nothing of it stored, while the other batches still commit.
  // Assigns each stored event's seq (0-based, per tenant, gap-free), and answers it in Appended.
  // Takes the events: a backend may move them out of `batches`, so read the answer, not them.
  // Idempotency on (tenant, id): an event equal in content (core::SameContent) to one already
  // stored, or to an earlier one in the same batch, is acknowledged with duplicate=true and its
  // original seq, and not stored again; a different content is Conflict for its whole batch. When
  // the commit itself fails, every batch gets that error. Returns only once the data is durable.
  // A batch's `prepared` must come from this store's Prepare of exactly its events, or be null.
  // Unavailable for every batch, nothing stored, when the store cannot take more now (a backend
  // whose index cannot be written and whose memory for the unindexed events is full).
  virtual std::vector<util::Result<std::vector<Appended>>> Append(std::span<Batch> batches) = 0;
  // The same for batches nothing was prepared for (tools and tests).
  std::vector<util::Result<std::vector<Appended>>> Append(
      std::span<std::vector<core::Event>> batches);

  // Does ahead of Append what needs no state of the log (for the SQLite store: the stored JSON,
  // most of its Merkle leaf hash, and for large batches their compressed blocks), on the calling
  // thread. Returns null when the backend has nothing to do ahead. Thread-safe, and may run
  // concurrently with Append.
  virtual std::unique_ptr<PreparedEvents> Prepare(const std::vector<core::Event>& events) const {
    (void)events;
    return nullptr;
  }

  // Newest first, continuing strictly after `after`; at most `limit` events. Always includes
  // every acknowledged event (indexed or not).
  virtual util::Result<Page> Query(const core::Filter& filter,
                                   const std::optional<core::Cursor>& after, size_t limit) = 0;

  // Counts of matching events over time. The range is the filter's [from, to) when given, else
  // the span of the matching events; `buckets` equal intervals cover it.
  virtual util::Result<Histogram> CountOverTime(const core::Filter& filter, int buckets) = 0;

  // One event by tenant and id. Errors: NotFound.
  virtual util::Result<StoredEvent> Get(std::string_view tenant, std::string_view id) = 0;

  // Blocks until everything appended so far is in the index (or the store stops). For tests and
  // benchmarks, never for request handling.
  virtual void WaitUntilIndexed() = 0;

  // The tamper-evidence log. Leaves are appended by Append in the same transaction as their
  // events, so the tree never lags the data.
  // Every tenant with at least one event, and its tree size.
  virtual util::Result<std::vector<TreeHead>> TreeHeads() = 0;
  // Errors: NotFound for a tenant without events.
  virtual util::Result<TreeView> OpenTree(std::string_view tenant) = 0;
  // The stored JSON of the tenant's events with seq in [start, end), in seq order. Errors:
  // NotFound for a tenant without events, InvalidArgument unless start <= end <= tree size.
  virtual util::Result<std::vector<std::string>> Entries(std::string_view tenant, uint64_t start,
                                                         uint64_t end) = 0;
  // Keeps a signed checkpoint. Errors: Conflict unless its size exceeds the tenant's latest
  // checkpoint's and is at most the tree size; NotFound for a tenant without events.
  virtual util::Status AddCheckpoint(std::string_view tenant,
                                     const StoredCheckpoint& checkpoint) = 0;
  // The tenant's checkpoints with size below `below_size` (all when nullopt), largest first, at
  // most `limit`. Errors: NotFound for a tenant without events.
  virtual util::Result<std::vector<StoredCheckpoint>> Checkpoints(
      std::string_view tenant, std::optional<uint64_t> below_size, size_t limit) = 0;

  virtual StoreStats Stats() = 0;
  virtual DiskUsage Disk() = 0;

  // Stops background work (the indexer); later calls other than Stats and Disk may fail with
  // Unavailable.
  virtual void Close() = 0;
};

inline std::vector<util::Result<std::vector<Appended>>> EventStore::Append(
    std::span<std::vector<core::Event>> batches) {
  std::vector<Batch> unprepared(batches.size());
  for (size_t i = 0; i < batches.size(); ++i) unprepared[i].events = std::move(batches[i]);
  return Append(std::span<Batch>(unprepared));
}

}  // namespace evident::storage
