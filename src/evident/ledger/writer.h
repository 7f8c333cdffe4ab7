// The append path: one queue, one writer thread, group commit (docs/threading.md).
//
// Request handlers Submit() a request's events; the writer thread drains everything queued (up to
// a limit), hands it to EventStore::Append as one durable transaction, then calls each request's
// callback. Many requests share one fsync; each stays all-or-nothing on its own.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "evident/core/event.h"
#include "evident/storage/event_store.h"
#include "evident/util/result.h"

namespace evident::ledger {

struct WriterOptions {
  size_t max_group_events = 20'000;    // events committed in one transaction at most
  size_t max_queued_events = 200'000;  // Submit refuses (Unavailable) beyond this: back-pressure
};

struct WriterStats {
  uint64_t events_appended = 0;  // new events stored (duplicates excluded)
  uint64_t events_duplicate = 0;
  uint64_t commits = 0;
  uint64_t queued_events = 0;      // waiting for the writer now
  uint64_t last_group_events = 0;  // size of the latest commit group
  bool stopping = false;           // Shutdown has begun: new requests are refused
};

// Whether Submit may refuse a request because the queue is full.
enum class Admission {
  kBounded,  // refused (Unavailable) beyond max_queued_events: back-pressure on clients
  kAlways,   // Evident's own audit events: a state change already made must be recorded
};

// Thread-safe. Holds a reference to `store`, which must outlive the Writer.
class Writer {
 public:
  using Callback = std::function<void(util::Result<std::vector<storage::Appended>>)>;

  Writer(storage::EventStore& store, WriterOptions options);
  ~Writer();  // Shutdown()
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues one request's events, first doing on the calling thread what the store can do ahead
  // of the writer (EventStore::Prepare). `done` runs on the writer thread once they are durable
  // (or refused); it must be quick and must not call Submit. Errors passed to `done`: those of
  // EventStore::Append, and Unavailable when the queue is full or the writer is shut down.
  void Submit(std::vector<core::Event> events, Callback done,
              Admission admission = Admission::kBounded);

  // Blocking convenience for the CLI and tests.
  util::Result<std::vector<storage::Appended>> SubmitAndWait(std::vector<core::Event> events);

  // Stops taking new work, commits and answers everything queued, then joins the thread.
  void Shutdown();

  WriterStats Stats() const;
  // Sizes of commit groups, for the /metrics histogram; called from any thread.
  void ForEachGroupSize(const std::function<void(uint64_t size, uint64_t count)>& visit) const;

 private:
  struct Pending {
    storage::Batch batch;
    Callback done;
  };
  void Run();

  storage::EventStore& store_;
  const WriterOptions options_;

  mutable std::mutex mu_;
  // State below is protected by mu_.
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  size_t queued_events_ = 0;  // queued, and admitted but still being prepared
  int preparing_ = 0;         // requests admitted but not queued yet (EventStore::Prepare)
  bool stopping_ = false;
  WriterStats stats_;
  std::vector<uint64_t> group_size_counts_;  // by power-of-two bucket

  std::thread thread_;  // last: starts after everything above is ready
};

}  // namespace evident::ledger
