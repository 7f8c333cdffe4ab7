#include "evident/ledger/writer.h"

#include <bit>
#include <future>

#include "evident/util/thread.h"

namespace evident::ledger {

using util::Error;
using util::Result;

namespace {
constexpr size_t kGroupSizeBuckets = 24;  // 1, 2, 4, ... 2^23 events
}

Writer::Writer(storage::EventStore& store, WriterOptions options)
    : store_(store), options_(options), group_size_counts_(kGroupSizeBuckets, 0), thread_([this] {
        util::NameThisThread("evident-writer");
        Run();
      }) {}

Writer::~Writer() { Shutdown(); }

void Writer::Submit(std::vector<core::Event> events, Callback done, Admission admission) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      done(Error::Unavailable("the server is shutting down"));
      return;
    }
    if (admission == Admission::kBounded && queued_events_ > 0 &&
        queued_events_ + events.size() > options_.max_queued_events) {
      done(Error::Unavailable("the write queue is full; retry shortly"));
      return;
    }
    // Admitted: its place counts from now, so that a full queue refuses before any work is
    // spent, and the writer does not finish a shutdown while this is still being prepared.
    queued_events_ += events.size();
    ++preparing_;
  }
  std::unique_ptr<storage::PreparedEvents> prepared = store_.Prepare(events);
  {
    std::lock_guard lock(mu_);
    --preparing_;
    queue_.push_back(Pending{{std::move(events), std::move(prepared)}, std::move(done)});
  }
  wake_.notify_one();
}

Result<std::vector<storage::Appended>> Writer::SubmitAndWait(std::vector<core::Event> events) {
  std::promise<Result<std::vector<storage::Appended>>> promise;
  auto future = promise.get_future();
  Submit(std::move(events), [&promise](Result<std::vector<storage::Appended>> result) {
    promise.set_value(std::move(result));
  });
  return future.get();
}

void Writer::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Writer::Run() {
  std::vector<Pending> group;
  std::vector<storage::Batch> batches;
  while (true) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return !queue_.empty() || (stopping_ && preparing_ == 0); });
      if (queue_.empty()) return;  // stopping, and everything admitted was answered
      size_t group_events = 0;
      while (!queue_.empty() &&
             (group.empty() ||
              group_events + queue_.front().batch.events.size() <= options_.max_group_events)) {
        group_events += queue_.front().batch.events.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    batches.clear();
    uint64_t group_events = 0;
    for (Pending& pending : group) {
      group_events += pending.batch.events.size();
      batches.push_back(std::move(pending.batch));
    }
    std::vector<Result<std::vector<storage::Appended>>> results =
        store_.Append(std::span<storage::Batch>(batches));
    uint64_t appended = 0, duplicates = 0;
    for (size_t i = 0; i < batches.size(); ++i) {
      if (!results[i]) continue;
      for (const storage::Appended& one : *results[i]) (one.duplicate ? duplicates : appended)++;
    }
    {
      std::lock_guard lock(mu_);
      queued_events_ -= group_events;
      stats_.events_appended += appended;
      stats_.events_duplicate += duplicates;
      stats_.commits += 1;
      stats_.last_group_events = group_events;
      const size_t bucket = group_events == 0 ? 0
                                              : std::min<size_t>(kGroupSizeBuckets - 1,
                                                                 std::bit_width(group_events) - 1);
      group_size_counts_[bucket] += 1;
    }
    for (size_t i = 0; i < group.size(); ++i) group[i].done(std::move(results[i]));
    group.clear();
  }
}

WriterStats Writer::Stats() const {
  std::lock_guard lock(mu_);
  WriterStats stats = stats_;
  stats.queued_events = queued_events_;
  stats.stopping = stopping_;
  return stats;
}

void Writer::ForEachGroupSize(
    const std::function<void(uint64_t size, uint64_t count)>& visit) const {
  std::vector<uint64_t> counts;
  {
    std::lock_guard lock(mu_);
    counts = group_size_counts_;
  }
  for (size_t i = 0; i < counts.size(); ++i) visit(uint64_t{1} << i, counts[i]);
}

}  // namespace evident::ledger
