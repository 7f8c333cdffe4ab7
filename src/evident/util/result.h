// Result<T>: a value or an Error, shaped like C++23 std::expected<T, Error> so that it can be
// swapped for it once our toolchain parses <expected> everywhere (g++ 12 has it only in C++23
// mode and clang 14's tools cannot read it).
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace evident::util {

enum class ErrorCode {
  kInvalidArgument,  // the caller sent something malformed; FieldErrors may say where
  kNotFound,
  kConflict,      // the request contradicts stored state (e.g. idempotency key reused)
  kUnauthorized,  // no valid credential
  kForbidden,     // a valid credential that may not do this
  kTooLarge,
  kUnavailable,  // shutting down, overloaded
  kCorruption,   // stored data fails a check: report it, never assert it away
  kIOError,
  kInternal,
};

const char* ErrorCodeName(ErrorCode code);

// Where in a request something was wrong: the event's position in the batch and the field path.
struct FieldError {
  int64_t index = -1;  // -1 when the error is not about one event of a batch
  std::string field;   // e.g. "request.status_code"; empty for the whole event
  std::string message;
  bool operator==(const FieldError&) const = default;
};

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  Error(ErrorCode code, std::string message, std::vector<FieldError> fields)
      : code_(code), message_(std::move(message)), fields_(std::move(fields)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::vector<FieldError>& fields() const { return fields_; }
  std::string ToString() const;

  static Error InvalidArgument(std::string message) {
    return {ErrorCode::kInvalidArgument, std::move(message)};
  }
  static Error NotFound(std::string message) { return {ErrorCode::kNotFound, std::move(message)}; }
  static Error Conflict(std::string message) { return {ErrorCode::kConflict, std::move(message)}; }
  static Error Unauthorized(std::string message) {
    return {ErrorCode::kUnauthorized, std::move(message)};
  }
  static Error IOError(std::string message) { return {ErrorCode::kIOError, std::move(message)}; }
  static Error Corruption(std::string message) {
    return {ErrorCode::kCorruption, std::move(message)};
  }
  static Error Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }
  static Error Unavailable(std::string message) {
    return {ErrorCode::kUnavailable, std::move(message)};
  }

 private:
  ErrorCode code_;
  std::string message_;
  std::vector<FieldError> fields_;
};

// Wraps an Error so that Result<T>'s constructors are never ambiguous, as std::unexpected.
struct Unexpected {
  Error error;
};
inline Unexpected MakeUnexpected(Error error) { return Unexpected{std::move(error)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  Result() requires std::is_default_constructible_v<T> : state_(std::in_place_index<0>) {}
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  Result(Unexpected unexpected)  // NOLINT: implicit, as std::unexpected
      : state_(std::in_place_index<1>, std::move(unexpected.error)) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    assert(!has_value());
    return std::get<1>(state_);
  }
  Error&& error() && {
    assert(!has_value());
    return std::get<1>(std::move(state_));
  }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit
  Result(Unexpected unexpected)                                  // NOLINT: implicit
      : error_(std::move(unexpected.error)), ok_(false) {}

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& {
    assert(!ok_);
    return error_;
  }
  Error&& error() && {
    assert(!ok_);
    return std::move(error_);
  }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace evident::util

// Returns the error of a failed Result from the enclosing function, which must return a Result.
#define EVIDENT_RETURN_IF_ERROR(expr)                                            \
  do {                                                                           \
    auto&& evident_status_ = (expr);                                             \
    if (!evident_status_.has_value()) return std::move(evident_status_).error(); \
  } while (false)

#define EVIDENT_CONCAT_INNER(a, b) a##b
#define EVIDENT_CONCAT(a, b) EVIDENT_CONCAT_INNER(a, b)
#define EVIDENT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)  \
  auto tmp = (expr);                                   \
  if (!tmp.has_value()) return std::move(tmp).error(); \
  lhs = std::move(tmp).value()
// EVIDENT_ASSIGN_OR_RETURN(auto x, Foo()); declares x from a successful Result or returns its
// error.
#define EVIDENT_ASSIGN_OR_RETURN(lhs, expr) \
  EVIDENT_ASSIGN_OR_RETURN_IMPL(EVIDENT_CONCAT(evident_result_, __LINE__), lhs, expr)
