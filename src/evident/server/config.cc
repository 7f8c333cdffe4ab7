#include "evident/server/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <exception>
#include <toml.hpp>

#include "evident/core/canonical_json.h"
#include "evident/ledger/note.h"
#include "evident/util/strings.h"

namespace evident::server {

namespace {

using util::Error;
using util::FieldError;

Error ConfigError(const std::string& source, const std::string& key, const std::string& message) {
  return Error(util::ErrorCode::kInvalidArgument, source + ": " + key + ": " + message,
               {FieldError{-1, key, message}});
}

template <typename Int>
util::Result<Int> ParseInt(std::string_view text) {
  Int value{};
  text = util::Trim(text);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return Error::InvalidArgument("'" + std::string(text) + "' is not an integer");
  }
  return value;
}

// The numeric settings (identity and access, ingest_nice, max_tail_mib), each with its bounds.
struct NumberSetting {
  std::string_view key;
  double ServeConfig::*real = nullptr;
  int64_t ServeConfig::*integer = nullptr;
  double min = 0, max = 0;
};

const std::vector<NumberSetting>& NumberSettings() {
  static const std::vector<NumberSetting> settings = {
      {"rate_limit_rps", &ServeConfig::rate_limit_rps, nullptr, 0, 1e9},
      {"rate_limit_burst", &ServeConfig::rate_limit_burst, nullptr, 1, 1e9},
      {"session_ttl_seconds", nullptr, &ServeConfig::session_ttl_seconds, 60, 366.0 * 86400},
      {"session_idle_seconds", nullptr, &ServeConfig::session_idle_seconds, 0, 366.0 * 86400},
      {"lockout_max_failures", nullptr, &ServeConfig::lockout_max_failures, 1, 1000},
      {"lockout_window_seconds", nullptr, &ServeConfig::lockout_window_seconds, 1, 86400},
      {"lockout_seconds", nullptr, &ServeConfig::lockout_seconds, 1, 7 * 86400},
      {"lockout_max_failures_per_ip", nullptr, &ServeConfig::lockout_max_failures_per_ip, 1, 1e6},
      {"oauth_access_token_seconds", nullptr, &ServeConfig::oauth_access_token_seconds, 60, 86400},
      {"ingest_nice", nullptr, &ServeConfig::ingest_nice, 0, 19},
      {"max_tail_mib", nullptr, &ServeConfig::max_tail_mib, 16, 65536},
  };
  return settings;
}

util::Status SetNumber(const NumberSetting& setting, double value, const std::string& source,
                       std::string_view name, ServeConfig& config) {
  if (!(value >= setting.min && value <= setting.max)) {
    return ConfigError(source, std::string(name),
                       "must be from " + std::to_string(static_cast<int64_t>(setting.min)) +
                           " to " + std::to_string(static_cast<int64_t>(setting.max)));
  }
  if (setting.real != nullptr) {
    config.*setting.real = value;
  } else {
    if (value != static_cast<double>(static_cast<int64_t>(value))) {
      return ConfigError(source, std::string(name), "must be an integer");
    }
    config.*setting.integer = static_cast<int64_t>(value);
  }
  return {};
}

util::Status Validate(ServeConfig& config, const std::string& source) {
  if (config.data_dir.empty()) return ConfigError(source, "data_dir", "must not be empty");
  if (config.max_body_bytes == 0) {
    return ConfigError(source, "max_body_bytes", "must be at least 1");
  }
  if (!config.log_name.empty()) {
    if (auto valid = ledger::CheckKeyName(config.log_name); !valid) {
      return ConfigError(source, "log_name", valid.error().message());
    }
  }
  if (config.io_threads < 0 || config.io_threads > 256) {
    return ConfigError(source, "io_threads", "must be from 0 (one per core) to 256");
  }
  for (const std::string& key : config.redact_keys) {
    if (util::Trim(key).empty()) return ConfigError(source, "redact_keys", "empty key name");
  }
  if (!config.public_url.empty()) {
    const std::string& url = config.public_url;
    const bool scheme = url.starts_with("https://") || url.starts_with("http://");
    if (!scheme || url.find_first_of("?# ") != std::string::npos ||
        url.find('/', url.find("//") + 2) != std::string::npos) {
      return ConfigError(source, "public_url",
                         "must be an origin such as https://audit.example.com (no path)");
    }
  }
  return {};
}

// Applies the TOML file at `path` onto `config`.
util::Status ApplyToml(const std::string& path, ServeConfig& config) {
  const std::string source = "config file " + path;
  toml::value root;
  try {
    root = toml::parse(path);
  } catch (const std::exception& e) {
    return Error(util::ErrorCode::kInvalidArgument, source + ": " + e.what());
  }
  if (!root.is_table()) return Error::InvalidArgument(source + ": not a TOML table");
  for (const auto& [key, value] : root.as_table()) {
    try {
      if (key == "data_dir") {
        config.data_dir = toml::get<std::string>(value);
      } else if (key == "listen") {
        EVIDENT_RETURN_IF_ERROR(
            ParseListen(toml::get<std::string>(value), config.listen_host, config.listen_port));
      } else if (key == "max_body_bytes") {
        const auto bytes = toml::get<int64_t>(value);
        if (bytes < 1) return ConfigError(source, key, "must be at least 1");
        config.max_body_bytes = static_cast<uint64_t>(bytes);
      } else if (key == "redact_keys") {
        config.redact_keys = toml::get<std::vector<std::string>>(value);
      } else if (key == "admin_token") {
        config.admin_token = toml::get<std::string>(value);
      } else if (key == "log_name") {
        config.log_name = toml::get<std::string>(value);
      } else if (key == "signing_key_file") {
        config.signing_key_file = toml::get<std::string>(value);
      } else if (key == "io_threads") {
        const auto threads = toml::get<int64_t>(value);
        if (threads < 0 || threads > 256) {
          return ConfigError(source, key, "must be from 0 (one per core) to 256");
        }
        config.io_threads = static_cast<int>(threads);
      } else if (key == "admin_email") {
        config.admin_email = toml::get<std::string>(value);
      } else if (key == "admin_password") {
        config.admin_password = toml::get<std::string>(value);
      } else if (key == "public_url") {
        config.public_url = toml::get<std::string>(value);
      } else {
        const auto& settings = NumberSettings();
        const auto setting = std::find_if(settings.begin(), settings.end(),
                                          [&](const auto& one) { return one.key == key; });
        if (setting == settings.end()) {
          return ConfigError(
              source, key,
              "unknown key (known: data_dir, listen, max_body_bytes, redact_keys, "
              "admin_token, log_name, signing_key_file, io_threads, ingest_nice, "
              "max_tail_mib, admin_email, admin_password, rate_limit_rps, rate_limit_burst, "
              "session_ttl_seconds, session_idle_seconds, lockout_max_failures, "
              "lockout_window_seconds, lockout_seconds, "
              "lockout_max_failures_per_ip, public_url, "
              "oauth_access_token_seconds)");
        }
        const double number = value.is_floating() ? toml::get<double>(value)
                                                  : static_cast<double>(toml::get<int64_t>(value));
        EVIDENT_RETURN_IF_ERROR(SetNumber(*setting, number, source, key, config));
      }
    } catch (const toml::type_error&) {
      return ConfigError(source, key, "wrong type");
    }
  }
  return Validate(config, source);
}

util::Status ApplyEnvironment(const EnvLookup& env, ServeConfig& config) {
  const std::string source = "environment";
  if (auto value = env("EVIDENT_DATA_DIR")) config.data_dir = *value;
  if (auto value = env("EVIDENT_LISTEN")) {
    auto parsed = ParseListen(*value, config.listen_host, config.listen_port);
    if (!parsed) return ConfigError(source, "EVIDENT_LISTEN", parsed.error().message());
  }
  if (auto value = env("EVIDENT_MAX_BODY_BYTES")) {
    auto bytes = ParseInt<uint64_t>(*value);
    if (!bytes) return ConfigError(source, "EVIDENT_MAX_BODY_BYTES", bytes.error().message());
    config.max_body_bytes = *bytes;
  }
  if (auto value = env("EVIDENT_REDACT_KEYS")) config.redact_keys = util::SplitList(*value);
  if (auto value = env("EVIDENT_ADMIN_TOKEN")) config.admin_token = *value;
  if (auto value = env("EVIDENT_LOG_NAME")) config.log_name = *value;
  if (auto value = env("EVIDENT_SIGNING_KEY_FILE")) config.signing_key_file = *value;
  if (auto value = env("EVIDENT_IO_THREADS")) {
    auto threads = ParseInt<int>(*value);
    if (!threads || *threads < 0 || *threads > 256) {
      return ConfigError(source, "EVIDENT_IO_THREADS", "must be an integer from 0 to 256");
    }
    config.io_threads = *threads;
  }
  if (auto value = env("EVIDENT_ADMIN_EMAIL")) config.admin_email = *value;
  if (auto value = env("EVIDENT_ADMIN_PASSWORD")) config.admin_password = *value;
  if (auto value = env("EVIDENT_PUBLIC_URL")) config.public_url = *value;
  for (const NumberSetting& setting : NumberSettings()) {
    std::string name = "EVIDENT_";
    for (const char c : setting.key)
      name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const auto value = env(name);
    if (!value) continue;
    double number = 0;
    const std::string_view text = util::Trim(*value);
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end != text.data() + text.size()) {
      return ConfigError(source, name, "'" + *value + "' is not a number");
    }
    EVIDENT_RETURN_IF_ERROR(SetNumber(setting, number, source, name, config));
  }
  return Validate(config, source);
}

}  // namespace

std::string ServeConfig::Listen() const {
  const bool v6 = listen_host.find(':') != std::string::npos;
  return (v6 ? "[" + listen_host + "]" : listen_host) + ":" + std::to_string(listen_port);
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): startup
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

util::Status ParseListen(std::string_view text, std::string& host, uint16_t& port) {
  text = util::Trim(text);
  std::string_view host_part;
  std::string_view port_part;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error::InvalidArgument("'" + std::string(text) + "' is not [IPV6]:PORT");
    }
    host_part = text.substr(1, close - 1);
    port_part = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Error::InvalidArgument("'" + std::string(text) + "' is not HOST:PORT");
    }
    host_part = text.substr(0, colon);
    port_part = text.substr(colon + 1);
    if (host_part.find(':') != std::string_view::npos) {
      return Error::InvalidArgument("'" + std::string(text) +
                                    "': write IPv6 addresses in brackets, [::1]:8080");
    }
  }
  if (host_part.empty()) {
    return Error::InvalidArgument("'" + std::string(text) + "' has no host (use 0.0.0.0 for all)");
  }
  auto number = ParseInt<uint32_t>(port_part);
  if (!number || *number > 65535) {
    return Error::InvalidArgument("'" + std::string(text) + "': the port must be 0 to 65535");
  }
  host = std::string(host_part);
  port = static_cast<uint16_t>(*number);
  return {};
}

util::Result<ServeConfig> LoadServeConfig(const ServeFlags& flags, const EnvLookup& env) {
  ServeConfig config;
  config.redact_keys = core::Redactor::DefaultKeys();
  std::string config_file = flags.config_file;
  if (config_file.empty()) config_file = env("EVIDENT_CONFIG").value_or("");
  if (!config_file.empty()) EVIDENT_RETURN_IF_ERROR(ApplyToml(config_file, config));
  EVIDENT_RETURN_IF_ERROR(ApplyEnvironment(env, config));

  if (!flags.data_dir.empty()) config.data_dir = flags.data_dir;
  if (!flags.listen.empty()) {
    auto parsed = ParseListen(flags.listen, config.listen_host, config.listen_port);
    if (!parsed) return ConfigError("flags", "--listen", parsed.error().message());
  }
  if (flags.max_body_bytes) config.max_body_bytes = *flags.max_body_bytes;
  if (flags.io_threads) config.io_threads = *flags.io_threads;
  EVIDENT_RETURN_IF_ERROR(Validate(config, "flags"));
  return config;
}

}  // namespace evident::server
