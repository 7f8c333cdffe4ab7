// `evident query`: searches GET /api/v1/events and prints a table, or JSON Lines with --json.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "evident/cli/common.h"
#include "evident/util/result.h"

namespace CLI {
class App;
}  // namespace CLI

namespace evident::cli {

inline constexpr int kDefaultQueryLimit = 20;
inline constexpr int kMaxQueryLimit = 1000;

struct QueryOptions {
  ServerOptions server;
  // Each list is any-of; a flag may be repeated or hold a comma list.
  std::vector<std::string> tenants;
  std::vector<std::string> workspaces;
  std::vector<std::string> types;
  std::vector<std::string> actions;
  std::vector<std::string> resource_types;
  std::vector<std::string> statuses;
  std::vector<std::string> methods;
  std::vector<std::string> users;
  std::vector<std::string> ips;
  std::string from;          // RFC 3339 or epoch ms, inclusive
  std::string to;            // exclusive
  std::string text;          // -q: free-text search
  std::optional<int> limit;  // events shown; with --all, events per request
  bool all = false;          // follow next_cursor to the end
  bool json = false;         // JSON Lines: one stored event per line, as the server sent it
};

// Adds the `query` subcommand to `app`, bound to `options` (which must outlive parsing).
CLI::App* AddQueryCommand(CLI::App& app, QueryOptions& options);

// The query string parameters of one request, in a fixed order, lists joined with ','; empty
// filters are left out. `cursor` is empty for the first page.
std::vector<std::pair<std::string, std::string>> QueryParameters(const QueryOptions& options,
                                                                 std::string_view cursor);

// One page of GET /api/v1/events.
struct EventPage {
  std::vector<std::string> events;  // each event's JSON exactly as the server sent it
  std::optional<std::string> next_cursor;
  uint64_t total = 0;
};

// Errors: InvalidArgument when `body` is not {"events": [objects], "next_cursor": string|null,
// "total": integer}.
util::Result<EventPage> ParseEventPage(std::string_view body);

// The table's view of one event; text is sanitised for a terminal.
struct EventRow {
  std::string time;  // occurred_at
  std::string tenant;
  std::string user;  // actor.email, else actor.id
  std::string action;
  std::string resource;  // "type:id", "type" or ""
  std::string status;
  std::string ip;
};

// Errors: InvalidArgument when `event_json` is not a JSON object.
util::Result<EventRow> EventRowFromJson(std::string_view event_json);

// An aligned table with a header line (TIME TENANT USER ACTION RESOURCE STATUS IP); columns
// are as wide as their widest cell in code points, cells longer than 40 are cut with "…".
std::string FormatTable(const std::vector<EventRow>& rows);

// Runs the query, printing to `out` and errors to `err`. Returns kExitOk, kExitRefused when the
// server refused the query (400: the problem details are printed), or kExitUsage when it could
// not be reached or refused the credential.
int RunQuery(const QueryOptions& options, std::ostream& out, std::ostream& err);

}  // namespace evident::cli
