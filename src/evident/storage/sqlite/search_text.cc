#include "evident/storage/sqlite/search_text.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "evident/core/filter.h"

namespace evident::storage::sqlite {

namespace {

// What each byte is to the word scan: words are runs of ASCII letters and digits and non-ASCII
// bytes (as core::SearchWords splits them); upper-case letters are folded, digits noted.
enum ByteClass : uint8_t { kSeparator, kLower, kUpper, kDigit };

constexpr std::array<uint8_t, 256> kByteClasses = [] {
  std::array<uint8_t, 256> classes{};
  for (int c = 0; c < 256; ++c) {
    if (c >= 'a' && c <= 'z') classes[c] = kLower;
    if (c >= 'A' && c <= 'Z') classes[c] = kUpper;
    if (c >= '0' && c <= '9') classes[c] = kDigit;
    if (c >= 0x80) classes[c] = kLower;
  }
  return classes;
}();

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Each word is found first, then appended whole and lower-cased in place only when it holds an
// upper-case letter: the indexer runs this over every event, and a byte-at-a-time append was a
// tenth of its own (non-SQLite) time.
void AppendWords(std::string_view text, std::string_view tenant_suffix, std::string& out) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t size = text.size();
  size_t i = 0;
  while (i < size) {
    while (i < size && kByteClasses[bytes[i]] == kSeparator) ++i;
    if (i == size) break;
    const size_t start = i;
    bool digit = false, upper = false;
    for (; i < size; ++i) {
      const uint8_t byte_class = kByteClasses[bytes[i]];
      if (byte_class == kSeparator) break;
      digit = digit || byte_class == kDigit;
      upper = upper || byte_class == kUpper;
    }
    const size_t at = out.size();
    out.append(text.data() + start, i - start);
    if (upper) {
      for (size_t k = at; k < out.size(); ++k) {
        if (out[k] >= 'A' && out[k] <= 'Z') out[k] = static_cast<char>(out[k] - 'A' + 'a');
      }
    }
    if (!digit) out += tenant_suffix;
    out += ' ';
  }
}

}  // namespace

void AppendSearchText(const core::Event& event, int64_t tenant_term, std::string& out) {
  char suffix_bytes[24];
  suffix_bytes[0] = kTenantSeparator;
  const auto [end, ec] =
      std::to_chars(suffix_bytes + 1, suffix_bytes + sizeof suffix_bytes, tenant_term);
  (void)ec;  // an int64 always fits
  const std::string_view suffix(suffix_bytes, static_cast<size_t>(end - suffix_bytes));
  core::ForEachSearchedText(event, [&](std::string_view text) { AppendWords(text, suffix, out); });
}

bool IndexedPerTenant(std::string_view word) {
  return std::none_of(word.begin(), word.end(), IsDigit);
}

std::string TenantToken(std::string_view word, int64_t tenant_term) {
  return AnyTenantPrefix(word) + std::to_string(tenant_term);
}

std::string AnyTenantPrefix(std::string_view word) {
  std::string prefix(word);
  prefix += kTenantSeparator;
  return prefix;
}

}  // namespace evident::storage::sqlite
