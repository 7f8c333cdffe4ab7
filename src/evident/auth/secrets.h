// Secrets Evident hands out or accepts, and how they are kept: tokens as SHA-256 (they carry 256
// random bits, so a fast hash is safe and makes each request's check cheap), passwords as
// argon2id at OWASP's recommended cost (libsodium). No function here logs or stores a secret.
#pragma once

#include <string>
#include <string_view>

#include "evident/util/result.h"

namespace evident::auth {

// Prefixes say what a secret is when it turns up in a log or a paste: API tokens "evd_",
// session tokens "evs_".
inline constexpr std::string_view kApiTokenPrefix = "evd_";
inline constexpr std::string_view kSessionTokenPrefix = "evs_";

struct NewSecret {
  std::string secret;  // prefix + base64url(32 random bytes): shown once, never stored
  std::string hash;    // SecretHash(secret)
};

NewSecret MakeSecret(std::string_view prefix);

// SHA-256 of `secret`, 32 raw bytes.
std::string SecretHash(std::string_view secret);

// Whether two hashes are equal, in constant time.
bool SameHash(std::string_view a, std::string_view b);

// The CSRF token that goes with a session secret: base64url(HMAC-SHA-256(secret, "csrf")). The
// server recomputes it from the session cookie, so nothing is stored (the signed double-submit
// pattern); a page of another origin can read neither.
std::string CsrfTokenFor(std::string_view session_secret);

inline constexpr size_t kMinPasswordLength = 12;   // characters (code points)
inline constexpr size_t kMaxPasswordBytes = 1024;  // bounds the hashing work a request can ask

// Errors: InvalidArgument when `password` is shorter than kMinPasswordLength characters, longer
// than kMaxPasswordBytes, or not UTF-8.
util::Status CheckPasswordPolicy(std::string_view password);

// argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane) as a PHC string
// ("$argon2id$v=19$m=19456,t=2,p=1$..."). Errors: Internal when memory is exhausted.
util::Result<std::string> HashPassword(std::string_view password);

// Whether `password` matches `encoded` (a HashPassword string), in constant time. An empty or
// malformed `encoded` never matches, but costs as much as a real check, so that a wrong password
// and an unknown account take the same time.
bool VerifyPassword(std::string_view encoded, std::string_view password);

}  // namespace evident::auth
