#include "evident/cli/http_client.h"

#include <curl/curl.h>

#include <climits>
#include <mutex>

#include "evident/util/strings.h"

namespace evident::cli {
namespace {

// curl_global_init is not thread-safe before 7.84 and must run once before any handle exists.
void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Collects the headers of the final response only: a "HTTP/..." status line (after a 100
// Continue or a redirect) starts a new set.
size_t WriteHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::vector<HttpHeader>*>(user);
  std::string_view line(data, size * count);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    headers->clear();
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    headers->push_back({util::AsciiLower(util::Trim(line.substr(0, colon))),
                        std::string(util::Trim(line.substr(colon + 1)))});
  }
  return size * count;
}

class HeaderList {
 public:
  HeaderList() = default;
  ~HeaderList() { curl_slist_free_all(list_); }
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  void Add(const std::string& line) { list_ = curl_slist_append(list_, line.c_str()); }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const HttpHeader& header : headers) {
    if (util::EqualsIgnoreCase(header.name, name)) return header.value;
  }
  return std::nullopt;
}

HttpClient::HttpClient(HttpClientOptions options) : options_(options) {
  GlobalInitOnce();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpClient::HttpClient(HttpClient&& other) noexcept
    : curl_(std::exchange(other.curl_, nullptr)), options_(other.options_) {}

HttpClient& HttpClient::operator=(HttpClient&& other) noexcept {
  if (this != &other) {
    if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
    curl_ = std::exchange(other.curl_, nullptr);
    options_ = other.options_;
  }
  return *this;
}

util::Result<HttpResponse> HttpClient::Send(std::string_view method, const std::string& url,
                                            std::string_view body,
                                            const std::vector<HttpHeader>& headers) {
  auto* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return util::Error::Internal("libcurl could not create a handle");
  // Keeps the connection cache, forgets the previous request's options.
  curl_easy_reset(curl);

  HttpResponse response;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  HeaderList header_list;
  for (const HttpHeader& header : headers) header_list.Add(header.name + ": " + header.value);
  // libcurl sends "Expect: 100-continue" before large bodies and then waits up to a second for
  // an interim answer many servers never send; an empty value removes the header.
  header_list.Add("Expect:");

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));  // NOLINT
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  if (options_.proxy == ProxyFromEnvironment::kNo) curl_easy_setopt(curl, CURLOPT_PROXY, "");

  std::string method_text(method);
  if (method_text == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (method_text == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  }
  if (!body.empty() || (method_text != "GET" && method_text != "HEAD")) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }

  CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    std::string reason = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) {
      return util::Error::InvalidArgument("bad URL " + url + ": " + reason);
    }
    return util::Error::IOError(method_text + " " + url + ": " + reason);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

util::Result<HttpResponse> HttpClient::Post(const std::string& url, std::string_view body,
                                            std::string_view content_type,
                                            std::vector<HttpHeader> headers) {
  headers.push_back({"Content-Type", std::string(content_type)});
  return Send("POST", url, body, headers);
}

HttpHeader BearerAuth(std::string_view token) {
  return {"Authorization", "Bearer " + std::string(token)};
}

std::string PercentEncode(std::string_view text) {
  if (text.empty()) return {};
  if (text.size() > static_cast<size_t>(INT_MAX)) return {};
  // Since libcurl 7.82 the handle argument is ignored.
  char* escaped = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) return {};
  std::string result(escaped);
  curl_free(escaped);
  return result;
}

std::string BuildUrl(std::string_view base, std::string_view path,
                     const std::vector<std::pair<std::string, std::string>>& query) {
  std::string url(base);
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += path;
  char separator = '?';
  for (const auto& [name, value] : query) {
    url += separator;
    url += PercentEncode(name);
    url += '=';
    url += PercentEncode(value);
    separator = '&';
  }
  return url;
}

}  // namespace evident::cli
