// Handlers of the tamper-evidence log (docs/api.md, "The log"): the verifier key, signed
// checkpoints, entries and proofs of each tenant's Merkle tree.

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "evident/api/api.h"
#include "evident/api/json_writer.h"
#include "evident/api/problem.h"
#include "evident/api/query_string.h"
#include "evident/core/decode.h"
#include "evident/core/event.h"
#include "evident/merkle/merkle.h"
#include "evident/util/encoding.h"
#include "evident/util/time.h"

namespace evident::api {

using detail::JsonWriter;
using detail::StringOutput;
using detail::WriteKey;
using detail::WriteString;
using util::Error;

namespace {

constexpr uint64_t kMaxEntries = 1000;
constexpr uint64_t kMaxCheckpoints = 100;

std::string Base64(const merkle::Hash& hash) {
  return util::Base64Encode(
      std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
}

// {"<first_key>": first, "<second_key>": second, "hashes": [base64, ...]}, and the signed
// checkpoint the proof is against when given: the answer of every proof endpoint.
HttpResponse ProofAnswer(std::string_view first_key, uint64_t first, std::string_view second_key,
                         uint64_t second, const std::vector<merkle::Hash>& hashes,
                         const std::string* checkpoint = nullptr) {
  std::string body;
  StringOutput out(body);
  JsonWriter writer(out);
  writer.StartObject();
  WriteKey(writer, first_key);
  writer.Uint64(first);
  WriteKey(writer, second_key);
  writer.Uint64(second);
  WriteKey(writer, "hashes");
  writer.StartArray();
  for (const merkle::Hash& hash : hashes) WriteString(writer, Base64(hash));
  writer.EndArray();
  if (checkpoint != nullptr) {
    WriteKey(writer, "checkpoint");
    WriteString(writer, *checkpoint);
  }
  writer.EndObject();
  return JsonResponse(200, std::move(body));
}

// The query's parameters as non-negative integers; unknown parameters are refused so that a typo
// is not silently ignored.
class Params {
 public:
  static util::Result<Params> Parse(std::string_view query,
                                    std::initializer_list<std::string_view> known) {
    EVIDENT_ASSIGN_OR_RETURN(auto pairs, ParseQueryString(query));
    Params params;
    for (auto& [key, value] : pairs) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        return Error::InvalidArgument("unknown query parameter '" + key + "'");
      }
      uint64_t number = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
        return Error::InvalidArgument("'" + key + "' must be a non-negative integer, not '" +
                                      value + "'");
      }
      params.values_[key] = number;
    }
    return params;
  }
  std::optional<uint64_t> Get(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? std::nullopt : std::optional<uint64_t>(it->second);
  }
  util::Result<uint64_t> Require(const std::string& key) const {
    auto value = Get(key);
    if (!value) return Error::InvalidArgument("'" + key + "' is required");
    return *value;
  }

 private:
  std::map<std::string, uint64_t> values_;
};

}  // namespace

// The tenant named in the path, when the principal may read it; nullopt answers 404 (a tenant
// the caller may not see is indistinguishable from one that does not exist).
std::optional<std::string> Api::LogTenant(std::string_view raw_tenant,
                                          const Principal& principal) const {
  auto tenant = PercentDecode(raw_tenant);
  if (!tenant || !core::IsValidTenantId(*tenant)) return std::nullopt;
  if (!principal.tenant.empty() && principal.tenant != *tenant) return std::nullopt;
  return *tenant;
}

// The tenant's latest checkpoint that covers at least `min_size` leaves, signing one now when
// the latest is older (the background signer would within a second).
util::Result<storage::StoredCheckpoint> Api::CheckpointCovering(const std::string& tenant,
                                                                uint64_t min_size) {
  EVIDENT_ASSIGN_OR_RETURN(auto latest, store_.Checkpoints(tenant, std::nullopt, 1));
  if (latest.empty() || latest[0].size < min_size) {
    if (options_.checkpointer == nullptr) {
      return Error::Unavailable("no checkpoint signer is running");
    }
    EVIDENT_RETURN_IF_ERROR(options_.checkpointer->SignTenant(tenant));
    EVIDENT_ASSIGN_OR_RETURN(latest, store_.Checkpoints(tenant, std::nullopt, 1));
  }
  if (latest.empty() || latest[0].size < min_size) {
    return Error::Unavailable("no checkpoint covers the tree yet");
  }
  return latest[0];
}

// The tree size a proof request gave, or else the latest checkpoint's.
util::Result<uint64_t> Api::SizeOrLatest(const std::string& tenant, std::optional<uint64_t> given) {
  if (given) return *given;
  EVIDENT_ASSIGN_OR_RETURN(storage::StoredCheckpoint checkpoint, CheckpointCovering(tenant, 1));
  return checkpoint.size;
}

HttpResponse Api::LogKey() const {
  if (options_.checkpointer == nullptr) {
    return ProblemResponse(Error::Unavailable("no checkpoint signer is running"));
  }
  const ledger::NoteSigner& signer = options_.checkpointer->signer();
  std::string body;
  StringOutput out(body);
  JsonWriter writer(out);
  writer.StartObject();
  WriteKey(writer, "name");
  WriteString(writer, signer.name());
  WriteKey(writer, "verifier_key");
  WriteString(writer, signer.VerifierKey());
  writer.EndObject();
  return JsonResponse(200, std::move(body));
}

HttpResponse Api::LatestCheckpoint(std::string_view raw_tenant, const Principal& principal) {
  const auto tenant = LogTenant(raw_tenant, principal);
  if (!tenant) return ProblemResponse(404, "no such tenant");
  auto checkpoint = CheckpointCovering(*tenant, 1);
  if (!checkpoint) return ProblemResponse(checkpoint.error());
  HttpResponse response;
  response.status = 200;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(checkpoint->note);
  return response;
}

HttpResponse Api::ListCheckpoints(std::string_view raw_tenant, std::string_view query,
                                  const Principal& principal) {
  const auto tenant = LogTenant(raw_tenant, principal);
  if (!tenant) return ProblemResponse(404, "no such tenant");
  auto params = Params::Parse(query, {"before", "limit"});
  if (!params) return ProblemResponse(params.error());
  const uint64_t limit = params->Get("limit").value_or(20);
  if (limit < 1 || limit > kMaxCheckpoints) {
    return ProblemResponse(400, "'limit' must be from 1 to " + std::to_string(kMaxCheckpoints));
  }
  auto checkpoints = store_.Checkpoints(*tenant, params->Get("before"), limit + 1);
  if (!checkpoints) return ProblemResponse(checkpoints.error());
  const bool more = checkpoints->size() > limit;
  if (more) checkpoints->pop_back();
  std::string body;
  StringOutput out(body);
  JsonWriter writer(out);
  writer.StartObject();
  WriteKey(writer, "checkpoints");
  writer.StartArray();
  for (const storage::StoredCheckpoint& checkpoint : *checkpoints) {
    writer.StartObject();
    WriteKey(writer, "size");
    writer.Uint64(checkpoint.size);
    WriteKey(writer, "root");
    WriteString(writer, Base64(checkpoint.root));
    WriteKey(writer, "signed_at");
    WriteString(writer, util::FormatRfc3339Millis(checkpoint.signed_at));
    WriteKey(writer, "note");
    WriteString(writer, checkpoint.note);
    writer.EndObject();
  }
  writer.EndArray();
  WriteKey(writer, "next_before");
  if (more) {
    writer.Uint64(checkpoints->back().size);
  } else {
    writer.Null();
  }
  writer.EndObject();
  return JsonResponse(200, std::move(body));
}

HttpResponse Api::LogEntries(std::string_view raw_tenant, std::string_view query,
                             const Principal& principal) {
  const auto tenant = LogTenant(raw_tenant, principal);
  if (!tenant) return ProblemResponse(404, "no such tenant");
  auto params = Params::Parse(query, {"start", "end"});
  if (!params) return ProblemResponse(params.error());
  auto start = params->Require("start");
  auto end = params->Require("end");
  if (!start) return ProblemResponse(start.error());
  if (!end) return ProblemResponse(end.error());
  if (*start >= *end) return ProblemResponse(400, "'start' must be less than 'end'");
  auto tree = store_.OpenTree(*tenant);
  if (!tree) return ProblemResponse(tree.error());
  if (*end > tree->size) {
    return ProblemResponse(400, "'end' " + std::to_string(*end) + " is beyond the tree size " +
                                    std::to_string(tree->size));
  }
  // Like a transparency log's get-entries, a long range is answered in part: the client continues
  // from start + the number of entries received.
  auto entries = store_.Entries(*tenant, *start, std::min(*end, *start + kMaxEntries));
  if (!entries) return ProblemResponse(entries.error());
  std::string body;
  StringOutput out(body);
  JsonWriter writer(out);
  writer.StartObject();
  WriteKey(writer, "entries");
  writer.StartArray();
  for (const std::string& entry : *entries) WriteString(writer, util::Base64Encode(entry));
  writer.EndArray();
  writer.EndObject();
  return JsonResponse(200, std::move(body));
}

HttpResponse Api::InclusionProof(std::string_view raw_tenant, std::string_view query,
                                 const Principal& principal) {
  const auto tenant = LogTenant(raw_tenant, principal);
  if (!tenant) return ProblemResponse(404, "no such tenant");
  auto params = Params::Parse(query, {"index", "size"});
  if (!params) return ProblemResponse(params.error());
  auto index = params->Require("index");
  if (!index) return ProblemResponse(index.error());
  auto tree = store_.OpenTree(*tenant);
  if (!tree) return ProblemResponse(tree.error());
  auto latest = SizeOrLatest(*tenant, params->Get("size"));
  if (!latest) return ProblemResponse(latest.error());
  const uint64_t size = *latest;
  if (size == 0 || size > tree->size) {
    return ProblemResponse(400,
                           "'size' must be from 1 to the tree size " + std::to_string(tree->size));
  }
  if (*index >= size) {
    return ProblemResponse(400, "'index' must be less than 'size' (" + std::to_string(size) + ")");
  }
  auto proof = merkle::InclusionProof(*index, size, tree->nodes);
  if (!proof) return ProblemResponse(proof.error());
  return ProofAnswer("leaf_index", *index, "tree_size", size, *proof);
}

HttpResponse Api::ConsistencyProof(std::string_view raw_tenant, std::string_view query,
                                   const Principal& principal) {
  const auto tenant = LogTenant(raw_tenant, principal);
  if (!tenant) return ProblemResponse(404, "no such tenant");
  auto params = Params::Parse(query, {"from", "to"});
  if (!params) return ProblemResponse(params.error());
  auto from = params->Require("from");
  if (!from) return ProblemResponse(from.error());
  auto tree = store_.OpenTree(*tenant);
  if (!tree) return ProblemResponse(tree.error());
  auto latest = SizeOrLatest(*tenant, params->Get("to"));
  if (!latest) return ProblemResponse(latest.error());
  const uint64_t to = *latest;
  if (to > tree->size) {
    return ProblemResponse(400, "'to' " + std::to_string(to) + " is beyond the tree size " +
                                    std::to_string(tree->size));
  }
  if (*from == 0 || *from > to) {
    return ProblemResponse(400, "'from' must be from 1 to 'to' (" + std::to_string(to) + ")");
  }
  auto proof = merkle::ConsistencyProof(*from, to, tree->nodes);
  if (!proof) return ProblemResponse(proof.error());
  return ProofAnswer("from", *from, "to", to, *proof);
}

HttpResponse Api::EventProof(std::string_view raw_tenant, std::string_view raw_id,
                             const Principal& principal) {
  const auto tenant = LogTenant(raw_tenant, principal);
  auto id = PercentDecode(raw_id);
  if (!tenant || !id || !core::IsValidEventId(*id)) return ProblemResponse(404, "no such event");
  auto stored = store_.Get(*tenant, *id);
  if (!stored) {
    if (stored.error().code() == util::ErrorCode::kNotFound) {
      return ProblemResponse(404, "no event '" + *id + "' in tenant '" + *tenant + "'");
    }
    return ProblemResponse(stored.error());
  }
  auto event = core::DecodeStoredEvent(stored->json);
  if (!event) return ProblemResponse(event.error());
  auto checkpoint = CheckpointCovering(*tenant, event->seq + 1);
  if (!checkpoint) return ProblemResponse(checkpoint.error());
  auto tree = store_.OpenTree(*tenant);
  if (!tree) return ProblemResponse(tree.error());
  auto proof = merkle::InclusionProof(event->seq, checkpoint->size, tree->nodes);
  if (!proof) return ProblemResponse(proof.error());
  return ProofAnswer("leaf_index", event->seq, "tree_size", checkpoint->size, *proof,
                     &checkpoint->note);
}

}  // namespace evident::api
