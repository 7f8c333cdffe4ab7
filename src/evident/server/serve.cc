#include "evident/server/serve.h"

#include <sodium.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <iostream>

#include "evident/api/api.h"
#include "evident/auth/identity_service.h"
#include "evident/core/clock.h"
#include "evident/core/user_agent.h"
#include "evident/ledger/checkpointer.h"
#include "evident/ledger/writer.h"
#include "evident/server/bootstrap.h"
#include "evident/server/http_server.h"
#include "evident/storage/sqlite/sqlite_event_store.h"
#include "evident/storage/sqlite/sqlite_identity_store.h"
#include "evident/util/thread.h"

#ifdef EVIDENT_JEMALLOC
#include <jemalloc/jemalloc.h>

// Read by jemalloc as it starts (MALLOC_CONF in the environment still overrides it). Pages freed
// go back to the system after about three seconds rather than ten. Ingest frees memory in waves:
// each index batch drops up to 50,000 decoded events (~75 MB) from the unindexed tail at once, and
// the HTTP threads refill it over the next second. With one second's decay much of each wave was
// given back and faulted in again: three seconds halve the page faults an event (0.23-0.26 to
// 0.12-0.13) at the same peak RSS, where ten cost up to 40 MB more (docs/benchmarks.md, "The
// allocator's decay").
const char* malloc_conf = "dirty_decay_ms:3000";
#endif

namespace evident::server {

namespace {

// The allocator the server runs on (docs/decisions.md), for the start-up log.
std::string AllocatorName() {
#ifdef EVIDENT_JEMALLOC
  const char* version = nullptr;
  size_t size = sizeof(version);
  if (mallctl("version", static_cast<void*>(&version), &size, nullptr, 0) == 0) {
    ssize_t decay_ms = 0;
    size = sizeof(decay_ms);
    const bool has_decay =
        mallctl("opt.dirty_decay_ms", static_cast<void*>(&decay_ms), &size, nullptr, 0) == 0;
    return std::string("jemalloc ") + version +
           (has_decay ? ", dirty_decay_ms " + std::to_string(decay_ms) : "");
  }
  return "jemalloc";
#else
  return "the C library's";
#endif
}

// Logs go to stderr: stdout carries only the start-up lines that scripts and tests read.
void UseStderrLogger() {
  if (spdlog::get("evident") == nullptr) {
    auto logger = spdlog::stderr_color_mt("evident");
    spdlog::set_default_logger(logger);
  }
}

int Serve(const ServeConfig& config, std::ostream& out) {
  if (sodium_init() < 0) {
    spdlog::error("cannot initialise libsodium");
    return 1;
  }
  std::error_code fs_error;
  std::filesystem::create_directories(config.data_dir, fs_error);
  if (fs_error) {
    spdlog::error("cannot create data directory {}: {}", config.data_dir, fs_error.message());
    return 1;
  }
  const std::filesystem::path data_dir =
      std::filesystem::weakly_canonical(std::filesystem::absolute(config.data_dir), fs_error);

  auto parser = core::UserAgentParser::CreateDefault();
  if (!parser) {
    spdlog::error("user-agent rules: {}", parser.error().ToString());
    return 1;
  }

  storage::sqlite::SqliteOptions store_options;
  store_options.data_dir = data_dir.string();
  store_options.clock = &core::SystemClock::Instance();
  store_options.max_tail_bytes = static_cast<size_t>(config.max_tail_mib) << 20;
  auto store = storage::sqlite::OpenSqliteEventStore(store_options);
  if (!store) {
    spdlog::error("cannot open the store in {}: {}", data_dir.string(), store.error().ToString());
    return 1;
  }

  auto signing_key = BootstrapSigningKey(data_dir, config.signing_key_file, config.log_name);
  if (!signing_key) {
    spdlog::error("log signing key: {}", signing_key.error().ToString());
    return 1;
  }
  const std::string verifier_key = signing_key->VerifierKey();
  const std::string log_name = signing_key->name();

  auto identity_store = storage::sqlite::OpenSqliteIdentityStore(
      (data_dir / storage::sqlite::kIdentityDbFile).string());
  if (!identity_store) {
    spdlog::error("cannot open the identity store: {}", identity_store.error().ToString());
    return 1;
  }
  auth::IdentityOptions identity_options;
  identity_options.session_ttl_ms = config.session_ttl_seconds * 1000;
  identity_options.session_idle_ms = config.session_idle_seconds * 1000;
  identity_options.lockout = auth::LockoutPolicy{
      .max_failures = static_cast<int>(config.lockout_max_failures),
      .window_ms = config.lockout_window_seconds * 1000,
      .lockout_ms = config.lockout_seconds * 1000,
      .max_failures_per_ip = static_cast<int>(config.lockout_max_failures_per_ip)};
  auth::IdentityService identity(**identity_store, core::SystemClock::Instance(), identity_options);
  auto admin = identity.Bootstrap(config.admin_email, config.admin_password, config.admin_token);
  if (!admin) {
    spdlog::error("first super admin: {}", admin.error().ToString());
    return 1;
  }
  if (admin->token_replaced) {
    spdlog::warn("EVIDENT_ADMIN_TOKEN differs from the earlier bootstrap token: it replaces it");
  }
  if (admin->created) {
    const std::string event = auth::OfflineAuditEvent(
        admin->admin, "create", "evident", {{"role", admin->admin.role}, {"reason", "first start"}},
        core::SystemClock::Instance().NowMillis());
    if (auto queued = identity.AddPendingAudit(event); !queued) {
      spdlog::error("cannot record the first super admin: {}", queued.error().ToString());
      return 1;
    }
  }

  auth::OAuthServer oauth(
      **identity_store, identity, core::SystemClock::Instance(),
      auth::OAuthOptions{.code_ttl_ms = 60'000,
                         .access_token_ttl_ms = config.oauth_access_token_seconds * 1000,
                         .flow_ttl_ms = 10LL * 60 * 1000,
                         .max_pending_flows = 10'000});
  if (auto console = oauth.EnsureConsoleClient(admin->admin.id); !console) {
    spdlog::error("the console's OAuth client: {}", console.error().ToString());
    return 1;
  }

  int exit_code = 0;
  {
    ledger::Checkpointer checkpointer(**store, std::move(signing_key).value(),
                                      ledger::CheckpointerOptions{.log_name = log_name},
                                      core::SystemClock::Instance());
    checkpointer.Start();
    ledger::Writer writer(**store, ledger::WriterOptions{});
    api::ApiOptions api_options;
    api_options.redact_keys = config.redact_keys;
    api_options.checkpointer = &checkpointer;
    api_options.rate_limit = {.rate_per_second = config.rate_limit_rps,
                              .burst = config.rate_limit_burst};
    api_options.oauth = &oauth;
    api_options.public_url = config.public_url;
    api::Api api(**store, writer, core::SystemClock::Instance(), parser->get(), identity,
                 api_options);
    if (auto flushed = api.FlushPendingAudit(); !flushed) {
      spdlog::error("cannot append audit events recorded offline: {}", flushed.error().ToString());
      exit_code = 1;
    }

    // Audit events the log could not take (a full disk) are stored with the next audit event;
    // this stores them within seconds of the disk freeing on a server that audits nothing else.
    util::PeriodicThread kept_audit("evident-audit", std::chrono::seconds(5), [&api] {
      if (auto stored = api.StoreKeptAudit(); !stored) {
        spdlog::warn("audit events kept earlier are not stored yet: {}", stored.error().ToString());
      }
    });

    HttpServerOptions http_options;
    http_options.host = config.listen_host;
    http_options.port = config.listen_port;
    http_options.max_body_bytes = config.max_body_bytes;
    http_options.io_threads = config.io_threads;
    http_options.ingest_nice = static_cast<int>(config.ingest_nice);
    HttpServer http(api, http_options);
    if (exit_code != 0) {
      // The pending audit events are still there for the next start.
    } else if (auto listening = http.Listen(); !listening) {
      spdlog::error("{}", listening.error().message());
      exit_code = 1;
      if (admin->created) {
        spdlog::warn(
            "the super admin {} was created but its start-up credentials were not "
            "shown; recover with `evident admin reset-password`",
            admin->admin.email);
      }
    } else {
      ServeConfig actual = config;
      actual.listen_port = http.port();
      out << "listening on http://" << actual.Listen() << "\n";
      out << "data directory: " << data_dir.string() << "\n";
      out << "log verifier key: " << verifier_key << "\n";
      out << "super admin: " << admin->admin.email << "\n";
      if (!admin->generated_password.empty()) {
        out << "admin password: " << admin->generated_password
            << "  (shown once; stored only as an argon2id hash)\n";
      }
      if (!admin->generated_token.empty()) {
        out << "admin token: " << admin->generated_token
            << "  (shown once; only its SHA-256 is stored)\n";
      }
      out.flush();
      spdlog::info("evident serving on {} (data {}, allocator {})", actual.Listen(),
                   data_dir.string(), AllocatorName());
      http.Run();
    }
    kept_audit.Stop();
    // Every request already received was answered before Run returned; this drains anything a
    // request queued without waiting for (none today) and joins the writer thread.
    writer.Shutdown();
    checkpointer.Stop();  // signs what the last commits added
  }
  (*store)->Close();
  if (exit_code == 0) spdlog::info("evident stopped");
  return exit_code;
}

}  // namespace

int RunServe(const ServeConfig& config, std::ostream& out) {
  UseStderrLogger();
  try {
    return Serve(config, out);
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
}

int RunServe(const ServeConfig& config) { return RunServe(config, std::cout); }

}  // namespace evident::server
