// The HTTP API (docs/api.md): routing, authentication, and the handlers of each resource.
//
// Routes:
//   POST /api/v1/events                         ingest (answered once durable)
//   GET  /api/v1/events                         search, newest first, keyset cursor
//   GET  /api/v1/events/histogram               counts over time
//   GET  /api/v1/tenants/{tenant}/events/{id}   one event
//   GET  /api/v1/tenants/{tenant}/events/{id}/proof   its inclusion proof and checkpoint
//   GET  /api/v1/log/key                        the log's verifier key
//   GET  /api/v1/tenants/{tenant}/log/checkpoint    the latest signed checkpoint
//   GET  /api/v1/tenants/{tenant}/log/checkpoints   earlier ones, newest first
//   GET  /api/v1/tenants/{tenant}/log/entries       leaf data, [start, end)
//   GET  /api/v1/tenants/{tenant}/log/proof/inclusion, .../proof/consistency
//   POST /api/v1/auth/login, /api/v1/auth/logout; GET /api/v1/auth/session
//   GET/POST /api/v1/tenants
//   GET/POST /api/v1/users; GET/PATCH /api/v1/users/{id}; POST /api/v1/users/{id}/assume
//   GET /api/v1/sessions; POST /api/v1/sessions/{id}/revoke
//   GET/POST /api/v1/tokens; GET /api/v1/tokens/{id}; POST /api/v1/tokens/{id}/deactivate
//   GET/POST /api/v1/oauth/clients; GET /api/v1/oauth/clients/{id};
//   POST /api/v1/oauth/clients/{id}/disable
//   GET  /api/v1/administration/logs            AirVantage-compatible authentication logs
//   GET  /.well-known/oauth-authorization-server, GET/POST /oauth/authorize,
//   POST /oauth/token, /oauth/revoke, /oauth/introspect   (docs/oauth.md; no bearer token)
//   GET  /healthz, GET /metrics                 no authentication
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evident/api/http.h"
#include "evident/api/metrics.h"
#include "evident/auth/identity_service.h"
#include "evident/auth/oauth_server.h"
#include "evident/auth/rate_limiter.h"
#include "evident/core/canonical_json.h"
#include "evident/core/clock.h"
#include "evident/core/user_agent.h"
#include "evident/ledger/checkpointer.h"
#include "evident/ledger/writer.h"
#include "evident/storage/event_store.h"

namespace evident::api {

using auth::Principal;

// The session cookie: HttpOnly, SameSite=Strict, Secure under TLS (docs/identity.md).
inline constexpr std::string_view kSessionCookie = "evident_session";

struct ApiOptions {
  std::vector<std::string> redact_keys = core::Redactor::DefaultKeys();
  size_t max_events_per_request = 100'000;
  // Signs checkpoints for the log endpoints; not owned, must outlive the Api. Null: those
  // endpoints answer 503.
  ledger::Checkpointer* checkpointer = nullptr;
  // Token buckets per client IP and per credential (rate <= 0: no limit).
  auth::RateLimit rate_limit;
  // The OAuth authorization server; not owned, must outlive the Api. Null: /oauth/* and the
  // client registry answer 404.
  auth::OAuthServer* oauth = nullptr;
  // The issuer and base of absolute URLs (e.g. "https://audit.example.com"); empty: taken from
  // each request's Host.
  std::string public_url;
};

// What the audit trail records about one state change Evident made (docs/identity.md). The
// request's method, path, status code, duration, IP and user agent are added by Api::Audit, and
// the actor is the principal unless set here.
struct AuditRecord {
  std::string tenant;  // the tenant whose log receives it; kSystemTenant when it has none
  core::EventType type = core::EventType::kActivity;
  std::string action;
  core::EventStatus status = core::EventStatus::kSuccess;
  core::Resource resource;
  std::vector<std::pair<std::string, std::string>> details;  // string members of `details`
  core::Actor actor;                                         // empty: the principal
};

// `user` as the actor of an audit event.
core::Actor ActorOf(const storage::UserRecord& user);

// Thread-safe: Handle may run on many threads at once. Holds references to `store`, `writer`,
// `clock`, `agents` and `identity`, which must outlive the Api; `agents` may be null (no
// request.agent is derived).
class Api {
 public:
  Api(storage::EventStore& store, ledger::Writer& writer, const core::Clock& clock,
      const core::UserAgentParser* agents, auth::IdentityService& identity, ApiOptions options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Answers `request` by calling `respond` exactly once: synchronously for everything but
  // POST /api/v1/events, whose answer comes from the ledger writer's thread once the events are
  // durable (or refused). Never throws.
  void Handle(HttpRequest request, Responder respond);

  // True for the requests that bring events in (POST /api/v1/events), which the transport hands
  // to threads of their own (server::HttpServerOptions::ingest_nice) so that queries do not wait
  // behind their decoding.
  static bool IsIngest(const HttpRequest& request);

  // Records a response that the transport produced itself (413 before reading a body, 400 for an
  // unparsable request), so that /metrics counts it.
  void ObserveTransportResponse(int status, double seconds);

  const Metrics& metrics() const { return *metrics_; }

  // Appends Evident's own audit events that were recorded while the server was not running
  // (IdentityStore::PendingEvents) and forgets them, as StoreKeptAudit does. Called once at start.
  util::Status FlushPendingAudit();
  // Stores the audit events kept while the log could not take them (see Audit), unless none wait
  // or an append carries them now. The server calls it every few seconds, so that a quiet server
  // does not hold them until its next audited change.
  util::Status StoreKeptAudit();

 private:
  // One request as its handler sees it.
  struct Call {
    const HttpRequest& request;
    std::string_view path;
    std::string_view query;
    std::chrono::steady_clock::time_point started;
  };

  // Writes `records` to the log, then answers `response` once they are durable: a state change is
  // acknowledged only with its audit trail. Never refused for back-pressure. Events the log cannot
  // take (a full disk; the change they record is already made) are kept with the pending ones
  // (IdentityStore::AddPendingEvent) and go to the log, oldest first, with the next audit events
  // it takes or by StoreKeptAudit.
  void Audit(const Call& call, const Principal* principal, std::vector<AuditRecord> records,
             HttpResponse response, Responder respond);
  // Claims the kept audit events for one append (none while another carries them): appends them
  // to `into`, oldest first, and returns the last one's id, to forget once appended. Whoever
  // gets an id releases the claim (audit_backlog_->carrying) when its append is done.
  // Errors: those of the identity store, and Corruption for a kept event it cannot decode (the
  // events stay kept).
  util::Result<std::optional<int64_t>> ClaimKeptAudit(std::vector<core::Event>& into);

  // Identity and access (identity_handler.cc).
  // The audit records of a password login (docs/identity.md): in `tenant`, or the user's, with
  // `entrypoint` and then `details`.
  static std::vector<AuditRecord> LoginAudit(
      const auth::LoginResult& result, std::string_view email, std::string_view entrypoint,
      const std::string& tenant, std::vector<std::pair<std::string, std::string>> details);
  // The Set-Cookie value of a new session.
  std::string SessionCookie(const Call& call, std::string_view secret) const;
  void Login(const Call& call, Responder respond);
  void Logout(const Call& call, const Principal& principal, Responder respond);
  HttpResponse CurrentSession(const Principal& principal);
  void CreateTenant(const Call& call, const Principal& principal, Responder respond);
  HttpResponse ListTenants(const Principal& principal);
  void CreateUser(const Call& call, const Principal& principal, Responder respond);
  HttpResponse ListUsers(std::string_view query, const Principal& principal);
  HttpResponse GetUser(std::string_view id, const Principal& principal);
  void UpdateUser(const Call& call, std::string_view id, const Principal& principal,
                  Responder respond);
  void AssumeUser(const Call& call, std::string_view id, const Principal& principal,
                  Responder respond);
  HttpResponse ListCredentials(std::string_view query, const Principal& principal, bool sessions);
  HttpResponse GetCredential(std::string_view id, const Principal& principal);
  void CreateToken(const Call& call, const Principal& principal, Responder respond);
  void RevokeCredential(const Call& call, std::string_view id, const Principal& principal,
                        bool session, Responder respond);

  // Handlers of the events resource (events_handler.cc).
  void PostEvents(const HttpRequest& request, const Principal& principal, Responder respond);
  HttpResponse ListEvents(std::string_view query, const Principal& principal);
  HttpResponse EventHistogram(std::string_view query, const Principal& principal);
  HttpResponse GetEvent(std::string_view tenant, std::string_view id, const Principal& principal);
  HttpResponse RenderMetrics() const;
  HttpResponse Health() const;
  // The OAuth client registry (identity_handler.cc).
  void CreateOAuthClient(const Call& call, const Principal& principal, Responder respond);
  HttpResponse ListOAuthClients(const Call& call, const Principal& principal);
  HttpResponse GetOAuthClient(const Call& call, std::string_view id, const Principal& principal);
  void DisableOAuthClient(const Call& call, std::string_view id, const Principal& principal,
                          Responder respond);
  // The OAuth authorization server's endpoints (oauth_handler.cc).
  std::string Issuer(const HttpRequest& request) const;
  HttpResponse OAuthMetadata(const HttpRequest& request) const;
  void Authorize(const Call& call, Responder respond);
  void AuthorizeForm(const Call& call, Responder respond);
  void Token(const Call& call, Responder respond);
  void RevokeToken(const Call& call, Responder respond);
  void Introspect(const Call& call, Responder respond);
  // The AirVantage-compatible administration logs (compat_handler.cc).
  HttpResponse AdministrationLogs(std::string_view query, const Principal& principal);
  // Handlers of the tamper-evidence log (log_handler.cc).
  std::optional<std::string> LogTenant(std::string_view raw_tenant,
                                       const Principal& principal) const;
  util::Result<storage::StoredCheckpoint> CheckpointCovering(const std::string& tenant,
                                                             uint64_t min_size);
  util::Result<uint64_t> SizeOrLatest(const std::string& tenant, std::optional<uint64_t> given);
  HttpResponse LogKey() const;
  HttpResponse LatestCheckpoint(std::string_view tenant, const Principal& principal);
  HttpResponse ListCheckpoints(std::string_view tenant, std::string_view query,
                               const Principal& principal);
  HttpResponse LogEntries(std::string_view tenant, std::string_view query,
                          const Principal& principal);
  HttpResponse InclusionProof(std::string_view tenant, std::string_view query,
                              const Principal& principal);
  HttpResponse ConsistencyProof(std::string_view tenant, std::string_view query,
                                const Principal& principal);
  HttpResponse EventProof(std::string_view tenant, std::string_view id, const Principal& principal);

  storage::EventStore& store_;
  ledger::Writer& writer_;
  const core::Clock& clock_;
  const core::UserAgentParser* const agents_;
  auth::IdentityService& identity_;
  const ApiOptions options_;
  auth::RateLimiter ip_limiter_;
  auth::RateLimiter credential_limiter_;
  const core::Redactor redactor_;
  std::unique_ptr<Metrics> metrics_;
  // Whether audit events wait among the pending ones, and whether an append is carrying them
  // now: one at a time, so that none is appended twice. Shared with the writer's callbacks.
  struct AuditBacklog {
    std::atomic<bool> waiting{false};
    std::atomic<bool> carrying{false};
    // Ends a claim (ClaimKeptAudit) once the append that carried the kept events through `through`
    // is done (`appended`): forgets them if it stored them; if it did not, or they cannot be
    // forgotten (appended again with the next ones: twice rather than none), they wait again.
    util::Status EndCarry(auth::IdentityService& identity, const util::Status& appended,
                          int64_t through);
  };
  const std::shared_ptr<AuditBacklog> audit_backlog_ = std::make_shared<AuditBacklog>();
};

}  // namespace evident::api
