// An ApiClient for tests that speak JSON and assert on status codes.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "integration/harness.h"

namespace evident::integration {

// Turns a transport error into status 0 with the error as its body, so that the caller's status
// assertion fails and says why.
class JsonClient {
 public:
  JsonClient(std::string url, std::string token) : api_(std::move(url), std::move(token)) {}

  HttpResponse Send(std::string_view method, const std::string& path, std::string_view body,
                    std::vector<HttpHeader> headers) {
    auto response = api_.Send(method, path, body, std::move(headers));
    if (!response) {
      HttpResponse failed;
      failed.body = response.error().ToString();
      return failed;
    }
    return *response;
  }

  HttpResponse Call(std::string_view method, const std::string& path,
                    const nlohmann::json& body = nlohmann::json(),
                    std::vector<HttpHeader> headers = {}) {
    std::string text;
    if (!body.is_null()) {
      text = body.dump();
      headers.push_back({"Content-Type", "application/json"});
    }
    return Send(method, path, text, std::move(headers));
  }

  // The JSON answer (null when there is none) of a request expected to answer `status`.
  nlohmann::json Expect(long status, std::string_view method, const std::string& path,  // NOLINT
                        const nlohmann::json& body = nlohmann::json(),
                        std::vector<HttpHeader> headers = {}) {
    const HttpResponse response = Call(method, path, body, std::move(headers));
    EXPECT_EQ(response.status, status) << method << " " << path << " -> " << response.body;
    nlohmann::json parsed = ParseJson(response);
    return parsed.is_discarded() ? nlohmann::json() : parsed;
  }

 private:
  ApiClient api_;
};

}  // namespace evident::integration
