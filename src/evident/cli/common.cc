#include "evident/cli/common.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "evident/util/strings.h"

namespace evident::cli {
namespace {

std::string StringField(const nlohmann::json& object, const char* name) {
  auto found = object.find(name);
  if (found == object.end() || !found->is_string()) return {};
  return found->get<std::string>();
}

// Decodes one UTF-8 sequence at `text[pos]`; returns its length, or 0 when invalid.
size_t Utf8Length(std::string_view text, size_t pos, uint32_t& code_point) {
  auto byte = static_cast<unsigned char>(text[pos]);
  size_t length = byte < 0x80           ? 1
                  : (byte >> 5) == 0x6  ? 2
                  : (byte >> 4) == 0xe  ? 3
                  : (byte >> 3) == 0x1e ? 4
                                        : 0;
  if (length == 0 || pos + length > text.size()) return 0;
  if (!util::IsValidUtf8(text.substr(pos, length))) return 0;
  code_point = length == 1 ? byte : byte & (0xff >> (length + 1));
  for (size_t k = 1; k < length; ++k) {
    code_point = (code_point << 6) | (static_cast<unsigned char>(text[pos + k]) & 0x3f);
  }
  return length;
}

bool IsTerminalHazard(uint32_t code_point) {
  return code_point < 0x20 || (code_point >= 0x7f && code_point <= 0x9f) ||
         (code_point >= 0x202a && code_point <= 0x202e) ||
         (code_point >= 0x2066 && code_point <= 0x2069);
}

}  // namespace

void AddServerOptions(CLI::App& command, ServerOptions& options) {
  command.add_option("--url", options.url, "Evident server URL")
      ->envname("EVIDENT_URL")
      ->capture_default_str();
  command
      .add_option("--token", options.token,
                  "API token (prefer EVIDENT_TOKEN: arguments are visible to other users)")
      ->envname("EVIDENT_TOKEN");
}

std::vector<HttpHeader> AuthHeaders(const ServerOptions& options) {
  if (options.token.empty()) return {};
  return {BearerAuth(options.token)};
}

std::string DescribeErrorResponse(const HttpResponse& response) {
  std::string text = std::to_string(response.status);
  nlohmann::json problem =
      nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!problem.is_object()) {
    std::string_view body = util::Trim(response.body);
    if (!body.empty()) text += ": " + SanitizeForTerminal(body.substr(0, 200));
    return text;
  }
  std::string title = StringField(problem, "title");
  std::string detail = StringField(problem, "detail");
  if (!title.empty()) text += " " + SanitizeForTerminal(title);
  if (!detail.empty() && detail != title) text += ": " + SanitizeForTerminal(detail);
  auto errors = problem.find("errors");
  if (errors != problem.end() && errors->is_array()) {
    for (const nlohmann::json& entry : *errors) {
      if (!entry.is_object()) continue;
      text += "\n  ";
      auto index = entry.find("index");
      if (index != entry.end() && index->is_number_integer() && index->get<int64_t>() >= 0) {
        text += "event " + std::to_string(index->get<int64_t>()) + ": ";
      }
      std::string field = StringField(entry, "field");
      if (!field.empty()) text += SanitizeForTerminal(field) + ": ";
      text += SanitizeForTerminal(StringField(entry, "message"));
    }
  }
  return text;
}

std::string SanitizeForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t code_point = 0;
    size_t length = Utf8Length(text, pos, code_point);
    if (length == 0) {
      out += '?';
      ++pos;
      continue;
    }
    if (IsTerminalHazard(code_point)) {
      out += '?';
    } else {
      out.append(text.substr(pos, length));
    }
    pos += length;
  }
  return out;
}

}  // namespace evident::cli
