// Small string helpers. ASCII only: everything Evident compares case-insensitively is ASCII
// (field names, emails' domain parts, HTTP tokens) or is folded by SQLite/FTS5 instead.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace evident::util {

std::string AsciiLower(std::string_view text);
// AsciiLower into `out` (its buffer reused between calls); returns a view of `out`.
std::string_view AsciiLowerInto(std::string_view text, std::string& out);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// Splits on `separator`, trimming ASCII spaces around each part and dropping empty parts.
std::vector<std::string> SplitList(std::string_view text, char separator = ',');
std::string_view Trim(std::string_view text);
// True when `text` is valid UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool IsValidUtf8(std::string_view text);

}  // namespace evident::util
