// Transport-neutral HTTP messages: what the server's transport hands to Api::Handle and what it
// writes back. Keeping Beast out of api/ lets the handlers be tested without sockets and keeps
// Beast (slow to compile) in one translation unit of server/.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evident::api {

struct HttpRequest {
  std::string method;         // "GET", "POST", ... as sent (HTTP methods are case-sensitive)
  std::string target;         // origin-form: path and optional "?query"
  std::string authorization;  // the Authorization header, or empty
  std::string content_type;   // the Content-Type header, or empty
  std::string cookie;         // the Cookie header, or empty
  std::string origin;         // the Origin header, or empty
  std::string host;           // the Host header, or empty
  std::string csrf_token;     // the X-CSRF-Token header, or empty
  std::string user_agent;     // the User-Agent header, or empty
  std::string remote_ip;      // the peer's address (text form), or empty when unknown
  bool secure = false;        // arrived over TLS
  std::string body;
  // When the transport had the whole request, so that request latencies include any wait for a
  // thread to handle it; unset (the epoch): when Api::Handle starts.
  std::chrono::steady_clock::time_point received{};
};

struct HttpResponse {
  int status = 200;
  std::string content_type;  // always set by Api
  std::string body;
  // Headers besides Content-Type and Content-Length, e.g. WWW-Authenticate, Allow, Retry-After.
  std::vector<std::pair<std::string, std::string>> headers;

  // The value of header `name` (case-insensitive), or empty.
  std::string Header(std::string_view name) const;
};

// The value of cookie `name` in a Cookie header, or empty.
std::string_view CookieValue(std::string_view header, std::string_view name);

// Receives the one response to a request. It may be called on any thread (for POST, the ledger's
// writer thread) and before or after Api::Handle returns; it must be quick.
using Responder = std::function<void(HttpResponse)>;

}  // namespace evident::api
