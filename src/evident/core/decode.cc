#include "evident/core/decode.h"

#include <arpa/inet.h>
#include <simdjson.h>

#include <cstring>

#include "evident/core/detail/ondemand.h"
#include "evident/util/strings.h"
#include "evident/util/uuid.h"

namespace evident::core {

using util::Error;
using util::FieldError;
using util::Result;

namespace {

namespace od = simdjson::ondemand;

constexpr size_t kMaxShortString = 256;
constexpr size_t kMaxLongString = 8192;

// A field's dotted name ("request.ip"), joined only when a problem names it.
struct Field {
  Field(std::string_view top) : name(top) {}  // NOLINT(google-explicit-constructor)
  Field(std::string_view outer, std::string_view inner) : parent(outer), name(inner) {}
  std::string str() const {
    return parent.empty() ? std::string(name) : std::string(parent) + "." + std::string(name);
  }
  std::string_view parent;
  std::string_view name;
};

// Collects the problems of one event; decoding goes on after the first so that a client sees
// all of them at once.
class Problems {
 public:
  explicit Problems(int64_t index) : index_(index) {}
  void Add(std::string field, std::string message) {
    list_.push_back({index_, std::move(field), std::move(message)});
  }
  void Add(const Field& field, std::string message) { Add(field.str(), std::move(message)); }
  bool empty() const { return list_.empty(); }
  std::vector<FieldError>& list() { return list_; }

 private:
  int64_t index_;
  std::vector<FieldError> list_;
};

bool ReadString(od::value& value, const Field& field, size_t max_size, Problems& problems,
                std::string& out) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    problems.Add(field, "must be a string");
    return false;
  }
  if (text.size() > max_size) {
    problems.Add(field, "must be at most " + std::to_string(max_size) + " bytes");
    return false;
  }
  out.assign(text);
  return true;
}

bool IsNull(od::value& value) {
  od::json_type type;
  return value.type().get(type) == simdjson::SUCCESS && type == od::json_type::null;
}

// Reads an object of string members named in `slots`; anything else is an unknown field.
void ReadStringObject(od::value& value, std::string_view field,
                      std::initializer_list<std::pair<std::string_view, std::string*>> slots,
                      Problems& problems) {
  od::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) {
    problems.Add(std::string(field), "must be an object");
    return;
  }
  for (auto member : object) {
    std::string_view name;
    od::value inner;
    if (member.unescaped_key().get(name) != simdjson::SUCCESS ||
        member.value().get(inner) != simdjson::SUCCESS) {
      problems.Add(std::string(field), "malformed JSON");
      return;
    }
    std::string* slot = nullptr;
    for (auto& [slot_name, target] : slots) {
      if (name == slot_name) slot = target;
    }
    const Field path(field, name);
    if (slot == nullptr) {
      problems.Add(path, "unknown field");
    } else if (!IsNull(inner)) {
      ReadString(inner, path, kMaxShortString, problems, *slot);
    }
  }
}

bool IsHttpToken(std::string_view text) {
  if (text.empty() || text.size() > 32) return false;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Normalises an IPv4 or IPv6 address to its canonical text form.
bool NormaliseIp(std::string_view text, std::string& out) {
  if (text.size() >= INET6_ADDRSTRLEN || text.find('\0') != std::string_view::npos) return false;
  char copy[INET6_ADDRSTRLEN];
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  unsigned char bytes[16];
  char buffer[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, copy, bytes) == 1) {
    // inet_pton takes only four decimal parts of 0-255 without leading zeros, which is already
    // the form inet_ntop would write back.
    out.assign(text);
    return true;
  }
  if (inet_pton(AF_INET6, copy, bytes) == 1) {
    out = inet_ntop(AF_INET6, bytes, buffer, sizeof buffer);
    return true;
  }
  return false;
}

bool ReadInteger(od::value& value, const Field& field, int64_t min, int64_t max, Problems& problems,
                 int64_t& out) {
  od::json_type type;
  od::number_type number_type;
  if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::number ||
      value.get_number_type().get(number_type) != simdjson::SUCCESS ||
      number_type == od::number_type::floating_point_number ||
      value.get_int64().get(out) != simdjson::SUCCESS) {
    problems.Add(field, "must be an integer");
    return false;
  }
  if (out < min || out > max) {
    problems.Add(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return false;
  }
  return true;
}

void ReadRequest(od::value& value, Request& request, Problems& problems) {
  od::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) {
    problems.Add("request", "must be an object");
    return;
  }
  for (auto member : object) {
    std::string_view name;
    od::value inner;
    if (member.unescaped_key().get(name) != simdjson::SUCCESS ||
        member.value().get(inner) != simdjson::SUCCESS) {
      problems.Add("request", "malformed JSON");
      return;
    }
    const Field path("request", name);
    if (IsNull(inner)) continue;
    if (name == "method") {
      std::string method;
      if (ReadString(inner, path, kMaxShortString, problems, method)) {
        if (!IsHttpToken(method)) {
          problems.Add(path, "must be an HTTP method such as GET or POST");
        } else {
          for (char& c : method) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
          request.method = std::move(method);
        }
      }
    } else if (name == "path") {
      ReadString(inner, path, kMaxLongString, problems, request.path);
    } else if (name == "status_code") {
      int64_t code = 0;
      if (ReadInteger(inner, path, 100, 599, problems, code)) {
        request.status_code = static_cast<int32_t>(code);
      }
    } else if (name == "duration_ms") {
      int64_t duration = 0;
      if (ReadInteger(inner, path, 0, int64_t{1} << 53, problems, duration)) {
        request.duration_ms = duration;
      }
    } else if (name == "ip") {
      std::string text;
      if (ReadString(inner, path, kMaxShortString, problems, text) &&
          !NormaliseIp(text, request.ip)) {
        problems.Add(path, "'" + text.substr(0, 64) + "' is not an IPv4 or IPv6 address");
      }
    } else if (name == "user_agent") {
      ReadString(inner, path, kMaxLongString, problems, request.user_agent);
    } else {
      problems.Add(path, name == "agent" ? "is derived from user_agent and cannot be sent"
                                         : "unknown field");
    }
  }
}

void DecodeOne(od::object object, int64_t index, const DecodeOptions& options, Event& event,
               Problems& problems) {
  bool has_action = false, has_tenant = false;
  std::vector<std::string_view> seen;
  for (auto field : object) {
    std::string_view key;
    od::value value;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
        field.value().get(value) != simdjson::SUCCESS) {
      problems.Add("", "malformed JSON");
      return;
    }
    const std::string_view name = key;
    for (std::string_view earlier : seen) {
      if (earlier == key) problems.Add(name, "appears more than once");
    }
    if (seen.size() < 16) seen.push_back(key);
    if (IsNull(value) && key != "action") continue;  // null is the same as absent
    if (key == "id") {
      if (ReadString(value, name, 128, problems, event.id)) {
        if (!IsValidEventId(event.id)) {
          problems.Add(name, "must be 1-128 characters of A-Z a-z 0-9 . _ : -");
        }
        event.id_from_client = true;
      }
    } else if (key == "tenant") {
      if (ReadString(value, name, 63, problems, event.tenant)) {
        has_tenant = true;
        if (!IsValidTenantId(event.tenant)) {
          problems.Add(name, "must match [a-z0-9][a-z0-9_-]{0,62}");
        }
      }
    } else if (key == "workspace") {
      ReadString(value, name, kMaxShortString, problems, event.workspace);
    } else if (key == "type") {
      std::string text;
      if (ReadString(value, name, kMaxShortString, problems, text)) {
        auto type = ParseEventType(text);
        if (type) {
          event.type = *type;
        } else {
          problems.Add(name, type.error().message());
        }
      }
    } else if (key == "action") {
      has_action = true;
      if (ReadString(value, name, kMaxShortString, problems, event.action) &&
          event.action.empty()) {
        problems.Add(name, "must not be empty");
      }
    } else if (key == "status") {
      std::string text;
      if (ReadString(value, name, kMaxShortString, problems, text)) {
        auto status = ParseEventStatus(text);
        if (status) {
          event.status = *status;
        } else {
          problems.Add(name, status.error().message());
        }
      }
    } else if (key == "occurred_at") {
      od::json_type type;
      if (value.type().get(type) == simdjson::SUCCESS && type == od::json_type::number) {
        int64_t millis = 0;
        if (ReadInteger(value, name, util::kMinUnixMillis, util::kMaxUnixMillis, problems,
                        millis)) {
          event.occurred_at = millis;
          event.occurred_at_from_client = true;
        }
      } else {
        std::string text;
        if (ReadString(value, name, 64, problems, text)) {
          auto when = util::ParseRfc3339(text);
          if (when) {
            event.occurred_at = *when;
            event.occurred_at_from_client = true;
          } else {
            problems.Add(name, "must be RFC 3339 (2025-05-09T07:27:06.123Z) or epoch ms");
          }
        } else {
          problems.list().back().message = "must be an RFC 3339 string or epoch milliseconds";
        }
      }
    } else if (key == "actor") {
      ReadStringObject(value, name,
                       {{"id", &event.actor.id},
                        {"email", &event.actor.email},
                        {"name", &event.actor.name},
                        {"role", &event.actor.role},
                        {"assumed_by", &event.actor.assumed_by}},
                       problems);
    } else if (key == "resource") {
      ReadStringObject(value, name,
                       {{"type", &event.resource.type},
                        {"id", &event.resource.id},
                        {"name", &event.resource.name}},
                       problems);
    } else if (key == "request") {
      ReadRequest(value, event.request, problems);
    } else if (key == "details") {
      od::object details;
      if (value.get_object().get(details) != simdjson::SUCCESS) {
        problems.Add(name, "must be a JSON object");
        continue;
      }
      event.details.clear();
      CanonicalizeOptions canonical;
      canonical.redactor = options.redactor;
      util::Status status = detail::CanonicalizeObject(details, canonical, event.details);
      if (!status) problems.Add(name, status.error().message());
    } else {
      problems.Add(name, "unknown field");
    }
  }
  if (!has_action) problems.Add("action", "is required");
  if (!options.bound_tenant.empty()) {
    if (!has_tenant) {
      event.tenant = std::string(options.bound_tenant);
    } else if (event.tenant != options.bound_tenant) {
      problems.Add("tenant", "this credential may only write to tenant '" +
                                 std::string(options.bound_tenant) + "'");
    }
  } else if (!has_tenant) {
    problems.Add("tenant", "is required");
  }
  if (problems.empty()) {
    event.received_at = options.received_at;
    if (!event.occurred_at_from_client) event.occurred_at = options.received_at;
    if (!event.id_from_client) event.id = util::NewUuidV7(options.received_at);
    if (!event.request.user_agent.empty() && options.agents != nullptr) {
      event.request.agent = options.agents->Parse(event.request.user_agent);
    }
  }
  (void)index;
}

// Byte offset of the first invalid UTF-8 sequence, for an error message a person can act on.
size_t FirstInvalidUtf8(std::string_view text) {
  size_t lo = 0, hi = text.size();
  while (hi - lo > 64) {  // bisect on prefixes; a prefix may end mid-character, so keep slack
    const size_t mid = lo + (hi - lo) / 2;
    if (util::IsValidUtf8(text.substr(0, mid)) || util::IsValidUtf8(text.substr(0, mid + 1)) ||
        util::IsValidUtf8(text.substr(0, mid + 2)) || util::IsValidUtf8(text.substr(0, mid + 3))) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  for (size_t at = lo; at <= hi; ++at) {
    if (!util::IsValidUtf8(text.substr(0, at + 1)) && !util::IsValidUtf8(text.substr(0, at + 2)) &&
        !util::IsValidUtf8(text.substr(0, at + 3)) && !util::IsValidUtf8(text.substr(0, at + 4))) {
      return at;
    }
  }
  return lo;
}

Error Invalid(std::vector<FieldError> fields) {
  const size_t count = fields.size();
  return Error(
      util::ErrorCode::kInvalidArgument,
      count == 1 ? "1 problem in the request" : std::to_string(count) + " problems in the request",
      std::move(fields));
}

Error BodyError(std::string message, int64_t index = -1) {
  return Invalid({FieldError{index, "", std::move(message)}});
}

// Decodes one JSON text holding an object (or, when `allow_array`, an array of objects) and
// appends its events to `events`.
util::Status DecodeDocument(std::string_view text, int64_t first_index, bool allow_array,
                            const DecodeOptions& options, std::vector<FieldError>& problems_out,
                            std::vector<Event>& events) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the text, so the text is copied. A line of
  // NDJSON goes to a buffer kept for the thread, saving an allocation an event; a large body gets
  // its own, so that no thread holds on to 16 MiB.
  constexpr size_t kReusedBufferMax = 64 * 1024;
  thread_local od::parser parser;
  thread_local std::string line_buffer;
  if (!util::IsValidUtf8(text)) {
    return BodyError("invalid UTF-8 at byte " + std::to_string(FirstInvalidUtf8(text)),
                     allow_array ? -1 : first_index);
  }
  simdjson::padded_string large;
  simdjson::padded_string_view padded;
  if (text.size() <= kReusedBufferMax) {
    line_buffer.resize(text.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(line_buffer.data(), text.data(), text.size());
    padded = simdjson::padded_string_view(line_buffer.data(), text.size(), line_buffer.size());
  } else {
    large = simdjson::padded_string(text);
    padded = large;
  }
  od::document doc;
  od::json_type type;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.type().get(type) != simdjson::SUCCESS) {
    return BodyError("malformed JSON", allow_array ? -1 : first_index);
  }
  auto decode_object = [&](od::value value, int64_t index) {
    od::object object;
    Problems problems(index);
    Event& event = events.emplace_back();
    if (value.get_object().get(object) != simdjson::SUCCESS) {
      problems.Add("", "an event must be a JSON object");
    } else {
      DecodeOne(object, index, options, event, problems);
    }
    for (FieldError& problem : problems.list()) problems_out.push_back(std::move(problem));
  };
  if (type == od::json_type::array && allow_array) {
    od::array array;
    if (doc.get_array().get(array) != simdjson::SUCCESS) return BodyError("malformed JSON");
    int64_t index = first_index;
    for (auto element : array) {
      od::value value;
      if (element.get(value) != simdjson::SUCCESS) return BodyError("malformed JSON");
      if (static_cast<size_t>(index) >= options.max_events) {
        return BodyError("more than " + std::to_string(options.max_events) + " events");
      }
      decode_object(value, index++);
    }
  } else if (type == od::json_type::object) {
    od::object object;
    if (doc.get_object().get(object) != simdjson::SUCCESS) {
      return BodyError("malformed JSON", first_index);
    }
    Problems problems(first_index);
    DecodeOne(object, first_index, options, events.emplace_back(), problems);
    for (FieldError& problem : problems.list()) problems_out.push_back(std::move(problem));
  } else {
    return BodyError(allow_array ? "the body must be an event object or an array of them"
                                 : "each line must be an event object",
                     allow_array ? -1 : first_index);
  }
  if (!detail::AtEnd(doc)) {
    return BodyError("trailing content after the JSON value", allow_array ? -1 : first_index);
  }
  return {};
}

}  // namespace

bool IsValidTenantId(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > 63) return false;
  for (size_t i = 0; i < tenant.size(); ++i) {
    const char c = tenant[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '-'))) return false;
  }
  return true;
}

bool IsValidEventId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<std::vector<Event>> DecodeEvents(std::string_view body, BodyFormat format,
                                        const DecodeOptions& options) {
  std::vector<FieldError> problems;
  std::vector<Event> events;
  if (format == BodyFormat::kJson) {
    EVIDENT_RETURN_IF_ERROR(DecodeDocument(body, 0, true, options, problems, events));
  } else {
    int64_t index = 0;
    while (!body.empty()) {
      const size_t newline = body.find('\n');
      std::string_view line = body.substr(0, newline);
      body.remove_prefix(newline == std::string_view::npos ? body.size() : newline + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (util::Trim(line).empty()) continue;
      if (static_cast<size_t>(index) >= options.max_events) {
        return BodyError("more than " + std::to_string(options.max_events) + " events");
      }
      util::Status decoded = DecodeDocument(line, index, false, options, problems, events);
      if (!decoded) {
        for (const FieldError& problem : decoded.error().fields()) problems.push_back(problem);
      }
      ++index;
      if (problems.size() > 1000) break;
    }
  }
  if (!problems.empty()) {
    if (problems.size() > 100) problems.resize(100);
    return Invalid(std::move(problems));
  }
  if (events.empty()) return BodyError("no events in the request");
  return events;
}

}  // namespace evident::core
