// The bootstrap super-admin credential, until the identity issue brings users and API tokens.
//
// On first start (no DATA/admin-token.sha256), the token is the configured one
// (EVIDENT_ADMIN_TOKEN) or a random "evd_" + base64url(32 bytes) that the caller prints once.
// Only its SHA-256 is stored, hex-encoded, in a file of mode 0600. A configured token that
// differs from the stored hash on a later start replaces it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "evident/api/auth.h"
#include "evident/ledger/note.h"
#include "evident/util/result.h"

namespace evident::server {

inline constexpr std::string_view kAdminTokenFile = "admin-token.sha256";
inline constexpr std::string_view kSigningKeyFile = "log-signing.key";

struct AdminToken {
  enum class Origin {
    kStored,      // an earlier start stored it; nothing configured
    kConfigured,  // the configured token, stored now or already matching the stored hash
    kReplaced,    // the configured token replaced a different stored hash
    kGenerated,   // first start, nothing configured: `generated` holds the token to print once
  };
  api::TokenHash hash{};
  Origin origin = Origin::kStored;
  std::string generated;  // the clear token, only for kGenerated
};

// Reads or creates the token hash in `data_dir` (which must exist). `configured` is the token
// from configuration, or empty. Writes atomically (temporary file, fsync, rename).
// Errors: IOError when the file cannot be read or written; Corruption when it holds anything but
// 64 hex digits.
util::Result<AdminToken> BootstrapAdminToken(const std::filesystem::path& data_dir,
                                             std::string_view configured);

// The signing key stored in `path` (Go note private key format). Errors: IOError when it cannot
// be read, InvalidArgument when it holds no usable key.
util::Result<ledger::NoteSigner> ReadSigningKey(const std::filesystem::path& path);

// The log's Ed25519 signing key (docs/log-format.md). From `configured_file` when given (it must
// exist); otherwise DATA/log-signing.key, created on first start (mode 0600, written atomically)
// with the key name `log_name`, or "evident/<16 hex digits of a random instance id>" when empty.
// The key name is the log name. Errors: IOError when the file cannot be read or written;
// InvalidArgument when it holds no usable key, or a key for another log name than a configured
// one.
util::Result<ledger::NoteSigner> BootstrapSigningKey(const std::filesystem::path& data_dir,
                                                     const std::string& configured_file,
                                                     const std::string& log_name);

}  // namespace evident::server
