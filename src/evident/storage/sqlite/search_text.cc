#include "evident/storage/sqlite/search_text.h"

#include "evident/core/canonical_json.h"

namespace evident::storage::sqlite {

namespace {

bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

void AppendWords(std::string_view text, std::string& out) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    if (i == text.size()) break;
    while (i < text.size() && IsWordByte(static_cast<unsigned char>(text[i]))) {
      const char c = text[i++];
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    out += ' ';
  }
}

}  // namespace

void AppendSearchText(const core::Event& event, std::string& out) {
  for (std::string_view text :
       {std::string_view(event.action), std::string_view(event.actor.id),
        std::string_view(event.actor.email), std::string_view(event.actor.name),
        std::string_view(event.resource.type), std::string_view(event.resource.id),
        std::string_view(event.resource.name), std::string_view(event.request.path),
        std::string_view(event.workspace)}) {
    AppendWords(text, out);
  }
  core::ForEachCanonicalJsonString(event.details,
                                   [&](std::string_view value) { AppendWords(value, out); });
}

std::string TenantMarker(int64_t tenant_term) {
  return std::string(kMarkerPrefix) + "t" + std::to_string(tenant_term);
}

}  // namespace evident::storage::sqlite
