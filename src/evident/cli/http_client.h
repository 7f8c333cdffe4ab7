// A small blocking HTTP client over libcurl, for the CLI and the integration tests: one request
// at a time on one reused connection (keep-alive), answers returned whole.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "evident/util/result.h"

namespace evident::cli {

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpResponse {
  long status = 0;                  // NOLINT(google-runtime-int): libcurl's type
  std::vector<HttpHeader> headers;  // names lower-cased, in the order received
  std::string body;

  // The first value of header `name` (case-insensitive), or nullopt when absent.
  std::optional<std::string> Header(std::string_view name) const;
};

// Whether the client honours http_proxy / https_proxy / no_proxy from the environment. The CLI
// does, as curl does; tests talking to a local server do not.
enum class ProxyFromEnvironment { kYes, kNo };

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  // Whole-request limit; zero means none.
  std::chrono::milliseconds timeout{0};
  ProxyFromEnvironment proxy = ProxyFromEnvironment::kYes;
};

// Owns one libcurl easy handle (and with it a connection cache). Not thread-safe: use one
// HttpClient per thread. Movable, not copyable.
class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(HttpClient&& other) noexcept;
  HttpClient& operator=(HttpClient&& other) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads the whole answer. Any HTTP status is a successful Result; the
  // error outcomes are IOError (cannot connect, connection reset, timeout; the message names
  // the URL and libcurl's reason) and InvalidArgument (a URL libcurl rejects).
  util::Result<HttpResponse> Send(std::string_view method, const std::string& url,
                                  std::string_view body, const std::vector<HttpHeader>& headers);

  util::Result<HttpResponse> Get(const std::string& url,
                                 const std::vector<HttpHeader>& headers = {}) {
    return Send("GET", url, {}, headers);
  }
  // Posts `body` with the given Content-Type.
  util::Result<HttpResponse> Post(const std::string& url, std::string_view body,
                                  std::string_view content_type,
                                  std::vector<HttpHeader> headers = {});

 private:
  void* curl_ = nullptr;  // CURL*; void* keeps <curl/curl.h> out of this header
  HttpClientOptions options_;
};

// "Authorization: Bearer <token>".
HttpHeader BearerAuth(std::string_view token);

// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~), so a
// value survives any query-string decoder; a space becomes %20, never '+'.
std::string PercentEncode(std::string_view text);

// `base` (e.g. "http://127.0.0.1:8080" or ".../prefix/") joined with `path` (starting with '/')
// and the query parameters, each name and value percent-encoded, in the given order.
std::string BuildUrl(std::string_view base, std::string_view path,
                     const std::vector<std::pair<std::string, std::string>>& query = {});

}  // namespace evident::cli
