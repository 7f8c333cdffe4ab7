// Lockout after repeated failed logins (docs/identity.md): `max_failures` failures for one email
// within `window_ms` lock that email out for `lockout_ms`, whether or not an account has that
// email, so that a lockout reveals nothing; `max_failures_per_ip` failures from one client IP
// within the window lock that IP out, which stops password spraying across many emails. Locked
// attempts are refused before the password is looked at. State lives in memory.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "evident/core/clock.h"

namespace evident::auth {

struct LockoutPolicy {
  int max_failures = 5;
  int64_t window_ms = 15 * 60 * 1000;
  int64_t lockout_ms = 15 * 60 * 1000;
  int max_failures_per_ip = 50;
};

// Thread-safe. Holds a reference to `clock`, which must outlive the guard.
class LoginGuard {
 public:
  LoginGuard(LockoutPolicy policy, const core::Clock& clock);
  LoginGuard(const LoginGuard&) = delete;
  LoginGuard& operator=(const LoginGuard&) = delete;

  // Milliseconds until `email` and `ip` may try again, when either is locked out now.
  std::optional<int64_t> LockedFor(std::string_view email, std::string_view ip);
  // Records a failed attempt; true when it locked the email or the IP out.
  bool RecordFailure(std::string_view email, std::string_view ip);
  // A successful login forgets the email's earlier failures.
  void RecordSuccess(std::string_view email);

  const LockoutPolicy& policy() const { return policy_; }

 private:
  struct Tally {
    std::deque<util::UnixMillis> failures;  // within the window, oldest first
    util::UnixMillis locked_until = 0;
  };
  // Caller holds mu_.
  std::optional<int64_t> LockedFor(std::unordered_map<std::string, Tally>& tallies,
                                   const std::string& key, util::UnixMillis now);
  bool Record(std::unordered_map<std::string, Tally>& tallies, const std::string& key,
              int max_failures, util::UnixMillis now);
  void Sweep(util::UnixMillis now);

  const LockoutPolicy policy_;
  const core::Clock& clock_;
  std::mutex mu_;
  // State below is protected by mu_.
  std::unordered_map<std::string, Tally> by_email_;  // keys in lower case
  std::unordered_map<std::string, Tally> by_ip_;
  size_t sweep_at_size_ = 4096;
};

}  // namespace evident::auth
