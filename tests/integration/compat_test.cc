// The AirVantage-compatible administration logs (seed 003): the exact shape of answers and
// errors, the filters, and who may read them, over HTTP against the real server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/harness.h"
#include "integration/suite_setup.h"

namespace evident::integration {
namespace {

using nlohmann::json;

constexpr char kPath[] = "/api/v1/administration/logs";
constexpr int64_t kBase = 1'518'176'568'844;  // the seed's example timestamp

class AdministrationLogs : public ::testing::Test {
 protected:
  // The shared set-up's failures are kept for each test to report (suite_setup.h).
  static void SetUpTestSuite() { setup_failures_ = CaptureFailures(SetUpSuite); }
  inline static std::string setup_failures_;
  void SetUp() override { ASSERT_EQ(setup_failures_, "") << "the suite's set-up failed"; }
  static void SetUpSuite() {
    server_ = new ServerProcess();
    ASSERT_TRUE(server_->Start()) << server_->Output();
    ApiClient root(server_->url());
    // A platform's own OAuth sign-ins, as it sends them (seed 002), in two companies.
    json events = json::array();
    const std::vector<std::pair<std::string, std::string>> sent = {
        {"anyuser@sierrawireless.com", "success"}, {"anyuser@sierrawireless.com", "failure"},
        {"other@sierrawireless.com", "success"},   {"anyuser@sierrawireless.com", "blocked"},
        {"other@sierrawireless.com", "initiated"},
    };
    for (size_t i = 0; i < sent.size(); ++i) {
      events.push_back({{"tenant", "af2061ef883449ae"},
                        {"type", "authentication"},
                        {"action", "oauth.token"},
                        {"status", sent[i].second},
                        {"occurred_at", kBase + static_cast<int64_t>(i) * 1000},
                        {"actor", {{"email", sent[i].first}}},
                        {"details", {{"entrypoint", "OAUTH_TOKEN"}, {"client_id", "cli"}}}});
    }
    // Not an authentication log: never listed.
    events.push_back({{"tenant", "af2061ef883449ae"},
                      {"action", "create"},
                      {"occurred_at", kBase + 10'000},
                      {"actor", {{"email", "anyuser@sierrawireless.com"}}}});
    events.push_back({{"tenant", "globex"},
                      {"type", "authentication"},
                      {"action", "login"},
                      {"occurred_at", kBase},
                      {"actor", {{"email", "g@globex.test"}}}});
    auto posted = root.PostEvents(events);
    ASSERT_TRUE(posted.has_value());
    ASSERT_EQ(posted->status, 201) << posted->body;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static json Get(const std::string& query, long status = 200,
                  const std::string& token = kAdminToken) {
    ApiClient client(server_->url(), token);
    auto response = client.Get(std::string(kPath) + query);
    EXPECT_TRUE(response.has_value());
    if (!response) return {};
    EXPECT_EQ(response->status, status) << query << " -> " << response->body;
    EXPECT_THAT(response->Header("Content-Type").value_or(""),
                ::testing::StartsWith("application/json"));
    return json::parse(response->body, nullptr, false);
  }

  static ServerProcess* server_;
};

ServerProcess* AdministrationLogs::server_ = nullptr;

TEST_F(AdministrationLogs, AnswersTheSeedsShapeNewestFirst) {
  const json logs = Get("?company=af2061ef883449ae&type=authentication");
  ASSERT_TRUE(logs.is_array()) << logs;
  ASSERT_EQ(logs.size(), 5u) << logs;
  EXPECT_EQ(logs[0], json::parse(R"({"companyId":"af2061ef883449ae","timestamp":1518176572844,
      "type":"authentication","details":{"user":"other@sierrawireless.com","status":"INITIATED",
      "entrypoint":"OAUTH_TOKEN"}})"));
  EXPECT_EQ(logs[4], json::parse(R"({"companyId":"af2061ef883449ae","timestamp":1518176568844,
      "type":"authentication","details":{"user":"anyuser@sierrawireless.com","status":"SUCCESS",
      "entrypoint":"OAUTH_TOKEN"}})"));
  for (size_t i = 1; i < logs.size(); ++i) {
    EXPECT_GT(logs[i - 1]["timestamp"].get<int64_t>(), logs[i]["timestamp"].get<int64_t>());
  }
  // Without `type`, the only type there is.
  EXPECT_EQ(Get("?company=af2061ef883449ae"), logs);
}

TEST_F(AdministrationLogs, FiltersByUserAndStatus) {
  const json mine =
      Get("?company=af2061ef883449ae&type=authentication&user=ANYUSER@sierrawireless.com");
  ASSERT_EQ(mine.size(), 3u) << mine;
  for (const json& log : mine) EXPECT_EQ(log["details"]["user"], "anyuser@sierrawireless.com");
  const json blocked =
      Get("?company=af2061ef883449ae&type=authentication&user=anyuser@sierrawireless.com"
          "&status=BLOCKED");
  ASSERT_EQ(blocked.size(), 1u) << blocked;
  EXPECT_EQ(blocked[0]["details"]["status"], "BLOCKED");
  EXPECT_EQ(blocked[0]["timestamp"], kBase + 3000);
  EXPECT_EQ(Get("?company=af2061ef883449ae&type=authentication&status=success").size(), 2u);
  EXPECT_EQ(Get("?company=af2061ef883449ae&type=authentication&size=2").size(), 2u);
}

TEST_F(AdministrationLogs, ErrorsNameTheParameter) {
  EXPECT_EQ(Get("?company=nosuchcompany&type=authentication", 400),
            json::parse(R"({"error":"company.unknown","errorParameters":["nosuchcompany"]})"));
  EXPECT_EQ(Get("?company=Not%20An%20Id", 400),
            json::parse(R"({"error":"company.unknown","errorParameters":["Not An Id"]})"));
  EXPECT_EQ(Get("?type=authentication", 400)["error"], "company.required");
  EXPECT_EQ(Get("?company=af2061ef883449ae&user=a@b.c", 400),
            json::parse(R"({"error":"type.required","errorParameters":["user"]})"));
  EXPECT_EQ(Get("?company=af2061ef883449ae&status=SUCCESS", 400)["error"], "type.required");
  EXPECT_EQ(Get("?company=af2061ef883449ae&type=billing", 400)["error"], "type.unknown");
  EXPECT_EQ(Get("?company=af2061ef883449ae&type=authentication&status=LOST", 400)["error"],
            "status.unknown");
  EXPECT_EQ(Get("?company=af2061ef883449ae&colour=red", 400)["error"], "parameter.unknown");
  EXPECT_EQ(Get("?company=af2061ef883449ae&size=0", 400)["error"], "size.invalid");
}

TEST_F(AdministrationLogs, OnlyThoseWhoMayReadTheCompanysEvents) {
  ApiClient root(server_->url());
  const auto unauthenticated =
      ApiClient(server_->url(), "").Get(std::string(kPath) + "?company=af2061ef883449ae");
  ASSERT_TRUE(unauthenticated.has_value());
  EXPECT_EQ(unauthenticated->status, 401);

  // A token bound to globex reads globex and nothing else.
  auto created = root.Post(
      "/api/v1/tokens", R"({"name":"globex reader","scopes":["events:read"],"tenant":"globex"})");
  ASSERT_TRUE(created.has_value());
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string globex = json::parse(created->body)["secret"];
  EXPECT_EQ(Get("?company=globex&type=authentication", 200, globex).size(), 1u);
  EXPECT_EQ(Get("?company=af2061ef883449ae", 403, globex)["error"], "forbidden");

  // A token that may only write events may not read them.
  created = root.Post("/api/v1/tokens",
                      R"({"name":"writer","scopes":["events:write"],"tenant":"globex"})");
  ASSERT_TRUE(created.has_value());
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(Get("?company=globex", 403, json::parse(created->body)["secret"])["error"],
            "forbidden");
}

TEST_F(AdministrationLogs, EvidentsOwnLoginsAreListedToo) {
  ApiClient root(server_->url());
  auto tenant = root.Post("/api/v1/tenants", R"({"id":"initech"})");
  ASSERT_TRUE(tenant.has_value());
  ASSERT_EQ(tenant->status, 201) << tenant->body;
  auto user = root.Post("/api/v1/users", R"({"email":"peter@initech.test","role":"admin",
      "tenant":"initech","password":"a password of some length"})");
  ASSERT_TRUE(user.has_value());
  ASSERT_EQ(user->status, 201) << user->body;
  for (const char* password : {"a wrong password entirely", "a password of some length"}) {
    auto login = ApiClient(server_->url(), "")
                     .Post("/api/v1/auth/login",
                           json{{"email", "peter@initech.test"}, {"password", password}}.dump());
    ASSERT_TRUE(login.has_value());
  }
  const json logs = Get("?company=initech&type=authentication&user=peter@initech.test");
  ASSERT_EQ(logs.size(), 2u) << logs;
  EXPECT_EQ(logs[0]["details"], json::parse(R"({"user":"peter@initech.test","status":"SUCCESS",
      "entrypoint":"PASSWORD"})"));
  EXPECT_EQ(logs[1]["details"]["status"], "FAILURE");
}

}  // namespace
}  // namespace evident::integration
