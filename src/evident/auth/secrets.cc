#include "evident/auth/secrets.h"

#include <sodium.h>

#include <array>

#include "evident/util/encoding.h"
#include "evident/util/strings.h"

namespace evident::auth {

namespace {

constexpr unsigned long long kOpsLimit = 2;                      // t = 2
constexpr size_t kMemLimit = static_cast<size_t>(19456) * 1024;  // m = 19 MiB

// A hash of a random password nobody knows: verifying against it costs what a real check does.
const std::string& DecoyHash() {
  static const std::string decoy = [] {
    std::array<unsigned char, 32> random;
    randombytes_buf(random.data(), random.size());
    auto hash = HashPassword(util::Base64Encode(
        std::string_view(reinterpret_cast<const char*>(random.data()), random.size())));
    return hash ? *hash : std::string();
  }();
  return decoy;
}

}  // namespace

NewSecret MakeSecret(std::string_view prefix) {
  std::array<unsigned char, 32> random;
  randombytes_buf(random.data(), random.size());
  NewSecret made;
  made.secret =
      std::string(prefix) +
      util::Base64Encode(std::string_view(reinterpret_cast<const char*>(random.data()), 32),
                         util::Base64Variant::kUrlNoPadding);
  sodium_memzero(random.data(), random.size());
  made.hash = SecretHash(made.secret);
  return made;
}

std::string SecretHash(std::string_view secret) {
  std::string hash(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(hash.data()),
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  return hash;
}

bool SameHash(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string CsrfTokenFor(std::string_view session_secret) {
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac;
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(session_secret.data()),
                              session_secret.size());
  constexpr std::string_view kLabel = "csrf";
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(kLabel.data()),
                                kLabel.size());
  crypto_auth_hmacsha256_final(&state, mac.data());
  return util::Base64Encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()),
                            util::Base64Variant::kUrlNoPadding);
}

util::Status CheckPasswordPolicy(std::string_view password) {
  if (password.size() > kMaxPasswordBytes) {
    return util::Error::InvalidArgument("the password is longer than " +
                                        std::to_string(kMaxPasswordBytes) + " bytes");
  }
  if (!util::IsValidUtf8(password)) {
    return util::Error::InvalidArgument("the password is not valid UTF-8");
  }
  size_t characters = 0;
  for (const char c : password) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++characters;
  }
  if (characters < kMinPasswordLength) {
    return util::Error::InvalidArgument("the password must have at least " +
                                        std::to_string(kMinPasswordLength) + " characters");
  }
  return {};
}

util::Result<std::string> HashPassword(std::string_view password) {
  std::array<char, crypto_pwhash_STRBYTES> encoded{};
  if (crypto_pwhash_str_alg(encoded.data(), password.data(), password.size(), kOpsLimit, kMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return util::Error::Internal("argon2id: out of memory");
  }
  return std::string(encoded.data());
}

bool VerifyPassword(std::string_view encoded, std::string_view password) {
  const bool usable = !encoded.empty() && encoded.size() < crypto_pwhash_STRBYTES &&
                      encoded.starts_with("$argon2id$");
  const std::string hash(usable ? encoded : std::string_view(DecoyHash()));
  const bool match = crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
  return usable && match;
}

}  // namespace evident::auth
