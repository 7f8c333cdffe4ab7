#include "evident/storage/sqlite/search_text.h"

#include <algorithm>

#include "evident/core/filter.h"

namespace evident::storage::sqlite {

namespace {

bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void AppendWords(std::string_view text, std::string_view tenant_suffix, std::string& out) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    if (i == text.size()) break;
    bool digit = false;
    while (i < text.size() && IsWordByte(static_cast<unsigned char>(text[i]))) {
      const char c = text[i++];
      digit = digit || IsDigit(c);
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    if (!digit) out += tenant_suffix;
    out += ' ';
  }
}

}  // namespace

void AppendSearchText(const core::Event& event, int64_t tenant_term, std::string& out) {
  const std::string suffix = kTenantSeparator + std::to_string(tenant_term);
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
