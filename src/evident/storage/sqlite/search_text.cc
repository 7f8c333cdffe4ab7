#include "evident/storage/sqlite/search_text.h"

#include "evident/core/filter.h"

namespace evident::storage::sqlite {

namespace {

bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

void AppendWords(std::string_view text, std::string_view suffix, std::string& out) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    if (i == text.size()) break;
    while (i < text.size() && IsWordByte(static_cast<unsigned char>(text[i]))) {
      const char c = text[i++];
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    out += suffix;
  }
}

}  // namespace

void AppendSearchText(const core::Event& event, int64_t tenant_term, std::string& out) {
  const std::string suffix = kTenantSeparator + std::to_string(tenant_term) + ' ';
  core::ForEachSearchedText(event, [&](std::string_view text) { AppendWords(text, suffix, out); });
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
