// Strict reading of the small JSON objects that identity requests carry ({"email": ...}):
// unknown members and wrong types are refused with the field named, as event bodies are.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evident/util/result.h"
#include "evident/util/time.h"

namespace evident::api::detail {

class JsonBody {
 public:
  // Errors: InvalidArgument when `body` is not one UTF-8 JSON object, or has a member not in
  // `allowed` (named in the error's fields).
  static util::Result<JsonBody> Parse(std::string_view body,
                                      std::initializer_list<std::string_view> allowed);
  JsonBody(JsonBody&&) noexcept;
  JsonBody& operator=(JsonBody&&) noexcept;
  ~JsonBody();

  // Each: nullopt when the member is absent or null. Errors: InvalidArgument naming the field
  // when it has another type.
  util::Result<std::optional<std::string>> String(std::string_view name) const;
  util::Result<std::optional<std::vector<std::string>>> StringArray(std::string_view name) const;
  // An RFC 3339 string or epoch milliseconds.
  util::Result<std::optional<util::UnixMillis>> Timestamp(std::string_view name) const;

 private:
  struct Doc;
  explicit JsonBody(std::unique_ptr<Doc> doc);
  std::unique_ptr<Doc> doc_;
};

// An InvalidArgument error about one field of a request body.
util::Error FieldProblem(std::string_view field, std::string message);

}  // namespace evident::api::detail
