// application/x-www-form-urlencoded query strings. Hand-written because Boost 1.74 has no
// Boost.URL and no other Debian library in our stack decodes them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "evident/util/result.h"

namespace evident::api {

// Splits "a=1&b=x%20y&a=2" into its pairs in order, repeated keys kept. '+' is a space, %XX a
// byte; a pair without '=' has an empty value; empty pairs ("a=1&&b=2") are skipped.
// Errors: InvalidArgument for a malformed %-escape or a key or value that is not UTF-8.
util::Result<std::vector<std::pair<std::string, std::string>>> ParseQueryString(
    std::string_view query);

// Percent-decodes one path segment ('+' stays '+'). Errors: InvalidArgument as above.
util::Result<std::string> PercentDecode(std::string_view text, bool plus_is_space = false);

}  // namespace evident::api
