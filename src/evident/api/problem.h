// RFC 9457 problem details (application/problem+json) and the one mapping from util::Error to an
// HTTP status. HTTP status codes exist only in api/ (STYLE.md section 4).
#pragma once

#include <string_view>

#include "evident/api/http.h"
#include "evident/util/result.h"

namespace evident::api {

inline constexpr std::string_view kJsonType = "application/json";
inline constexpr std::string_view kProblemType = "application/problem+json";

// 400 InvalidArgument, 401 Unauthorized (with WWW-Authenticate: Bearer), 403 Forbidden,
// 404 NotFound, 409 Conflict, 413 TooLarge, 503 Unavailable (with Retry-After), 500 otherwise.
int HttpStatusFor(util::ErrorCode code);

// The reason phrase of `status` ("Bad Request"); "Error" for codes Evident never sends.
std::string_view ReasonPhrase(int status);

// An application/json answer with `body` as it is.
HttpResponse JsonResponse(int status, std::string body);

// {"type":"about:blank","title":<reason>,"status":<status>,"detail":<message>,
//  "errors":[{"index","field","message"}]}. Every 5xx is logged here; the detail of a 5xx other
// than 503 is generic: internal messages may name files or SQL and are logged instead of sent.
HttpResponse ProblemResponse(const util::Error& error);
// A problem with an explicit status, for transport-level answers (413 before the body is read,
// 404/405 from routing).
HttpResponse ProblemResponse(int status, std::string_view detail);

}  // namespace evident::api
