// Small string helpers. ASCII only: everything Evident compares case-insensitively is ASCII
// (field names, emails' domain parts, HTTP tokens) or is folded by SQLite/FTS5 instead.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
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

// Transparent hashing, so that a std::string_view finds a std::string key without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view value) const { return std::hash<std::string_view>{}(value); }
};
// A map from strings looked up by std::string_view.
template <typename Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

}  // namespace evident::util
