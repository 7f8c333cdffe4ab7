// The events resource: POST/GET /api/v1/events, /api/v1/events/histogram and
// /api/v1/tenants/{tenant}/events/{id}.

#include "evident/api/api.h"
#include "evident/api/event_query.h"
#include "evident/api/json_writer.h"
#include "evident/api/problem.h"
#include "evident/api/query_string.h"
#include "evident/core/decode.h"
#include "evident/util/strings.h"
#include "evident/util/time.h"

namespace evident::api {

namespace {

using detail::JsonWriter;
using detail::StringOutput;
using detail::WriteKey;
using detail::WriteString;

void WriteRawJson(JsonWriter& writer, std::string_view json) {
  writer.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

// The media type of a Content-Type header, lower case, without parameters.
std::string MediaType(std::string_view content_type) {
  return util::AsciiLower(util::Trim(content_type.substr(0, content_type.find(';'))));
}

// Restricts `filter` to what `principal` may read. Errors: Forbidden when a tenant-bound
// credential asks for another tenant.
util::Status ScopeToPrincipal(const Principal& principal, core::Filter& filter) {
  if (principal.tenant.empty()) return {};
  for (const std::string& tenant : filter.tenants) {
    if (tenant != principal.tenant) {
      return util::Error(util::ErrorCode::kForbidden,
                         "this credential may only read tenant '" + principal.tenant + "'");
    }
  }
  filter.tenants = {principal.tenant};
  return {};
}

util::Result<EventQuery> ParseQuery(std::string_view query, QueryKind kind,
                                    const Principal& principal) {
  EVIDENT_ASSIGN_OR_RETURN(auto params, ParseQueryString(query));
  EVIDENT_ASSIGN_OR_RETURN(EventQuery parsed, ParseEventQuery(params, kind));
  EVIDENT_RETURN_IF_ERROR(ScopeToPrincipal(principal, parsed.filter));
  return parsed;
}

std::string AcceptedBody(const std::vector<storage::Appended>& appended) {
  std::string body;
  body.reserve(32 + appended.size() * 96);
  StringOutput output(body);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "accepted");
  writer.Uint64(appended.size());
  WriteKey(writer, "events");
  writer.StartArray();
  for (const storage::Appended& one : appended) {
    writer.StartObject();
    WriteKey(writer, "id");
    WriteString(writer, one.id);
    WriteKey(writer, "tenant");
    WriteString(writer, one.tenant);
    WriteKey(writer, "seq");
    writer.Uint64(one.seq);
    if (one.duplicate) {
      WriteKey(writer, "duplicate");
      writer.Bool(true);
    }
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return body;
}

}  // namespace

void Api::PostEvents(const HttpRequest& request, const Principal& principal, Responder respond) {
  const std::string media_type = MediaType(request.content_type);
  core::BodyFormat format;
  if (media_type == "application/json") {
    format = core::BodyFormat::kJson;
  } else if (media_type == "application/x-ndjson") {
    format = core::BodyFormat::kNdjson;
  } else {
    respond(ProblemResponse(415,
                            "Content-Type must be application/json or application/x-ndjson, not '" +
                                std::string(util::Trim(request.content_type)) + "'"));
    return;
  }
  core::DecodeOptions options;
  options.redactor = &redactor_;
  options.agents = agents_;
  options.bound_tenant = principal.tenant;
  options.received_at = clock_.NowMillis();
  options.max_events = options_.max_events_per_request;
  auto events = core::DecodeEvents(request.body, format, options);
  if (!events) {
    respond(ProblemResponse(events.error()));
    return;
  }
  std::vector<util::FieldError> reserved;
  std::vector<const std::string*> tenants;
  for (size_t index = 0; index < events->size(); ++index) {
    const std::string& tenant = (*events)[index].tenant;
    if (tenant == auth::kSystemTenant) {
      reserved.push_back({.index = static_cast<int64_t>(index),
                          .field = "tenant",
                          .message = "the tenant 'system' is reserved for Evident's own events"});
    } else if (tenants.empty() || *tenants.back() != tenant) {
      tenants.push_back(&tenant);
    }
  }
  if (!reserved.empty()) {
    respond(ProblemResponse(util::Error(util::ErrorCode::kInvalidArgument,
                                        "the request holds events for a reserved tenant",
                                        std::move(reserved))));
    return;
  }
  // A tenant comes into being with the first event written for it (known ones cost a look-up in
  // memory).
  for (const std::string* tenant : tenants) {
    if (auto known = identity_.EnsureTenant(*tenant); !known) {
      respond(ProblemResponse(known.error()));
      return;
    }
  }
  writer_.Submit(std::move(*events), [respond = std::move(respond)](
                                         util::Result<std::vector<storage::Appended>> appended) {
    if (!appended) {
      respond(ProblemResponse(appended.error()));
    } else {
      respond(JsonResponse(201, AcceptedBody(*appended)));
    }
  });
}

HttpResponse Api::ListEvents(std::string_view query, const Principal& principal) {
  auto parsed = ParseQuery(query, QueryKind::kList, principal);
  if (!parsed) return ProblemResponse(parsed.error());
  auto page = store_.Query(parsed->filter, parsed->cursor, parsed->limit);
  if (!page) return ProblemResponse(page.error());

  std::string body;
  size_t size = 64;
  for (const storage::StoredEvent& event : page->events) size += event.json.size() + 1;
  body.reserve(size);
  StringOutput output(body);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "events");
  writer.StartArray();
  for (const storage::StoredEvent& event : page->events) WriteRawJson(writer, event.json);
  writer.EndArray();
  WriteKey(writer, "next_cursor");
  if (page->next) {
    WriteString(writer, core::EncodeCursor(*page->next));
  } else {
    writer.Null();
  }
  WriteKey(writer, "total");
  writer.Uint64(page->total);
  writer.EndObject();
  return JsonResponse(200, std::move(body));
}

HttpResponse Api::EventHistogram(std::string_view query, const Principal& principal) {
  auto parsed = ParseQuery(query, QueryKind::kHistogram, principal);
  if (!parsed) return ProblemResponse(parsed.error());
  auto histogram = store_.CountOverTime(parsed->filter, parsed->buckets);
  if (!histogram) return ProblemResponse(histogram.error());

  std::string body;
  StringOutput output(body);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "from");
  WriteString(writer, util::FormatRfc3339Millis(histogram->from));
  WriteKey(writer, "to");
  WriteString(writer, util::FormatRfc3339Millis(histogram->to));
  WriteKey(writer, "interval_ms");
  writer.Int64(histogram->interval_ms);
  WriteKey(writer, "buckets");
  writer.StartArray();
  for (const storage::HistogramBucket& bucket : histogram->buckets) {
    writer.StartObject();
    WriteKey(writer, "start");
    WriteString(writer, util::FormatRfc3339Millis(bucket.start));
    WriteKey(writer, "count");
    writer.Uint64(bucket.count);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return JsonResponse(200, std::move(body));
}

HttpResponse Api::GetEvent(std::string_view raw_tenant, std::string_view raw_id,
                           const Principal& principal) {
  auto tenant = PercentDecode(raw_tenant);
  auto id = PercentDecode(raw_id);
  if (!tenant || !id || !core::IsValidTenantId(*tenant) || !core::IsValidEventId(*id)) {
    return ProblemResponse(404, "no such event");
  }
  if (!principal.tenant.empty() && principal.tenant != *tenant) {
    return ProblemResponse(404, "no such event");
  }
  auto event = store_.Get(*tenant, *id);
  if (!event) {
    if (event.error().code() == util::ErrorCode::kNotFound) {
      return ProblemResponse(404, "no event '" + *id + "' in tenant '" + *tenant + "'");
    }
    return ProblemResponse(event.error());
  }
  return JsonResponse(200, std::move(event->json));
}

}  // namespace evident::api
