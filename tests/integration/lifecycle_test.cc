// The server as a process: paging while events arrive, refusals that change nothing, secrets that
// never reach the disk, crashes right after an acknowledgement, graceful shutdown, its threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "bench/thread_usage.h"
#include "integration/data_dir.h"
#include "integration/harness.h"

namespace evident::integration {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json Event(const std::string& tenant, const std::string& id, int64_t occurred_at = 0) {
  json event = {{"tenant", tenant}, {"action", "create"}, {"id", id}};
  if (occurred_at != 0) event["occurred_at"] = occurred_at;
  return event;
}

// The number of events matching `query` (e.g. "&tenant=acme"), leaving out Evident's own events
// (tenant system) when the query names no tenant.
uint64_t Total(ApiClient& api, const std::string& query = "") {
  auto count = [&](const std::string& text) -> uint64_t {
    auto response = api.Get("/api/v1/events?limit=1" + text);
    EXPECT_TRUE(response.has_value());
    if (!response || response->status != 200) return UINT64_MAX;
    return ParseJson(*response)["total"].get<uint64_t>();
  };
  if (query.find("tenant=") != std::string::npos) return count(query);
  return count(query) - count(query + "&tenant=system");
}

// True when any file under `dir` contains `needle`.
bool DirContains(const fs::path& dir, const std::string& needle) {
  return !FilesContaining(dir, needle).empty();
}

TEST(Paging, CursorIsExactWhileEventsArrive) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  ApiClient api(server.url());
  json batch = json::array();
  for (int i = 0; i < 300; ++i) {
    batch.push_back(Event(i % 2 ? "acme" : "globex", "old-" + std::to_string(i),
                          1'746'000'000'000 + (i % 40) * 1000));  // many ties
  }
  auto posted = api.PostEvents(batch);
  ASSERT_TRUE(posted.has_value());
  ASSERT_EQ(posted->status, 201) << posted->body;

  auto first = api.Get("/api/v1/events?tenant=acme,globex&limit=20");
  ASSERT_TRUE(first.has_value());
  json page = ParseJson(*first);
  std::vector<std::string> ids;
  for (const json& event : page["events"]) ids.push_back(event["id"]);

  // From now on, new events arrive, all newer than the first page: none may appear later.
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    ApiClient writer_api(server.url());
    for (int i = 0; i < 100 && !stop; ++i) {
      auto response = writer_api.PostEvents(
          Event(i % 2 ? "acme" : "globex", "new-" + std::to_string(i), 1'800'000'000'000));
      if (response && response->status == 201) ++written;
    }
  });
  while (!page["next_cursor"].is_null()) {
    auto next = api.Get("/api/v1/events?tenant=acme,globex&limit=20&cursor=" +
                        page["next_cursor"].get<std::string>());
    ASSERT_TRUE(next.has_value());
    ASSERT_EQ(next->status, 200) << next->body;
    page = ParseJson(*next);
    for (const json& event : page["events"]) ids.push_back(event["id"]);
  }
  stop = true;
  writer.join();
  const std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size()) << "an event appeared twice";
  EXPECT_EQ(unique.size(), 300u) << "an event was skipped or a new one slipped in";
  for (const std::string& id : ids) EXPECT_EQ(id.rfind("old-", 0), 0u) << id;
  EXPECT_EQ(Total(api, "&tenant=acme,globex"), 300u + static_cast<uint64_t>(written.load()));
}

TEST(Refusals, BadInputIsExplainedAndStoresNothing) {
  ServerOptions options;
  options.env = {{"EVIDENT_MAX_BODY_BYTES", "65536"}};
  ServerProcess server(options);
  ASSERT_TRUE(server.Start()) << server.Output();
  ApiClient api(server.url());
  ASSERT_EQ(api.PostEvents(Event("acme", "first"))->status, 201);

  struct Case {
    std::string body;
    std::string content_type;
    long status;
    std::string field;  // of the first error, when status is 400
  } cases[] = {
      {R"([{"tenant":"acme","action":"ok"},{"tenant":"acme","action":"x","colour":"red"}])",
       "application/json", 400, "colour"},
      {R"({"tenant":"acme","action":"x","request":{"status_code":"201"}})", "application/json", 400,
       "request.status_code"},
      {R"({"tenant":"acme","action":"x","request":{"ip":"300.1.2.3"}})", "application/json", 400,
       "request.ip"},
      {"{\"tenant\":\"acme\",\"action\":\"caf\xc3\"}", "application/json", 400, ""},
      {R"({"tenant":"acme","action":"x","details":"text"})", "application/json", 400, "details"},
      {R"({"tenant":"Acme Corp","action":"x"})", "application/json", 400, "tenant"},
      {R"({"tenant":"acme"})", "application/json", 400, "action"},
      {"{\"tenant\":\"acme\",\"action\":\"x\"}\n{broken\n", "application/x-ndjson", 400, ""},
      {R"({"tenant":"acme","action":"x"})", "text/plain", 415, ""},
      {R"({"tenant":"acme","action":"x","details":{"pad":")" + std::string(70000, 'a') + "\"}}",
       "application/json", 413, ""},
  };
  for (const Case& c : cases) {
    auto response = api.Post("/api/v1/events", c.body, c.content_type);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, c.status) << c.body.substr(0, 120) << " -> " << response->body;
    EXPECT_EQ(response->Header("content-type").value_or(""), "application/problem+json");
    if (c.status == 400) {
      json problem = ParseJson(*response);
      ASSERT_TRUE(problem["errors"].is_array()) << response->body;
      ASSERT_FALSE(problem["errors"].empty());
      if (!c.field.empty()) {
        EXPECT_EQ(problem["errors"][0]["field"], c.field) << response->body;
      }
      EXPECT_FALSE(problem["errors"][0]["message"].get<std::string>().empty());
      EXPECT_TRUE(problem["errors"][0].contains("index"));
    }
  }
  // Idempotency: the same id and content is acknowledged as a duplicate and stored once...
  auto again = api.PostEvents(Event("acme", "first"));
  ASSERT_EQ(again->status, 201);
  EXPECT_EQ(ParseJson(*again)["events"][0]["duplicate"], true);
  EXPECT_EQ(ParseJson(*again)["events"][0]["seq"], 0);
  // ...while other content under that id refuses the whole request.
  json conflicting = json::array({Event("acme", "fresh"), Event("acme", "first")});
  conflicting[1]["action"] = "delete";
  auto conflict = api.PostEvents(conflicting);
  EXPECT_EQ(conflict->status, 409) << conflict->body;
  EXPECT_EQ(Total(api), 1u) << "a refused request stored something";

  ApiClient anonymous(server.url(), "");
  auto unauthorized = anonymous.Get("/api/v1/events");
  EXPECT_EQ(unauthorized->status, 401);
  EXPECT_EQ(unauthorized->Header("www-authenticate").value_or("").rfind("Bearer", 0), 0u);
  ApiClient wrong(server.url(), "evd_wrong");
  EXPECT_EQ(wrong.PostEvents(Event("acme", "sneaky"))->status, 401);
  EXPECT_EQ(Total(api), 1u);
}

TEST(Secrets, NeverReachTheDataDirectory) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  ApiClient api(server.url());
  const std::string secrets[] = {"hunter2-d41d8cd98f", "sk_live_5f2b7c1e9a", "refresh-77c0ffee",
                                 "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"};
  json event = {
      {"tenant", "acme"},
      {"action", "update"},
      {"details",
       {{"password", secrets[0]},
        {"nested", json::array({{{"Api-Key", secrets[1]}}})},
        {"oauth", {{"refresh_token", secrets[2]}}},
        {"pem", "-----BEGIN PRIVATE KEY-----\n" + secrets[3] + "\n-----END PRIVATE KEY-----"},
        {"note", "kept"}}}};
  auto response = api.PostEvents(event);
  ASSERT_EQ(response->status, 201) << response->body;
  auto stored = api.Get("/api/v1/events?tenant=acme");
  json found = ParseJson(*stored)["events"][0]["details"];
  EXPECT_EQ(found["password"], "[REDACTED]");
  EXPECT_EQ(found["nested"][0]["Api-Key"], "[REDACTED]");
  EXPECT_EQ(found["oauth"]["refresh_token"], "[REDACTED]");
  EXPECT_EQ(found["pem"], "[REDACTED]");
  EXPECT_EQ(found["note"], "kept");
  // Crash rather than stop, so that the WAL is left as it is, then look at every byte on disk.
  ASSERT_TRUE(server.Kill9().has_value());
  for (const std::string& secret : secrets) {
    EXPECT_FALSE(DirContains(server.data_dir(), secret)) << secret;
  }
  EXPECT_FALSE(DirContains(server.data_dir(), kAdminToken));
  // The stored events themselves, decompressed: the kept value is there, no secret is.
  const std::string on_disk = StoredEventsText(server.data_dir());
  EXPECT_NE(on_disk.find("\"note\":\"kept\""), std::string::npos) << "control: events not read";
  for (const std::string& secret : secrets) {
    EXPECT_EQ(on_disk.find(secret), std::string::npos) << secret;
  }
  EXPECT_EQ(server.Output().find(secrets[0]), std::string::npos);
}

TEST(Durability, AcknowledgedEventsSurviveKill9) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&, c] {
      ApiClient api(server.url());
      for (int i = 0; i < 30; ++i) {
        json batch = json::array();
        for (int k = 0; k < 20; ++k) {
          batch.push_back(
              Event("t" + std::to_string(c),
                    std::to_string(c) + "-" + std::to_string(i) + "-" + std::to_string(k)));
        }
        auto response = api.PostEvents(batch);
        if (response && response->status == 201) acknowledged += 20;
      }
    });
  }
  for (auto& client : clients) client.join();
  // Killed right after the last acknowledgement: nothing acknowledged may be lost.
  ASSERT_TRUE(server.Kill9().has_value());
  ASSERT_TRUE(server.Start()) << server.Output();
  ApiClient api(server.url());
  EXPECT_EQ(acknowledged.load(), 1800);
  EXPECT_EQ(Total(api), static_cast<uint64_t>(acknowledged.load()));
  for (int c = 0; c < 3; ++c) {
    auto one = api.Get("/api/v1/tenants/t" + std::to_string(c) + "/events/" + std::to_string(c) +
                       "-29-19");
    EXPECT_EQ(one->status, 200);
  }
  // Seqs continue gap-free after the restart.
  auto more = api.PostEvents(Event("t0", "after-restart"));
  ASSERT_EQ(more->status, 201);
  EXPECT_EQ(ParseJson(*more)["events"][0]["seq"], 600);
}

TEST(Shutdown, SigtermAnswersEverythingInFlightAndExitsZero) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  std::atomic<int> acknowledged{0}, refused{0}, started{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      ApiClient api(server.url());
      for (int i = 0; i < 50; ++i) {
        json batch = json::array();
        for (int k = 0; k < 50; ++k) {
          batch.push_back(
              Event("acme", std::to_string(c) + "-" + std::to_string(i) + "-" + std::to_string(k)));
        }
        ++started;
        auto response = api.PostEvents(batch);
        if (!response) break;  // the server has closed: stop sending
        if (response->status == 201) {
          acknowledged += 50;
        } else {
          ++refused;  // 503 while shutting down is allowed; a lost answer is not
          break;
        }
      }
    });
  }
  while (started.load() < 8) std::this_thread::yield();
  auto exit_code = server.Terminate();
  for (auto& client : clients) client.join();
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0) << server.Output();
  ASSERT_TRUE(server.Start()) << server.Output();
  ApiClient api(server.url());
  EXPECT_GT(acknowledged.load(), 0);
  EXPECT_EQ(Total(api), static_cast<uint64_t>(acknowledged.load()))
      << "every acknowledged event is stored, and nothing unacknowledged";
}

TEST(Metrics, ExposesTheNamedSeries) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  ApiClient api(server.url());
  ASSERT_EQ(api.PostEvents(Event("acme", "m1"))->status, 201);
  ASSERT_EQ(api.Get("/api/v1/events")->status, 200);
  auto metrics = api.Get("/metrics");
  ASSERT_EQ(metrics->status, 200);
  for (const char* name :
       // One event posted, and the first start's audit event (tenant system).
       {"evident_events_ingested_total 2", "evident_http_request_duration_seconds_bucket",
        "evident_writer_queue_depth", "evident_commit_batch_size_bucket",
        "evident_database_bytes{kind=\"log\"}", "evident_database_bytes{kind=\"index\"}",
        "evident_indexer_lag_events"}) {
    EXPECT_NE(metrics->body.find(name), std::string::npos) << name;
  }
  auto health = api.Get("/healthz");
  EXPECT_EQ(health->status, 200);
}

TEST(Threads, IngestIsDecodedBelowTheServersPriority) {
  for (const auto& [setting, lowered_by] :
       std::vector<std::pair<std::string, int>>{{"", 5}, {"7", 7}, {"0", 0}}) {
    ServerOptions options;
    if (!setting.empty()) options.env.emplace_back("EVIDENT_INGEST_NICE", setting);
    ServerProcess server(options);
    ASSERT_TRUE(server.Start()) << server.Output();
    ApiClient api(server.url());
    ASSERT_EQ(api.PostEvents(Event("acme", "n1"))->status, 201) << setting;

    const std::map<pid_t, bench::ThreadTotals> threads = bench::ReadThreads(server.pid());
    const auto main_thread = threads.find(server.pid());
    ASSERT_NE(main_thread, threads.end());
    const int base = main_thread->second.nice;
    int ingest_threads = 0;
    int index_threads = 0;
    for (const auto& [tid, thread] : threads) {
      const bool ingest = thread.name == "evident-ingest";
      ingest_threads += ingest ? 1 : 0;
      index_threads += thread.name == "evident-index" ? 1 : 0;
      EXPECT_EQ(thread.nice, ingest ? std::min(19, base + lowered_by) : base)
          << thread.name << ", EVIDENT_INGEST_NICE=" << setting;
    }
    EXPECT_GE(ingest_threads, 1);
    EXPECT_EQ(index_threads, 1);
    ASSERT_TRUE(server.Terminate().has_value());
  }
}

}  // namespace
}  // namespace evident::integration
