// Evident audits itself: every state change it makes is an event in the right tenant's log,
// written before the change is acknowledged (docs/identity.md, "The audit trail").
#include <spdlog/spdlog.h>

#include <iterator>

#include "evident/api/api.h"
#include "evident/util/strings.h"
#include "evident/util/uuid.h"

namespace evident::api {

namespace {

constexpr size_t kMaxHeaderText = 1024;

// Header text as stored text: valid UTF-8 kept as it is (cut at kMaxHeaderText on a character
// boundary), anything else with its non-ASCII bytes as '?'.
std::string StorableText(std::string_view text) {
  std::string out(text.substr(0, kMaxHeaderText));
  if (!util::IsValidUtf8(out)) {
    for (char& c : out) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    }
  }
  while (!out.empty() && !util::IsValidUtf8(out)) out.pop_back();
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return out;
}

}  // namespace

core::Actor ActorOf(const storage::UserRecord& user) {
  return core::Actor{
      .id = user.id, .email = user.email, .name = user.name, .role = user.role, .assumed_by = {}};
}

void Api::Audit(const Call& call, const Principal* principal, std::vector<AuditRecord> records,
                HttpResponse response, Responder respond) {
  const util::UnixMillis now = clock_.NowMillis();
  const int64_t duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - call.started)
                                  .count();
  core::Request request;
  request.method = call.request.method;
  request.path = StorableText(call.path);
  request.status_code = response.status;
  request.duration_ms = duration_ms;
  request.ip = call.request.remote_ip;
  request.user_agent = StorableText(call.request.user_agent);
  if (agents_ != nullptr && !request.user_agent.empty()) {
    request.agent = agents_->Parse(request.user_agent);
  }

  std::vector<core::Event> events;
  events.reserve(records.size());
  for (AuditRecord& record : records) {
    core::Event event;
    event.id = util::NewUuidV7(now);
    event.tenant = record.tenant.empty() ? std::string(auth::kSystemTenant) : record.tenant;
    event.type = record.type;
    event.action = std::move(record.action);
    event.status = record.status;
    event.occurred_at = now;
    event.received_at = now;
    event.resource = std::move(record.resource);
    event.request = request;
    if (!record.actor.empty()) {
      event.actor = std::move(record.actor);
    } else if (principal != nullptr) {
      event.actor = core::Actor{.id = principal->user_id,
                                .email = principal->email,
                                .name = principal->name,
                                .role = std::string(auth::ToString(principal->role)),
                                .assumed_by = principal->assumed_by_email};
    }
    if (principal != nullptr) {
      record.details.emplace_back("credential_id", principal->credential_id);
      record.details.emplace_back("credential_kind", principal->kind);
      if (!principal->assumed_by_id.empty()) {
        record.details.emplace_back("assumedBy", principal->assumed_by_email);
        record.details.emplace_back("assume_reason", principal->assume_reason);
      }
    }
    // Evident's own details hold no secret; the redaction rules apply anyway, as to any event.
    for (auto& [key, value] : record.details) {
      if (redactor_.IsSensitiveKey(key) || core::Redactor::IsPrivateKeyText(value)) {
        value = std::string(core::kRedacted);
      }
    }
    event.details = core::CanonicalStringObject(std::move(record.details));
    events.push_back(std::move(event));
  }
  // Their stored form, to keep them with the pending events should the log not take them.
  std::vector<std::string> fresh;
  fresh.reserve(events.size());
  for (const core::Event& event : events) fresh.push_back(core::EncodeEvent(event));
  // The events kept earlier go first, carried by one append at a time.
  std::vector<core::Event> carried;
  util::Result<std::optional<int64_t>> claimed = ClaimKeptAudit(carried);
  if (!claimed) {
    spdlog::error("audit events kept earlier cannot be read: {}", claimed.error().ToString());
  }
  const std::optional<int64_t> carried_through = claimed ? *claimed : std::nullopt;
  if (carried_through) {
    std::move(events.begin(), events.end(), std::back_inserter(carried));
    events = std::move(carried);
  }
  std::shared_ptr<AuditBacklog> backlog = audit_backlog_;
  writer_.Submit(
      std::move(events),
      [response = std::move(response), respond = std::move(respond), fresh = std::move(fresh),
       carried_through, backlog = std::move(backlog),
       &identity = identity_](util::Result<std::vector<storage::Appended>> appended) mutable {
        if (!appended) {
          // The change is made; its record must not be lost. Kept, it goes with the next ones.
          size_t kept = 0;
          for (const std::string& json : fresh) {
            if (auto queued = identity.AddPendingAudit(json); !queued) {
              spdlog::error("an audit event could be neither stored ({}) nor kept ({}): {}",
                            appended.error().ToString(), queued.error().ToString(), json);
              continue;
            }
            ++kept;
          }
          if (kept > 0) backlog->waiting.store(true);
          spdlog::warn("{} audit events kept to be stored later: {}", kept,
                       appended.error().ToString());
        }
        if (carried_through) {
          const util::Status stored = appended ? util::Status() : util::Status(appended.error());
          if (auto ended = backlog->EndCarry(identity, stored, *carried_through);
              !ended && appended) {
            spdlog::error("audit events appended cannot be forgotten: {}",
                          ended.error().ToString());
          }
        }
        respond(std::move(response));
      },
      ledger::Admission::kAlways);
}

util::Result<std::optional<int64_t>> Api::ClaimKeptAudit(std::vector<core::Event>& into) {
  AuditBacklog& backlog = *audit_backlog_;
  if (!backlog.waiting.load() || backlog.carrying.exchange(true)) return std::optional<int64_t>();
  backlog.waiting.store(false);
  auto claimed = [&]() -> util::Result<std::optional<int64_t>> {
    EVIDENT_ASSIGN_OR_RETURN(auto pending, identity_.PendingAudit());
    for (const auto& [id, json] : pending) {
      EVIDENT_ASSIGN_OR_RETURN(core::Event event, core::DecodeStoredEvent(json));
      into.push_back(std::move(event));
    }
    if (pending.empty()) return std::optional<int64_t>();
    return std::optional<int64_t>(pending.back().first);
  }();
  if (!claimed || !*claimed) {
    if (!claimed) backlog.waiting.store(true);
    into.clear();
    backlog.carrying.store(false);
  }
  return claimed;
}

util::Status Api::StoreKeptAudit() {
  std::vector<core::Event> kept;
  EVIDENT_ASSIGN_OR_RETURN(std::optional<int64_t> through, ClaimKeptAudit(kept));
  if (!through) return {};
  auto appended = writer_.SubmitAndWait(std::move(kept));
  return audit_backlog_->EndCarry(
      identity_, appended ? util::Status() : util::Status(appended.error()), *through);
}

util::Status Api::AuditBacklog::EndCarry(auth::IdentityService& identity,
                                         const util::Status& appended, int64_t through) {
  util::Status stored = appended ? identity.ForgetPendingAudit(through) : appended;
  if (!stored) waiting.store(true);
  carrying.store(false);
  return stored;
}

util::Status Api::FlushPendingAudit() {
  audit_backlog_->waiting.store(true);  // whatever was recorded while the server was down
  return StoreKeptAudit();
}

}  // namespace evident::api
