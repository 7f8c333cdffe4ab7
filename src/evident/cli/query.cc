#include "evident/cli/query.h"

#include <simdjson.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <ostream>

#include "evident/cli/http_client.h"

namespace evident::cli {
namespace {

constexpr size_t kMaxCellWidth = 40;

std::string Join(const std::vector<std::string>& values) {
  std::string joined;
  for (const std::string& value : values) {
    if (value.empty()) continue;
    if (!joined.empty()) joined += ',';
    joined += value;
  }
  return joined;
}

std::string StringAt(const nlohmann::json& event, std::initializer_list<const char*> path) {
  const nlohmann::json* node = &event;
  for (const char* name : path) {
    if (!node->is_object()) return {};
    auto found = node->find(name);
    if (found == node->end()) return {};
    node = &*found;
  }
  return node->is_string() ? SanitizeForTerminal(node->get<std::string>()) : std::string();
}

// Code points, which is what a terminal shows for the text Evident stores (wide CJK characters
// and combining marks aside). Input is valid UTF-8 after SanitizeForTerminal.
size_t DisplayWidth(std::string_view text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xc0) != 0x80; }));
}

std::string Truncate(const std::string& text) {
  if (DisplayWidth(text) <= kMaxCellWidth) return text;
  std::string out;
  size_t width = 0;
  for (char c : text) {
    if ((c & 0xc0) != 0x80 && ++width > kMaxCellWidth - 1) break;
    out += c;
  }
  return out + "\u2026";
}

util::Error BadPage(std::string_view what) {
  return util::Error::InvalidArgument("unexpected answer from the server: " + std::string(what));
}

}  // namespace

CLI::App* AddQueryCommand(CLI::App& app, QueryOptions& options) {
  CLI::App* command = app.add_subcommand("query", "Search events, newest first");
  command->footer(
      "Prints a table (time, tenant, user, action, resource, status, ip) and the total, or\n"
      "with --json one stored event per line. List filters take a comma list or may be\n"
      "repeated; they match any of their values.\n"
      "Exit status: 0 ok, 1 the server refused the query, 2 usage, connection or credential\n"
      "error.");
  AddServerOptions(*command, options.server);
  auto list = [&](const char* name, std::vector<std::string>& values, const char* help) {
    command->add_option(name, values, help)->allow_extra_args(false);
  };
  list("--tenant", options.tenants, "Tenant ids (super admin: any tenant)");
  list("--workspace", options.workspaces, "Workspaces");
  list("--type", options.types, "activity, authentication, token, session");
  list("--action", options.actions, "Actions");
  list("--resource-type", options.resource_types, "Resource types");
  list("--status", options.statuses, "success, failure, initiated, pending, blocked");
  list("--method", options.methods, "HTTP methods");
  list("--user", options.users, "Actor email (any case) or actor id");
  list("--ip", options.ips, "Client IP addresses");
  command->add_option("--from", options.from, "Occurred at or after (RFC 3339 or epoch ms)");
  command->add_option("--to", options.to, "Occurred before (RFC 3339 or epoch ms)");
  command->add_option("-q,--text", options.text,
                      "Free text: every word must appear; \"a phrase\" in quotes; an email "
                      "address matches that whole address");
  command->add_option("--limit", options.limit, "Events to show (with --all: per request)")
      ->check(CLI::Range(1, kMaxQueryLimit));
  command->add_flag("--all", options.all, "Follow the cursor to the last matching event");
  command->add_flag("--json", options.json, "Print JSON Lines: each event as stored");
  return command;
}

std::vector<std::pair<std::string, std::string>> QueryParameters(const QueryOptions& options,
                                                                 std::string_view cursor) {
  std::vector<std::pair<std::string, std::string>> params;
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) params.emplace_back(name, value);
  };
  add("tenant", Join(options.tenants));
  add("workspace", Join(options.workspaces));
  add("type", Join(options.types));
  add("action", Join(options.actions));
  add("resource_type", Join(options.resource_types));
  add("status", Join(options.statuses));
  add("method", Join(options.methods));
  add("user", Join(options.users));
  add("ip", Join(options.ips));
  add("from", options.from);
  add("to", options.to);
  add("q", options.text);
  int limit = options.limit.value_or(options.all ? kMaxQueryLimit : kDefaultQueryLimit);
  params.emplace_back("limit", std::to_string(limit));
  add("cursor", std::string(cursor));
  return params;
}

util::Result<EventPage> ParseEventPage(std::string_view body) {
  // simdjson's on-demand raw_json() hands back each event's bytes exactly as the server sent
  // them (nlohmann would re-serialise numbers and key order), so --json output is the stored
  // canonical form.
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object root;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(root)) {
    return BadPage("not a JSON object");
  }
  EventPage page;
  bool saw_events = false;
  bool saw_total = false;
  for (auto field_result : root) {  // NOLINT(performance-for-range-copy): simdjson's idiom
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(field_result).get(field) || field.unescaped_key().get(key))
      return BadPage("bad JSON");
    if (key == "events") {
      simdjson::ondemand::array events;
      if (field.value().get_array().get(events)) return BadPage("\"events\" is not an array");
      for (auto element : events) {
        simdjson::ondemand::object event;
        std::string_view raw;
        if (element.get_object().get(event) || event.raw_json().get(raw)) {
          return BadPage("an event is not a JSON object");
        }
        page.events.emplace_back(raw);
      }
      saw_events = true;
    } else if (key == "next_cursor") {
      bool is_null = false;
      if (field.value().is_null().get(is_null)) return BadPage("bad \"next_cursor\"");
      if (!is_null) {
        std::string_view cursor;
        if (field.value().get_string().get(cursor)) return BadPage("bad \"next_cursor\"");
        page.next_cursor = std::string(cursor);
      }
    } else if (key == "total") {
      if (field.value().get_uint64().get(page.total)) return BadPage("bad \"total\"");
      saw_total = true;
    }
  }
  if (!saw_events || !saw_total) return BadPage("\"events\" or \"total\" missing");
  // simdjson 3.0.1 documents have no at_end(): past the last token, the location is out of bounds.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return BadPage("trailing content");
  }
  return page;
}

util::Result<EventRow> EventRowFromJson(std::string_view event_json) {
  nlohmann::json event = nlohmann::json::parse(event_json, nullptr, false);
  if (!event.is_object()) return util::Error::InvalidArgument("an event is not a JSON object");
  EventRow row;
  row.time = StringAt(event, {"occurred_at"});
  row.tenant = StringAt(event, {"tenant"});
  row.user = StringAt(event, {"actor", "email"});
  if (row.user.empty()) row.user = StringAt(event, {"actor", "id"});
  row.action = StringAt(event, {"action"});
  std::string resource_type = StringAt(event, {"resource", "type"});
  std::string resource_id = StringAt(event, {"resource", "id"});
  row.resource = resource_id.empty() ? resource_type : resource_type + ":" + resource_id;
  row.status = StringAt(event, {"status"});
  row.ip = StringAt(event, {"request", "ip"});
  return row;
}

std::string FormatTable(const std::vector<EventRow>& rows) {
  constexpr size_t kColumns = 7;
  using Cells = std::array<std::string, kColumns>;
  std::vector<Cells> lines;
  lines.reserve(rows.size() + 1);
  lines.push_back({"TIME", "TENANT", "USER", "ACTION", "RESOURCE", "STATUS", "IP"});
  for (const EventRow& row : rows) {
    lines.push_back({Truncate(row.time), Truncate(row.tenant), Truncate(row.user),
                     Truncate(row.action), Truncate(row.resource), Truncate(row.status),
                     Truncate(row.ip)});
  }
  std::array<size_t, kColumns> widths{};
  for (const Cells& cells : lines) {
    for (size_t column = 0; column < kColumns; ++column) {
      widths[column] = std::max(widths[column], DisplayWidth(cells[column]));
    }
  }
  std::string table;
  for (const Cells& cells : lines) {
    std::string line;
    for (size_t column = 0; column < kColumns; ++column) {
      line += cells[column];
      if (column + 1 < kColumns) {
        line.append(widths[column] - DisplayWidth(cells[column]) + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    table += line;
    table += '\n';
  }
  return table;
}

int RunQuery(const QueryOptions& options, std::ostream& out, std::ostream& err) {
  HttpClient client;
  const std::vector<HttpHeader> headers = AuthHeaders(options.server);
  std::vector<EventRow> rows;
  std::string cursor;
  uint64_t total = 0;
  bool more = false;
  while (true) {
    const std::string url =
        BuildUrl(options.server.url, "/api/v1/events", QueryParameters(options, cursor));
    util::Result<HttpResponse> response = client.Get(url, headers);
    if (!response) {
      err << "error: cannot reach the server: " << response.error().message() << '\n';
      return kExitUsage;
    }
    if (response->status != 200) {
      err << "error: " << DescribeErrorResponse(*response) << '\n';
      if (response->status == 401 || response->status == 403) {
        err << "(check --token or EVIDENT_TOKEN)\n";
        return kExitUsage;
      }
      return response->status == 404 ? kExitUsage : kExitRefused;
    }
    util::Result<EventPage> page = ParseEventPage(response->body);
    if (!page) {
      err << "error: " << page.error().message() << '\n';
      return kExitUsage;
    }
    total = page->total;
    for (const std::string& event : page->events) {
      if (options.json) {
        out << event << '\n';
        continue;
      }
      util::Result<EventRow> row = EventRowFromJson(event);
      if (!row) {
        err << "error: " << row.error().message() << '\n';
        return kExitUsage;
      }
      rows.push_back(std::move(*row));
    }
    if (options.json) out << std::flush;
    more = page->next_cursor.has_value();
    if (!options.all || !more) break;
    cursor = std::move(*page->next_cursor);
  }
  if (!options.json) {
    out << FormatTable(rows);
    out << "total: " << total;
    if (more) out << " (showing " << rows.size() << "; --all for every one)";
    out << '\n' << std::flush;
  }
  return kExitOk;
}

}  // namespace evident::cli
