#include "evident/auth/login_guard.h"

#include <algorithm>

#include "evident/util/strings.h"

namespace evident::auth {

LoginGuard::LoginGuard(LockoutPolicy policy, const core::Clock& clock)
    : policy_(policy), clock_(clock) {}

std::optional<int64_t> LoginGuard::LockedFor(std::string_view email, std::string_view ip) {
  const util::UnixMillis now = clock_.NowMillis();
  std::lock_guard lock(mu_);
  const std::optional<int64_t> email_wait = LockedFor(by_email_, util::AsciiLower(email), now);
  const std::optional<int64_t> ip_wait =
      ip.empty() ? std::nullopt : LockedFor(by_ip_, std::string(ip), now);
  if (!email_wait) return ip_wait;
  if (!ip_wait) return email_wait;
  return std::max(*email_wait, *ip_wait);
}

bool LoginGuard::RecordFailure(std::string_view email, std::string_view ip) {
  const util::UnixMillis now = clock_.NowMillis();
  std::lock_guard lock(mu_);
  if (by_email_.size() + by_ip_.size() >= sweep_at_size_) Sweep(now);
  bool locked = Record(by_email_, util::AsciiLower(email), policy_.max_failures, now);
  if (!ip.empty() && Record(by_ip_, std::string(ip), policy_.max_failures_per_ip, now)) {
    locked = true;
  }
  return locked;
}

void LoginGuard::RecordSuccess(std::string_view email) {
  std::lock_guard lock(mu_);
  by_email_.erase(util::AsciiLower(email));
}

std::optional<int64_t> LoginGuard::LockedFor(std::unordered_map<std::string, Tally>& tallies,
                                             const std::string& key, util::UnixMillis now) {
  const auto it = tallies.find(key);
  if (it == tallies.end() || it->second.locked_until <= now) return std::nullopt;
  return it->second.locked_until - now;
}

bool LoginGuard::Record(std::unordered_map<std::string, Tally>& tallies, const std::string& key,
                        int max_failures, util::UnixMillis now) {
  if (max_failures <= 0) return false;
  Tally& tally = tallies[key];
  if (tally.locked_until > now) return false;    // already locked; the lockout does not grow
  if (tally.locked_until != 0) tally = Tally{};  // a lockout that ended starts a clean slate
  while (!tally.failures.empty() && tally.failures.front() <= now - policy_.window_ms) {
    tally.failures.pop_front();
  }
  tally.failures.push_back(now);
  if (static_cast<int>(tally.failures.size()) < max_failures) return false;
  tally.locked_until = now + policy_.lockout_ms;
  tally.failures.clear();
  return true;
}

void LoginGuard::Sweep(util::UnixMillis now) {
  const auto stale = [&](const auto& entry) {
    const Tally& tally = entry.second;
    return tally.locked_until <= now &&
           (tally.failures.empty() || tally.failures.back() <= now - policy_.window_ms);
  };
  std::erase_if(by_email_, stale);
  std::erase_if(by_ip_, stale);
  sweep_at_size_ = std::max<size_t>(4096, (by_email_.size() + by_ip_.size()) * 2);
}

}  // namespace evident::auth
