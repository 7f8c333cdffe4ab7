#include "evident/auth/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace evident::auth {

namespace {

uint64_t CeilSeconds(double seconds) {
  return static_cast<uint64_t>(std::max(0.0, std::ceil(seconds - 1e-9)));
}

}  // namespace

RateLimiter::RateLimiter(RateLimit limit, const core::Clock& clock)
    : limit_{limit.rate_per_second, std::max(1.0, limit.burst)}, clock_(clock) {}

RateDecision RateLimiter::Take(std::string_view key) {
  if (!enabled()) return {};
  const util::UnixMillis now = clock_.NowMillis();
  std::lock_guard lock(mu_);
  if (buckets_.size() >= sweep_at_size_) SweepFullBuckets(now);
  auto [it, inserted] = buckets_.try_emplace(std::string(key), Bucket{limit_.burst, now});
  Bucket& bucket = it->second;
  if (!inserted && now > bucket.updated_at) {
    bucket.tokens = std::min(
        limit_.burst, bucket.tokens + limit_.rate_per_second *
                                          static_cast<double>(now - bucket.updated_at) / 1000.0);
    bucket.updated_at = now;
  }
  RateDecision decision;
  decision.limit = static_cast<uint64_t>(limit_.burst);
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    decision.allowed = true;
  } else {
    decision.allowed = false;
    decision.retry_after_seconds =
        std::max<uint64_t>(1, CeilSeconds((1.0 - bucket.tokens) / limit_.rate_per_second));
  }
  decision.remaining = static_cast<uint64_t>(std::floor(bucket.tokens));
  decision.reset_seconds = CeilSeconds((limit_.burst - bucket.tokens) / limit_.rate_per_second);
  return decision;
}

void RateLimiter::SweepFullBuckets(util::UnixMillis now) {
  std::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& bucket = entry.second;
    const double refilled = bucket.tokens + limit_.rate_per_second *
                                                static_cast<double>(now - bucket.updated_at) /
                                                1000.0;
    return refilled >= limit_.burst;
  });
  // Many live buckets: sweep less often, so that a sweep stays amortised O(1) per request.
  sweep_at_size_ = std::max<size_t>(4096, buckets_.size() * 2);
}

}  // namespace evident::auth
