#include "evident/api/auth.h"

#include <sodium.h>

#include "evident/util/strings.h"

namespace evident::api {

TokenHash HashToken(std::string_view token) {
  TokenHash hash;
  crypto_hash_sha256(hash.data(), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size());
  return hash;
}

std::optional<Principal> TokenVerifier::Verify(std::string_view authorization) const {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !util::EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  const std::string_view token = util::Trim(authorization.substr(kScheme.size()));
  if (token.empty()) return std::nullopt;
  const TokenHash presented = HashToken(token);
  if (sodium_memcmp(presented.data(), admin_hash_.data(), presented.size()) != 0) {
    return std::nullopt;
  }
  return Principal{.super_admin = true, .tenant = {}};
}

}  // namespace evident::api
