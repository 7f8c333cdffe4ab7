#include "evident/api/problem.h"

#include <spdlog/spdlog.h>

#include <cctype>

#include "evident/api/json_writer.h"

namespace evident::api {

using util::ErrorCode;

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() != name.size()) continue;
    bool equal = true;
    for (size_t i = 0; i < key.size() && equal; ++i) {
      equal = std::tolower(static_cast<unsigned char>(key[i])) ==
              std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (equal) return value;
  }
  return {};
}

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kCorruption:
    case ErrorCode::kIOError:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

namespace {

HttpResponse Problem(int status, std::string_view message,
                     const std::vector<util::FieldError>& fields) {
  HttpResponse response;
  response.status = status;
  response.content_type = std::string(kProblemType);
  detail::StringOutput output(response.body);
  detail::JsonWriter writer(output);
  writer.StartObject();
  detail::WriteKey(writer, "type");
  detail::WriteString(writer, "about:blank");
  detail::WriteKey(writer, "title");
  detail::WriteString(writer, ReasonPhrase(status));
  detail::WriteKey(writer, "status");
  writer.Int(status);
  detail::WriteKey(writer, "detail");
  detail::WriteString(writer, message);
  detail::WriteKey(writer, "errors");
  writer.StartArray();
  for (const util::FieldError& field : fields) {
    writer.StartObject();
    detail::WriteKey(writer, "index");
    if (field.index < 0) {
      writer.Null();
    } else {
      writer.Int64(field.index);
    }
    detail::WriteKey(writer, "field");
    detail::WriteString(writer, field.field);
    detail::WriteKey(writer, "message");
    detail::WriteString(writer, field.message);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  if (status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (status == 503) response.headers.emplace_back("Retry-After", "1");
  return response;
}

}  // namespace

HttpResponse ProblemResponse(const util::Error& error) {
  const int status = HttpStatusFor(error.code());
  if (status >= 500) spdlog::warn("request failed: {}", error.ToString());
  if (status == 500) return Problem(status, "internal error; see the server log", {});
  return Problem(status, error.message(), error.fields());
}

HttpResponse ProblemResponse(int status, std::string_view message) {
  return Problem(status, message, {});
}

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = std::string(kJsonType);
  response.body = std::move(body);
  return response;
}

}  // namespace evident::api
