#include "evident/core/canonical_json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace evident::core {
namespace {

std::string Canonical(std::string_view json, const Redactor* redactor = nullptr) {
  std::string out;
  CanonicalizeOptions options;
  options.redactor = redactor;
  util::Status status = CanonicalizeJson(json, options, out);
  return status ? out : "error: " + status.error().message();
}

TEST(Jcs, SortsKeysAndDropsWhitespace) {
  EXPECT_EQ(Canonical(R"({ "b": 1, "a": [true, null, "x"], "c": {"z": {}, "y": []} })"),
            R"({"a":[true,null,"x"],"b":1,"c":{"y":[],"z":{}}})");
}

// RFC 8785 §3.2.3's sorting example, keys given in UTF-8.
TEST(Jcs, SortsByUtf16CodeUnits) {
  EXPECT_TRUE(CanonicalKeyLess("\r", "1"));
  EXPECT_TRUE(CanonicalKeyLess("\xc2\x80", "\xc3\xb6"));              // U+0080 < U+00F6
  EXPECT_TRUE(CanonicalKeyLess("\xf0\x9f\x98\x80", "\xef\xac\xb3"));  // U+1F600 < U+FB33
  EXPECT_FALSE(CanonicalKeyLess("\xef\xac\xb3", "\xf0\x9f\x98\x80"));
  EXPECT_TRUE(CanonicalKeyLess("\xf0\x90\x80\x80", "\xef\xbf\xbf"));    // U+10000 < U+FFFF
  EXPECT_TRUE(CanonicalKeyLess("\xed\x9f\xbf", "\xf0\x90\x80\x80"));    // U+D7FF < U+10000
  EXPECT_TRUE(CanonicalKeyLess("x\xf0\x9f\x98\x80", "x\xee\x80\x80"));  // U+1F600 < U+E000
  EXPECT_TRUE(CanonicalKeyLess("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x81"));
  EXPECT_TRUE(CanonicalKeyLess("Z", "a"));
  EXPECT_TRUE(CanonicalKeyLess("a", "ab"));
  EXPECT_FALSE(CanonicalKeyLess("ab", "a"));
  EXPECT_FALSE(CanonicalKeyLess("a", "a"));
}

// Number formatting from RFC 8785 Appendix B.
TEST(Jcs, FormatsNumbersAsEcmaScript) {
  const std::pair<double, const char*> cases[] = {
      {0.0, "0"},
      {-0.0, "0"},
      {1.0, "1"},
      {-1.5, "-1.5"},
      {1e21, "1e+21"},
      {1e20, "100000000000000000000"},
      {123456789012345680000.0, "123456789012345680000"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {0.000001, "0.000001"},
      {0.0000001, "1e-7"},
      {333333333.3333333, "333333333.3333333"},
      {9007199254740992.0, "9007199254740992"},
      {295147905179352830000.0, "295147905179352830000"},
      {4.5, "4.5"},
      {0.002, "0.002"},
      {1e-7 * 1.5, "1.5e-7"}};
  for (const auto& [value, expected] : cases) {
    std::string out;
    AppendJcsNumber(value, out);
    EXPECT_EQ(out, expected) << value;
  }
  EXPECT_EQ(Canonical("[1.0, 1e2, -0.0, 1E-7]"), "[1,100,0,1e-7]");
}

TEST(Jcs, EscapesStringsMinimally) {
  EXPECT_EQ(Canonical(R"(["\u20ac\u00e9", "\/", "a\"b\\c", "\u000f\n", "\u007f"])"),
            "[\"\xe2\x82\xac\xc3\xa9\",\"/\",\"a\\\"b\\\\c\",\"\\u000f\\n\",\"\x7f\"]");
}

// Byte by byte, as RFC 8785 says: the reference the eight-bytes-at-a-time scan must agree with.
std::string EscapedByteByByte(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

TEST(Jcs, EscapesEveryByteAtEveryPositionOfAWord) {
  // Each byte that must be escaped, and its neighbours that must not, at each offset of strings
  // long enough to span several eight-byte words.
  const std::vector<char> probes = {'\0', '\x01', '\x1f', ' ',    '!',    '"',    '#',
                                    '[',  '\\',   ']',    '\x7f', '\x80', '\xff', '\n'};
  for (size_t length = 1; length <= 25; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (const char probe : probes) {
        std::string value(length, 'a');
        value[at] = probe;
        std::string out;
        AppendJcsString(value, out);
        ASSERT_EQ(out, EscapedByteByByte(value)) << "length " << length << " at " << at;
      }
    }
  }
  std::string all;
  for (int byte = 0; byte < 256; ++byte) all += static_cast<char>(byte);
  std::string out;
  AppendJcsString(all, out);
  EXPECT_EQ(out, EscapedByteByByte(all));
}

TEST(ForEachCanonicalJsonString, VisitsValuesUnescapedAndSkipsKeys) {
  std::string json;
  ASSERT_TRUE(CanonicalizeJson(
      R"({"a\"k":"plain","b":["x\\y",{"c":"tab\there"}],"d":"\u0001ctl","e":"","f":"q\"","n":1})",
      {}, json));
  std::vector<std::string> seen;
  ForEachCanonicalJsonString(json, [&](std::string_view text) { seen.emplace_back(text); });
  EXPECT_EQ(seen, (std::vector<std::string>{"plain", "x\\y", "tab\there", " ctl", "", "q\""}));
  // Every control character canonical JSON escapes by letter reads as itself, not as the letter:
  // "a\rb" holds the words "a" and "b", not "arb".
  json.clear();
  ASSERT_TRUE(CanonicalizeJson(R"(["a\rb\bc\fd\ne\tf"])", {}, json));
  seen.clear();
  ForEachCanonicalJsonString(json, [&](std::string_view text) { seen.emplace_back(text); });
  EXPECT_EQ(seen, (std::vector<std::string>{"a\rb\bc\fd\ne\tf"}));
}

TEST(Jcs, RejectsBadInput) {
  EXPECT_EQ(Canonical(R"({"a":1,"a":2})"), "error: duplicate key 'a'");
  EXPECT_EQ(Canonical(R"({"a":1} x)"), "error: trailing content after JSON value");
  EXPECT_EQ(Canonical(R"({"a":)"), "error: malformed JSON");
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_EQ(Canonical(deep), "error: nested deeper than 64 levels");
}

TEST(Redactor, MatchesNamesAtAnyDepthAndCase) {
  Redactor redactor(Redactor::DefaultKeys());
  for (const char* key : {"password", "Password", "PASSWD", "client_secret", "X-Api-Key", "apiKey",
                          "Set-Cookie", "Authorization", "db_password", "accessToken",
                          "refresh-token", "private_key", "_Pass_Word_", "x-a-p-i-k-e-y"}) {
    EXPECT_TRUE(redactor.IsSensitiveKey(key)) << key;
  }
  for (const char* key : {"token_id", "user", "tokens", "password_hint", "cookies_enabled", "",
                          "-_", "assword", "wd"}) {
    EXPECT_FALSE(redactor.IsSensitiveKey(key)) << key;
  }
  EXPECT_EQ(Canonical(R"({"user":"ana","Password":"hunter2","nested":[{"deep":{"API_KEY":{"x":1}}}],
                         "note":"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"})",
                      &redactor),
            R"({"Password":"[REDACTED]","nested":[{"deep":{"API_KEY":"[REDACTED]"}}],)"
            R"("note":"[REDACTED]","user":"ana"})");
  EXPECT_EQ(Canonical(R"({"cert":"-----BEGIN CERTIFICATE-----\nMIIB"})", &redactor),
            R"({"cert":"-----BEGIN CERTIFICATE-----\nMIIB"})");
}

TEST(Redactor, ConfigurableList) {
  Redactor redactor({"ssn"});
  EXPECT_EQ(Canonical(R"({"ssn":"123","password":"p"})", &redactor),
            R"({"password":"p","ssn":"[REDACTED]"})");
}

}  // namespace
}  // namespace evident::core

namespace evident::core {
namespace {

TEST(CanonicalStringObject, SortsKeysEscapesValuesAndKeepsTheFirstOfARepeatedKey) {
  EXPECT_EQ(CanonicalStringObject({}), "{}");
  EXPECT_EQ(CanonicalStringObject({{"b", "2"}, {"a", "1\n\"x\""}, {"b", "3"}, {"\u00e9", "e"}}),
            "{\"a\":\"1\\n\\\"x\\\"\",\"b\":\"2\",\"\u00e9\":\"e\"}");
  std::string canonical;
  ASSERT_TRUE(CanonicalizeJson(CanonicalStringObject({{"z", "last"}, {"id", "7"}}), {}, canonical));
  EXPECT_EQ(canonical, R"({"id":"7","z":"last"})");
}

}  // namespace
}  // namespace evident::core
