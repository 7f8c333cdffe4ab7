// The /metrics registry: request latency histograms kept here, everything else read at scrape
// time from the Writer and the EventStore. Prometheus text exposition format 0.0.4.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace evident::ledger {
class Writer;
}
namespace evident::storage {
class EventStore;
}

namespace evident::api {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Thread-safe: observations are lock-free atomics; the route list is fixed at construction.
class Metrics {
 public:
  // `routes` are route templates ("/api/v1/events"); ObserveRequest takes an index into it.
  explicit Metrics(std::vector<std::string> routes);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Records one answered request. `route` indexes the constructor's list; anything else counts as
  // the last route (by convention the catch-all for unknown paths).
  void ObserveRequest(size_t route, int status, double seconds);

  // The whole exposition: evident_http_request_duration_seconds{route,code} (status class "2xx"),
  // evident_events_ingested_total, evident_events_duplicate_total, evident_commits_total,
  // evident_writer_queue_depth, evident_commit_batch_size, evident_database_bytes{kind},
  // evident_log_position, evident_indexer_lag_events, evident_indexer_failures_total,
  // evident_indexer_retrying, evident_audit_events_waiting. `writer` and `store` may be null
  // (their metrics are then omitted).
  std::string Render(const ledger::Writer* writer, storage::EventStore* store,
                     bool audit_events_waiting) const;

 private:
  static constexpr std::array<double, 14> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  static constexpr size_t kClasses = 5;  // 1xx .. 5xx
  struct Series {
    std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets{};  // last: +Inf
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_micros{0};
  };

  const std::vector<std::string> routes_;
  std::unique_ptr<Series[]> series_;  // routes_.size() * kClasses
};

}  // namespace evident::api
