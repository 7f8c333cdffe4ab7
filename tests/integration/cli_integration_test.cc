// `evident ingest` and `evident query` against a real server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "evident/util/time.h"
#include "integration/harness.h"

namespace evident::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr util::UnixMillis kBaseTime = 1746775626123;  // 2025-05-09T07:27:06.123Z

// Event `number` of a generated data set: two tenants, seven users, distinct times (one second
// apart, so newest-first order is known), an idempotency key.
nlohmann::json MakeEvent(int number) {
  static const char* const kActions[] = {"create", "update", "delete", "login"};
  return {
      {"id", "evt-" + std::to_string(number)},
      {"tenant", number % 3 == 0 ? "globex" : "acme"},
      {"workspace", "prod"},
      {"action", kActions[number % 4]},
      {"status", number % 5 == 0 ? "failure" : "success"},
      {"occurred_at", util::FormatRfc3339Millis(kBaseTime + int64_t{number} * 1000)},
      {"actor",
       {{"id", "u_" + std::to_string(number % 7)},
        {"email", "user" + std::to_string(number % 7) + "@acme.test"}}},
      {"resource", {{"type", "wireguard"}, {"id", "wg_" + std::to_string(number)}}},
      {"request",
       {{"method", "POST"},
        {"path", "/api/wireguard"},
        {"status_code", 201},
        {"duration_ms", 12},
        {"ip", "203.0.113." + std::to_string(number % 250)}}},
      {"details", {{"number", number}}},
  };
}

std::string Ndjson(const std::vector<nlohmann::json>& events) {
  std::string text;
  for (const nlohmann::json& event : events) text += event.dump() + "\n";
  return text;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    util::Status started = server_.Start();
    ASSERT_TRUE(started.has_value()) << started.error().message();
  }

  // Runs `evident <args> --url <server>` with the admin token in EVIDENT_TOKEN.
  CommandResult Evident(std::vector<std::string> args, std::string_view stdin_data = {}) {
    args.push_back("--url");
    args.push_back(server_.url());
    return RunEvident(args, {{"EVIDENT_TOKEN", kAdminToken}}, stdin_data);
  }

  // Writes `text` to a file of the test's own temporary directory.
  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = ::testing::TempDir() + "evident-cli-" + name;
    std::ofstream(path, std::ios::binary) << text;
    files_.push_back(path);
    return path;
  }

  // Every stored event, through `evident query --json --all` with a small page size.
  // Every event of the tenants the tests write (not Evident's own events in tenant system).
  std::vector<nlohmann::json> QueryAll(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "query", "--json", "--all", "--limit", "37", "--tenant", "acme,globex,initech"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult result = Evident(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::vector<nlohmann::json> events;
    for (const std::string& line : SplitLines(result.out)) {
      events.push_back(nlohmann::json::parse(line, nullptr, false));
      EXPECT_TRUE(events.back().is_object()) << line;
    }
    return events;
  }

  void TearDown() override {
    for (const std::string& path : files_) std::remove(path.c_str());
  }

  ServerProcess server_;
  std::vector<std::string> files_;
};

TEST_F(CliTest, IngestedEventsComeBackFromQueryExactly) {
  constexpr int kCount = 250;
  std::vector<nlohmann::json> sent;
  for (int number = 0; number < kCount; ++number) sent.push_back(MakeEvent(number));
  std::string path = WriteFile("all.ndjson", Ndjson(sent));

  CommandResult ingest = Evident({"ingest", path, "--batch", "40", "--parallel", "3"});
  EXPECT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_EQ(ingest.out, "accepted 250, duplicate 0, refused 0\n");
  EXPECT_THAT(ingest.err, IsEmpty());  // not a terminal: no progress bar

  std::vector<nlohmann::json> stored = QueryAll();
  ASSERT_EQ(stored.size(), static_cast<size_t>(kCount));
  std::set<std::string> ids;
  for (size_t position = 0; position < stored.size(); ++position) {
    const nlohmann::json& event = stored[position];
    ids.insert(event.value("id", ""));
    // Newest first: the generated times descend with the number.
    const nlohmann::json& original = sent[kCount - 1 - position];
    EXPECT_EQ(event["id"], original["id"]);
    EXPECT_EQ(event["tenant"], original["tenant"]);
    EXPECT_EQ(event["action"], original["action"]);
    EXPECT_EQ(event["occurred_at"], original["occurred_at"]);
    EXPECT_EQ(event["actor"]["email"], original["actor"]["email"]);
    EXPECT_EQ(event["resource"], original["resource"]);
    EXPECT_EQ(event["details"], original["details"]);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCount));

  // Sending the same file again stores nothing: every event carries its idempotency key.
  CommandResult again = Evident({"ingest", path, "--batch", "100"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "accepted 0, duplicate 250, refused 0\n");
  EXPECT_EQ(QueryAll().size(), static_cast<size_t>(kCount));
}

TEST_F(CliTest, IngestReadsStandardInput) {
  std::vector<nlohmann::json> sent = {MakeEvent(1), MakeEvent(2), MakeEvent(3)};
  CommandResult ingest = Evident({"ingest", "-", "--batch", "2"}, Ndjson(sent));
  EXPECT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_EQ(ingest.out, "accepted 3, duplicate 0, refused 0\n");
  EXPECT_EQ(QueryAll().size(), 3u);
}

TEST_F(CliTest, BadLineRefusesItsWholeBatchAndNothingElse) {
  std::vector<nlohmann::json> sent;
  for (int number = 1; number <= 10; ++number) sent.push_back(MakeEvent(number));
  sent[5]["request"]["status_code"] = "two hundred";  // line 6, in the batch of lines 5-8
  std::string path = WriteFile("bad.ndjson", Ndjson(sent));

  CommandResult ingest = Evident({"ingest", path, "--batch", "4", "--parallel", "2"});
  EXPECT_EQ(ingest.exit_code, 1) << ingest.err;
  EXPECT_EQ(ingest.out, "accepted 6, duplicate 0, refused 4\n");
  EXPECT_THAT(ingest.err, HasSubstr("line 6: request.status_code"));

  std::set<std::string> stored_ids;
  for (const nlohmann::json& event : QueryAll()) stored_ids.insert(event.value("id", ""));
  EXPECT_EQ(stored_ids,
            (std::set<std::string>{"evt-1", "evt-2", "evt-3", "evt-4", "evt-9", "evt-10"}));
}

TEST_F(CliTest, UnparsableLineIsReportedWithItsLineNumber) {
  std::string text = Ndjson({MakeEvent(1)}) + "\n{\"action\": \n" + Ndjson({MakeEvent(2)});
  std::string path = WriteFile("broken.ndjson", text);
  CommandResult ingest = Evident({"ingest", path});
  EXPECT_EQ(ingest.exit_code, 1) << ingest.err;
  EXPECT_EQ(ingest.out, "accepted 0, duplicate 0, refused 3\n");
  EXPECT_THAT(ingest.err, HasSubstr("line 3"));
  EXPECT_THAT(QueryAll(), IsEmpty());
}

TEST_F(CliTest, WrongTokenIsAClearErrorAndStoresNothing) {
  std::string path = WriteFile("token.ndjson", Ndjson({MakeEvent(1), MakeEvent(2)}));
  CommandResult ingest = RunEvident(
      {"ingest", path, "--url", server_.url(), "--token", "not-the-token", "--batch", "1"});
  EXPECT_EQ(ingest.exit_code, 2);
  EXPECT_THAT(ingest.err, HasSubstr("401"));
  EXPECT_THAT(ingest.err, HasSubstr("token"));

  CommandResult query =
      RunEvident({"query", "--url", server_.url()}, {{"EVIDENT_TOKEN", "not-the-token"}});
  EXPECT_NE(query.exit_code, 0);
  EXPECT_THAT(query.err, HasSubstr("401"));
  EXPECT_THAT(query.out, IsEmpty());

  CommandResult anonymous = RunEvident({"query", "--url", server_.url()});
  EXPECT_NE(anonymous.exit_code, 0);
  EXPECT_THAT(anonymous.err, HasSubstr("401"));

  EXPECT_THAT(QueryAll(), IsEmpty());
}

TEST_F(CliTest, QueryPrintsAnAlignedTableNewestFirstWithTotal) {
  ApiClient api(server_.url());
  nlohmann::json first = {{"tenant", "acme"},
                          {"action", "create"},
                          {"occurred_at", "2025-05-09T07:27:06.123Z"},
                          {"actor", {{"id", "u_1"}, {"email", "ana@acme.test"}}},
                          {"resource", {{"type", "wireguard"}, {"id", "wg_42"}}},
                          {"request", {{"ip", "203.0.113.9"}}}};
  nlohmann::json second = {
      {"tenant", "acme"},         {"action", "delete"},
      {"status", "failure"},      {"occurred_at", "2025-05-09T08:00:00.000Z"},
      {"actor", {{"id", "u_2"}}}, {"resource", {{"type", "document"}, {"id", "doc_7"}}}};
  nlohmann::json elsewhere = {{"tenant", "globex"}, {"action", "create"}};
  auto posted = api.PostEvents(nlohmann::json::array({first, second, elsewhere}));
  ASSERT_TRUE(posted.has_value()) << posted.error().message();
  ASSERT_EQ(posted->status, 201) << posted->body;

  CommandResult query = Evident({"query", "--tenant", "acme"});
  ASSERT_EQ(query.exit_code, 0) << query.err;
  std::vector<std::string> lines = SplitLines(query.out);
  ASSERT_EQ(lines.size(), 4u) << query.out;
  EXPECT_THAT(lines[0], StartsWith("TIME"));
  for (const char* column : {"TENANT", "USER", "ACTION", "RESOURCE", "STATUS", "IP"}) {
    EXPECT_THAT(lines[0], HasSubstr(column));
  }
  EXPECT_THAT(lines[1], StartsWith("2025-05-09T08:00:00.000Z  acme"));
  EXPECT_THAT(lines[1], HasSubstr("u_2"));
  EXPECT_THAT(lines[1], HasSubstr("document:doc_7"));
  EXPECT_THAT(lines[1], HasSubstr("failure"));
  EXPECT_THAT(lines[2], StartsWith("2025-05-09T07:27:06.123Z  acme"));
  EXPECT_THAT(lines[2], HasSubstr("ana@acme.test"));
  EXPECT_THAT(lines[2], HasSubstr("wireguard:wg_42"));
  EXPECT_THAT(lines[2], HasSubstr("success"));
  EXPECT_THAT(lines[2], HasSubstr("203.0.113.9"));
  // Aligned: the ACTION column starts at the same offset in every line.
  size_t action_column = lines[0].find("ACTION");
  EXPECT_EQ(lines[1].substr(action_column, 6), "delete");
  EXPECT_EQ(lines[2].substr(action_column, 6), "create");
  EXPECT_EQ(lines[3], "total: 2");

  CommandResult first_only = Evident({"query", "--tenant", "acme", "--limit", "1"});
  ASSERT_EQ(first_only.exit_code, 0) << first_only.err;
  EXPECT_THAT(first_only.out, HasSubstr("total: 2 (showing 1;"));
}

TEST_F(CliTest, FilterValuesSurviveTheQueryString) {
  ApiClient api(server_.url());
  auto posted = api.PostEvents(nlohmann::json::array({
      {{"tenant", "acme"},
       {"action", "open"},
       {"occurred_at", "2025-05-09T07:00:00.000Z"},
       {"actor", {{"email", "Ana+ops@acme.test"}}},
       {"details", {{"note", "door & window opened"}}}},
      {{"tenant", "acme"},
       {"action", "open"},
       {"occurred_at", "2025-05-09T09:00:00.000Z"},
       {"actor", {{"email", "bob@acme.test"}}},
       {"details", {{"note", "window closed"}}}},
  }));
  ASSERT_TRUE(posted.has_value()) << posted.error().message();
  ASSERT_EQ(posted->status, 201) << posted->body;

  auto emails_of = [&](std::vector<std::string> args) {
    std::vector<std::string> emails;
    for (const nlohmann::json& event : QueryAll(std::move(args))) {
      emails.push_back(event["actor"].value("email", ""));
    }
    return emails;
  };
  // '+' and '@' must arrive as themselves, not as a space.
  EXPECT_EQ(emails_of({"--user", "ana+ops@acme.test"}),
            std::vector<std::string>{"Ana+ops@acme.test"});
  EXPECT_EQ(emails_of({"-q", "\"window opened\""}), std::vector<std::string>{"Ana+ops@acme.test"});
  // A '+' in a time offset: 10:30+02:00 is 08:30Z.
  EXPECT_EQ(emails_of({"--from", "2025-05-09T10:30:00+02:00"}),
            std::vector<std::string>{"bob@acme.test"});
  EXPECT_EQ(emails_of({"--to", "2025-05-09T10:30:00+02:00"}),
            std::vector<std::string>{"Ana+ops@acme.test"});
}

TEST_F(CliTest, QueryShowsTheServersProblemDetails) {
  CommandResult query = Evident({"query", "--from", "yesterday-ish"});
  EXPECT_EQ(query.exit_code, 1);
  EXPECT_THAT(query.err, HasSubstr("400"));
  EXPECT_THAT(query.err, HasSubstr("from"));
  EXPECT_THAT(query.out, IsEmpty());
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunEvident({"ingest"}).exit_code, 2);
  EXPECT_EQ(RunEvident({"query", "--limit", "0"}).exit_code, 2);
  EXPECT_EQ(RunEvident({"frobnicate"}).exit_code, 2);
  CommandResult missing = Evident({"ingest", "/nonexistent/events.ndjson"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("cannot open"));
  CommandResult help = RunEvident({"ingest", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("idempotency"));
}

TEST(ServerProcessTest, StopsGracefullyAndRestartsOnTheSameData) {
  ServerProcess server;
  util::Status started = server.Start();
  ASSERT_TRUE(started.has_value()) << started.error().message();
  EXPECT_THAT(server.url(), StartsWith("http://127.0.0.1:"));
  {
    ApiClient api(server.url());
    auto posted = api.PostEvents({{"tenant", "acme"}, {"action", "kept"}});
    ASSERT_TRUE(posted.has_value()) << posted.error().message();
    ASSERT_EQ(posted->status, 201) << posted->body;
  }
  auto exit_code = server.Terminate();
  ASSERT_TRUE(exit_code.has_value()) << exit_code.error().message();
  EXPECT_EQ(*exit_code, 0) << server.Output();
  EXPECT_FALSE(server.running());

  CommandResult unreachable =
      RunEvident({"query", "--url", server.url()}, {{"EVIDENT_TOKEN", kAdminToken}});
  EXPECT_EQ(unreachable.exit_code, 2);
  EXPECT_THAT(unreachable.err, HasSubstr("cannot reach the server"));

  util::Status restarted = server.Restart();
  ASSERT_TRUE(restarted.has_value()) << restarted.error().message();
  ApiClient api(server.url());
  auto page = api.Get("/api/v1/events", {{"action", "kept"}});
  ASSERT_TRUE(page.has_value()) << page.error().message();
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_EQ(ParseJson(*page)["total"], 1);

  auto killed = server.Kill9();
  ASSERT_TRUE(killed.has_value());
  EXPECT_EQ(*killed, 128 + 9);
}

}  // namespace
}  // namespace evident::integration
