#include "evident/api/event_query.h"

#include <arpa/inet.h>

#include <charconv>
#include <set>

#include "evident/core/decode.h"
#include "evident/util/strings.h"
#include "evident/util/time.h"

namespace evident::api {

namespace {

using util::FieldError;

// The canonical text form of an IPv4 or IPv6 address, as core/decode stores request.ip.
bool NormaliseIp(const std::string& text, std::string& out) {
  unsigned char bytes[16];
  char buffer[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
    out = inet_ntop(AF_INET, bytes, buffer, sizeof buffer);
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
    out = inet_ntop(AF_INET6, bytes, buffer, sizeof buffer);
    return true;
  }
  return false;
}

bool ParseBoundedInt(std::string_view text, int64_t min, int64_t max, int64_t& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && out >= min && out <= max;
}

bool IsListParam(std::string_view key) {
  static const std::set<std::string_view> kLists = {
      "tenant", "workspace", "type", "action", "resource_type", "status", "method", "user", "ip"};
  return kLists.contains(key);
}

}  // namespace

util::Result<EventQuery> ParseEventQuery(
    const std::vector<std::pair<std::string, std::string>>& params, QueryKind kind) {
  EventQuery query;
  core::Filter& filter = query.filter;
  std::vector<FieldError> problems;
  std::set<std::string> seen_single;
  auto bad = [&problems](const std::string& field, std::string message) {
    problems.push_back(FieldError{-1, field, std::move(message)});
  };

  for (const auto& [key, value] : params) {
    if (IsListParam(key)) {
      for (std::string& item : util::SplitList(value)) {
        if (key == "tenant") {
          if (!core::IsValidTenantId(item)) {
            bad(key, "'" + item + "' is not a tenant id ([a-z0-9][a-z0-9_-]{0,62})");
          } else {
            filter.tenants.push_back(std::move(item));
          }
        } else if (key == "workspace") {
          filter.workspaces.push_back(std::move(item));
        } else if (key == "type") {
          auto type = core::ParseEventType(item);
          if (!type) {
            bad(key, type.error().message());
          } else {
            filter.types.push_back(*type);
          }
        } else if (key == "action") {
          filter.actions.push_back(std::move(item));
        } else if (key == "resource_type") {
          filter.resource_types.push_back(std::move(item));
        } else if (key == "status") {
          auto status = core::ParseEventStatus(item);
          if (!status) {
            bad(key, status.error().message());
          } else {
            filter.statuses.push_back(*status);
          }
        } else if (key == "method") {
          std::string upper = item;
          for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          filter.methods.push_back(std::move(upper));
        } else if (key == "user") {
          filter.users.push_back(std::move(item));
        } else if (key == "ip") {
          std::string normalised;
          if (!NormaliseIp(item, normalised)) {
            bad(key, "'" + item + "' is not an IPv4 or IPv6 address");
          } else {
            filter.ips.push_back(std::move(normalised));
          }
        }
      }
      continue;
    }

    const bool common = key == "from" || key == "to" || key == "q";
    const bool list_only = key == "limit" || key == "cursor";
    const bool histogram_only = key == "buckets";
    if (!common && !(list_only && kind == QueryKind::kList) &&
        !(histogram_only && kind == QueryKind::kHistogram)) {
      bad(key,
          list_only || histogram_only ? "not a parameter of this endpoint" : "unknown parameter");
      continue;
    }
    if (!seen_single.insert(key).second) {
      bad(key, "given more than once");
      continue;
    }
    const std::string_view text = util::Trim(value);
    if (text.empty()) continue;
    if (key == "from" || key == "to") {
      auto millis = util::ParseTimestamp(text);
      if (!millis) {
        bad(key, "not an RFC 3339 time or epoch milliseconds: " + millis.error().message());
      } else {
        (key == "from" ? filter.from : filter.to) = *millis;
      }
    } else if (key == "q") {
      auto terms = core::ParseSearch(text);
      if (!terms) {
        bad(key, terms.error().message());
      } else {
        filter.search = std::move(*terms);
      }
    } else if (key == "limit") {
      int64_t limit = 0;
      if (!ParseBoundedInt(text, 1, static_cast<int64_t>(kMaxLimit), limit)) {
        bad(key, "must be an integer from 1 to " + std::to_string(kMaxLimit));
      } else {
        query.limit = static_cast<size_t>(limit);
      }
    } else if (key == "cursor") {
      auto cursor = core::DecodeCursor(text);
      if (!cursor) {
        bad(key, "malformed cursor; use next_cursor from a previous page");
      } else {
        query.cursor = *cursor;
      }
    } else if (key == "buckets") {
      int64_t buckets = 0;
      if (!ParseBoundedInt(text, 1, kMaxBuckets, buckets)) {
        bad(key, "must be an integer from 1 to " + std::to_string(kMaxBuckets));
      } else {
        query.buckets = static_cast<int>(buckets);
      }
    }
  }
  if (filter.from && filter.to && *filter.from > *filter.to) {
    bad("from", "must not be after 'to'");
  }
  if (!problems.empty()) {
    std::string message = problems.size() == 1
                              ? "invalid query parameter '" + problems.front().field + "'"
                              : std::to_string(problems.size()) + " invalid query parameters";
    return util::Error(util::ErrorCode::kInvalidArgument, std::move(message), std::move(problems));
  }
  return query;
}

}  // namespace evident::api
