// Timestamps as int64 milliseconds since the Unix epoch, and their RFC 3339 text forms.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "evident/util/result.h"

namespace evident::util {

using UnixMillis = int64_t;

// Earliest and latest instants Evident accepts: 0001-01-01 and 9999-12-31T23:59:59.999Z.
inline constexpr UnixMillis kMinUnixMillis = -62135596800000;
inline constexpr UnixMillis kMaxUnixMillis = 253402300799999;

// Parses RFC 3339 ("2025-05-09T07:27:06.123Z", "2025-05-09T09:27:06+02:00"). Digits past the
// millisecond are truncated. Errors: InvalidArgument naming what is wrong.
Result<UnixMillis> ParseRfc3339(std::string_view text);

// Parses RFC 3339 or a decimal count of epoch milliseconds ("1746775626123").
Result<UnixMillis> ParseTimestamp(std::string_view text);

// "2025-05-09T07:27:06.123Z": always UTC, always milliseconds.
std::string FormatRfc3339Millis(UnixMillis millis);
// Appends the same text to `out` (no allocation beyond growing `out`).
void AppendRfc3339Millis(UnixMillis millis, std::string& out);

// Days since 1970-01-01 for a proleptic Gregorian date, and back (H. Hinnant's algorithms).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
void CivilFromDays(int64_t days, int64_t& year, unsigned& month, unsigned& day);

}  // namespace evident::util
