// `evident verify` (offline on a data directory, or online against a server) and
// `evident key show`: how an auditor proves, with nothing but the log's public key, that no event
// was altered, removed or reordered, and that history was not rewritten between two audits.
#pragma once

#include <iosfwd>
#include <string>

#include "evident/cli/common.h"

namespace CLI {
class App;
}  // namespace CLI

namespace evident::cli {

struct VerifyOptions {
  std::string data;             // offline: the stopped server's data directory
  ServerOptions server;         // online
  std::string tenant;           // online
  std::string checkpoint_file;  // online: the signed checkpoint saved at the previous audit
  std::string key;              // the verifier key; offline default: the data directory's
  bool full = false;            // online: also fetch every entry and recompute the root
  std::string save;             // online: write the newly verified checkpoint here
};

CLI::App* AddVerifyCommand(CLI::App& app, VerifyOptions& options);
// Exit 0 when everything verified, 1 when something did not (each failure is named), 2 for
// usage errors and unreachable servers.
int RunVerify(const VerifyOptions& options, std::ostream& out, std::ostream& err);

struct KeyShowOptions {
  std::string data = "./data";
  std::string key_file;  // default DATA/log-signing.key
};
CLI::App* AddKeyCommand(CLI::App& app, KeyShowOptions& options);
int RunKeyShow(const KeyShowOptions& options, std::ostream& out, std::ostream& err);

}  // namespace evident::cli
