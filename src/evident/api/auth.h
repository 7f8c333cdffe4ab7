// Bearer-token check for /api/ requests. Until the identity issue lands there is one credential:
// the super-admin bootstrap token, known only by its SHA-256 hash (server/bootstrap.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace evident::api {

using TokenHash = std::array<uint8_t, 32>;  // SHA-256

// SHA-256 of `token` (libsodium).
TokenHash HashToken(std::string_view token);

// Who a verified request comes from.
struct Principal {
  bool super_admin = false;
  std::string tenant;  // set when the credential is bound to one tenant
};

// Thread-safe (immutable after construction).
class TokenVerifier {
 public:
  explicit TokenVerifier(const TokenHash& admin_token_hash) : admin_hash_(admin_token_hash) {}

  // `authorization` is the whole header ("Bearer evd_..."; the scheme is case-insensitive).
  // Returns nothing for a missing, malformed or unknown credential. The comparison of hashes runs
  // in constant time (sodium_memcmp).
  std::optional<Principal> Verify(std::string_view authorization) const;

 private:
  const TokenHash admin_hash_;
};

}  // namespace evident::api
