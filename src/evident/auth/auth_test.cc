// Secrets, roles and scopes, rate limits and login lockout. The IdentityService has its own file.
#include <gtest/gtest.h>
#include <sodium.h>

#include <set>
#include <string>

#include "evident/auth/access.h"
#include "evident/auth/login_guard.h"
#include "evident/auth/rate_limiter.h"
#include "evident/auth/secrets.h"
#include "evident/core/clock.h"
#include "evident/util/encoding.h"

namespace evident::auth {
namespace {

constexpr util::UnixMillis kBase = 1'746'000'000'000;
constexpr int64_t kMinute = 60'000;

// ---------------------------------------------------------------------------------------------
// Secrets

TEST(Secrets, MakeSecretIsPrefixedRandomAndHashed) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const NewSecret made = MakeSecret(kApiTokenPrefix);
    ASSERT_TRUE(made.secret.starts_with("evd_")) << made.secret;
    // base64url without padding of 32 bytes: 43 characters.
    const std::string_view body = std::string_view(made.secret).substr(4);
    EXPECT_EQ(body.size(), 43u);
    EXPECT_EQ(body.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_"),
              std::string_view::npos)
        << made.secret;
    EXPECT_EQ(made.hash, SecretHash(made.secret));
    EXPECT_EQ(made.hash.size(), 32u);
    seen.insert(made.secret);
  }
  EXPECT_EQ(seen.size(), 50u);

  const NewSecret session = MakeSecret(kSessionTokenPrefix);
  EXPECT_TRUE(session.secret.starts_with("evs_"));
  EXPECT_EQ(session.secret.size(), 4u + 43u);
}

TEST(Secrets, SecretHashIsSha256) {
  // FIPS 180-2 test vector for "abc".
  EXPECT_EQ(util::HexEncode(SecretHash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE(SecretHash("evd_a"), SecretHash("evd_b"));
}

TEST(Secrets, SameHashComparesWholeStrings) {
  const std::string a = SecretHash("one");
  EXPECT_TRUE(SameHash(a, SecretHash("one")));
  EXPECT_FALSE(SameHash(a, SecretHash("two")));
  EXPECT_FALSE(SameHash(a, a.substr(0, 31)));
  EXPECT_FALSE(SameHash(a.substr(0, 31), a));
  std::string last_differs = a;
  last_differs.back() = static_cast<char>(last_differs.back() ^ 1);
  EXPECT_FALSE(SameHash(a, last_differs));
  EXPECT_TRUE(SameHash("", ""));
}

TEST(Secrets, CsrfTokenIsAnHmacOfTheSessionSecret) {
  const NewSecret one = MakeSecret(kSessionTokenPrefix);
  const NewSecret two = MakeSecret(kSessionTokenPrefix);
  const std::string token = CsrfTokenFor(one.secret);
  EXPECT_EQ(CsrfTokenFor(one.secret), token);  // recomputable: nothing is stored
  EXPECT_NE(CsrfTokenFor(two.secret), token);
  EXPECT_EQ(token.size(), 43u);  // base64url of 32 bytes, no padding
  EXPECT_EQ(token.find_first_of("+/="), std::string::npos);
  EXPECT_EQ(token.find(one.secret), std::string::npos);

  // As documented: base64url(HMAC-SHA-256(secret, "csrf")).
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(one.secret.data()),
                              one.secret.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>("csrf"), 4);
  crypto_auth_hmacsha256_final(&state, mac);
  EXPECT_EQ(token,
            util::Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), sizeof(mac)),
                               util::Base64Variant::kUrlNoPadding));
}

std::string Repeat(std::string_view piece, size_t times) {
  std::string text;
  for (size_t i = 0; i < times; ++i) text += piece;
  return text;
}

TEST(Secrets, PasswordPolicyCountsCharactersNotBytes) {
  EXPECT_FALSE(CheckPasswordPolicy(Repeat("a", 11)));
  EXPECT_TRUE(CheckPasswordPolicy(Repeat("a", 12)));
  // "é" is two bytes: 11 of them are 22 bytes but still 11 characters.
  auto short_accented = CheckPasswordPolicy(Repeat("\xC3\xA9", 11));
  ASSERT_FALSE(short_accented);
  EXPECT_EQ(short_accented.error().code(), util::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(CheckPasswordPolicy(Repeat("\xC3\xA9", 12)));
  // Four-byte characters (U+1F512): 11 are 44 bytes.
  EXPECT_FALSE(CheckPasswordPolicy(Repeat("\xF0\x9F\x94\x92", 11)));
  EXPECT_TRUE(CheckPasswordPolicy(Repeat("\xF0\x9F\x94\x92", 12)));
  EXPECT_FALSE(CheckPasswordPolicy(""));
}

TEST(Secrets, PasswordPolicyBoundsBytesAndNeedsUtf8) {
  EXPECT_TRUE(CheckPasswordPolicy(Repeat("a", 1024)));
  auto too_long = CheckPasswordPolicy(Repeat("a", 1025));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code(), util::ErrorCode::kInvalidArgument);
  // 513 two-byte characters: 1026 bytes.
  EXPECT_FALSE(CheckPasswordPolicy(Repeat("\xC3\xA9", 513)));

  auto invalid = CheckPasswordPolicy(Repeat("\xFF", 16));
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code(), util::ErrorCode::kInvalidArgument);
  EXPECT_FALSE(CheckPasswordPolicy("correct horse\xC3"));          // truncated sequence
  EXPECT_FALSE(CheckPasswordPolicy("correct horse\xC0\xAF"));      // overlong '/'
  EXPECT_FALSE(CheckPasswordPolicy("correct horse\xED\xA0\x80"));  // surrogate
}

TEST(Secrets, HashPasswordIsArgon2idAndVerifies) {
  auto hash = HashPassword("correct horse battery");
  ASSERT_TRUE(hash) << hash.error().ToString();
  EXPECT_TRUE(hash->starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << *hash;
  EXPECT_TRUE(VerifyPassword(*hash, "correct horse battery"));
  EXPECT_FALSE(VerifyPassword(*hash, "correct horse batterY"));
  EXPECT_FALSE(VerifyPassword(*hash, ""));

  auto again = HashPassword("correct horse battery");
  ASSERT_TRUE(again);
  EXPECT_NE(*again, *hash);  // salted
  EXPECT_TRUE(VerifyPassword(*again, "correct horse battery"));
}

TEST(Secrets, VerifyPasswordRejectsEmptyAndMalformedHashes) {
  EXPECT_FALSE(VerifyPassword("", ""));
  EXPECT_FALSE(VerifyPassword("", "correct horse battery"));
  EXPECT_FALSE(VerifyPassword("$argon2id$", "correct horse battery"));
  EXPECT_FALSE(
      VerifyPassword("$argon2id$v=19$m=19456,t=2,p=1$bm90IGEgaGFzaA$", "correct horse battery"));
  EXPECT_FALSE(VerifyPassword("correct horse battery", "correct horse battery"));
  // Another algorithm is not accepted, even when it would match.
  char argon2i[crypto_pwhash_STRBYTES];
  ASSERT_EQ(crypto_pwhash_str_alg(argon2i, "correct horse battery", 21, 3, size_t{19456} * 1024,
                                  crypto_pwhash_ALG_ARGON2I13),
            0);
  EXPECT_FALSE(VerifyPassword(argon2i, "correct horse battery"));
}

// ---------------------------------------------------------------------------------------------
// Roles and scopes

TEST(Access, ParsesRoles) {
  for (const Role role : {Role::kSuperAdmin, Role::kAdmin, Role::kViewer}) {
    auto parsed = ParseRole(ToString(role));
    ASSERT_TRUE(parsed) << ToString(role);
    EXPECT_EQ(*parsed, role);
  }
  EXPECT_EQ(ToString(Role::kSuperAdmin), "super_admin");
  EXPECT_EQ(ToString(Role::kAdmin), "admin");
  EXPECT_EQ(ToString(Role::kViewer), "viewer");
  for (const char* bad : {"", "Admin", "root", "super-admin", "viewer "}) {
    auto parsed = ParseRole(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code(), util::ErrorCode::kInvalidArgument);
  }
  EXPECT_NE(ParseRole("root").error().message().find("super_admin"), std::string::npos);
}

TEST(Access, ParsesAndNamesScopes) {
  auto none = ParseScopes({});
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0);
  auto write = ParseScopes({"events:write"});
  ASSERT_TRUE(write);
  EXPECT_EQ(*write, kEventsWrite);
  auto all = ParseScopes({"admin", "events:read", "events:write", "admin"});
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, kAllScopes);

  auto unknown = ParseScopes({"events:read", "events:delete"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), util::ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().message().find("events:delete"), std::string::npos);
  EXPECT_FALSE(ParseScopes({"Admin"}));

  EXPECT_TRUE(ScopeNames(0).empty());
  EXPECT_EQ(ScopeNames(kAllScopes),
            (std::vector<std::string>{"events:write", "events:read", "admin"}));
  EXPECT_EQ(ScopeNames(kEventsRead | kAdminScope),
            (std::vector<std::string>{"events:read", "admin"}));
  for (Scopes scopes = 0; scopes <= kAllScopes; ++scopes) {
    EXPECT_EQ(*ParseScopes(ScopeNames(scopes)), scopes);
  }
}

TEST(Access, RoleScopes) {
  EXPECT_EQ(RoleScopes(Role::kSuperAdmin), kAllScopes);
  EXPECT_EQ(RoleScopes(Role::kAdmin), kAllScopes);
  EXPECT_EQ(RoleScopes(Role::kViewer), 0);
}

TEST(Access, PrincipalTenantAccess) {
  Principal bound;
  bound.tenant = "acme";
  bound.scopes = kEventsRead;
  EXPECT_TRUE(bound.Can(kEventsRead));
  EXPECT_FALSE(bound.Can(kEventsWrite));
  EXPECT_FALSE(bound.Unbound());
  EXPECT_TRUE(bound.MayAccessTenant("acme"));
  EXPECT_FALSE(bound.MayAccessTenant("globex"));
  Principal unbound;
  EXPECT_TRUE(unbound.Unbound());
  EXPECT_TRUE(unbound.MayAccessTenant("globex"));
}

// ---------------------------------------------------------------------------------------------
// RateLimiter

TEST(RateLimiter, AllowsABurstThenRefuses) {
  core::FakeClock clock(kBase);
  RateLimiter limiter(RateLimit{.rate_per_second = 1, .burst = 3}, clock);
  ASSERT_TRUE(limiter.enabled());

  RateDecision first = limiter.Take("key");
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.limit, 3u);
  EXPECT_EQ(first.remaining, 2u);
  EXPECT_EQ(first.reset_seconds, 1u);
  EXPECT_EQ(first.retry_after_seconds, 0u);

  EXPECT_TRUE(limiter.Take("key").allowed);
  RateDecision third = limiter.Take("key");
  EXPECT_TRUE(third.allowed);
  EXPECT_EQ(third.remaining, 0u);
  EXPECT_EQ(third.reset_seconds, 3u);

  RateDecision refused = limiter.Take("key");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, 3u);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.retry_after_seconds, 1u);
  EXPECT_EQ(refused.reset_seconds, 3u);
  EXPECT_FALSE(limiter.Take("key").allowed);  // a refusal takes nothing, but gives nothing back
}

TEST(RateLimiter, RefillsOverTime) {
  core::FakeClock clock(kBase);
  RateLimiter limiter(RateLimit{.rate_per_second = 2, .burst = 4}, clock);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.Take("k").allowed);
  RateDecision refused = limiter.Take("k");
  ASSERT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 1u);  // half a second, rounded up

  clock.Advance(250);  // half a token
  EXPECT_FALSE(limiter.Take("k").allowed);
  clock.Advance(250);  // one token
  RateDecision one = limiter.Take("k");
  EXPECT_TRUE(one.allowed);
  EXPECT_EQ(one.remaining, 0u);
  EXPECT_FALSE(limiter.Take("k").allowed);

  clock.Advance(10'000);  // far more than the bucket holds: full, not more
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.Take("k").allowed) << i;
  EXPECT_FALSE(limiter.Take("k").allowed);
}

TEST(RateLimiter, RetryAfterIsAtLeastOneSecondAndRoundedUp) {
  core::FakeClock clock(kBase);
  RateLimiter fast(RateLimit{.rate_per_second = 100, .burst = 1}, clock);
  EXPECT_TRUE(fast.Take("k").allowed);
  RateDecision refused = fast.Take("k");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 1u);  // 10 ms, but never 0

  RateLimiter slow(RateLimit{.rate_per_second = 0.25, .burst = 1}, clock);
  EXPECT_TRUE(slow.Take("k").allowed);
  RateDecision wait = slow.Take("k");
  EXPECT_FALSE(wait.allowed);
  EXPECT_EQ(wait.retry_after_seconds, 4u);
  EXPECT_EQ(wait.reset_seconds, 4u);
  clock.Advance(2'000);  // half a token
  RateDecision half = slow.Take("k");
  EXPECT_FALSE(half.allowed);
  EXPECT_EQ(half.retry_after_seconds, 2u);
  clock.Advance(2'000);
  EXPECT_TRUE(slow.Take("k").allowed);
}

TEST(RateLimiter, KeysAreIndependent) {
  core::FakeClock clock(kBase);
  RateLimiter limiter(RateLimit{.rate_per_second = 1, .burst = 2}, clock);
  EXPECT_TRUE(limiter.Take("10.0.0.1").allowed);
  EXPECT_TRUE(limiter.Take("10.0.0.1").allowed);
  EXPECT_FALSE(limiter.Take("10.0.0.1").allowed);
  RateDecision other = limiter.Take("10.0.0.2");
  EXPECT_TRUE(other.allowed);
  EXPECT_EQ(other.remaining, 1u);
  EXPECT_FALSE(limiter.Take("10.0.0.1").allowed);
}

TEST(RateLimiter, BurstIsAtLeastOne) {
  core::FakeClock clock(kBase);
  RateLimiter limiter(RateLimit{.rate_per_second = 1, .burst = 0}, clock);
  RateDecision first = limiter.Take("k");
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.limit, 1u);
  EXPECT_FALSE(limiter.Take("k").allowed);
}

TEST(RateLimiter, DisabledAlwaysAllows) {
  core::FakeClock clock(kBase);
  for (const double rate : {0.0, -1.0}) {
    RateLimiter limiter(RateLimit{.rate_per_second = rate, .burst = 1}, clock);
    EXPECT_FALSE(limiter.enabled());
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(limiter.Take("k").allowed) << i;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LoginGuard

TEST(LoginGuard, FiveFailuresLockTheEmailForFifteenMinutes) {
  core::FakeClock clock(kBase);
  LoginGuard guard(LockoutPolicy{}, clock);
  for (int i = 1; i <= 4; ++i) {
    EXPECT_FALSE(guard.RecordFailure("ann@example.test", "10.0.0.1")) << i;
    EXPECT_FALSE(guard.LockedFor("ann@example.test", "10.0.0.1").has_value()) << i;
    clock.Advance(2 * kMinute);
  }
  EXPECT_TRUE(guard.RecordFailure("ann@example.test", "10.0.0.1"));  // the fifth
  auto locked = guard.LockedFor("ann@example.test", "10.0.0.2");     // from anywhere
  ASSERT_TRUE(locked.has_value());
  EXPECT_EQ(*locked, 15 * kMinute);
  EXPECT_FALSE(guard.LockedFor("ben@example.test", "10.0.0.2").has_value());

  // More failures while locked neither lock again nor extend the lockout.
  clock.Advance(5 * kMinute);
  EXPECT_FALSE(guard.RecordFailure("ann@example.test", "10.0.0.1"));
  EXPECT_EQ(guard.LockedFor("ann@example.test", "").value_or(0), 10 * kMinute);

  clock.Advance(10 * kMinute - 1);
  EXPECT_EQ(guard.LockedFor("ann@example.test", "").value_or(0), 1);
  clock.Advance(1);
  EXPECT_FALSE(guard.LockedFor("ann@example.test", "").has_value());

  // After the lockout the slate is clean: one failure does not lock again.
  EXPECT_FALSE(guard.RecordFailure("ann@example.test", "10.0.0.1"));
  EXPECT_FALSE(guard.LockedFor("ann@example.test", "").has_value());
}

TEST(LoginGuard, FailuresOutsideTheWindowDoNotCount) {
  core::FakeClock clock(kBase);
  LoginGuard guard(LockoutPolicy{}, clock);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(guard.RecordFailure("ann@example.test", "10.0.0.1"));
    clock.Advance(kMinute);  // failures at 0, 1, 2 and 3 minutes
  }
  // Fifteen minutes after the first failure it has left the window: four count, not five.
  clock.Set(kBase + 15 * kMinute);
  EXPECT_FALSE(guard.RecordFailure("ann@example.test", "10.0.0.1"));
  EXPECT_FALSE(guard.LockedFor("ann@example.test", "10.0.0.1").has_value());
  EXPECT_TRUE(guard.RecordFailure("ann@example.test", "10.0.0.1"));  // 1, 2, 3, 15 and 15
  EXPECT_TRUE(guard.LockedFor("ann@example.test", "10.0.0.1").has_value());

  // A millisecond earlier, the first failure still counts.
  core::FakeClock other_clock(kBase);
  LoginGuard other(LockoutPolicy{}, other_clock);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(other.RecordFailure("ann@example.test", "10.0.0.1"));
    other_clock.Advance(kMinute);
  }
  other_clock.Set(kBase + 15 * kMinute - 1);
  EXPECT_TRUE(other.RecordFailure("ann@example.test", "10.0.0.1"));
}

TEST(LoginGuard, EmailsAreCaseInsensitiveAndNeedNoAccount) {
  core::FakeClock clock(kBase);
  LoginGuard guard(LockoutPolicy{}, clock);
  // Nobody has this email: it locks all the same, so a lockout reveals nothing.
  const char* spellings[] = {"Ghost@Example.test", "ghost@example.test", "GHOST@EXAMPLE.TEST",
                             "gHoSt@example.TEST", "ghost@Example.Test"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(guard.RecordFailure(spellings[i], "10.0.0." + std::to_string(i)), i == 4) << i;
  }
  EXPECT_TRUE(guard.LockedFor("ghost@example.test", "").has_value());
  EXPECT_TRUE(guard.LockedFor("GHOST@example.test", "10.9.9.9").has_value());
}

TEST(LoginGuard, SuccessForgetsFailures) {
  core::FakeClock clock(kBase);
  LoginGuard guard(LockoutPolicy{}, clock);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(guard.RecordFailure("ann@example.test", "10.0.0.1"));
  guard.RecordSuccess("ANN@example.test");
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(guard.RecordFailure("ann@example.test", "10.0.0.1")) << i;
  }
  EXPECT_FALSE(guard.LockedFor("ann@example.test", "10.0.0.1").has_value());
  EXPECT_TRUE(guard.RecordFailure("ann@example.test", "10.0.0.1"));
}

TEST(LoginGuard, TooManyFailuresFromOneIpLockItForEveryEmail) {
  core::FakeClock clock(kBase);
  LockoutPolicy policy;
  policy.max_failures_per_ip = 6;
  LoginGuard guard(policy, clock);
  for (int i = 1; i <= 5; ++i) {
    EXPECT_FALSE(guard.RecordFailure("user" + std::to_string(i) + "@example.test", "198.51.100.7"))
        << i;
  }
  EXPECT_FALSE(guard.LockedFor("fresh@example.test", "198.51.100.7").has_value());
  EXPECT_TRUE(guard.RecordFailure("user6@example.test", "198.51.100.7"));
  auto locked = guard.LockedFor("fresh@example.test", "198.51.100.7");
  ASSERT_TRUE(locked.has_value());
  EXPECT_EQ(*locked, policy.lockout_ms);
  // The emails themselves had one failure each and stay usable from elsewhere.
  EXPECT_FALSE(guard.LockedFor("user1@example.test", "203.0.113.1").has_value());
  EXPECT_FALSE(guard.LockedFor("fresh@example.test", "").has_value());

  clock.Advance(policy.lockout_ms);
  EXPECT_FALSE(guard.LockedFor("fresh@example.test", "198.51.100.7").has_value());
}

TEST(LoginGuard, ReportsTheLongerOfTwoLockouts) {
  core::FakeClock clock(kBase);
  LockoutPolicy policy;
  policy.max_failures = 2;
  policy.max_failures_per_ip = 3;
  LoginGuard guard(policy, clock);
  EXPECT_FALSE(guard.RecordFailure("ann@example.test", "10.0.0.1"));
  EXPECT_TRUE(guard.RecordFailure("ann@example.test", "10.0.0.1"));  // email locked at 0
  clock.Advance(kMinute);
  EXPECT_TRUE(guard.RecordFailure("ben@example.test", "10.0.0.1"));  // IP: third failure
  EXPECT_EQ(guard.LockedFor("ann@example.test", "10.0.0.1").value_or(0), policy.lockout_ms);
  EXPECT_EQ(guard.LockedFor("ann@example.test", "10.0.0.2").value_or(0),
            policy.lockout_ms - kMinute);
}

}  // namespace
}  // namespace evident::auth
