#include "evident/server/serve.h"

#include <sodium.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <filesystem>
#include <iostream>

#include "evident/api/api.h"
#include "evident/core/clock.h"
#include "evident/core/user_agent.h"
#include "evident/ledger/checkpointer.h"
#include "evident/ledger/writer.h"
#include "evident/server/bootstrap.h"
#include "evident/server/http_server.h"
#include "evident/storage/sqlite/sqlite_event_store.h"

namespace evident::server {

namespace {

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

  auto token = BootstrapAdminToken(data_dir, config.admin_token);
  if (!token) {
    spdlog::error("admin token: {}", token.error().ToString());
    return 1;
  }
  if (token->origin == AdminToken::Origin::kReplaced) {
    spdlog::warn("EVIDENT_ADMIN_TOKEN differs from the stored admin token: it replaces it");
  }

  auto parser = core::UserAgentParser::CreateDefault();
  if (!parser) {
    spdlog::error("user-agent rules: {}", parser.error().ToString());
    return 1;
  }

  storage::sqlite::SqliteOptions store_options;
  store_options.data_dir = data_dir.string();
  store_options.clock = &core::SystemClock::Instance();
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

  const api::TokenVerifier verifier(token->hash);
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
    api::Api api(**store, writer, core::SystemClock::Instance(), parser->get(), verifier,
                 api_options);

    HttpServerOptions http_options;
    http_options.host = config.listen_host;
    http_options.port = config.listen_port;
    http_options.max_body_bytes = config.max_body_bytes;
    http_options.io_threads = config.io_threads;
    HttpServer http(api, http_options);
    if (auto listening = http.Listen(); !listening) {
      spdlog::error("{}", listening.error().message());
      exit_code = 1;
      if (token->origin == AdminToken::Origin::kGenerated) {
        // Nobody saw the generated token: forget it so that the next start makes a new one.
        std::filesystem::remove(data_dir / kAdminTokenFile, fs_error);
      }
    } else {
      ServeConfig actual = config;
      actual.listen_port = http.port();
      out << "listening on http://" << actual.Listen() << "\n";
      out << "data directory: " << data_dir.string() << "\n";
      out << "log verifier key: " << verifier_key << "\n";
      if (token->origin == AdminToken::Origin::kGenerated) {
        out << "admin token: " << token->generated
            << "  (shown once; only its SHA-256 is stored)\n";
      }
      out.flush();
      spdlog::info("evident serving on {} (data {})", actual.Listen(), data_dir.string());
      http.Run();
    }
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
