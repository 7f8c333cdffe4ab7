#include "evident/ledger/writer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>

#include "evident/storage/forwarding_event_store.h"
#include "evident/storage/memory/memory_event_store.h"

namespace evident::ledger {
namespace {

using storage::Appended;
using util::Result;

core::Event MakeEvent(std::string tenant, std::string id = "", std::string action = "create") {
  core::Event event;
  event.tenant = std::move(tenant);
  event.action = std::move(action);
  static std::atomic<int> generated{0};
  event.id = id.empty() ? "gen-" + std::to_string(generated++) : id;
  event.id_from_client = !id.empty();
  event.occurred_at = 1000;
  event.received_at = 1000;
  return event;
}

// Delegates to a memory store; while closed, Append waits at the gate, so that a test can queue
// several requests and see them committed as one group. Records each Append's batch count.
class GatedStore final : public storage::ForwardingEventStore {
 public:
  GatedStore() : ForwardingEventStore(storage::memory::NewMemoryEventStore()) {}

  using ForwardingEventStore::Append;
  std::vector<Result<std::vector<Appended>>> Append(std::span<storage::Batch> batches) override {
    {
      std::unique_lock lock(mu_);
      entered_ = true;
      entered_cv_.notify_all();
      open_cv_.wait(lock, [this] { return open_; });
      group_sizes_.push_back(batches.size());
    }
    return ForwardingEventStore::Append(batches);
  }

  void WaitUntilEntered() {
    std::unique_lock lock(mu_);
    entered_cv_.wait(lock, [this] { return entered_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    open_cv_.notify_all();
  }
  std::vector<size_t> group_sizes() {
    std::lock_guard lock(mu_);
    return group_sizes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable entered_cv_, open_cv_;
  bool entered_ = false, open_ = false;
  std::vector<size_t> group_sizes_;
};

using Future = std::future<Result<std::vector<Appended>>>;

Future SubmitAsync(Writer& writer, std::vector<core::Event> events) {
  auto promise = std::make_shared<std::promise<Result<std::vector<Appended>>>>();
  Future future = promise->get_future();
  writer.Submit(std::move(events), [promise](Result<std::vector<Appended>> result) {
    promise->set_value(std::move(result));
  });
  return future;
}

TEST(Writer, GroupsQueuedRequestsIntoOneCommit) {
  GatedStore store;
  Writer writer(store, WriterOptions{});
  Future first = SubmitAsync(writer, {MakeEvent("a")});
  store.WaitUntilEntered();  // the first request is being committed alone
  Future second = SubmitAsync(writer, {MakeEvent("a"), MakeEvent("b")});
  Future third = SubmitAsync(writer, {MakeEvent("a", "dup"), MakeEvent("a", "dup")});
  store.Open();
  auto r1 = first.get(), r2 = second.get(), r3 = third.get();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ((*r1)[0].seq, 0u);
  EXPECT_EQ((*r2)[0].seq, 1u);
  EXPECT_EQ((*r2)[1].seq, 0u);  // tenant b's first event
  EXPECT_EQ((*r3)[0].seq, 2u);
  EXPECT_FALSE((*r3)[0].duplicate);
  EXPECT_TRUE((*r3)[1].duplicate);
  EXPECT_EQ(store.group_sizes(), (std::vector<size_t>{1, 2}));
  const WriterStats stats = writer.Stats();
  EXPECT_EQ(stats.commits, 2u);
  EXPECT_EQ(stats.events_appended, 4u);
  EXPECT_EQ(stats.events_duplicate, 1u);
  EXPECT_EQ(stats.queued_events, 0u);
}

TEST(Writer, AConflictFailsOnlyItsOwnRequest) {
  GatedStore store;
  Writer writer(store, WriterOptions{});
  Future first = SubmitAsync(writer, {MakeEvent("a", "k1", "create")});
  store.WaitUntilEntered();  // committing alone; the next two queue up as one group
  Future bad = SubmitAsync(writer, {MakeEvent("a"), MakeEvent("a", "k1", "delete")});
  Future good = SubmitAsync(writer, {MakeEvent("a")});
  store.Open();
  ASSERT_TRUE(first.get().has_value());
  auto bad_result = bad.get();
  auto good_result = good.get();
  ASSERT_FALSE(bad_result.has_value());
  EXPECT_EQ(bad_result.error().code(), util::ErrorCode::kConflict);
  ASSERT_TRUE(good_result.has_value());
  EXPECT_EQ((*good_result)[0].seq, 1u);  // the refused request left no gap
  auto page = store.Query(core::Filter{}, std::nullopt, 100);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->total, 2u);
  EXPECT_EQ(store.group_sizes(), (std::vector<size_t>{1, 2}));
}

TEST(Writer, ShutdownAnswersEverythingQueuedThenRefuses) {
  GatedStore store;
  auto writer = std::make_unique<Writer>(store, WriterOptions{});
  std::vector<Future> futures;
  futures.push_back(SubmitAsync(*writer, {MakeEvent("a")}));
  store.WaitUntilEntered();
  for (int i = 0; i < 5; ++i) futures.push_back(SubmitAsync(*writer, {MakeEvent("a")}));
  std::thread closer([&] { writer->Shutdown(); });
  store.Open();
  closer.join();
  for (Future& future : futures) EXPECT_TRUE(future.get().has_value());
  auto late = writer->SubmitAndWait({MakeEvent("a")});
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code(), util::ErrorCode::kUnavailable);
  EXPECT_EQ(store.Query(core::Filter{}, std::nullopt, 100)->total, 6u);
}

TEST(Writer, RefusesWhenTheQueueIsFull) {
  GatedStore store;
  WriterOptions options;
  options.max_queued_events = 3;
  Writer writer(store, options);
  Future first = SubmitAsync(writer, {MakeEvent("a")});
  store.WaitUntilEntered();
  Future second = SubmitAsync(writer, {MakeEvent("a"), MakeEvent("a")});
  auto refused = SubmitAsync(writer, {MakeEvent("a"), MakeEvent("a")}).get();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), util::ErrorCode::kUnavailable);
  store.Open();
  EXPECT_TRUE(first.get().has_value());
  EXPECT_TRUE(second.get().has_value());
}

// Counts Prepare calls; while closed, Prepare waits at its gate.
class PrepareGatedStore final : public storage::ForwardingEventStore {
 public:
  PrepareGatedStore() : ForwardingEventStore(storage::memory::NewMemoryEventStore()) {}

  std::unique_ptr<storage::PreparedEvents> Prepare(
      const std::vector<core::Event>& events) const override {
    std::unique_lock lock(mu_);
    ++prepared_;
    entered_cv_.notify_all();
    open_cv_.wait(lock, [this] { return open_; });
    return ForwardingEventStore::Prepare(events);
  }
  void WaitUntilPrepared(int count) {
    std::unique_lock lock(mu_);
    entered_cv_.wait(lock, [&] { return prepared_ >= count; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    open_cv_.notify_all();
  }
  int prepared() const {
    std::lock_guard lock(mu_);
    return prepared_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable entered_cv_, open_cv_;
  mutable int prepared_ = 0;
  bool open_ = false;
};

TEST(Writer, RefusesAFullQueueBeforePreparingAnything) {
  PrepareGatedStore store;
  WriterOptions options;
  options.max_queued_events = 3;
  Writer writer(store, options);
  std::optional<Future> first;
  std::thread submitter([&] { first = SubmitAsync(writer, {MakeEvent("a"), MakeEvent("a")}); });
  store.WaitUntilPrepared(1);  // admitted, its place taken while it is prepared
  auto refused = SubmitAsync(writer, {MakeEvent("a"), MakeEvent("a")}).get();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), util::ErrorCode::kUnavailable);
  EXPECT_EQ(store.prepared(), 1) << "a refused request was prepared for nothing";
  store.Open();
  submitter.join();
  EXPECT_TRUE(first->get().has_value());
}

TEST(Writer, ShutdownAnswersARequestStillBeingPrepared) {
  PrepareGatedStore store;
  Writer writer(store, WriterOptions{});
  std::optional<Future> admitted;
  std::thread submitter([&] { admitted = SubmitAsync(writer, {MakeEvent("a")}); });
  store.WaitUntilPrepared(1);
  std::thread closer([&] { writer.Shutdown(); });
  // The request is still being prepared when the shutdown begins; only then may it finish.
  while (!writer.Stats().stopping) std::this_thread::yield();
  EXPECT_EQ(SubmitAsync(writer, {MakeEvent("a")}).get().error().code(),
            util::ErrorCode::kUnavailable);
  store.Open();
  submitter.join();
  ASSERT_EQ(admitted->wait_for(std::chrono::seconds(30)), std::future_status::ready)
      << "an admitted request was never answered";
  EXPECT_TRUE(admitted->get().has_value());
  closer.join();
  EXPECT_EQ(store.Query(core::Filter{}, std::nullopt, 10)->total, 1u);
  EXPECT_EQ(store.prepared(), 1);
}

}  // namespace
}  // namespace evident::ledger
