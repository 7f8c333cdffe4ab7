// A realistic, reproducible audit-event workload for the benchmark: skewed tenants, thousands of
// users with their own devices and addresses, real browser user agents, ~300-byte details.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace evident::bench {

struct DatasetOptions {
  uint64_t seed = 42;
  int tenants = 40;
  int users_per_tenant_max = 2000;  // the largest tenant; smaller ones get fewer (Zipf)
  int64_t start_ms = 0;             // occurred_at of the first event
  int64_t span_ms = 0;              // events spread evenly over [start, start + span)
  uint64_t events = 0;
};

struct User {
  int tenant = 0;
  std::string id, email, name, role, ip, user_agent;
};

// Not thread-safe; make one per thread with its own seed and a slice of the events.
class Dataset {
 public:
  explicit Dataset(const DatasetOptions& options);

  // Appends event number `index` (0-based) as one NDJSON line (newline included) to `out`.
  void AppendEvent(uint64_t index, std::string& out);

  const std::vector<std::string>& tenant_names() const { return tenant_names_; }
  const std::vector<User>& users() const { return users_; }
  // Picks a tenant with the same skew the events have.
  int PickTenant();
  const User& PickUser(int tenant);
  static const std::vector<std::string>& Actions();
  static const std::vector<std::string>& Words();

 private:
  DatasetOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::string> tenant_names_;
  std::vector<double> tenant_weights_;
  std::discrete_distribution<int> tenant_pick_;
  std::vector<User> users_;
  std::vector<std::vector<int>> users_by_tenant_;
};

}  // namespace evident::bench
