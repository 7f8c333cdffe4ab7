// The audit event: Evident's one data model. Wire format in docs/api.md; the stored bytes are the
// RFC 8785 canonical JSON of an Event (docs/log-format.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "evident/util/result.h"
#include "evident/util/time.h"

namespace evident::core {

enum class EventType { kActivity, kAuthentication, kToken, kSession };
enum class EventStatus { kSuccess, kFailure, kInitiated, kPending, kBlocked };
inline constexpr int kEventTypeCount = 4;
inline constexpr int kEventStatusCount = 5;

std::string_view ToString(EventType type);
std::string_view ToString(EventStatus status);
// Exact lower-case names only. Errors: InvalidArgument listing the allowed names.
util::Result<EventType> ParseEventType(std::string_view text);
util::Result<EventStatus> ParseEventStatus(std::string_view text);

// Empty strings mean "absent" throughout: the encoder omits them.
struct Actor {
  std::string id, email, name, role, assumed_by;
  bool empty() const {
    return id.empty() && email.empty() && name.empty() && role.empty() && assumed_by.empty();
  }
  bool operator==(const Actor&) const = default;
};

struct Resource {
  std::string type, id, name;
  bool empty() const { return type.empty() && id.empty() && name.empty(); }
  bool operator==(const Resource&) const = default;
};

// Derived from Request::user_agent by the uap-core rules; never sent by clients.
struct Agent {
  std::string os, browser;
  bool operator==(const Agent&) const = default;
};

struct Request {
  std::string method;  // upper case
  std::string path;
  std::optional<int32_t> status_code;
  std::optional<int64_t> duration_ms;
  std::string ip;  // normalised text form (inet_ntop)
  std::string user_agent;
  Agent agent;  // filled when user_agent is set
  bool empty() const {
    return method.empty() && path.empty() && !status_code && !duration_ms && ip.empty() &&
           user_agent.empty();
  }
  bool operator==(const Request&) const = default;
};

struct Event {
  std::string id;  // client idempotency key, or a UUIDv7 Evident made
  bool id_from_client = false;
  std::string tenant;
  std::string workspace;
  EventType type = EventType::kActivity;
  std::string action;
  EventStatus status = EventStatus::kSuccess;
  util::UnixMillis occurred_at = 0;
  bool occurred_at_from_client = false;
  util::UnixMillis received_at = 0;
  Actor actor;
  Resource resource;
  Request request;
  std::string details = "{}";  // canonical JSON object, already redacted
  uint64_t seq = 0;            // leaf index in the tenant's log; set by the writer

  bool operator==(const Event&) const = default;
};

// Calls `fn` on each string an Event holds: what its memory is beyond sizeof(Event) (the store
// bounds its unindexed events by it).
template <class Fn>
void ForEachString(const Event& e, Fn&& fn) {
  for (const std::string* text :
       {&e.id, &e.tenant, &e.workspace, &e.action, &e.actor.id, &e.actor.email, &e.actor.name,
        &e.actor.role, &e.actor.assumed_by, &e.resource.type, &e.resource.id, &e.resource.name,
        &e.request.method, &e.request.path, &e.request.ip, &e.request.user_agent,
        &e.request.agent.os, &e.request.agent.browser, &e.details}) {
    fn(*text);
  }
}
// Fails when a field is added to Event, Actor, Resource, Request or Agent (with libstdc++ on a
// 64-bit machine, the only one built for): add it to ForEachString if it holds a string, then
// update the size here.
static_assert(sizeof(void*) != 8 || sizeof(std::string) != 32 || sizeof(Event) == 688,
              "Event changed: see ForEachString");

enum class EncodeMode {
  kStored,   // everything, as stored and returned: the Merkle leaf (docs/log-format.md)
  kContent,  // only what the client sent: no seq, received_at, derived agent, generated id
             // or defaulted occurred_at. Two sends of one event have equal content.
};

// Appends the RFC 8785 canonical JSON of `event` to `out`.
void EncodeEvent(const Event& event, EncodeMode mode, std::string& out);
std::string EncodeEvent(const Event& event, EncodeMode mode = EncodeMode::kStored);

// The stored JSON of an event whose seq is not known yet, with the seq's digits left out: the
// stored bytes are json[0, seq_at) + the seq in decimal + json[seq_at, end). All of the event but
// its seq can so be encoded (and hashed, and compressed) before the writer numbers it.
struct SeqlessJson {
  std::string json;
  size_t seq_at = 0;  // just after `"seq":`
};
// Appends to `out.json` (which may hold earlier bytes: seq_at counts from its start).
void EncodeStoredWithoutSeq(const Event& event, SeqlessJson& out);
// Appends the stored bytes `seqless` stands for, given the seq.
void AppendWithSeq(std::string_view json, size_t seq_at, uint64_t seq, std::string& out);

// Idempotency: whether `resend` carries the same content as `original` (as stored, or as sent
// earlier), comparing EncodeEvent(kContent) as the resend sees it. Stored bytes cannot tell a
// defaulted occurred_at from a sent one, so an occurred_at the resend leaves out is not compared;
// one it sends must equal the original's.
bool SameContent(const Event& resend, const Event& original);

// Reads back what EncodeEvent(kStored) wrote. Errors: Corruption when `json` is not a stored
// event (stored bytes are trusted to have passed validation when written).
util::Result<Event> DecodeStoredEvent(std::string_view json);

}  // namespace evident::core
