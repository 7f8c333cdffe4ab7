#include "evident/storage/sqlite/recheck_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>

namespace evident::storage::sqlite {
namespace {

core::Filter Phrase(const std::string& tenant, std::vector<std::string> words) {
  core::Filter filter;
  filter.tenants = {tenant};
  filter.search = {core::SearchTerm{std::move(words), ""}};
  return filter;
}

std::shared_ptr<const RecheckCache::Rows> RowsOf(size_t count, int64_t first_position) {
  auto rows = std::make_shared<RecheckCache::Rows>();
  for (size_t i = 0; i < count; ++i) {
    rows->emplace_back(1000 - static_cast<int64_t>(i), first_position + static_cast<int64_t>(i));
  }
  return rows;
}

TEST(RecheckCache, FindsOnlyTheSameFilterAtAWatermarkNoLaterThanTheSnapshots) {
  RecheckCache cache(100, 4);
  const core::Filter acme = Phrase("acme", {"policy", "drift"});
  cache.Insert(acme, 50, RowsOf(3, 1));

  auto found = cache.Find(acme, 50);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->indexed_through, 50);
  EXPECT_EQ(found->rows->size(), 3u);
  // A later snapshot finds it, to extend it by what was indexed since.
  found = cache.Find(acme, 80);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->indexed_through, 50);
  // An older snapshot must not: its tail holds events the entry counts among the indexed ones.
  EXPECT_FALSE(cache.Find(acme, 49).has_value());

  // Another tenant (a caller scoped to it), another phrase, another status: other entries.
  EXPECT_FALSE(cache.Find(Phrase("globex", {"policy", "drift"}), 50).has_value());
  EXPECT_FALSE(cache.Find(Phrase("acme", {"drift", "policy"}), 50).has_value());
  core::Filter failures = acme;
  failures.statuses = {core::EventStatus::kFailure};
  EXPECT_FALSE(cache.Find(failures, 50).has_value());
  core::Filter later = acme;
  later.from = 10;
  EXPECT_FALSE(cache.Find(later, 50).has_value());
}

TEST(RecheckCache, KeepsTheNewestEntryOfAFilter) {
  RecheckCache cache(100, 4);
  const core::Filter acme = Phrase("acme", {"policy", "drift"});
  cache.Insert(acme, 50, RowsOf(3, 1));
  cache.Insert(acme, 70, RowsOf(5, 1));
  cache.Insert(acme, 60, RowsOf(4, 1));  // a slower query's older snapshot: not kept
  auto found = cache.Find(acme, 100);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->indexed_through, 70);
  EXPECT_EQ(found->rows->size(), 5u);
  EXPECT_EQ(cache.rows(), 5u);
}

TEST(RecheckCache, EvictsTheLeastRecentlyUsedBeyondItsLimits) {
  RecheckCache cache(10, 3);
  const core::Filter a = Phrase("a", {"x", "y"}), b = Phrase("b", {"x", "y"}),
                     c = Phrase("c", {"x", "y"}), d = Phrase("d", {"x", "y"});
  cache.Insert(a, 1, RowsOf(2, 1));
  cache.Insert(b, 1, RowsOf(2, 1));
  cache.Insert(c, 1, RowsOf(2, 1));
  ASSERT_TRUE(cache.Find(a, 1).has_value());  // a is now the most recently used
  cache.Insert(d, 1, RowsOf(2, 1));           // four entries: b goes
  EXPECT_FALSE(cache.Find(b, 1).has_value());
  EXPECT_TRUE(cache.Find(a, 1).has_value());
  EXPECT_TRUE(cache.Find(c, 1).has_value());
  EXPECT_TRUE(cache.Find(d, 1).has_value());
  EXPECT_EQ(cache.rows(), 6u);

  // Rows: 6 + 7 > 10 evicts the least recently used (a, then c) until they fit.
  cache.Insert(b, 2, RowsOf(7, 1));
  EXPECT_FALSE(cache.Find(a, 1).has_value());
  EXPECT_FALSE(cache.Find(c, 1).has_value());
  EXPECT_TRUE(cache.Find(d, 1).has_value());
  EXPECT_TRUE(cache.Find(b, 2).has_value());
  EXPECT_EQ(cache.rows(), 9u);

  // More matches than the whole cache holds are not kept, and evict nothing.
  cache.Insert(a, 3, RowsOf(11, 1));
  EXPECT_FALSE(cache.Find(a, 3).has_value());
  EXPECT_EQ(cache.rows(), 9u);
}

// The console asks for a page and its histogram at once: the second request waits for the
// first's matches instead of computing them too, unless it holds an older snapshot.
TEST(RecheckCache, ASecondAskerWaitsForTheFirstsMatches) {
  RecheckCache cache(100, 4);
  const core::Filter acme = Phrase("acme", {"policy", "drift"});
  std::optional<RecheckCache::Claim> first(cache.ClaimComputing(acme, 10));
  EXPECT_EQ(cache.waits(), 0u);

  std::atomic<bool> second_claimed{false};
  std::optional<RecheckCache::Found> second_found;
  std::thread second([&] {
    RecheckCache::Claim claim = cache.ClaimComputing(acme, 12);
    second_claimed = true;
    second_found = claim.waited_for();
  });
  // Until the second waits for the first (or, wrongly, goes ahead).
  while (cache.waits() == 0 && !second_claimed) std::this_thread::yield();
  EXPECT_EQ(cache.waits(), 1u);
  EXPECT_FALSE(second_claimed);
  // An older snapshot's asker, or another filter's, does not wait.
  { RecheckCache::Claim older = cache.ClaimComputing(acme, 9); }
  { RecheckCache::Claim other = cache.ClaimComputing(Phrase("globex", {"policy"}), 10); }
  EXPECT_EQ(cache.waits(), 1u);
  EXPECT_FALSE(second_claimed);

  // Too many matches to keep: the waiter takes them from the claim all the same.
  auto many = RowsOf(101, 1);
  cache.Insert(acme, 10, many);
  EXPECT_FALSE(cache.Find(acme, 10).has_value());
  first->Publish({many, 10});
  first.reset();
  second.join();
  EXPECT_TRUE(second_claimed);
  ASSERT_TRUE(second_found.has_value());  // to extend from 10 to 12
  EXPECT_EQ(second_found->indexed_through, 10);
  EXPECT_EQ(second_found->rows, many);
  // Claims end with their holders: a later asker does not wait, and got nothing from none.
  RecheckCache::Claim later = cache.ClaimComputing(acme, 20);
  EXPECT_FALSE(later.waited_for().has_value());
  EXPECT_EQ(cache.waits(), 1u);
}

}  // namespace
}  // namespace evident::storage::sqlite
