// `evident admin reset-password --data DIR EMAIL`: offline recovery of an account
// (docs/identity.md).
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <string>

namespace evident::cli {

struct ResetPasswordOptions {
  std::string data = "./data";
  std::string email;
};

// Adds `admin` with its `reset-password` subcommand.
CLI::App* AddAdminCommand(CLI::App& app, ResetPasswordOptions& options);

// Reads the new password from `in` (on a terminal: twice, without echo), sets it, revokes the
// user's sessions and tokens and records an audit event that the server appends at its next
// start. Exit 0 on success, 1 when it failed, 2 for usage errors (no such user, a password that
// breaks the policy).
int RunResetPassword(const ResetPasswordOptions& options, std::istream& in, std::ostream& out,
                     std::ostream& err);

}  // namespace evident::cli
