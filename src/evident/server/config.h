// Configuration of `evident serve`: defaults < TOML file < EVIDENT_* environment < flags.
// The keys and variables are listed in docs/api.md ("Running the server").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "evident/util/result.h"

namespace evident::server {

inline constexpr uint64_t kDefaultMaxBodyBytes = 16 * 1024 * 1024;

struct ServeConfig {
  std::string data_dir = "./data";
  std::string listen_host = "127.0.0.1";  // a name or an address; IPv6 without brackets
  uint16_t listen_port = 8080;            // 0: any free port
  uint64_t max_body_bytes = kDefaultMaxBodyBytes;
  std::vector<std::string> redact_keys;  // core::Redactor::DefaultKeys() unless configured
  // The bootstrap super-admin token (server/bootstrap.h). A secret: never log or print it.
  std::string admin_token;
  // The tamper-evidence log's name (origin prefix and signing key name); empty: the key's name,
  // "evident/<instance id>" for a key created at first start.
  std::string log_name;
  // The Ed25519 signing key (Go note private key format); empty: DATA/log-signing.key.
  std::string signing_key_file;
  int io_threads = 0;  // 0: one per hardware thread

  // "HOST:PORT", with IPv6 hosts in brackets.
  std::string Listen() const;
};

// What the `serve` command line gave; empty strings and nullopt mean "not given".
struct ServeFlags {
  std::string config_file;  // --config
  std::string data_dir;     // --data
  std::string listen;       // --listen HOST:PORT
  std::optional<uint64_t> max_body_bytes;
  std::optional<int> io_threads;
};

// Looks up one environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment (getenv).
EnvLookup ProcessEnvironment();

// Merges, lowest first: defaults; the TOML file named by --config or EVIDENT_CONFIG (keys
// data_dir, listen, max_body_bytes, redact_keys, admin_token, log_name, signing_key_file,
// io_threads); the variables EVIDENT_DATA_DIR, EVIDENT_LISTEN, EVIDENT_MAX_BODY_BYTES,
// EVIDENT_REDACT_KEYS (comma list), EVIDENT_ADMIN_TOKEN, EVIDENT_LOG_NAME,
// EVIDENT_SIGNING_KEY_FILE, EVIDENT_IO_THREADS; then the flags.
// Errors: InvalidArgument naming the source and key (an unreadable or malformed file, an unknown
// key, a wrong type, a listen address without a port, a port above 65535, a zero body limit,
// io_threads outside 0..256, an empty redact key list entry). Never throws.
util::Result<ServeConfig> LoadServeConfig(const ServeFlags& flags,
                                          const EnvLookup& env = ProcessEnvironment());

// Splits "HOST:PORT" or "[V6]:PORT". Errors: InvalidArgument.
util::Status ParseListen(std::string_view text, std::string& host, uint16_t& port);

}  // namespace evident::server
