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
  // How many nice levels below the rest of the server ingest requests are decoded
  // (server::HttpServerOptions::ingest_nice); 0 to 19.
  int64_t ingest_nice = 5;
  // The memory the events acknowledged but not indexed yet may take before ingest waits for the
  // indexer (storage::sqlite::SqliteOptions::max_tail_bytes), in MiB; 16 to 65536.
  int64_t max_tail_mib = 96;
  // The super admin made on first start; the password is a secret, like admin_token.
  std::string admin_email = "admin@localhost";
  std::string admin_password;
  // Token buckets per client IP and per credential; rate 0 turns them off.
  double rate_limit_rps = 200;
  double rate_limit_burst = 400;
  int64_t session_ttl_seconds = 12 * 60 * 60;
  int64_t session_idle_seconds = 30 * 60;
  int64_t lockout_max_failures = 5;
  int64_t lockout_window_seconds = 15 * 60;
  int64_t lockout_seconds = 15 * 60;
  int64_t lockout_max_failures_per_ip = 50;
  // OAuth (docs/oauth.md): the issuer and base URL as clients see it ("https://audit.example.com";
  // empty: from each request's Host), and the life of access tokens.
  std::string public_url;
  int64_t oauth_access_token_seconds = 15 * 60;

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
// io_threads, ingest_nice, max_tail_mib, admin_email, admin_password, rate_limit_rps,
// rate_limit_burst, session_ttl_seconds, session_idle_seconds, lockout_max_failures,
// lockout_window_seconds, lockout_seconds, lockout_max_failures_per_ip, public_url,
// oauth_access_token_seconds); the variables EVIDENT_ + the key in upper case (EVIDENT_DATA_DIR,
// EVIDENT_REDACT_KEYS as a comma list, ...); then the flags. Errors: InvalidArgument naming the
// source and key (an unreadable or malformed file, an unknown key, a wrong type, a listen address
// without a port, a port above 65535, a zero body limit, io_threads outside 0..256, an empty redact
// key list entry). Never throws.
util::Result<ServeConfig> LoadServeConfig(const ServeFlags& flags,
                                          const EnvLookup& env = ProcessEnvironment());

// Splits "HOST:PORT" or "[V6]:PORT". Errors: InvalidArgument.
util::Status ParseListen(std::string_view text, std::string& host, uint16_t& port);

}  // namespace evident::server
