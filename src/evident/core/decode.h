// Decoding events as clients send them (docs/api.md): strict validation, redaction, defaults.
#pragma once

#include <string_view>
#include <vector>

#include "evident/core/canonical_json.h"
#include "evident/core/event.h"
#include "evident/core/user_agent.h"
#include "evident/util/result.h"

namespace evident::core {

enum class BodyFormat {
  kJson,    // one event object, or an array of them
  kNdjson,  // application/x-ndjson: one event object a line; blank lines are ignored
};

struct DecodeOptions {
  const Redactor* redactor = nullptr;       // required
  const UserAgentParser* agents = nullptr;  // null: agent left empty
  // When set, events default to this tenant and naming another is an error.
  std::string_view bound_tenant;
  util::UnixMillis received_at = 0;
  size_t max_events = 100'000;
};

// All or nothing: either every event is valid, or InvalidArgument whose fields() list every
// problem found as {index in the batch, field path, message}.
util::Result<std::vector<Event>> DecodeEvents(std::string_view body, BodyFormat format,
                                              const DecodeOptions& options);

// [a-z0-9][a-z0-9_-]{0,62}
bool IsValidTenantId(std::string_view tenant);
// 1-128 characters of [A-Za-z0-9._:-]
bool IsValidEventId(std::string_view id);

}  // namespace evident::core
