#include "evident/api/metrics.h"

#include <fmt/format.h>

#include <cmath>

#include "evident/ledger/writer.h"
#include "evident/storage/event_store.h"

namespace evident::api {

Metrics::Metrics(std::vector<std::string> routes)
    : routes_(std::move(routes)), series_(new Series[routes_.size() * kClasses]) {}

void Metrics::ObserveRequest(size_t route, int status, double seconds) {
  if (routes_.empty()) return;
  if (route >= routes_.size()) route = routes_.size() - 1;
  const size_t status_class = static_cast<size_t>(std::clamp(status / 100, 1, 5)) - 1;
  Series& series = series_[route * kClasses + status_class];
  size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  series.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  series.count.fetch_add(1, std::memory_order_relaxed);
  series.sum_micros.fetch_add(static_cast<uint64_t>(std::llround(std::max(0.0, seconds) * 1e6)),
                              std::memory_order_relaxed);
}

std::string Metrics::Render(const ledger::Writer* writer, storage::EventStore* store,
                            bool audit_events_waiting) const {
  std::string out;
  auto append = [&out](std::string_view text) { out.append(text); };

  append(
      "# HELP evident_http_request_duration_seconds Time from a request's arrival to its "
      "answer.\n"
      "# TYPE evident_http_request_duration_seconds histogram\n");
  for (size_t route = 0; route < routes_.size(); ++route) {
    for (size_t status_class = 0; status_class < kClasses; ++status_class) {
      const Series& series = series_[route * kClasses + status_class];
      const uint64_t count = series.count.load(std::memory_order_relaxed);
      if (count == 0) continue;
      const std::string labels =
          fmt::format("route=\"{}\",code=\"{}xx\"", routes_[route], status_class + 1);
      uint64_t cumulative = 0;
      for (size_t bucket = 0; bucket < kBounds.size(); ++bucket) {
        cumulative += series.buckets[bucket].load(std::memory_order_relaxed);
        out += fmt::format("evident_http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n",
                           labels, kBounds[bucket], cumulative);
      }
      cumulative += series.buckets[kBounds.size()].load(std::memory_order_relaxed);
      out += fmt::format("evident_http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n",
                         labels, cumulative);
      out +=
          fmt::format("evident_http_request_duration_seconds_sum{{{}}} {}\n", labels,
                      static_cast<double>(series.sum_micros.load(std::memory_order_relaxed)) / 1e6);
      // The buckets were read one by one while requests kept arriving; the +Inf bucket is the
      // count so that the exposition stays self-consistent.
      out +=
          fmt::format("evident_http_request_duration_seconds_count{{{}}} {}\n", labels, cumulative);
    }
  }

  if (writer != nullptr) {
    const ledger::WriterStats stats = writer->Stats();
    out += fmt::format(
        "# HELP evident_events_ingested_total Events stored (duplicates excluded).\n"
        "# TYPE evident_events_ingested_total counter\n"
        "evident_events_ingested_total {}\n"
        "# HELP evident_events_duplicate_total Events acknowledged again as duplicates.\n"
        "# TYPE evident_events_duplicate_total counter\n"
        "evident_events_duplicate_total {}\n"
        "# HELP evident_commits_total Group commits by the ledger writer.\n"
        "# TYPE evident_commits_total counter\n"
        "evident_commits_total {}\n"
        "# HELP evident_writer_queue_depth Events waiting for the ledger writer.\n"
        "# TYPE evident_writer_queue_depth gauge\n"
        "evident_writer_queue_depth {}\n",
        stats.events_appended, stats.events_duplicate, stats.commits, stats.queued_events);
    // The Writer counts commit groups by power-of-two size class [2^i, 2^(i+1)); a class ends at
    // 2^(i+1)-1 events, which is therefore an exact upper bound. The sum counts the events that
    // were acknowledged (stored or duplicate), not those of refused batches.
    out +=
        "# HELP evident_commit_batch_size Events per group commit.\n"
        "# TYPE evident_commit_batch_size histogram\n";
    uint64_t cumulative = 0;
    writer->ForEachGroupSize([&](uint64_t size, uint64_t count) {
      cumulative += count;
      out += fmt::format("evident_commit_batch_size_bucket{{le=\"{}\"}} {}\n", size * 2 - 1,
                         cumulative);
    });
    out += fmt::format("evident_commit_batch_size_bucket{{le=\"+Inf\"}} {}\n", cumulative);
    out += fmt::format("evident_commit_batch_size_sum {}\n",
                       stats.events_appended + stats.events_duplicate);
    out += fmt::format("evident_commit_batch_size_count {}\n", cumulative);
  }

  if (store != nullptr) {
    const storage::StoreStats stats = store->Stats();
    const storage::DiskUsage disk = store->Disk();
    out += fmt::format(
        "# HELP evident_database_bytes Bytes on disk: the event log and the derived indexes.\n"
        "# TYPE evident_database_bytes gauge\n"
        "evident_database_bytes{{kind=\"log\"}} {}\n"
        "evident_database_bytes{{kind=\"index\"}} {}\n"
        "# HELP evident_log_position Position of the last event appended to the log.\n"
        "# TYPE evident_log_position gauge\n"
        "evident_log_position {}\n"
        "# HELP evident_indexer_lag_events Events in the log not yet in the index.\n"
        "# TYPE evident_indexer_lag_events gauge\n"
        "evident_indexer_lag_events {}\n"
        "# HELP evident_indexer_failures_total Index batches that failed to be written (each is "
        "tried again).\n"
        "# TYPE evident_indexer_failures_total counter\n"
        "evident_indexer_failures_total {}\n"
        "# HELP evident_indexer_retrying 1 while the indexer waits to try a failed batch again.\n"
        "# TYPE evident_indexer_retrying gauge\n"
        "evident_indexer_retrying {}\n"
        "# HELP evident_indexer_tail_bytes Memory taken by the events not indexed yet (bounded "
        "by max_tail_mib).\n"
        "# TYPE evident_indexer_tail_bytes gauge\n"
        "evident_indexer_tail_bytes {}\n"
        "# HELP evident_ingest_waits_total Appends that waited for the indexer to make room "
        "for their events.\n"
        "# TYPE evident_ingest_waits_total counter\n"
        "evident_ingest_waits_total {}\n"
        "# HELP evident_ingest_waiting 1 while an append waits for the indexer.\n"
        "# TYPE evident_ingest_waiting gauge\n"
        "evident_ingest_waiting {}\n"
        "# HELP evident_ingest_refused_total Appends refused (503) because the index could not be "
        "written for so long that the events not indexed yet filled their memory.\n"
        "# TYPE evident_ingest_refused_total counter\n"
        "evident_ingest_refused_total {}\n",
        disk.log_bytes, disk.index_bytes, stats.log_position,
        std::max<int64_t>(0, stats.log_position - stats.indexed_position), stats.index_failures,
        stats.index_retrying ? 1 : 0, stats.tail_bytes, stats.append_waits,
        stats.append_waiting ? 1 : 0, stats.append_refusals);
  }
  out += fmt::format(
      "# HELP evident_audit_events_waiting 1 while audit events the log could not take wait, "
      "kept, to be stored once it can.\n"
      "# TYPE evident_audit_events_waiting gauge\n"
      "evident_audit_events_waiting {}\n",
      audit_events_waiting ? 1 : 0);
  return out;
}

}  // namespace evident::api
