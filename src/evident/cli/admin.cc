#include "evident/cli/admin.h"

#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "evident/auth/identity_service.h"
#include "evident/cli/common.h"
#include "evident/core/clock.h"
#include "evident/storage/sqlite/sqlite_identity_store.h"

namespace evident::cli {

namespace {

// One line from `in`; on a terminal, with `prompt` and without echo.
bool ReadSecretLine(std::istream& in, std::ostream& out, const char* prompt, bool terminal,
                    std::string& line) {
  termios saved{};
  if (terminal) {
    out << prompt << std::flush;
    tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  const bool read = static_cast<bool>(std::getline(in, line));
  if (terminal) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    out << '\n';
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return read;
}

}  // namespace

CLI::App* AddAdminCommand(CLI::App& app, ResetPasswordOptions& options) {
  CLI::App* admin = app.add_subcommand("admin", "Offline administration of accounts");
  admin->require_subcommand(1);
  CLI::App* reset = admin->add_subcommand(
      "reset-password",
      "Set a user's password (read from standard input) and end its sessions and tokens");
  reset->add_option("--data", options.data, "Data directory (default ./data)");
  reset->add_option("EMAIL", options.email, "The user's email")->required();
  return admin;
}

int RunResetPassword(const ResetPasswordOptions& options, std::istream& in, std::ostream& out,
                     std::ostream& err) {
  if (sodium_init() < 0) {
    err << "error: cannot initialise libsodium\n";
    return 1;
  }
  const std::filesystem::path db =
      std::filesystem::path(options.data) / storage::sqlite::kIdentityDbFile;
  std::error_code fs_error;
  if (!std::filesystem::exists(db, fs_error)) {
    err << "error: " << db.string() << " does not exist; is " << options.data
        << " an Evident data directory?\n";
    return kExitUsage;
  }
  const bool terminal = &in == &std::cin && isatty(STDIN_FILENO) != 0;
  std::string password, again;
  if (!ReadSecretLine(in, out, "new password: ", terminal, password)) {
    err << "error: no password on standard input\n";
    return kExitUsage;
  }
  if (terminal && (!ReadSecretLine(in, out, "again: ", terminal, again) || again != password)) {
    sodium_memzero(password.data(), password.size());
    err << "error: the two passwords differ\n";
    return kExitUsage;
  }
  sodium_memzero(again.data(), again.size());

  auto store = storage::sqlite::OpenSqliteIdentityStore(db.string());
  if (!store) {
    err << "error: " << store.error().ToString() << '\n';
    return 1;
  }
  const core::Clock& clock = core::SystemClock::Instance();
  auth::IdentityService identity(**store, clock, auth::IdentityOptions{});
  auto change = identity.ResetPassword(options.email, password);
  sodium_memzero(password.data(), password.size());
  if (!change) {
    const bool usage = change.error().code() == util::ErrorCode::kNotFound ||
                       change.error().code() == util::ErrorCode::kInvalidArgument;
    err << "error: "
        << (change.error().code() == util::ErrorCode::kNotFound
                ? "no user has the email '" + options.email + "'"
                : change.error().message())
        << '\n';
    return usage ? kExitUsage : 1;
  }
  const std::string event = auth::OfflineAuditEvent(
      change->after, "reset_password", "evident admin reset-password",
      {{"revoked_credentials", std::to_string(change->revoked_credentials.size())}},
      clock.NowMillis());
  if (auto queued = identity.AddPendingAudit(event); !queued) {
    err << "error: the password was reset but its audit event was not recorded: "
        << queued.error().ToString() << '\n';
    return 1;
  }
  out << "password reset for " << change->after.email << "; " << change->revoked_credentials.size()
      << " sessions and tokens revoked. The audit event is appended at the server's next start.\n";
  return 0;
}

}  // namespace evident::cli
