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
//   GET  /healthz, GET /metrics                 no authentication
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evident/api/auth.h"
#include "evident/api/http.h"
#include "evident/api/metrics.h"
#include "evident/core/canonical_json.h"
#include "evident/core/clock.h"
#include "evident/core/user_agent.h"
#include "evident/ledger/checkpointer.h"
#include "evident/ledger/writer.h"
#include "evident/storage/event_store.h"

namespace evident::api {

struct ApiOptions {
  std::vector<std::string> redact_keys = core::Redactor::DefaultKeys();
  size_t max_events_per_request = 100'000;
  // Signs checkpoints for the log endpoints; not owned, must outlive the Api. Null: those
  // endpoints answer 503.
  ledger::Checkpointer* checkpointer = nullptr;
};

// Thread-safe: Handle may run on many threads at once. Holds references to `store`, `writer`,
// `clock`, `agents` and `verifier`, which must outlive the Api; `agents` may be null (no
// request.agent is derived).
class Api {
 public:
  Api(storage::EventStore& store, ledger::Writer& writer, const core::Clock& clock,
      const core::UserAgentParser* agents, const TokenVerifier& verifier, ApiOptions options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Answers `request` by calling `respond` exactly once: synchronously for everything but
  // POST /api/v1/events, whose answer comes from the ledger writer's thread once the events are
  // durable (or refused). Never throws.
  void Handle(HttpRequest request, Responder respond);

  // Records a response that the transport produced itself (413 before reading a body, 400 for an
  // unparsable request), so that /metrics counts it.
  void ObserveTransportResponse(int status, double seconds);

  const Metrics& metrics() const { return *metrics_; }

 private:
  // Handlers of the events resource (events_handler.cc).
  void PostEvents(const HttpRequest& request, const Principal& principal, Responder respond);
  HttpResponse ListEvents(std::string_view query, const Principal& principal);
  HttpResponse EventHistogram(std::string_view query, const Principal& principal);
  HttpResponse GetEvent(std::string_view tenant, std::string_view id, const Principal& principal);
  HttpResponse RenderMetrics() const;
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
  const TokenVerifier& verifier_;
  const ApiOptions options_;
  const core::Redactor redactor_;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace evident::api
