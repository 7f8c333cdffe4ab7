#include "evident/storage/sqlite/search_text.h"

#include <algorithm>
#include <charconv>

#include "evident/core/filter.h"

namespace evident::storage::sqlite {

namespace {

// Each word is found first, then appended whole and lower-cased in place only when it holds an
// upper-case letter: the indexer runs this over every event (appending byte by byte, this and the
// scan of the details took 6.5% of re-indexing's CPU).
void AppendWords(std::string_view text, std::string_view tenant_suffix, std::string& out) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t size = text.size();
  size_t i = 0;
  while (i < size) {
    while (i < size && core::kWordBytes[bytes[i]] == core::kNotWord) ++i;
    if (i == size) break;
    const size_t start = i;
    bool digit = false, upper = false;
    for (; i < size; ++i) {
      const uint8_t byte_class = core::kWordBytes[bytes[i]];
      if (byte_class == core::kNotWord) break;
      digit = digit || byte_class == core::kWordDigit;
      upper = upper || byte_class == core::kWordUpper;
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
  return std::none_of(word.begin(), word.end(), [](char c) {
    return core::kWordBytes[static_cast<unsigned char>(c)] == core::kWordDigit;
  });
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
