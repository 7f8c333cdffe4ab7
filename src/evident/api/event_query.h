// The query parameters of GET /api/v1/events and /api/v1/events/histogram (docs/api.md), turned
// into a core::Filter and paging options.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "evident/core/filter.h"
#include "evident/util/result.h"

namespace evident::api {

inline constexpr size_t kDefaultLimit = 20;
inline constexpr size_t kMaxLimit = 1000;
inline constexpr int kDefaultBuckets = 60;
inline constexpr int kMaxBuckets = 1000;

struct EventQuery {
  core::Filter filter;
  std::optional<core::Cursor> cursor;
  size_t limit = kDefaultLimit;
  int buckets = kDefaultBuckets;
};

enum class QueryKind {
  kList,       // filters, limit, cursor
  kHistogram,  // filters, buckets
};

// Filters: tenant workspace type action resource_type status method user ip (comma lists,
// repeated keys add to the list), from to q (once each). An empty value means "not given".
// Errors: InvalidArgument whose fields() name each bad parameter {index -1, field = the
// parameter, message}: unknown parameters, a parameter of the other kind (limit on a histogram),
// bad type/status/ip/tenant/time/cursor, limit outside 1..1000, buckets outside 1..1000,
// from after to, an unterminated quote in q, a single-valued parameter given twice.
util::Result<EventQuery> ParseEventQuery(
    const std::vector<std::pair<std::string, std::string>>& params, QueryKind kind);

}  // namespace evident::api
