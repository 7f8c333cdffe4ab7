#include "evident/api/api.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

#include "evident/api/problem.h"
#include "evident/api/query_string.h"
#include "evident/auth/secrets.h"
#include "evident/util/strings.h"

namespace evident::api {

namespace {

// Indexes into kRouteTemplates; kOther collects unknown paths in /metrics.
enum RouteIndex : size_t {
  kEvents,
  kHistogram,
  kTenantEvent,
  kEventProof,
  kLogKey,
  kCheckpoint,
  kCheckpoints,
  kEntries,
  kInclusion,
  kConsistency,
  kLogin,
  kLogout,
  kSession,
  kTenants,
  kUsers,
  kUser,
  kAssume,
  kSessions,
  kRevokeSession,
  kTokens,
  kToken,
  kDeactivateToken,
  kAdministrationLogs,
  kOAuthClients,
  kOAuthClient,
  kDisableOAuthClient,
  kOAuthMetadata,
  kAuthorize,
  kOAuthTokenEndpoint,
  kRevoke,
  kIntrospect,
  kHealth,
  kMetrics,
  kOther,
};

std::vector<std::string> RouteTemplates() {
  return {"/api/v1/events",
          "/api/v1/events/histogram",
          "/api/v1/tenants/{tenant}/events/{id}",
          "/api/v1/tenants/{tenant}/events/{id}/proof",
          "/api/v1/log/key",
          "/api/v1/tenants/{tenant}/log/checkpoint",
          "/api/v1/tenants/{tenant}/log/checkpoints",
          "/api/v1/tenants/{tenant}/log/entries",
          "/api/v1/tenants/{tenant}/log/proof/inclusion",
          "/api/v1/tenants/{tenant}/log/proof/consistency",
          "/api/v1/auth/login",
          "/api/v1/auth/logout",
          "/api/v1/auth/session",
          "/api/v1/tenants",
          "/api/v1/users",
          "/api/v1/users/{id}",
          "/api/v1/users/{id}/assume",
          "/api/v1/sessions",
          "/api/v1/sessions/{id}/revoke",
          "/api/v1/tokens",
          "/api/v1/tokens/{id}",
          "/api/v1/tokens/{id}/deactivate",
          "/api/v1/administration/logs",
          "/api/v1/oauth/clients",
          "/api/v1/oauth/clients/{id}",
          "/api/v1/oauth/clients/{id}/disable",
          "/.well-known/oauth-authorization-server",
          "/oauth/authorize",
          "/oauth/token",
          "/oauth/revoke",
          "/oauth/introspect",
          "/healthz",
          "/metrics",
          "other"};
}

// Splits "/a/b/c" into {"a","b","c"}; keeps empty segments so that "/a//b" does not match "/a/b".
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.empty() || path.front() != '/') return segments;
  path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

struct Match {
  size_t route = kOther;
  std::string_view allow;  // the methods the route accepts, for 405
  std::string_view tenant, id;
};

Match MatchRoute(std::string_view path) {
  if (path == "/api/v1/events") return {kEvents, "GET, POST", {}, {}};
  if (path == "/api/v1/events/histogram") return {kHistogram, "GET", {}, {}};
  if (path == "/healthz") return {kHealth, "GET", {}, {}};
  if (path == "/metrics") return {kMetrics, "GET", {}, {}};
  if (path == "/api/v1/log/key") return {kLogKey, "GET", {}, {}};
  if (path == "/api/v1/auth/login") return {kLogin, "POST", {}, {}};
  if (path == "/api/v1/auth/logout") return {kLogout, "POST", {}, {}};
  if (path == "/api/v1/auth/session") return {kSession, "GET", {}, {}};
  if (path == "/api/v1/tenants") return {kTenants, "GET, POST", {}, {}};
  if (path == "/api/v1/users") return {kUsers, "GET, POST", {}, {}};
  if (path == "/api/v1/sessions") return {kSessions, "GET", {}, {}};
  if (path == "/api/v1/tokens") return {kTokens, "GET, POST", {}, {}};
  if (path == "/api/v1/administration/logs") return {kAdministrationLogs, "GET", {}, {}};
  if (path == "/api/v1/oauth/clients") return {kOAuthClients, "GET, POST", {}, {}};
  if (path == "/.well-known/oauth-authorization-server") return {kOAuthMetadata, "GET", {}, {}};
  if (path == "/oauth/authorize") return {kAuthorize, "GET, POST", {}, {}};
  if (path == "/oauth/token") return {kOAuthTokenEndpoint, "POST", {}, {}};
  if (path == "/oauth/revoke") return {kRevoke, "POST", {}, {}};
  if (path == "/oauth/introspect") return {kIntrospect, "POST", {}, {}};
  const std::vector<std::string_view> segments = Segments(path);
  if (segments.size() < 4 || segments[0] != "api" || segments[1] != "v1" || segments[3].empty()) {
    return {};
  }
  const std::string_view id = segments[3];
  if (segments[2] == "users") {
    if (segments.size() == 4) return {kUser, "GET, PATCH", {}, id};
    if (segments.size() == 5 && segments[4] == "assume") return {kAssume, "POST", {}, id};
    return {};
  }
  if (segments[2] == "sessions") {
    if (segments.size() == 5 && segments[4] == "revoke") return {kRevokeSession, "POST", {}, id};
    return {};
  }
  if (segments[2] == "oauth" && segments[3] == "clients") {
    if (segments.size() == 5 && !segments[4].empty()) {
      return {kOAuthClient, "GET", {}, segments[4]};
    }
    if (segments.size() == 6 && !segments[4].empty() && segments[5] == "disable") {
      return {kDisableOAuthClient, "POST", {}, segments[4]};
    }
    return {};
  }
  if (segments[2] == "tokens") {
    if (segments.size() == 4) return {kToken, "GET", {}, id};
    if (segments.size() == 5 && segments[4] == "deactivate") {
      return {kDeactivateToken, "POST", {}, id};
    }
    return {};
  }
  if (segments.size() < 6 || segments[2] != "tenants") return {};
  const std::string_view tenant = segments[3];
  if (segments[4] == "events" && !segments[5].empty()) {
    if (segments.size() == 6) return {kTenantEvent, "GET", tenant, segments[5]};
    if (segments.size() == 7 && segments[6] == "proof") {
      return {kEventProof, "GET", tenant, segments[5]};
    }
    return {};
  }
  if (segments[4] != "log") return {};
  if (segments.size() == 6) {
    if (segments[5] == "checkpoint") return {kCheckpoint, "GET", tenant, {}};
    if (segments[5] == "checkpoints") return {kCheckpoints, "GET", tenant, {}};
    if (segments[5] == "entries") return {kEntries, "GET", tenant, {}};
  }
  if (segments.size() == 7 && segments[5] == "proof") {
    if (segments[6] == "inclusion") return {kInclusion, "GET", tenant, {}};
    if (segments[6] == "consistency") return {kConsistency, "GET", tenant, {}};
  }
  return {};
}

bool MethodAllowed(std::string_view method, std::string_view allow) {
  for (const std::string& one : util::SplitList(allow)) {
    if (util::Trim(one) == method) return true;
  }
  return false;
}

// The bearer token of an Authorization header ("Bearer x", the scheme case-insensitive), or
// empty.
std::string_view BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !util::EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme)) {
    return {};
  }
  return util::Trim(authorization.substr(kScheme.size()));
}

// Whether a cookie-authenticated request comes from Evident's own pages: an Origin header naming
// this very host (CSRF defence, part one; the token is part two).
bool SameOrigin(const HttpRequest& request) {
  if (request.origin.empty() || request.host.empty()) return false;
  const std::string_view scheme = request.secure ? "https://" : "http://";
  return util::EqualsIgnoreCase(request.origin, std::string(scheme) + request.host);
}

void AddRateHeaders(HttpResponse& response, const auth::RateDecision& decision) {
  response.headers.emplace_back("RateLimit-Limit", std::to_string(decision.limit));
  response.headers.emplace_back("RateLimit-Remaining", std::to_string(decision.remaining));
  response.headers.emplace_back("RateLimit-Reset", std::to_string(decision.reset_seconds));
}

HttpResponse TooManyRequests(const auth::RateDecision& decision, std::string_view what) {
  HttpResponse response =
      ProblemResponse(429, "rate limit exceeded for this " + std::string(what) + "; retry in " +
                               std::to_string(decision.retry_after_seconds) + " s");
  response.headers.emplace_back("Retry-After", std::to_string(decision.retry_after_seconds));
  AddRateHeaders(response, decision);
  return response;
}

}  // namespace

std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t end = header.find(';');
    std::string_view pair = util::Trim(header.substr(0, end));
    const size_t equals = pair.find('=');
    if (equals != std::string_view::npos && util::Trim(pair.substr(0, equals)) == name) {
      return util::Trim(pair.substr(equals + 1));
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

Api::Api(storage::EventStore& store, ledger::Writer& writer, const core::Clock& clock,
         const core::UserAgentParser* agents, auth::IdentityService& identity, ApiOptions options)
    : store_(store),
      writer_(writer),
      clock_(clock),
      agents_(agents),
      identity_(identity),
      options_(std::move(options)),
      ip_limiter_(options_.rate_limit, clock),
      credential_limiter_(options_.rate_limit, clock),
      redactor_(options_.redact_keys),
      metrics_(std::make_unique<Metrics>(RouteTemplates())) {}

Api::~Api() = default;

void Api::ObserveTransportResponse(int status, double seconds) {
  metrics_->ObserveRequest(kOther, status, seconds);
}

bool Api::IsIngest(const HttpRequest& request) {
  const std::string_view target = request.target;
  return request.method == "POST" &&
         MatchRoute(target.substr(0, target.find('?'))).route == kEvents;
}

void Api::Handle(HttpRequest request, Responder respond) {
  const auto started = request.received != std::chrono::steady_clock::time_point{}
                           ? request.received
                           : std::chrono::steady_clock::now();
  std::string_view target = request.target;
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  const Match match = MatchRoute(path);

  std::optional<auth::RateDecision> credential_rate;
  Responder observed = [this, started, route = match.route,
                        respond = std::move(respond)](HttpResponse response) {
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    metrics_->ObserveRequest(route, response.status, elapsed.count());
    respond(std::move(response));
  };
  // Adds the credential's rate-limit headers to an answer given later (on the writer's thread).
  const auto with_rate_headers = [&](Responder inner) -> Responder {
    if (!credential_rate) return inner;
    return [decision = *credential_rate, inner = std::move(inner)](HttpResponse response) {
      AddRateHeaders(response, decision);
      inner(std::move(response));
    };
  };

  Responder answer;
  try {
    const Call call{request, path, query, started};
    const bool oauth_route = match.route >= kOAuthMetadata && match.route <= kIntrospect;
    if (!path.starts_with("/api/") && !oauth_route) {
      if (match.route == kHealth && request.method == "GET") {
        observed(Health());
      } else if (match.route == kMetrics && request.method == "GET") {
        observed(RenderMetrics());
      } else if (match.route == kOther) {
        observed(ProblemResponse(404, "no such resource"));
      } else {
        HttpResponse response = ProblemResponse(405, "method " + request.method + " not allowed");
        response.headers.emplace_back("Allow", std::string(match.allow));
        observed(std::move(response));
      }
      return;
    }

    // Per client IP first: it also bounds guessing of credentials.
    if (ip_limiter_.enabled()) {
      const auth::RateDecision decision = ip_limiter_.Take("ip " + request.remote_ip);
      if (!decision.allowed) {
        observed(TooManyRequests(decision, "client address"));
        return;
      }
    }
    if (oauth_route) {
      // The authorization server's own endpoints: clients authenticate as the protocol says, not
      // with bearer tokens.
      if (options_.oauth == nullptr) {
        observed(ProblemResponse(404, "no such resource"));
        return;
      }
      if (!MethodAllowed(request.method, match.allow)) {
        HttpResponse response = ProblemResponse(405, "method " + request.method + " not allowed");
        response.headers.emplace_back("Allow", std::string(match.allow));
        observed(std::move(response));
        return;
      }
      switch (match.route) {
        case kOAuthMetadata:
          observed(OAuthMetadata(request));
          return;
        case kAuthorize:
          if (request.method == "POST") {
            AuthorizeForm(call, std::move(observed));
          } else {
            Authorize(call, std::move(observed));
          }
          return;
        case kOAuthTokenEndpoint:
          Token(call, std::move(observed));
          return;
        case kRevoke:
          RevokeToken(call, std::move(observed));
          return;
        default:
          Introspect(call, std::move(observed));
          return;
      }
    }
    if (match.route == kLogin) {
      if (request.method != "POST") {
        HttpResponse response = ProblemResponse(405, "method " + request.method + " not allowed");
        response.headers.emplace_back("Allow", "POST");
        observed(std::move(response));
        return;
      }
      Login(call, std::move(observed));
      return;
    }

    const std::string_view bearer = BearerToken(request.authorization);
    const std::string_view cookie =
        bearer.empty() ? CookieValue(request.cookie, kSessionCookie) : std::string_view();
    if (bearer.empty() && cookie.empty()) {
      observed(ProblemResponse(401, request.authorization.empty()
                                        ? "an Authorization: Bearer token or a session is required"
                                        : "the Authorization header must be 'Bearer <token>'"));
      return;
    }
    auto principal =
        identity_.Authenticate(bearer.empty() ? cookie : bearer, request.remote_ip, bearer.empty());
    if (!principal) {
      observed(ProblemResponse(principal.error()));
      return;
    }
    if (credential_limiter_.enabled()) {
      credential_rate = credential_limiter_.Take(principal->credential_id);
      if (!credential_rate->allowed) {
        observed(TooManyRequests(*credential_rate, "credential"));
        return;
      }
    }
    answer = with_rate_headers(std::move(observed));
    if (match.route == kOther) {
      answer(ProblemResponse(404, "no such resource"));
      return;
    }
    if (!MethodAllowed(request.method, match.allow)) {
      HttpResponse response = ProblemResponse(
          405, request.method == "DELETE" && (match.route == kToken || match.route == kTokens)
                   ? "tokens log entries are never deleted by hand: they are kept for the audit "
                     "trail and removed only by the retention policy; deactivate a token instead"
                   : "method " + request.method + " not allowed");
      response.headers.emplace_back("Allow", std::string(match.allow));
      answer(std::move(response));
      return;
    }
    // A cookie rides along with requests that other sites trigger: state changes made with one
    // need this host as Origin and the session's CSRF token.
    if (principal->via_cookie && request.method != "GET" && request.method != "HEAD") {
      if (!SameOrigin(request)) {
        answer(ProblemResponse(403,
                               "cross-origin request refused: the Origin header must name "
                               "this server"));
        return;
      }
      if (request.csrf_token.empty() ||
          !auth::SameHash(request.csrf_token, auth::CsrfTokenFor(cookie))) {
        answer(ProblemResponse(403, "the X-CSRF-Token header is missing or wrong"));
        return;
      }
    }
    const bool post = request.method == "POST";
    const bool reads_events = (match.route >= kEvents && match.route <= kConsistency &&
                               match.route != kLogKey && !(match.route == kEvents && post));
    if (reads_events && !principal->Can(auth::kEventsRead)) {
      answer(ProblemResponse(403, "reading events needs the events:read scope or an admin role"));
      return;
    }
    if (match.route == kEvents && post && !principal->Can(auth::kEventsWrite)) {
      answer(ProblemResponse(403, "writing events needs the events:write scope or an admin role"));
      return;
    }
    switch (match.route) {
      case kEvents:
        if (post) {
          PostEvents(request, *principal, std::move(answer));
        } else {
          answer(ListEvents(query, *principal));
        }
        return;
      case kHistogram:
        answer(EventHistogram(query, *principal));
        return;
      case kTenantEvent:
        answer(GetEvent(match.tenant, match.id, *principal));
        return;
      case kEventProof:
        answer(EventProof(match.tenant, match.id, *principal));
        return;
      case kLogKey:
        answer(LogKey());
        return;
      case kCheckpoint:
        answer(LatestCheckpoint(match.tenant, *principal));
        return;
      case kCheckpoints:
        answer(ListCheckpoints(match.tenant, query, *principal));
        return;
      case kEntries:
        answer(LogEntries(match.tenant, query, *principal));
        return;
      case kInclusion:
        answer(InclusionProof(match.tenant, query, *principal));
        return;
      case kConsistency:
        answer(ConsistencyProof(match.tenant, query, *principal));
        return;
      case kLogout:
        Logout(call, *principal, std::move(answer));
        return;
      case kSession:
        answer(CurrentSession(*principal));
        return;
      case kTenants:
        if (post) {
          CreateTenant(call, *principal, std::move(answer));
        } else {
          answer(ListTenants(*principal));
        }
        return;
      case kUsers:
        if (post) {
          CreateUser(call, *principal, std::move(answer));
        } else {
          answer(ListUsers(query, *principal));
        }
        return;
      case kUser:
        if (request.method == "PATCH") {
          UpdateUser(call, match.id, *principal, std::move(answer));
        } else {
          answer(GetUser(match.id, *principal));
        }
        return;
      case kAssume:
        AssumeUser(call, match.id, *principal, std::move(answer));
        return;
      case kSessions:
        answer(ListCredentials(query, *principal, /*sessions=*/true));
        return;
      case kRevokeSession:
        RevokeCredential(call, match.id, *principal, /*session=*/true, std::move(answer));
        return;
      case kTokens:
        if (post) {
          CreateToken(call, *principal, std::move(answer));
        } else {
          answer(ListCredentials(query, *principal, /*sessions=*/false));
        }
        return;
      case kToken:
        answer(GetCredential(match.id, *principal));
        return;
      case kDeactivateToken:
        RevokeCredential(call, match.id, *principal, /*session=*/false, std::move(answer));
        return;
      case kAdministrationLogs:
        answer(AdministrationLogs(query, *principal));
        return;
      case kOAuthClients:
        if (post) {
          CreateOAuthClient(call, *principal, std::move(answer));
        } else {
          answer(ListOAuthClients(call, *principal));
        }
        return;
      case kOAuthClient:
        answer(GetOAuthClient(call, match.id, *principal));
        return;
      case kDisableOAuthClient:
        DisableOAuthClient(call, match.id, *principal, std::move(answer));
        return;
      default:
        answer(ProblemResponse(404, "no such resource"));
        return;
    }
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unexpected exception: {}", request.method, path, e.what());
    // A handler that took the responder answers itself; otherwise answer here.
    if (answer) {
      answer(ProblemResponse(500, "internal error; see the server log"));
    } else if (observed) {
      observed(ProblemResponse(500, "internal error; see the server log"));
    }
  }
}

// Degraded is still 200: the server takes and answers requests exactly (events wait in the
// index's tail, audit events in the identity store), and a load balancer that took it out of
// rotation would turn a slow indexer into refused events. Monitors read the body; /metrics says
// more (evident_indexer_retrying, evident_audit_events_waiting).
HttpResponse Api::Health() const {
  const bool indexer_retrying = store_.Stats().index_retrying;
  const bool audit_waiting = audit_backlog_->waiting.load();
  std::string body = R"({"status":")";
  body += indexer_retrying || audit_waiting ? "degraded" : "ok";
  body += R"(","indexer":")";
  body += indexer_retrying ? "retrying" : "ok";
  body += R"(","audit":")";
  body += audit_waiting ? "waiting" : "ok";
  body += R"("})";
  return JsonResponse(200, std::move(body));
}

HttpResponse Api::RenderMetrics() const {
  HttpResponse response;
  response.content_type = std::string(kMetricsContentType);
  response.body = metrics_->Render(&writer_, &store_, audit_backlog_->waiting.load());
  return response;
}

}  // namespace evident::api
