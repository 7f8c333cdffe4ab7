// RapidJSON's Writer appending straight into a std::string, for every JSON answer of the API.
#pragma once

#include <rapidjson/writer.h>

#include <string>

namespace evident::api::detail {

// A RapidJSON output stream over a std::string the caller owns.
class StringOutput {
 public:
  using Ch = char;
  explicit StringOutput(std::string& out) : out_(out) {}
  void Put(char c) { out_.push_back(c); }
  void Flush() {}

 private:
  std::string& out_;
};

using JsonWriter = rapidjson::Writer<StringOutput>;

inline void WriteString(JsonWriter& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}
inline void WriteKey(JsonWriter& writer, std::string_view key) {
  writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

}  // namespace evident::api::detail
