#include "bench/thread_usage.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace evident::bench {
namespace {

// A stat line as proc(5) lays it out, of a thread whose name holds a space and a ')'.
TEST(ThreadUsage, ParsesATaskStatLineWhoseNameHoldsParentheses) {
  const std::string line =
      "4242 (my (odd) name) S 1 4242 4242 0 -1 4194368 1043 0 2 0 250 75 0 0 20 0 6 0 123 4567 "
      "890 18446744073709551615";
  const auto totals = ParseTaskStat(line, 100);
  ASSERT_TRUE(totals.has_value());
  EXPECT_EQ(totals->name, "my (odd) name");
  EXPECT_DOUBLE_EQ(totals->cpu_seconds, 3.25);  // (250 + 75) ticks at 100 a second
  EXPECT_EQ(totals->nice, 0);
  const auto lowered = ParseTaskStat(
      "4243 (evident-ingest) S 1 4242 4242 0 -1 4194368 1043 0 2 0 250 75 0 0 25 5 6 0 123", 100);
  ASSERT_TRUE(lowered.has_value());
  EXPECT_EQ(lowered->nice, 5);
}

TEST(ThreadUsage, RefusesStatLinesOfAnotherShape) {
  EXPECT_FALSE(ParseTaskStat("", 100).has_value());
  EXPECT_FALSE(ParseTaskStat("4242 no-parentheses S 1 2 3", 100).has_value());
  EXPECT_FALSE(ParseTaskStat("4242 (short) S 1 2 3 4 5 6 7 8 9 10", 100).has_value());
  EXPECT_FALSE(ParseTaskStat("4242 (bad) S 1 4242 4242 0 -1 4194368 1043 0 2 0 25x 75 0 0", 100)
                   .has_value());
  EXPECT_FALSE(
      ParseTaskStat("4242 (t) S 1 4242 4242 0 -1 4194368 1043 0 2 0 250 75 0 0", 0).has_value());
}

TEST(ThreadUsage, ReadsTheWrittenBytes) {
  EXPECT_EQ(ParseWrittenBytes("rchar: 100\nwchar: 123456789\nsyscr: 5\n"), 123456789u);
  EXPECT_EQ(ParseWrittenBytes("rchar: 100\nsyscr: 5\n"), std::nullopt);
  EXPECT_EQ(ParseWrittenBytes("wchar: lots\n"), std::nullopt);
}

TEST(ThreadUsage, SubtractsByThreadAndSumsByName) {
  const std::map<pid_t, ThreadTotals> before = {
      {10, {"writer", 1.0, 1000}}, {11, {"http", 2.0, 0}}, {12, {"gone", 5.0, 50}}};
  const std::map<pid_t, ThreadTotals> after = {{10, {"writer", 1.5, 4000}},
                                               {11, {"http", 2.25, 0}},
                                               {13, {"http", 0.5, 10}},      // started in between
                                               {12, {"reused", 0.125, 7}}};  // a new thread
  const auto usage = UsageBetween(before, after);
  ASSERT_EQ(usage.size(), 3u);
  EXPECT_DOUBLE_EQ(usage.at("writer").cpu_seconds, 0.5);
  EXPECT_EQ(usage.at("writer").written_bytes, 3000u);
  EXPECT_DOUBLE_EQ(usage.at("http").cpu_seconds, 0.75);
  EXPECT_EQ(usage.at("http").written_bytes, 10u);
  EXPECT_DOUBLE_EQ(usage.at("reused").cpu_seconds, 0.125);
  EXPECT_EQ(usage.count("gone"), 0u);
}

// This process, read for real: a thread that writes and spins shows up under its name. It spins
// until the main thread has seen its CPU time, so the wait ends however loaded the machine is.
TEST(ThreadUsage, ReadsThisProcessThreads) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const auto before = ReadThreads(getpid());
  ASSERT_FALSE(before.empty());
  std::atomic<bool> written{false}, done{false};
  std::thread worker([&] {
    pthread_setname_np(pthread_self(), "usage-probe");
    const std::string text(4096, 'x');
    written = write(pipe_fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size());
    uint64_t spins = 0;
    while (!done) spins = spins + 1;
    EXPECT_GT(spins, 0u);
  });
  std::map<std::string, ThreadUsage> usage;
  for (;;) {
    usage = UsageBetween(before, ReadThreads(getpid()));
    const auto probe = usage.find("usage-probe");
    if (probe != usage.end() && probe->second.cpu_seconds >= 0.05) break;
  }
  done = true;
  worker.join();
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  ASSERT_TRUE(written);
  EXPECT_GE(usage.at("usage-probe").written_bytes, 4096u);
  EXPECT_GE(usage.at("usage-probe").cpu_seconds, 0.05);
}

}  // namespace
}  // namespace evident::bench
