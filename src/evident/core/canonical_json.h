// RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form of every stored event, so that
// equal events hash equally (idempotency, Merkle leaves). Hand-written because no Debian library
// implements JCS; RapidJSON's Writer escapes and formats numbers differently.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "evident/util/result.h"

namespace evident::core {

// An object key spelled out in the source. Checked as it is compiled to need no escape, so that
// JcsWriter copies it without scanning it.
class JcsKey {
 public:
  template <size_t N>
  consteval JcsKey(const char (&key)[N]) : text_(key, N - 1) {  // NOLINT: implicit on purpose
    for (size_t i = 0; i + 1 < N; ++i) {
      const auto c = static_cast<unsigned char>(key[i]);
      if (c < 0x20 || c == '"' || c == '\\') throw "a JcsKey must need no escape";
    }
  }
  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

// Appends canonical JSON tokens to a string. The caller emits object members in canonical key
// order (CanonicalKeyLess); the writer adds commas and colons. Not thread-safe; cheap to make.
class JcsWriter {
 public:
  explicit JcsWriter(std::string& out) : out_(out) {}

  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  void Key(JcsKey key);
  void String(std::string_view value);
  void Int(int64_t value);
  void Double(double value);  // finite only
  void Bool(bool value);
  void Null();
  void Raw(std::string_view json);  // an already canonical value

 private:
  void Separate();
  std::string& out_;
  bool need_comma_ = false;
};

// Appends `value` as a JCS string literal (quotes included).
void AppendJcsString(std::string_view value, std::string& out);
// Appends `value` as ECMAScript's Number.prototype.toString formats it (RFC 8785 §3.2.2.3).
void AppendJcsNumber(double value, std::string& out);
// Orders keys by their UTF-16 code units, as RFC 8785 §3.2.3 requires.
bool CanonicalKeyLess(std::string_view a, std::string_view b);

// The canonical JSON object of string members `members` (any order; of repeated keys the first
// wins). Keys and values must be UTF-8.
std::string CanonicalStringObject(std::vector<std::pair<std::string, std::string>> members);

// Decides which object members hold secrets. Thread-safe once built.
class Redactor {
 public:
  // Key names, matched case-insensitively with '-' and '_' ignored, either whole or as the end of
  // a longer key: "api_key" also catches "X-Api-Key" and "stripe_api_key".
  explicit Redactor(std::vector<std::string> sensitive_keys);
  static const std::vector<std::string>& DefaultKeys();

  bool IsSensitiveKey(std::string_view key) const;
  // True for strings that hold a PEM private key block.
  static bool IsPrivateKeyText(std::string_view value);

 private:
  std::vector<std::string> normalised_;
};

inline constexpr std::string_view kRedacted = "[REDACTED]";

struct CanonicalizeOptions {
  const Redactor* redactor = nullptr;  // null: no redaction
  int max_depth = 64;
};

// Parses `json` (one JSON value) and appends its canonical form to `out`, redacting as it goes.
// Errors: InvalidArgument for malformed JSON, duplicate keys, too deep nesting, numbers out of
// double range.
util::Status CanonicalizeJson(std::string_view json, const CanonicalizeOptions& options,
                              std::string& out);

// Calls visit(value) with every string value of `json`, keys excluded, unescaped (a \u escape,
// which canonical JSON uses only for control characters, reads as a space). Only for JSON that
// CanonicalizeJson wrote: no whitespace, so a string followed by ':' is a key. The one scan that
// Filter::Matches and the full-text index share, so that they agree word for word. `value` is
// valid during the call.
template <typename Visit>
void ForEachCanonicalJsonString(std::string_view json, Visit&& visit) {
  std::string value;
  size_t i = 0;
  while (i < json.size()) {
    if (json[i] != '"') {
      ++i;
      continue;
    }
    // Most strings hold no escape: they are visited in place, without a copy (the indexer scans
    // every event's details).
    size_t j = i + 1;
    while (j < json.size() && json[j] != '"' && json[j] != '\\') ++j;
    std::string_view text = json.substr(i + 1, j - i - 1);
    if (j < json.size() && json[j] == '\\') {
      value.assign(text);
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
            case 'r':
              value += '\r';
              break;
            case 'b':
              value += '\b';
              break;
            case 'f':
              value += '\f';
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
      text = value;
    }
    const bool is_key = j + 1 < json.size() && json[j + 1] == ':';
    if (!is_key) visit(text);
    i = j + 1;
  }
}

}  // namespace evident::core
