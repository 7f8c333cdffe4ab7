#include "evident/api/api.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

#include "evident/api/problem.h"
#include "evident/api/query_string.h"

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
  const std::vector<std::string_view> segments = Segments(path);
  if (segments.size() < 6 || segments[0] != "api" || segments[1] != "v1" ||
      segments[2] != "tenants" || segments[3].empty()) {
    return {};
  }
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

}  // namespace

Api::Api(storage::EventStore& store, ledger::Writer& writer, const core::Clock& clock,
         const core::UserAgentParser* agents, const TokenVerifier& verifier, ApiOptions options)
    : store_(store),
      writer_(writer),
      clock_(clock),
      agents_(agents),
      verifier_(verifier),
      options_(std::move(options)),
      redactor_(options_.redact_keys),
      metrics_(std::make_unique<Metrics>(RouteTemplates())) {}

Api::~Api() = default;

void Api::ObserveTransportResponse(int status, double seconds) {
  metrics_->ObserveRequest(kOther, status, seconds);
}

void Api::Handle(HttpRequest request, Responder respond) {
  const auto started = std::chrono::steady_clock::now();
  std::string_view target = request.target;
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  const Match match = MatchRoute(path);

  Responder observed = [this, started, route = match.route,
                        respond = std::move(respond)](HttpResponse response) {
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    metrics_->ObserveRequest(route, response.status, elapsed.count());
    respond(std::move(response));
  };

  try {
    const bool is_api = path.starts_with("/api/");
    std::optional<Principal> principal;
    if (is_api) {
      principal = verifier_.Verify(request.authorization);
      if (!principal) {
        observed(ProblemResponse(401, request.authorization.empty()
                                          ? "an Authorization: Bearer token is required"
                                          : "the bearer token is not valid"));
        return;
      }
    }
    if (match.route == kOther) {
      observed(ProblemResponse(404, "no such resource"));
      return;
    }
    const bool allowed =
        request.method == "GET" || (request.method == "POST" && match.route == kEvents);
    if (!allowed) {
      HttpResponse response = ProblemResponse(405, "method " + request.method + " not allowed");
      response.headers.emplace_back("Allow", std::string(match.allow));
      observed(std::move(response));
      return;
    }
    switch (match.route) {
      case kEvents:
        if (request.method == "POST") {
          PostEvents(request, *principal, std::move(observed));
        } else {
          observed(ListEvents(query, *principal));
        }
        return;
      case kHistogram:
        observed(EventHistogram(query, *principal));
        return;
      case kTenantEvent:
        observed(GetEvent(match.tenant, match.id, *principal));
        return;
      case kEventProof:
        observed(EventProof(match.tenant, match.id, *principal));
        return;
      case kLogKey:
        observed(LogKey());
        return;
      case kCheckpoint:
        observed(LatestCheckpoint(match.tenant, *principal));
        return;
      case kCheckpoints:
        observed(ListCheckpoints(match.tenant, query, *principal));
        return;
      case kEntries:
        observed(LogEntries(match.tenant, query, *principal));
        return;
      case kInclusion:
        observed(InclusionProof(match.tenant, query, *principal));
        return;
      case kConsistency:
        observed(ConsistencyProof(match.tenant, query, *principal));
        return;
      case kHealth:
        observed(JsonResponse(200, R"({"status":"ok"})"));
        return;
      case kMetrics:
        observed(RenderMetrics());
        return;
      default:
        observed(ProblemResponse(404, "no such resource"));
        return;
    }
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unexpected exception: {}", request.method, path, e.what());
    if (observed) observed(ProblemResponse(500, "internal error; see the server log"));
  }
}

HttpResponse Api::RenderMetrics() const {
  HttpResponse response;
  response.content_type = std::string(kMetricsContentType);
  response.body = metrics_->Render(&writer_, &store_);
  return response;
}

}  // namespace evident::api
