#include "evident/api/json_body.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>

namespace evident::api::detail {

struct JsonBody::Doc {
  rapidjson::Document document;
};

util::Error FieldProblem(std::string_view field, std::string message) {
  std::string text = std::string(field) + ": " + message;
  return util::Error(
      util::ErrorCode::kInvalidArgument, text,
      {util::FieldError{.index = -1, .field = std::string(field), .message = message}});
}

JsonBody::JsonBody(std::unique_ptr<Doc> doc) : doc_(std::move(doc)) {}
JsonBody::JsonBody(JsonBody&&) noexcept = default;
JsonBody& JsonBody::operator=(JsonBody&&) noexcept = default;
JsonBody::~JsonBody() = default;

util::Result<JsonBody> JsonBody::Parse(std::string_view body,
                                       std::initializer_list<std::string_view> allowed) {
  auto doc = std::make_unique<Doc>();
  doc->document.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (doc->document.HasParseError()) {
    return util::Error::InvalidArgument(std::string("the body is not valid JSON: ") +
                                        rapidjson::GetParseError_En(doc->document.GetParseError()) +
                                        " at offset " +
                                        std::to_string(doc->document.GetErrorOffset()));
  }
  if (!doc->document.IsObject())
    return util::Error::InvalidArgument("the body must be a JSON object");
  for (const auto& member : doc->document.GetObject()) {
    const std::string_view name(member.name.GetString(), member.name.GetStringLength());
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return FieldProblem(name, "unknown field");
    }
  }
  return JsonBody(std::move(doc));
}

util::Result<std::optional<std::string>> JsonBody::String(std::string_view name) const {
  const auto it = doc_->document.FindMember(
      rapidjson::Value(name.data(), static_cast<rapidjson::SizeType>(name.size())));
  if (it == doc_->document.MemberEnd() || it->value.IsNull()) return std::optional<std::string>();
  if (!it->value.IsString()) return FieldProblem(name, "must be a string");
  return std::optional<std::string>(
      std::string(it->value.GetString(), it->value.GetStringLength()));
}

util::Result<std::optional<std::vector<std::string>>> JsonBody::StringArray(
    std::string_view name) const {
  const auto it = doc_->document.FindMember(
      rapidjson::Value(name.data(), static_cast<rapidjson::SizeType>(name.size())));
  if (it == doc_->document.MemberEnd() || it->value.IsNull()) {
    return std::optional<std::vector<std::string>>();
  }
  if (!it->value.IsArray()) return FieldProblem(name, "must be an array of strings");
  std::vector<std::string> values;
  for (const auto& value : it->value.GetArray()) {
    if (!value.IsString()) return FieldProblem(name, "must be an array of strings");
    values.emplace_back(value.GetString(), value.GetStringLength());
  }
  return std::optional<std::vector<std::string>>(std::move(values));
}

util::Result<std::optional<util::UnixMillis>> JsonBody::Timestamp(std::string_view name) const {
  const auto it = doc_->document.FindMember(
      rapidjson::Value(name.data(), static_cast<rapidjson::SizeType>(name.size())));
  if (it == doc_->document.MemberEnd() || it->value.IsNull()) {
    return std::optional<util::UnixMillis>();
  }
  if (it->value.IsInt64()) return std::optional<util::UnixMillis>(it->value.GetInt64());
  if (it->value.IsString()) {
    auto parsed =
        util::ParseRfc3339(std::string_view(it->value.GetString(), it->value.GetStringLength()));
    if (!parsed) return FieldProblem(name, parsed.error().message());
    return std::optional<util::UnixMillis>(*parsed);
  }
  return FieldProblem(name, "must be an RFC 3339 time or epoch milliseconds");
}

}  // namespace evident::api::detail
