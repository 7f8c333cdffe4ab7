#include "evident/core/event.h"

#include <simdjson.h>

#include <charconv>

#include "evident/core/canonical_json.h"
#include "evident/core/detail/ondemand.h"

namespace evident::core {

using util::Error;
using util::Result;

namespace {

constexpr std::string_view kTypeNames[] = {"activity", "authentication", "token", "session"};
constexpr std::string_view kStatusNames[] = {"success", "failure", "initiated", "pending",
                                             "blocked"};

void OptionalString(JcsWriter& writer, JcsKey key, const std::string& value) {
  if (value.empty()) return;
  writer.Key(key);
  writer.String(value);
}

}  // namespace

static_assert(std::size(kTypeNames) == kEventTypeCount);
static_assert(std::size(kStatusNames) == kEventStatusCount);

std::string_view ToString(EventType type) { return kTypeNames[static_cast<int>(type)]; }
std::string_view ToString(EventStatus status) { return kStatusNames[static_cast<int>(status)]; }

Result<EventType> ParseEventType(std::string_view text) {
  for (size_t i = 0; i < std::size(kTypeNames); ++i) {
    if (text == kTypeNames[i]) return static_cast<EventType>(i);
  }
  return Error::InvalidArgument("must be one of activity, authentication, token, session");
}

Result<EventStatus> ParseEventStatus(std::string_view text) {
  for (size_t i = 0; i < std::size(kStatusNames); ++i) {
    if (text == kStatusNames[i]) return static_cast<EventStatus>(i);
  }
  return Error::InvalidArgument("must be one of success, failure, initiated, pending, blocked");
}

namespace {

// Members are written in RFC 8785 order (ASCII keys: plain byte order). With `seq_at` set (stored
// mode only), the seq's digits are left out and their place is recorded there.
void Encode(const Event& event, EncodeMode mode, std::string& out, size_t* seq_at) {
  const bool stored = mode == EncodeMode::kStored;
  JcsWriter w(out);
  w.BeginObject();
  w.Key("action");
  w.String(event.action);
  if (!event.actor.empty()) {
    w.Key("actor");
    w.BeginObject();
    OptionalString(w, "assumed_by", event.actor.assumed_by);
    OptionalString(w, "email", event.actor.email);
    OptionalString(w, "id", event.actor.id);
    OptionalString(w, "name", event.actor.name);
    OptionalString(w, "role", event.actor.role);
    w.EndObject();
  }
  w.Key("details");
  w.Raw(event.details);
  if (stored || event.id_from_client) {
    w.Key("id");
    w.String(event.id);
  }
  if (stored || event.occurred_at_from_client) {
    w.Key("occurred_at");
    std::string when;
    util::AppendRfc3339Millis(event.occurred_at, when);
    w.String(when);
  }
  if (stored) {
    w.Key("received_at");
    std::string when;
    util::AppendRfc3339Millis(event.received_at, when);
    w.String(when);
  }
  if (!event.request.empty()) {
    const Request& r = event.request;
    w.Key("request");
    w.BeginObject();
    if (stored && !r.user_agent.empty()) {
      w.Key("agent");
      w.BeginObject();
      w.Key("browser");
      w.String(r.agent.browser);
      w.Key("os");
      w.String(r.agent.os);
      w.EndObject();
    }
    if (r.duration_ms) {
      w.Key("duration_ms");
      w.Int(*r.duration_ms);
    }
    OptionalString(w, "ip", r.ip);
    OptionalString(w, "method", r.method);
    OptionalString(w, "path", r.path);
    if (r.status_code) {
      w.Key("status_code");
      w.Int(*r.status_code);
    }
    OptionalString(w, "user_agent", r.user_agent);
    w.EndObject();
  }
  if (!event.resource.empty()) {
    w.Key("resource");
    w.BeginObject();
    OptionalString(w, "id", event.resource.id);
    OptionalString(w, "name", event.resource.name);
    OptionalString(w, "type", event.resource.type);
    w.EndObject();
  }
  if (stored) {
    w.Key("seq");
    if (seq_at == nullptr) {
      w.Int(static_cast<int64_t>(event.seq));
    } else {
      *seq_at = out.size();
      w.Raw("");  // the value's place: the writer's next member gets its comma
    }
  }
  w.Key("status");
  w.String(ToString(event.status));
  w.Key("tenant");
  w.String(event.tenant);
  w.Key("type");
  w.String(ToString(event.type));
  OptionalString(w, "workspace", event.workspace);
  w.EndObject();
}

}  // namespace

void EncodeEvent(const Event& event, EncodeMode mode, std::string& out) {
  Encode(event, mode, out, nullptr);
}

void EncodeStoredWithoutSeq(const Event& event, SeqlessJson& out) {
  Encode(event, EncodeMode::kStored, out.json, &out.seq_at);
}

void AppendWithSeq(std::string_view json, size_t seq_at, uint64_t seq, std::string& out) {
  char digits[20];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, seq);
  out.append(json.substr(0, seq_at));
  out.append(digits, end);
  out.append(json.substr(seq_at));
}

std::string EncodeEvent(const Event& event, EncodeMode mode) {
  std::string out;
  out.reserve(512 + event.details.size());
  EncodeEvent(event, mode, out);
  return out;
}

bool SameContent(const Event& resend, const Event& original) {
  Event seen = original;
  seen.id_from_client = resend.id_from_client;
  seen.occurred_at_from_client = resend.occurred_at_from_client;
  return EncodeEvent(resend, EncodeMode::kContent) == EncodeEvent(seen, EncodeMode::kContent);
}

namespace {

namespace od = simdjson::ondemand;

Error Corrupt(std::string_view what) {
  return Error::Corruption("stored event is malformed: " + std::string(what));
}

Result<std::string> ReadString(od::value value, std::string_view what) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return Corrupt(what);
  return std::string(text);
}

}  // namespace

Result<Event> DecodeStoredEvent(std::string_view json) {
  thread_local od::parser parser;
  simdjson::padded_string padded(json);
  od::document doc;
  od::object root;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(root) != simdjson::SUCCESS) {
    return Corrupt("not an object");
  }
  Event event;
  event.details.clear();
  for (auto field : root) {
    std::string_view key;
    od::value value;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
        field.value().get(value) != simdjson::SUCCESS) {
      return Corrupt("member");
    }
    auto strings = [&](std::initializer_list<std::pair<std::string_view, std::string*>> slots,
                       std::string_view what) -> util::Status {
      od::object object;
      if (value.get_object().get(object) != simdjson::SUCCESS) return Corrupt(what);
      for (auto member : object) {
        std::string_view name;
        od::value inner;
        if (member.unescaped_key().get(name) != simdjson::SUCCESS ||
            member.value().get(inner) != simdjson::SUCCESS) {
          return Corrupt(what);
        }
        for (auto& [slot_name, slot] : slots) {
          if (name == slot_name) {
            EVIDENT_ASSIGN_OR_RETURN(*slot, ReadString(inner, what));
          }
        }
      }
      return {};
    };
    if (key == "action") {
      EVIDENT_ASSIGN_OR_RETURN(event.action, ReadString(value, key));
    } else if (key == "actor") {
      EVIDENT_RETURN_IF_ERROR(strings({{"assumed_by", &event.actor.assumed_by},
                                       {"email", &event.actor.email},
                                       {"id", &event.actor.id},
                                       {"name", &event.actor.name},
                                       {"role", &event.actor.role}},
                                      key));
    } else if (key == "details") {
      std::string_view raw;
      od::object details;
      if (value.get_object().get(details) != simdjson::SUCCESS ||
          details.raw_json().get(raw) != simdjson::SUCCESS) {
        return Corrupt(key);
      }
      event.details = std::string(raw);
    } else if (key == "id") {
      EVIDENT_ASSIGN_OR_RETURN(event.id, ReadString(value, key));
    } else if (key == "occurred_at" || key == "received_at") {
      EVIDENT_ASSIGN_OR_RETURN(std::string text, ReadString(value, key));
      auto when = util::ParseRfc3339(text);
      if (!when) return Corrupt(key);
      (key == "occurred_at" ? event.occurred_at : event.received_at) = *when;
    } else if (key == "request") {
      od::object object;
      if (value.get_object().get(object) != simdjson::SUCCESS) return Corrupt(key);
      Request& r = event.request;
      for (auto member : object) {
        std::string_view name;
        od::value inner;
        if (member.unescaped_key().get(name) != simdjson::SUCCESS ||
            member.value().get(inner) != simdjson::SUCCESS) {
          return Corrupt(key);
        }
        if (name == "agent") {
          od::object agent;
          if (inner.get_object().get(agent) != simdjson::SUCCESS) return Corrupt("agent");
          for (auto part : agent) {
            std::string_view part_name;
            od::value part_value;
            if (part.unescaped_key().get(part_name) != simdjson::SUCCESS ||
                part.value().get(part_value) != simdjson::SUCCESS) {
              return Corrupt("agent");
            }
            EVIDENT_ASSIGN_OR_RETURN(std::string text, ReadString(part_value, "agent"));
            (part_name == "os" ? r.agent.os : r.agent.browser) = std::move(text);
          }
        } else if (name == "duration_ms" || name == "status_code") {
          int64_t number = 0;
          if (inner.get_int64().get(number) != simdjson::SUCCESS) return Corrupt(name);
          if (name == "duration_ms") {
            r.duration_ms = number;
          } else {
            r.status_code = static_cast<int32_t>(number);
          }
        } else if (name == "ip") {
          EVIDENT_ASSIGN_OR_RETURN(r.ip, ReadString(inner, name));
        } else if (name == "method") {
          EVIDENT_ASSIGN_OR_RETURN(r.method, ReadString(inner, name));
        } else if (name == "path") {
          EVIDENT_ASSIGN_OR_RETURN(r.path, ReadString(inner, name));
        } else if (name == "user_agent") {
          EVIDENT_ASSIGN_OR_RETURN(r.user_agent, ReadString(inner, name));
        }
      }
    } else if (key == "resource") {
      EVIDENT_RETURN_IF_ERROR(strings({{"id", &event.resource.id},
                                       {"name", &event.resource.name},
                                       {"type", &event.resource.type}},
                                      key));
    } else if (key == "seq") {
      uint64_t seq = 0;
      if (value.get_uint64().get(seq) != simdjson::SUCCESS) return Corrupt(key);
      event.seq = seq;
    } else if (key == "status") {
      EVIDENT_ASSIGN_OR_RETURN(std::string text, ReadString(value, key));
      auto status = ParseEventStatus(text);
      if (!status) return Corrupt(key);
      event.status = *status;
    } else if (key == "tenant") {
      EVIDENT_ASSIGN_OR_RETURN(event.tenant, ReadString(value, key));
    } else if (key == "type") {
      EVIDENT_ASSIGN_OR_RETURN(std::string text, ReadString(value, key));
      auto type = ParseEventType(text);
      if (!type) return Corrupt(key);
      event.type = *type;
    } else if (key == "workspace") {
      EVIDENT_ASSIGN_OR_RETURN(event.workspace, ReadString(value, key));
    }
  }
  if (!detail::AtEnd(doc) || event.action.empty() || event.tenant.empty() ||
      event.details.empty()) {
    return Corrupt("incomplete");
  }
  // id_from_client and occurred_at_from_client are not recoverable from stored bytes; they only
  // matter for EncodeMode::kContent, which is computed at ingestion.
  event.id_from_client = true;
  event.occurred_at_from_client = true;
  return event;
}

}  // namespace evident::core
