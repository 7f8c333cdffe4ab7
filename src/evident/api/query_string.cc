#include "evident/api/query_string.h"

#include "evident/util/strings.h"

namespace evident::api {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

util::Result<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size(); ++at) {
    const char c = text[at];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '%') {
      const int high = at + 1 < text.size() ? HexValue(text[at + 1]) : -1;
      const int low = at + 2 < text.size() ? HexValue(text[at + 2]) : -1;
      if (high < 0 || low < 0) {
        return util::Error::InvalidArgument("malformed %-escape at character " +
                                            std::to_string(at));
      }
      out.push_back(static_cast<char>(high * 16 + low));
      at += 2;
    } else {
      out.push_back(c);
    }
  }
  if (!util::IsValidUtf8(out)) return util::Error::InvalidArgument("not valid UTF-8");
  return out;
}

util::Result<std::vector<std::pair<std::string, std::string>>> ParseQueryString(
    std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (pair.empty()) continue;
    const size_t equals = pair.find('=');
    const std::string_view raw_key = pair.substr(0, equals);
    const std::string_view raw_value =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    auto key = PercentDecode(raw_key, true);
    if (!key) {
      return util::Error(util::ErrorCode::kInvalidArgument, "malformed query string",
                         {{-1, "", "parameter name: " + key.error().message()}});
    }
    auto value = PercentDecode(raw_value, true);
    if (!value) {
      return util::Error(util::ErrorCode::kInvalidArgument, "malformed query string",
                         {{-1, *key, value.error().message()}});
    }
    pairs.emplace_back(std::move(*key), std::move(*value));
  }
  return pairs;
}

}  // namespace evident::api
