// The tamper-evidence log's benchmark (issue 3), in process on the real SQLite store: what the
// Merkle tree costs at ingest (the same events with the tree on and off, rounds alternated),
// inclusion and consistency proof latency at a large tree, and the checkpoint signing rate.
#pragma once

#include <cstdint>
#include <string>

namespace evident::bench {

struct LogBenchResults {
  uint64_t leaves = 0;
  double ingest_with_tree = 0;     // events/s, median of the rounds
  double ingest_without_tree = 0;  // events/s, median of the rounds
  double inclusion_p50_ms = 0, inclusion_p99_ms = 0;
  double consistency_p50_ms = 0, consistency_p99_ms = 0;
  double checkpoints_per_s = 0;  // signing a grown tree: root, consistency check, note, commit
};

// Builds a one-tenant tree of `leaves` events under `work_dir` (removed afterwards).
LogBenchResults RunLogBench(const std::string& work_dir, uint64_t leaves);

}  // namespace evident::bench
