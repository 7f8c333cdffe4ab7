// The `evident` binary: serve, reindex, ingest, query, verify, key, admin.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "evident/cli/admin.h"
#include "evident/cli/common.h"
#include "evident/cli/ingest.h"
#include "evident/cli/query.h"
#include "evident/cli/verify.h"
#include "evident/server/config.h"
#include "evident/server/serve.h"
#include "evident/storage/sqlite/sqlite_event_store.h"

namespace {

struct ReindexOptions {
  std::string data;
};

int Serve(const evident::server::ServeFlags& flags) {
  evident::util::Result<evident::server::ServeConfig> config =
      evident::server::LoadServeConfig(flags);
  if (!config) {
    std::cerr << "error: " << config.error().ToString() << '\n';
    return evident::cli::kExitUsage;
  }
  return evident::server::RunServe(*config);
}

// Offline: the server must not be running on the directory (the store refuses a second opener).
int Reindex(const ReindexOptions& options) {
  std::error_code error;
  if (!std::filesystem::is_directory(options.data, error)) {
    std::cerr << "error: " << options.data << " is not a data directory\n";
    return evident::cli::kExitUsage;
  }
  auto started = std::chrono::steady_clock::now();
  evident::util::Status rebuilt = evident::storage::sqlite::RebuildIndex(options.data);
  if (!rebuilt) {
    std::cerr << "error: reindex failed: " << rebuilt.error().ToString() << '\n';
    return 1;
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  evident::storage::sqlite::SqliteOptions store_options;
  store_options.data_dir = options.data;
  auto store = evident::storage::sqlite::OpenSqliteEventStore(store_options);
  if (!store) {
    std::cerr << "error: reopening after reindex: " << store.error().ToString() << '\n';
    return 1;
  }
  const evident::storage::StoreStats stats = (*store)->Stats();
  const evident::storage::DiskUsage disk = (*store)->Disk();
  (*store)->Close();
  std::cout << "rebuilt the index of " << options.data
            << " from the log: " << stats.indexed_position << " events in " << seconds.count()
            << " s; index " << disk.index_bytes << " bytes, log " << disk.log_bytes << " bytes\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Evident: a multi-tenant, tamper-evident audit log server", "evident"};
  app.require_subcommand(1);

  evident::server::ServeFlags serve;
  CLI::App* serve_command = app.add_subcommand(
      "serve", "Run the server (settings: flags > EVIDENT_* variables > --config file)");
  serve_command->add_option("--data", serve.data_dir, "Data directory (default ./data)");
  serve_command->add_option("--listen", serve.listen,
                            "HOST:PORT (default 127.0.0.1:8080; port 0: any free port)");
  serve_command->add_option("--config", serve.config_file, "TOML configuration file");

  ReindexOptions reindex;
  CLI::App* reindex_command =
      app.add_subcommand("reindex", "Rebuild every index from the event log (server stopped)");
  reindex_command->add_option("--data", reindex.data, "Data directory")->required();

  evident::cli::IngestOptions ingest;
  CLI::App* ingest_command = evident::cli::AddIngestCommand(app, ingest);
  evident::cli::QueryOptions query;
  CLI::App* query_command = evident::cli::AddQueryCommand(app, query);

  evident::cli::VerifyOptions verify;
  CLI::App* verify_command = evident::cli::AddVerifyCommand(app, verify);
  evident::cli::KeyShowOptions key_show;
  CLI::App* key_command = evident::cli::AddKeyCommand(app, key_show);
  evident::cli::ResetPasswordOptions reset_password;
  CLI::App* admin_command = evident::cli::AddAdminCommand(app, reset_password);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : evident::cli::kExitUsage;
  }

  if (serve_command->parsed()) return Serve(serve);
  if (reindex_command->parsed()) return Reindex(reindex);
  if (ingest_command->parsed()) {
    return evident::cli::RunIngestCommand(ingest, std::cin, std::cout, std::cerr);
  }
  if (query_command->parsed()) return evident::cli::RunQuery(query, std::cout, std::cerr);
  if (verify_command->parsed()) return evident::cli::RunVerify(verify, std::cout, std::cerr);
  if (key_command->parsed()) return evident::cli::RunKeyShow(key_show, std::cout, std::cerr);
  if (admin_command->parsed()) {
    return evident::cli::RunResetPassword(reset_password, std::cin, std::cout, std::cerr);
  }
  return evident::cli::kExitUsage;
}
