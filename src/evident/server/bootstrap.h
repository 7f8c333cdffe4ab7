// What the first start creates in the data directory besides the stores: the log's signing key.
// (The first super admin and its token are made by auth::IdentityService::Bootstrap.)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "evident/ledger/note.h"
#include "evident/util/result.h"

namespace evident::server {

inline constexpr std::string_view kSigningKeyFile = "log-signing.key";

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
