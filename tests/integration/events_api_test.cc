// End-to-end tests of the HTTP API against the real `evident serve` binary over loopback.
// Expectations are computed here, independently of the server's code, from the generated data.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "integration/harness.h"
#include "integration/suite_setup.h"

namespace evident::integration {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// One generated event and what the test knows about it.
struct Sent {
  std::string id, tenant, workspace, type, action, status, email, actor_id, resource_type,
      resource_name, method, path, ip, note;
  int64_t occurred_at = 0;
  json ToJson() const {
    json event = {
        {"id", id},
        {"tenant", tenant},
        {"type", type},
        {"action", action},
        {"status", status},
        {"occurred_at", occurred_at},
        {"actor", {{"id", actor_id}, {"email", email}}},
        {"resource", {{"type", resource_type}, {"id", "r-" + id}, {"name", resource_name}}},
        {"request", {{"method", method}, {"path", path}, {"ip", ip}, {"status_code", 200}}},
        {"details", {{"note", note}, {"nested", {{"words", {note + " extra"}}}}}}};
    if (!workspace.empty()) event["workspace"] = workspace;
    return event;
  }
};

std::vector<std::string> LowerWords(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  return words;
}

bool HasWord(const Sent& e, const std::string& word) {
  for (const std::string* field : {&e.action, &e.email, &e.actor_id, &e.resource_type,
                                   &e.resource_name, &e.path, &e.workspace, &e.note}) {
    for (const std::string& w : LowerWords(*field)) {
      if (w == word) return true;
    }
  }
  std::string rid = "r-" + e.id;
  for (const std::string& w : LowerWords(rid)) {
    if (w == word) return true;
  }
  return false;
}

class ApiTest : public ::testing::Test {
 protected:
  // The shared set-up's failures are kept for each test to report (suite_setup.h).
  static void SetUpTestSuite() { setup_failures_ = CaptureFailures(SetUpSuite); }
  inline static std::string setup_failures_;
  void SetUp() override { ASSERT_EQ(setup_failures_, "") << "the suite's set-up failed"; }
  static void SetUpSuite() {
    server_ = new ServerProcess();
    ASSERT_TRUE(server_->Start()) << server_->Output();
    api_ = new ApiClient(server_->url());
    // A fixed data set: 3 tenants, 12 users, a spread of actions, statuses, methods and times.
    std::mt19937 rng(7);
    const std::vector<std::string> tenants = {"acme", "globex", "initech"};
    const std::vector<std::string> actions = {"create", "update", "delete", "revoke", "assign"};
    const std::vector<std::string> statuses = {"success", "success", "failure", "blocked"};
    const std::vector<std::string> methods = {"GET", "POST", "PUT", "DELETE", "PATCH"};
    const std::vector<std::string> types = {"activity", "activity", "authentication", "token"};
    const std::vector<std::string> notes = {"rotated keys", "blue moon rising", "office tunnel",
                                            "quota exceeded", "keys rotated twice"};
    for (int i = 0; i < 900; ++i) {
      Sent e;
      e.id = "ev-" + std::to_string(i);
      e.tenant = tenants[rng() % tenants.size()];
      e.workspace = i % 7 == 0 ? "" : (i % 2 ? "prod" : "staging");
      e.type = types[rng() % types.size()];
      e.action = actions[rng() % actions.size()];
      e.status = statuses[rng() % statuses.size()];
      const int user = static_cast<int>(rng() % 12);
      e.email = "User" + std::to_string(user) + "@Example.test";
      e.actor_id = "u_" + std::to_string(user);
      e.resource_type = i % 3 ? "wireguard" : "edge";
      e.resource_name = i % 5 ? "office link" : "lab";
      e.method = methods[rng() % methods.size()];
      e.path = "/api/" + e.resource_type + "/" + std::to_string(i);
      e.ip = "10.0.0." + std::to_string(rng() % 8);
      e.note = notes[rng() % notes.size()];
      // Many share a millisecond, to test ties; times span 50 days.
      e.occurred_at = kBase + static_cast<int64_t>(rng() % 1000) * 4'320'000;
      sent_->push_back(e);
    }
    std::string ndjson;
    for (const Sent& e : *sent_) ndjson += e.ToJson().dump() + "\n";
    auto response = api_->PostNdjson(ndjson);
    ASSERT_TRUE(response.has_value());
    ASSERT_EQ(response->status, 201) << response->body;
    ASSERT_EQ(json::parse(response->body)["accepted"], 900);
  }
  static void TearDownTestSuite() {
    delete api_;
    delete server_;
    api_ = nullptr;
    server_ = nullptr;
  }

  static json GetJson(const std::string& path_and_query, long expected_status = 200) {
    auto response = api_->Get(path_and_query);
    EXPECT_TRUE(response.has_value());
    if (!response) return {};
    EXPECT_EQ(response->status, expected_status) << path_and_query << " -> " << response->body;
    return ParseJson(*response);
  }

  // Pages through the whole result; returns ids in answer order and checks `total` each page.
  static std::vector<std::string> AllIds(const std::string& query, size_t page_size = 37) {
    std::vector<std::string> ids;
    std::string cursor;
    for (int guard = 0; guard < 1000; ++guard) {
      json page = GetJson("/api/v1/events?" + query + "&limit=" + std::to_string(page_size) +
                          (cursor.empty() ? "" : "&cursor=" + cursor));
      for (const json& event : page["events"]) ids.push_back(event["id"]);
      if (page["next_cursor"].is_null()) break;
      cursor = page["next_cursor"];
    }
    return ids;
  }

  // The ids of the events Evident wrote about itself.
  static const std::set<std::string>& OwnEventIds() {
    static const std::set<std::string> ids = [] {
      const std::vector<std::string> all = AllIds("tenant=system");
      return std::set<std::string>(all.begin(), all.end());
    }();
    return ids;
  }

  // The expected answer order: occurred_at descending; ties in any stable order, so compare
  // orders by time only and sets exactly.
  static void ExpectMatches(const std::string& query,
                            const std::function<bool(const Sent&)>& want) {
    std::vector<const Sent*> expected;
    for (const Sent& e : *sent_) {
      if (want(e)) expected.push_back(&e);
    }
    // Evident's own events (tenant system: the first start's audit event) match unscoped
    // queries too; they are not part of the generated set.
    std::vector<std::string> got;
    for (const std::string& id : AllIds(query)) {
      if (!OwnEventIds().contains(id)) got.push_back(id);
    }
    std::set<std::string> got_set(got.begin(), got.end());
    EXPECT_EQ(got_set.size(), got.size()) << query << ": duplicates across pages";
    std::set<std::string> expected_set;
    for (const Sent* e : expected) expected_set.insert(e->id);
    EXPECT_EQ(got_set, expected_set) << query;
    std::map<std::string, int64_t> time_of;
    for (const Sent& e : *sent_) time_of[e.id] = e.occurred_at;
    for (size_t i = 1; i < got.size(); ++i) {
      EXPECT_GE(time_of[got[i - 1]], time_of[got[i]]) << query << ": not newest first at " << i;
    }
    json first = GetJson("/api/v1/events?" + query);
    const uint64_t own =
        query.find("tenant=") == std::string::npos
            ? GetJson("/api/v1/events?" + query + "&tenant=system")["total"].get<uint64_t>()
            : 0;
    EXPECT_EQ(first["total"].get<uint64_t>() - own, expected.size()) << query;
    EXPECT_EQ(first["events"].size(), std::min<size_t>(20, expected.size() + own)) << query;
  }

  static constexpr int64_t kBase = 1'746'000'000'000;
  static ServerProcess* server_;
  static ApiClient* api_;
  static std::vector<Sent>* sent_;
};

ServerProcess* ApiTest::server_ = nullptr;
ApiClient* ApiTest::api_ = nullptr;
std::vector<Sent>* ApiTest::sent_ = new std::vector<Sent>();

TEST_F(ApiTest, EveryFilterMatchesAnIndependentExpectation) {
  ExpectMatches("tenant=acme", [](const Sent& e) { return e.tenant == "acme"; });
  ExpectMatches("tenant=acme,initech",
                [](const Sent& e) { return e.tenant == "acme" || e.tenant == "initech"; });
  ExpectMatches("workspace=prod", [](const Sent& e) { return e.workspace == "prod"; });
  ExpectMatches("type=authentication,token",
                [](const Sent& e) { return e.type == "authentication" || e.type == "token"; });
  ExpectMatches("action=revoke", [](const Sent& e) { return e.action == "revoke"; });
  ExpectMatches("resource_type=edge", [](const Sent& e) { return e.resource_type == "edge"; });
  ExpectMatches("status=failure,blocked",
                [](const Sent& e) { return e.status == "failure" || e.status == "blocked"; });
  ExpectMatches("method=DELETE,PATCH",
                [](const Sent& e) { return e.method == "DELETE" || e.method == "PATCH"; });
  ExpectMatches("user=user3%40example.TEST",  // emails case-insensitively
                [](const Sent& e) { return e.actor_id == "u_3"; });
  ExpectMatches("user=u_4,user5%40example.test",
                [](const Sent& e) { return e.actor_id == "u_4" || e.actor_id == "u_5"; });
  ExpectMatches("ip=10.0.0.3", [](const Sent& e) { return e.ip == "10.0.0.3"; });
  const int64_t from = kBase + 200 * 4'320'000, to = kBase + 400 * 4'320'000;
  ExpectMatches("from=" + std::to_string(from) + "&to=" + std::to_string(to),
                [&](const Sent& e) { return e.occurred_at >= from && e.occurred_at < to; });
  ExpectMatches("from=2025-05-10T00:00:00Z",
                [](const Sent& e) { return e.occurred_at >= 1746835200000; });
  ExpectMatches("q=rotated", [](const Sent& e) { return HasWord(e, "rotated"); });
  ExpectMatches("q=ROTATED%20keys",
                [](const Sent& e) { return HasWord(e, "rotated") && HasWord(e, "keys"); });
  ExpectMatches("q=%22keys%20rotated%22",
                [](const Sent& e) { return e.note == "keys rotated twice"; });
  ExpectMatches("q=lab", [](const Sent& e) { return e.resource_name == "lab"; });
  ExpectMatches("q=rot", [](const Sent&) { return false; });  // whole words only
  // An address as pasted from a mail header: that whole address, not user11's.
  ExpectMatches("q=%3CUSER1%40example.test%3E%2C",
                [](const Sent& e) { return e.actor_id == "u_1"; });
  ExpectMatches("tenant=globex&action=create,update&status=success&q=office", [](const Sent& e) {
    return e.tenant == "globex" && (e.action == "create" || e.action == "update") &&
           e.status == "success" && HasWord(e, "office");
  });
}

TEST_F(ApiTest, HistogramCountsAddUpToTotal) {
  json histogram = GetJson("/api/v1/events/histogram?tenant=acme&buckets=24");
  json page = GetJson("/api/v1/events?tenant=acme");
  uint64_t sum = 0;
  for (const json& bucket : histogram["buckets"]) sum += bucket["count"].get<uint64_t>();
  EXPECT_EQ(sum, page["total"].get<uint64_t>());
  EXPECT_EQ(histogram["buckets"].size(), 24u);
  EXPECT_GT(histogram["interval_ms"].get<int64_t>(), 0);
}

TEST_F(ApiTest, GetsOneEventOr404) {
  json event = GetJson("/api/v1/tenants/" + (*sent_)[5].tenant + "/events/ev-5");
  EXPECT_EQ(event["id"], "ev-5");
  EXPECT_EQ(event["actor"]["email"], (*sent_)[5].email);
  GetJson("/api/v1/tenants/" + (*sent_)[5].tenant + "/events/no-such-event", 404);
  const std::string other = (*sent_)[5].tenant == "acme" ? "globex" : "acme";
  GetJson("/api/v1/tenants/" + other + "/events/ev-5", 404);
}

TEST_F(ApiTest, BadQueriesAre400) {
  for (const char* query :
       {"limit=0", "limit=1001", "limit=abc", "cursor=garbage", "from=yesterday",
        "to=2025-13-01T00:00:00Z", "type=bogus", "status=ok", "nonsense=1", "q=%22open"}) {
    auto response = api_->Get(std::string("/api/v1/events?") + query);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 400) << query;
    EXPECT_EQ(response->Header("content-type").value_or(""), "application/problem+json") << query;
  }
}

}  // namespace
}  // namespace evident::integration
