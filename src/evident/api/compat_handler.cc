// GET /api/v1/administration/logs: the AirVantage administration-logs API (seed 003), answered in
// its own shape so that clients written for it work unchanged: a JSON array, newest first, of
// {"companyId", "timestamp" (epoch ms), "type": "authentication",
//  "details": {"user", "status" (upper case), "entrypoint"}}, and errors as
// {"error": "<code>", "errorParameters": [...]}.
#include <rapidjson/document.h>

#include "evident/api/api.h"
#include "evident/api/json_writer.h"
#include "evident/api/problem.h"
#include "evident/api/query_string.h"
#include "evident/core/decode.h"
#include "evident/util/strings.h"

namespace evident::api {

namespace {

using detail::JsonWriter;
using detail::StringOutput;
using detail::WriteKey;
using detail::WriteString;

constexpr size_t kDefaultSize = 100;
constexpr size_t kMaxSize = 1000;

HttpResponse CompatError(int status, std::string_view code,
                         const std::vector<std::string>& parameters) {
  std::string body;
  StringOutput output(body);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "error");
  WriteString(writer, code);
  WriteKey(writer, "errorParameters");
  writer.StartArray();
  for (const std::string& parameter : parameters) WriteString(writer, parameter);
  writer.EndArray();
  writer.EndObject();
  return JsonResponse(status, std::move(body));
}

std::string Upper(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return upper;
}

// details.entrypoint of a stored event's canonical details, or empty.
std::string Entrypoint(const std::string& details) {
  rapidjson::Document document;
  document.Parse(details.c_str(), details.size());
  if (document.HasParseError() || !document.IsObject()) return {};
  const auto it = document.FindMember("entrypoint");
  if (it == document.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

HttpResponse Api::AdministrationLogs(std::string_view query, const Principal& principal) {
  auto params = ParseQueryString(query);
  if (!params) return CompatError(400, "parameter.invalid", {params.error().message()});
  std::string company, type, user, status;
  size_t size = kDefaultSize;
  for (const auto& [key, value] : *params) {
    if (key == "company") {
      company = value;
    } else if (key == "type") {
      type = value;
    } else if (key == "user") {
      user = value;
    } else if (key == "status") {
      status = value;
    } else if (key == "size") {
      size_t parsed = 0;
      bool valid = !value.empty() && value.size() <= 4;
      for (const char c : value) {
        valid = valid && c >= '0' && c <= '9';
        if (valid) parsed = parsed * 10 + static_cast<size_t>(c - '0');
      }
      if (!valid || parsed == 0 || parsed > kMaxSize) {
        return CompatError(400, "size.invalid", {value});
      }
      size = parsed;
    } else {
      return CompatError(400, "parameter.unknown", {key});
    }
  }
  if (company.empty()) return CompatError(400, "company.required", {"company"});
  if (!principal.Can(auth::kEventsRead)) {
    return CompatError(403, "forbidden", {"events:read"});
  }
  if (!principal.MayAccessTenant(company)) return CompatError(403, "forbidden", {company});
  if (!core::IsValidTenantId(company)) return CompatError(400, "company.unknown", {company});
  auto exists = identity_.TenantExists(company);
  if (!exists) return ProblemResponse(exists.error());
  if (!*exists) return CompatError(400, "company.unknown", {company});
  // Filtering on details needs the log type (seed 003).
  if (type.empty() && (!user.empty() || !status.empty())) {
    return CompatError(400, "type.required", {!user.empty() ? "user" : "status"});
  }
  if (!type.empty() && type != "authentication") return CompatError(400, "type.unknown", {type});

  core::Filter filter;
  filter.tenants = {company};
  filter.types = {core::EventType::kAuthentication};
  if (!user.empty()) filter.users = {user};
  if (!status.empty()) {
    auto parsed = core::ParseEventStatus(util::AsciiLower(status));
    if (!parsed) return CompatError(400, "status.unknown", {status});
    filter.statuses = {*parsed};
  }
  auto page = store_.Query(filter, std::nullopt, size);
  if (!page) return ProblemResponse(page.error());

  std::string body;
  StringOutput output(body);
  JsonWriter writer(output);
  writer.StartArray();
  for (const storage::StoredEvent& stored : page->events) {
    auto event = core::DecodeStoredEvent(stored.json);
    if (!event) return ProblemResponse(event.error());
    writer.StartObject();
    WriteKey(writer, "companyId");
    WriteString(writer, event->tenant);
    WriteKey(writer, "timestamp");
    writer.Int64(event->occurred_at);
    WriteKey(writer, "type");
    WriteString(writer, "authentication");
    WriteKey(writer, "details");
    writer.StartObject();
    WriteKey(writer, "user");
    WriteString(writer, event->actor.email);
    WriteKey(writer, "status");
    WriteString(writer, Upper(core::ToString(event->status)));
    WriteKey(writer, "entrypoint");
    WriteString(writer, Entrypoint(event->details));
    writer.EndObject();
    writer.EndObject();
  }
  writer.EndArray();
  return JsonResponse(200, std::move(body));
}

}  // namespace evident::api
