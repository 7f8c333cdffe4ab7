#include "bench/dataset.h"

#include <gtest/gtest.h>

namespace evident::bench {
namespace {

TEST(Dataset, IsReproducibleAndRealisticInSize) {
  DatasetOptions options;
  options.events = 1000;
  options.start_ms = 1'700'000'000'000;
  options.span_ms = 1000 * 3600;
  Dataset first(options), second(options);
  std::string a, b;
  for (uint64_t i = 0; i < 1000; ++i) {
    first.AppendEvent(i, a);
    second.AppendEvent(i, b);
  }
  EXPECT_EQ(a, b);
  const double per_event = static_cast<double>(a.size()) / 1000;
  EXPECT_GT(per_event, 600);
  EXPECT_LT(per_event, 1100);
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 1000);
}

// Benchmark figures of two commits compare only if both ingested the same events: the first
// thousand, digested, are pinned (FNV-1a; the digest of the generator as first written).
TEST(Dataset, IsTheSameDataSetItWasWhenFiguresWereTaken) {
  DatasetOptions options;
  options.events = 1000;
  options.start_ms = 1'700'000'000'000;
  options.span_ms = 1000 * 3600;
  Dataset dataset(options);
  std::string lines;
  for (uint64_t i = 0; i < 1000; ++i) dataset.AppendEvent(i, lines);
  uint64_t digest = 14695981039346656037ULL;
  for (const unsigned char byte : lines) digest = (digest ^ byte) * 1099511628211ULL;
  EXPECT_EQ(lines.size(), 824'683u);
  EXPECT_EQ(digest, 0x643858068b112894ULL);
}

TEST(Dataset, TenantsAreSkewed) {
  DatasetOptions options;
  Dataset dataset(options);
  std::vector<int> counts(static_cast<size_t>(options.tenants), 0);
  for (int i = 0; i < 20000; ++i) counts[static_cast<size_t>(dataset.PickTenant())]++;
  EXPECT_GT(counts[0], 5 * counts[20]);
  EXPECT_GT(counts[39], 0);
}

}  // namespace
}  // namespace evident::bench
