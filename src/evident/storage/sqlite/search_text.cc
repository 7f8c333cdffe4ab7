#include "evident/storage/sqlite/search_text.h"

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

// Every string value of a canonical JSON object, keys excluded, unescaped exactly as
// core::Filter::Matches reads them (a copy of its scan: the two must agree word for word, and
// the conformance suite checks that they do).
void AppendDetailsWords(std::string_view json, std::string& out) {
  std::string value;
  size_t i = 0;
  while (i < json.size()) {
    if (json[i] != '"') {
      ++i;
      continue;
    }
    value.clear();
    size_t j = i + 1;
    while (j < json.size() && json[j] != '"') {
      if (json[j] == '\\' && j + 1 < json.size()) {
        const char escaped = json[j + 1];
        switch (escaped) {
          case 'n':
            value += '\n';
            break;
          case 't':
            value += '\t';
            break;
          case 'u':
            value += ' ';
            j += 4;
            break;
          default:
            value += escaped;
        }
        j += 2;
      } else {
        value += json[j++];
      }
    }
    const bool is_key = j + 1 < json.size() && json[j + 1] == ':';
    if (!is_key) AppendWords(value, out);
    i = j + 1;
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
  AppendDetailsWords(event.details, out);
}

std::string TenantMarker(int64_t tenant_term) {
  return std::string(kMarkerPrefix) + "t" + std::to_string(tenant_term);
}

}  // namespace evident::storage::sqlite
