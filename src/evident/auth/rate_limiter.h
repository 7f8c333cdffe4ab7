// Token buckets keyed by a string (a credential id, a client IP): `rate` tokens a second refill a
// bucket of `burst` tokens; a request takes one. Buckets live in memory: a restart refills them,
// which a limit meant to stop floods can afford.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "evident/core/clock.h"

namespace evident::auth {

struct RateLimit {
  double rate_per_second = 0;  // <= 0: unlimited
  double burst = 0;            // bucket size; at least 1 when limited
};

struct RateDecision {
  bool allowed = true;
  uint64_t limit = 0;                // the bucket size, for RateLimit-Limit
  uint64_t remaining = 0;            // whole tokens left after this request
  uint64_t reset_seconds = 0;        // until the bucket is full again, rounded up
  uint64_t retry_after_seconds = 0;  // when refused: until one token is back, rounded up (>= 1)
};

// Thread-safe. Holds a reference to `clock`, which must outlive the limiter.
class RateLimiter {
 public:
  RateLimiter(RateLimit limit, const core::Clock& clock);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  bool enabled() const { return limit_.rate_per_second > 0; }

  // Takes one token from `key`'s bucket when there is one.
  RateDecision Take(std::string_view key);

 private:
  struct Bucket {
    double tokens = 0;
    util::UnixMillis updated_at = 0;
  };
  // Drops buckets that have refilled completely: they hold no information. Caller holds mu_.
  void SweepFullBuckets(util::UnixMillis now);

  const RateLimit limit_;
  const core::Clock& clock_;
  std::mutex mu_;
  // State below is protected by mu_.
  std::unordered_map<std::string, Bucket> buckets_;
  size_t sweep_at_size_ = 4096;
};

}  // namespace evident::auth
