// What the client subcommands (ingest, query) share: where the server is, how to authenticate,
// and how to show an RFC 9457 problem answer to a person.
#pragma once

#include <string>
#include <vector>

#include "evident/cli/http_client.h"

namespace CLI {
class App;
}  // namespace CLI

namespace evident::cli {

inline constexpr char kDefaultUrl[] = "http://127.0.0.1:8080";

// Exit codes of the client subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;  // the server answered, and refused something
inline constexpr int kExitUsage = 2;    // bad arguments, cannot connect, bad credential

struct ServerOptions {
  std::string url = kDefaultUrl;
  std::string token;
};

// Adds --url (or EVIDENT_URL) and --token (or EVIDENT_TOKEN) to `command`, bound to `options`,
// which must outlive parsing.
void AddServerOptions(CLI::App& command, ServerOptions& options);

// The Authorization header for `options`, or none without a token.
std::vector<HttpHeader> AuthHeaders(const ServerOptions& options);

// A person-readable account of an error answer: "401 Unauthorized: <detail>" from the problem
// details (title, detail), then one line per entry of "errors" ("  field: message", prefixed by
// "event N: " when it names a batch index). Falls back to the first 200 bytes of a non-problem
// body.
std::string DescribeErrorResponse(const HttpResponse& response);

// Replaces what a terminal would interpret (C0/C1 controls, DEL, bidirectional overrides) with
// '?', and invalid UTF-8 bytes too, so that event text cannot move the cursor or spoof columns.
std::string SanitizeForTerminal(std::string_view text);

}  // namespace evident::cli
