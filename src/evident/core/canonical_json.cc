#include "evident/core/canonical_json.h"

#include <simdjson.h>

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "evident/core/detail/ondemand.h"
#include "evident/util/strings.h"

namespace evident::core {
namespace {

using util::Error;
using util::Status;

constexpr char kHex[] = "0123456789abcdef";

uint64_t Load8(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

// Whether any of the eight bytes of `word` is below 0x20, '"' or '\\', the bytes JSON escapes.
// Written by hand: simdjson and RapidJSON keep their escaping scanners private. The classic SWAR
// tests ("has a zero byte", "has a byte less than n") may flag extra bytes above a true one, never
// miss one, so as a yes/no answer for the whole word they are exact.
bool AnyByteToEscape(uint64_t word) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighBits = 0x8080808080808080ULL;
  auto has_zero_byte = [](uint64_t x) { return (x - kOnes) & ~x & kHighBits; };
  const uint64_t below_space = (word - kOnes * 0x20) & ~word & kHighBits;
  const uint64_t quote = has_zero_byte(word ^ (kOnes * '"'));
  const uint64_t backslash = has_zero_byte(word ^ (kOnes * '\\'));
  return (below_space | quote | backslash) != 0;
}

bool ByteToEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// Makes room for `size` more bytes at the end of `out`, where the caller writes them in one go.
char* Grow(std::string& out, size_t size) {
  const size_t at = out.size();
  out.resize(at + size);
  return out.data() + at;
}

// Writes `text`, which needs no escape, between quotes at `to`; returns the end.
char* PutQuoted(char* to, std::string_view text) {
  *to++ = '"';
  if (!text.empty()) std::memcpy(to, text.data(), text.size());
  to += text.size();
  *to++ = '"';
  return to;
}

}  // namespace

// UTF-8 sorts bytes in code point order, and UTF-16 code units sort the same way except that a
// code point above U+FFFF (a surrogate pair, 0xD800..) sorts below U+E000..U+FFFF. Strings that
// agree up to a byte have that byte at the same place in a character, so only two lead bytes can
// disagree with the byte order: 0xF0..0xF4 (above U+FFFF) against 0xEE or 0xEF (U+E000..U+FFFF).
bool CanonicalKeyLess(std::string_view a, std::string_view b) {
  const size_t common = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < common && a[i] == b[i]) ++i;
  if (i == common) return a.size() < b.size();
  const auto x = static_cast<unsigned char>(a[i]);
  const auto y = static_cast<unsigned char>(b[i]);
  const auto above_bmp = [](unsigned char lead) { return lead >= 0xf0; };
  const auto high_bmp = [](unsigned char lead) { return lead == 0xee || lead == 0xef; };
  if (above_bmp(x) && high_bmp(y)) return true;
  if (high_bmp(x) && above_bmp(y)) return false;
  return x < y;
}

std::string CanonicalStringObject(std::vector<std::pair<std::string, std::string>> members) {
  std::stable_sort(members.begin(), members.end(),
                   [](const auto& a, const auto& b) { return CanonicalKeyLess(a.first, b.first); });
  std::string out = "{";
  const std::string* previous = nullptr;
  for (const auto& [key, value] : members) {
    if (previous != nullptr && *previous == key) continue;
    if (previous != nullptr) out += ',';
    AppendJcsString(key, out);
    out += ':';
    AppendJcsString(value, out);
    previous = &key;
  }
  out += '}';
  return out;
}

void AppendJcsString(std::string_view value, std::string& out) {
  // Most strings need no escape at all: test eight bytes at a time (the last word overlapping the
  // one before) and copy the string in one piece.
  const size_t size = value.size();
  size_t clean = 0;
  if (size >= 8) {
    while (clean + 8 <= size && !AnyByteToEscape(Load8(value.data() + clean))) clean += 8;
    if (clean + 8 > size && !AnyByteToEscape(Load8(value.data() + size - 8))) clean = size;
  } else {
    // Byte by byte: a word assembled in memory from a shorter copy stalls the load that reads it.
    while (clean < size && !ByteToEscape(static_cast<unsigned char>(value[clean]))) ++clean;
  }
  if (clean == size) {
    PutQuoted(Grow(out, size + 2), value);
    return;
  }
  out += '"';
  size_t run_start = 0;
  for (size_t i = clean; i < size; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (!ByteToEscape(c)) continue;
    out.append(value.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
  }
  out.append(value.data() + run_start, value.size() - run_start);
  out += '"';
}

void AppendJcsNumber(double value, std::string& out) {
  if (value == 0) {  // also -0
    out += '0';
    return;
  }
  if (value < 0) {
    out += '-';
    value = -value;
  }
  // Shortest round-trip digits and the decimal exponent, from to_chars' scientific form.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  (void)ec;
  std::string_view sci(buf, static_cast<size_t>(end - buf));
  const size_t e_at = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_at)) {
    if (c != '.') digits += c;
  }
  int exponent = 0;
  std::from_chars(sci.data() + e_at + 1 + (sci[e_at + 1] == '+'), sci.data() + sci.size(),
                  exponent);
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // value = 0.digits × 10^n
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<size_t>(n));
    out += '.';
    out.append(digits, static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += 'e';
    out += n - 1 >= 0 ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
}

void JcsWriter::Separate() {
  if (need_comma_) out_ += ',';
  need_comma_ = true;
}
void JcsWriter::BeginObject() {
  Separate();
  out_ += '{';
  need_comma_ = false;
}
void JcsWriter::EndObject() {
  out_ += '}';
  need_comma_ = true;
}
void JcsWriter::BeginArray() {
  Separate();
  out_ += '[';
  need_comma_ = false;
}
void JcsWriter::EndArray() {
  out_ += ']';
  need_comma_ = true;
}
void JcsWriter::Key(JcsKey key) {
  // `,"key":` in one piece.
  const std::string_view text = key.text();
  char* to = Grow(out_, (need_comma_ ? 1 : 0) + text.size() + 3);
  if (need_comma_) *to++ = ',';
  *PutQuoted(to, text) = ':';
  need_comma_ = false;
}
void JcsWriter::String(std::string_view value) {
  Separate();
  AppendJcsString(value, out_);
}
void JcsWriter::Int(int64_t value) {
  Separate();
  // Integers beyond 2^53 are not exact doubles; JCS formats them as the double they round to.
  if (value > (int64_t{1} << 53) || value < -(int64_t{1} << 53)) {
    AppendJcsNumber(static_cast<double>(value), out_);
  } else {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    (void)ec;  // an int64 always fits
    out_.append(digits, end);
  }
}
void JcsWriter::Double(double value) {
  Separate();
  AppendJcsNumber(value, out_);
}
void JcsWriter::Bool(bool value) {
  Separate();
  out_ += value ? "true" : "false";
}
void JcsWriter::Null() {
  Separate();
  out_ += "null";
}
void JcsWriter::Raw(std::string_view json) {
  Separate();
  out_ += json;
}

namespace {

std::string NormaliseKey(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '-' || c == '_') continue;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

}  // namespace

Redactor::Redactor(std::vector<std::string> sensitive_keys) {
  for (const std::string& key : sensitive_keys) {
    std::string normalised = NormaliseKey(key);
    if (!normalised.empty()) normalised_.push_back(std::move(normalised));
  }
}

const std::vector<std::string>& Redactor::DefaultKeys() {
  static const std::vector<std::string> keys = {
      "password",      "passwd",        "secret",    "client_secret", "token",
      "access_token",  "refresh_token", "api_key",   "apikey",        "private_key",
      "authorization", "cookie",        "set-cookie"};
  return keys;
}

bool Redactor::IsSensitiveKey(std::string_view key) const {
  // Whether NormaliseKey(key) ends with `name`, compared from the end without building it: every
  // member of every event's details is asked.
  const auto ends_with = [key](const std::string& name) {
    size_t k = key.size();
    for (size_t n = name.size(); n > 0; --n) {
      while (k > 0 && (key[k - 1] == '-' || key[k - 1] == '_')) --k;
      if (k == 0) return false;
      const char c = key[--k];
      if (((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c) != name[n - 1]) {
        return false;
      }
    }
    return true;
  };
  return std::any_of(normalised_.begin(), normalised_.end(), ends_with);
}

bool Redactor::IsPrivateKeyText(std::string_view value) {
  const size_t begin = value.find("-----BEGIN ");
  if (begin == std::string_view::npos) return false;
  const size_t line_end = value.find("-----", begin + 11);
  if (line_end == std::string_view::npos) return false;
  return value.substr(begin, line_end - begin).find("PRIVATE KEY") != std::string_view::npos;
}

namespace {

namespace od = simdjson::ondemand;

Status Fail(std::string message) { return Error::InvalidArgument(std::move(message)); }

Status WriteValue(od::value value, const CanonicalizeOptions& options, int depth, std::string& out);

// Writes the members in the order they come, straight into `out`, and reorders them only if their
// keys were not already in canonical order: no string per member, and no copy at all for the
// common case of a client that sorts its keys.
Status WriteObject(od::object object, const CanonicalizeOptions& options, int depth,
                   std::string& out) {
  struct Member {
    std::string_view key;  // in the parser's string buffer, valid for the whole document
    size_t begin;          // `"key":value` is out[begin, end)
    size_t end;
  };
  boost::container::small_vector<Member, 16> members;
  bool in_order = true;
  const size_t start = out.size();
  out += '{';
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return Fail("malformed key");
    if (!members.empty()) {
      out += ',';
      in_order = in_order && CanonicalKeyLess(members.back().key, key);
    }
    const size_t begin = out.size();
    AppendJcsString(key, out);
    out += ':';
    if (options.redactor != nullptr && options.redactor->IsSensitiveKey(key)) {
      // The secret is never copied: on-demand parsing skips the unread value.
      AppendJcsString(kRedacted, out);
    } else {
      od::value child;
      if (field.value().get(child) != simdjson::SUCCESS) return Fail("malformed value");
      EVIDENT_RETURN_IF_ERROR(WriteValue(child, options, depth + 1, out));
    }
    members.push_back({key, begin, out.size()});
  }
  out += '}';
  if (in_order) return {};
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return CanonicalKeyLess(a.key, b.key); });
  for (size_t i = 1; i < members.size(); ++i) {
    if (members[i].key == members[i - 1].key) {
      return Fail("duplicate key '" + std::string(members[i].key) + "'");
    }
  }
  const std::string written = out.substr(start);
  out.resize(start);
  out += '{';
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out += ',';
    out.append(written, members[i].begin - start, members[i].end - members[i].begin);
  }
  out += '}';
  return {};
}

Status WriteValue(od::value value, const CanonicalizeOptions& options, int depth,
                  std::string& out) {
  if (depth > options.max_depth) {
    return Fail("nested deeper than " + std::to_string(options.max_depth) + " levels");
  }
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return Fail("malformed JSON");
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (value.get_object().get(object) != simdjson::SUCCESS) return Fail("malformed object");
      return WriteObject(object, options, depth, out);
    }
    case od::json_type::array: {
      od::array array;
      if (value.get_array().get(array) != simdjson::SUCCESS) return Fail("malformed array");
      out += '[';
      bool first = true;
      for (auto element : array) {
        od::value child;
        if (element.get(child) != simdjson::SUCCESS) return Fail("malformed array element");
        if (!first) out += ',';
        first = false;
        EVIDENT_RETURN_IF_ERROR(WriteValue(child, options, depth + 1, out));
      }
      out += ']';
      return {};
    }
    case od::json_type::string: {
      std::string_view text;
      if (value.get_string().get(text) != simdjson::SUCCESS) return Fail("malformed string");
      if (options.redactor != nullptr && Redactor::IsPrivateKeyText(text)) text = kRedacted;
      AppendJcsString(text, out);
      return {};
    }
    case od::json_type::number: {
      double number = 0;
      if (value.get_double().get(number) != simdjson::SUCCESS || !std::isfinite(number)) {
        return Fail("number out of range");
      }
      AppendJcsNumber(number, out);
      return {};
    }
    case od::json_type::boolean: {
      bool flag = false;
      if (value.get_bool().get(flag) != simdjson::SUCCESS) return Fail("malformed boolean");
      out += flag ? "true" : "false";
      return {};
    }
    case od::json_type::null:
      if (!value.is_null()) return Fail("malformed null");
      out += "null";
      return {};
  }
  return Fail("malformed JSON");
}

}  // namespace

namespace detail {

Status CanonicalizeObject(od::object object, const CanonicalizeOptions& options, std::string& out) {
  const size_t start = out.size();
  Status status = WriteObject(object, options, 0, out);
  if (!status) out.resize(start);
  return status;
}

}  // namespace detail

Status CanonicalizeJson(std::string_view json, const CanonicalizeOptions& options,
                        std::string& out) {
  thread_local od::parser parser;
  simdjson::padded_string padded(json);
  od::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return Fail("malformed JSON");
  od::value value;
  // A scalar document cannot be read as a value in simdjson 3.0; wrap and unwrap instead.
  od::json_type type;
  if (doc.type().get(type) != simdjson::SUCCESS) return Fail("malformed JSON");
  if (type != od::json_type::object && type != od::json_type::array) {
    std::string wrapped = "[" + std::string(json) + "]";
    std::string inner;
    EVIDENT_RETURN_IF_ERROR(CanonicalizeJson(wrapped, options, inner));
    out.append(inner, 1, inner.size() - 2);
    return {};
  }
  if (doc.get_value().get(value) != simdjson::SUCCESS) return Fail("malformed JSON");
  const size_t start = out.size();
  Status status = WriteValue(value, options, 0, out);
  if (!status) {
    out.resize(start);
    return status;
  }
  if (!detail::AtEnd(doc)) {
    out.resize(start);
    return Fail("trailing content after JSON value");
  }
  return {};
}

}  // namespace evident::core
