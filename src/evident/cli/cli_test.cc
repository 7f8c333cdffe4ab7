#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "evident/cli/common.h"
#include "evident/cli/http_client.h"
#include "evident/cli/ingest.h"
#include "evident/cli/query.h"
#include "evident/util/strings.h"

namespace evident::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Parses `args` (without the program name) with both client subcommands registered.
void Parse(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
  app.parse(args);
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(IngestArguments, Defaults) {
  ScopedEnv url("EVIDENT_URL", "");  // restores the caller's values afterwards
  ScopedEnv token("EVIDENT_TOKEN", "");
  unsetenv("EVIDENT_URL");
  unsetenv("EVIDENT_TOKEN");
  CLI::App app;
  IngestOptions options;
  AddIngestCommand(app, options);
  Parse(app, {"ingest", "events.ndjson"});
  EXPECT_EQ(options.input, "events.ndjson");
  EXPECT_EQ(options.server.url, "http://127.0.0.1:8080");
  EXPECT_EQ(options.server.token, "");
  EXPECT_EQ(options.batch_size, 1000u);
  EXPECT_EQ(options.parallel, 4);
}

TEST(IngestArguments, FlagsAndStdin) {
  CLI::App app;
  IngestOptions options;
  AddIngestCommand(app, options);
  Parse(app, {"ingest", "-", "--batch", "7", "--parallel", "2", "--url", "http://h:1", "--token",
              "secret"});
  EXPECT_EQ(options.input, "-");
  EXPECT_EQ(options.batch_size, 7u);
  EXPECT_EQ(options.parallel, 2);
  EXPECT_EQ(options.server.url, "http://h:1");
  EXPECT_EQ(options.server.token, "secret");
}

TEST(IngestArguments, RejectsBadValues) {
  for (std::vector<std::string> args : {std::vector<std::string>{"ingest", "f", "--batch", "0"},
                                        std::vector<std::string>{"ingest", "f", "--parallel", "0"},
                                        std::vector<std::string>{"ingest", "f", "--batch", "many"},
                                        std::vector<std::string>{"ingest"}}) {
    CLI::App app;
    IngestOptions options;
    AddIngestCommand(app, options);
    EXPECT_THROW(Parse(app, args), CLI::ParseError) << args.size();
  }
}

TEST(ServerArguments, EnvironmentIsTheFallbackAndFlagsWin) {
  ScopedEnv url("EVIDENT_URL", "http://from-env:9");
  ScopedEnv token("EVIDENT_TOKEN", "env-token");
  {
    CLI::App app;
    QueryOptions options;
    AddQueryCommand(app, options);
    Parse(app, {"query"});
    EXPECT_EQ(options.server.url, "http://from-env:9");
    EXPECT_EQ(options.server.token, "env-token");
  }
  {
    CLI::App app;
    QueryOptions options;
    AddQueryCommand(app, options);
    Parse(app, {"query", "--url", "http://flag:1", "--token", "flag-token"});
    EXPECT_EQ(options.server.url, "http://flag:1");
    EXPECT_EQ(options.server.token, "flag-token");
  }
}

TEST(QueryArguments, ListsMayRepeatOrHoldCommas) {
  CLI::App app;
  QueryOptions options;
  AddQueryCommand(app, options);
  Parse(app, {"query", "--tenant", "acme", "--tenant", "globex,initech", "--status", "failure",
              "-q", "\"door opened\" late", "--from", "2025-01-01T00:00:00Z", "--json"});
  EXPECT_THAT(options.tenants, ElementsAre("acme", "globex,initech"));
  EXPECT_TRUE(options.json);
  EXPECT_FALSE(options.all);
  auto params = QueryParameters(options, "");
  EXPECT_THAT(params,
              ElementsAre(std::pair<std::string, std::string>("tenant", "acme,globex,initech"),
                          std::pair<std::string, std::string>("status", "failure"),
                          std::pair<std::string, std::string>("from", "2025-01-01T00:00:00Z"),
                          std::pair<std::string, std::string>("q", "\"door opened\" late"),
                          std::pair<std::string, std::string>("limit", "20")));
}

TEST(QueryArguments, LimitIsCheckedAndAllPagesInThousands) {
  {
    CLI::App app;
    QueryOptions options;
    AddQueryCommand(app, options);
    EXPECT_THROW(Parse(app, {"query", "--limit", "1001"}), CLI::ParseError);
  }
  {
    CLI::App app;
    QueryOptions options;
    AddQueryCommand(app, options);
    EXPECT_THROW(Parse(app, {"query", "--bogus"}), CLI::ParseError);
  }
  CLI::App app;
  QueryOptions options;
  AddQueryCommand(app, options);
  Parse(app, {"query", "--all"});
  auto params = QueryParameters(options, "abc");
  EXPECT_THAT(params, ElementsAre(std::pair<std::string, std::string>("limit", "1000"),
                                  std::pair<std::string, std::string>("cursor", "abc")));
}

TEST(Url, PercentEncodesEverythingButUnreserved) {
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode("a b&c=d/e+f?g#h%"), "a%20b%26c%3Dd%2Fe%2Bf%3Fg%23h%25");
  EXPECT_EQ(PercentEncode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(PercentEncode(""), "");
}

TEST(Url, JoinsBasePathAndQuery) {
  EXPECT_EQ(BuildUrl("http://127.0.0.1:8080", "/api/v1/events"),
            "http://127.0.0.1:8080/api/v1/events");
  EXPECT_EQ(BuildUrl("http://h/prefix//", "/api/v1/events", {{"q", "a b"}, {"tenant", "x,y"}}),
            "http://h/prefix/api/v1/events?q=a%20b&tenant=x%2Cy");
}

std::vector<NdjsonBatch> AllBatches(const std::string& input, size_t batch_size) {
  std::istringstream stream(input);
  NdjsonBatcher batcher(stream, batch_size);
  std::vector<NdjsonBatch> batches;
  while (auto batch = batcher.Next()) batches.push_back(std::move(*batch));
  EXPECT_EQ(batcher.bytes_read(), input.size());
  EXPECT_FALSE(batcher.failed());
  return batches;
}

TEST(NdjsonBatcher, CountsLinesAcrossBatchesAndSkipsBlankOnes) {
  std::string input =
      "{\"a\":1}\n{\"a\":2}\r\n{\"a\":3}\n\n{\"a\":4}\n  \n{\"a\":5}\n{\"a\":6}\n{\"a\":7}";
  auto batches = AllBatches(input, 3);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].number, 0);
  EXPECT_THAT(batches[0].line_numbers, ElementsAre(1, 2, 3));
  EXPECT_EQ(batches[0].body, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
  EXPECT_EQ(batches[1].number, 1);
  EXPECT_THAT(batches[1].line_numbers, ElementsAre(5, 7, 8));
  EXPECT_EQ(batches[1].body, "{\"a\":4}\n{\"a\":5}\n{\"a\":6}\n");
  EXPECT_THAT(batches[2].line_numbers, ElementsAre(9));
  EXPECT_EQ(batches[2].body, "{\"a\":7}\n");
  uint64_t consumed = 0;
  for (const auto& batch : batches) consumed += batch.input_bytes;
  EXPECT_EQ(consumed, input.size());
}

TEST(NdjsonBatcher, DropsByteOrderMarkAndHandlesEmptyInput) {
  auto batches = AllBatches("\xEF\xBB\xBF{\"a\":1}\n", 10);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].body, "{\"a\":1}\n");
  EXPECT_TRUE(AllBatches("", 10).empty());
  EXPECT_TRUE(AllBatches("\n\n  \n", 10).empty());
}

NdjsonBatch BatchOfLines(std::vector<int64_t> lines) {
  NdjsonBatch batch;
  batch.line_numbers = std::move(lines);
  return batch;
}

HttpResponse Answer(long status, std::string body,  // NOLINT(google-runtime-int)
                    std::vector<HttpHeader> headers = {}) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

constexpr std::chrono::milliseconds kMaxWait{30'000};

TEST(JudgeBatchResponse, CountsAcceptedAndDuplicates) {
  auto verdict = JudgeBatchResponse(
      BatchOfLines({1, 2, 3}),
      Answer(
          201,
          R"({"accepted":3,"events":[{"id":"a","tenant":"t","seq":0},)"
          R"({"id":"b","tenant":"t","seq":1,"duplicate":true},{"id":"c","tenant":"t","seq":2}]})"),
      1, kMaxWait);
  EXPECT_EQ(verdict.kind, BatchVerdict::Kind::kDone);
  EXPECT_EQ(verdict.accepted, 2u);
  EXPECT_EQ(verdict.duplicate, 1u);
  EXPECT_EQ(verdict.refused, 0u);
}

TEST(JudgeBatchResponse, MapsErrorIndexesToInputLines) {
  auto verdict = JudgeBatchResponse(
      BatchOfLines({10, 12, 13}),
      Answer(
          400,
          R"({"type":"about:blank","title":"Bad Request","status":400,"detail":"invalid",)"
          R"("errors":[{"index":1,"field":"request.status_code","message":"must be an integer"},)"
          R"({"index":2,"field":"","message":"missing action"}]})"),
      1, kMaxWait);
  EXPECT_EQ(verdict.kind, BatchVerdict::Kind::kDone);
  EXPECT_EQ(verdict.refused, 3u);
  EXPECT_EQ(verdict.accepted, 0u);
  EXPECT_THAT(verdict.problems, ElementsAre("line 12: request.status_code: must be an integer",
                                            "line 13: missing action"));
}

TEST(JudgeBatchResponse, RefusalWithoutErrorsNamesTheLineRange) {
  auto verdict = JudgeBatchResponse(
      BatchOfLines({5, 6, 8}),
      Answer(409, R"({"title":"Conflict","status":409,"detail":"id x reused"})"), 1, kMaxWait);
  EXPECT_EQ(verdict.refused, 3u);
  EXPECT_THAT(verdict.problems, ElementsAre("lines 5-8: 409 Conflict: id x reused"));
  auto too_large = JudgeBatchResponse(BatchOfLines({1, 2}), Answer(413, "too big"), 1, kMaxWait);
  EXPECT_THAT(too_large.problems, ElementsAre(HasSubstr("--batch")));
}

TEST(JudgeBatchResponse, RetriesBusyAnswersHonouringRetryAfter) {
  auto batch = BatchOfLines({1});
  auto with_header =
      JudgeBatchResponse(batch, Answer(503, "", {{"retry-after", "2"}}), 1, kMaxWait);
  EXPECT_EQ(with_header.kind, BatchVerdict::Kind::kRetry);
  EXPECT_EQ(with_header.retry_after, std::chrono::milliseconds(2000));
  auto capped = JudgeBatchResponse(batch, Answer(503, "", {{"retry-after", "3600"}}), 1, kMaxWait);
  EXPECT_EQ(capped.retry_after, kMaxWait);
  auto backoff = JudgeBatchResponse(batch, Answer(429, ""), 3, kMaxWait);
  EXPECT_EQ(backoff.kind, BatchVerdict::Kind::kRetry);
  EXPECT_EQ(backoff.retry_after, std::chrono::milliseconds(1000));
  auto date = JudgeBatchResponse(batch, Answer(503, "", {{"retry-after", "Wed, 21 Oct 2015"}}), 1,
                                 kMaxWait);
  EXPECT_EQ(date.retry_after, std::chrono::milliseconds(250));
}

TEST(JudgeBatchResponse, CredentialAndServerErrorsStopTheRun) {
  auto batch = BatchOfLines({1, 2});
  auto unauthorized = JudgeBatchResponse(
      batch, Answer(401, R"({"title":"Unauthorized","status":401,"detail":"bad token"})"), 1,
      kMaxWait);
  EXPECT_EQ(unauthorized.kind, BatchVerdict::Kind::kFatal);
  EXPECT_THAT(unauthorized.message, HasSubstr("401 Unauthorized: bad token"));
  EXPECT_EQ(unauthorized.refused, 0u);
  EXPECT_EQ(JudgeBatchResponse(batch, Answer(500, "{}"), 1, kMaxWait).kind,
            BatchVerdict::Kind::kFatal);
  EXPECT_EQ(JudgeBatchResponse(batch, Answer(404, ""), 1, kMaxWait).kind,
            BatchVerdict::Kind::kFatal);
  // An acknowledgement that does not account for every event is not trusted.
  EXPECT_EQ(
      JudgeBatchResponse(batch, Answer(201, R"({"accepted":1,"events":[{"id":"a"}]})"), 1, kMaxWait)
          .kind,
      BatchVerdict::Kind::kFatal);
}

TEST(IngestSummary, Formats) {
  IngestSummary summary;
  summary.accepted = 7;
  summary.duplicate = 2;
  summary.refused = 3;
  EXPECT_EQ(summary.Format(), "accepted 7, duplicate 2, refused 3");
}

TEST(FormatProgress, BarWhenTheSizeIsKnown) {
  EXPECT_EQ(FormatProgress(50, 200, 12345, std::chrono::milliseconds(2000)),
            "[#######                       ]  25%  12,345 events  6,172/s");
  EXPECT_EQ(FormatProgress(5, 0, 999, std::chrono::milliseconds(0)), "999 events");
}

// Parses every non-empty line of `text` into its cells' starting columns.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) lines.push_back(line);
  return lines;
}

TEST(FormatTable, AlignsColumnsByCodePoints) {
  std::vector<EventRow> rows = {
      {"2025-05-09T07:27:06.123Z", "acme", "ana@acme.test", "create", "wireguard:wg_42", "success",
       "203.0.113.9"},
      {"2025-05-09T07:27:05.000Z", "globex", "Zoë", "delete", "", "failure", "2001:db8::1"},
  };
  auto lines = Lines(FormatTable(rows));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(
      lines[0],
      "TIME                      TENANT  USER           ACTION  RESOURCE         STATUS   IP");
  EXPECT_EQ(lines[1],
            "2025-05-09T07:27:06.123Z  acme    ana@acme.test  create  wireguard:wg_42  success  "
            "203.0.113.9");
  // "Zoë" is three code points (four bytes): padded as three.
  EXPECT_EQ(lines[2],
            "2025-05-09T07:27:05.000Z  globex  Zo\xC3\xAB            delete                   "
            "failure  2001:db8::1");
}

TEST(FormatTable, CutsLongCellsAndEmptyTableHasHeader) {
  std::vector<EventRow> rows = {{"t", "x", std::string(60, 'u'), "a", "r", "s", "i"}};
  auto lines = Lines(FormatTable(rows));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[1], HasSubstr(std::string(39, 'u') + "\u2026  a"));
  EXPECT_EQ(Lines(FormatTable({})).size(), 1u);
}

TEST(EventRow, ReadsTheTableFieldsAndSanitises) {
  auto row = EventRowFromJson(
      R"({"occurred_at":"2025-05-09T07:27:06.123Z","tenant":"acme","action":"log\u001b[2Jin",)"
      R"("actor":{"id":"u_1"},"resource":{"type":"wireguard","id":"wg_42"},"status":"success",)"
      R"("request":{"ip":"203.0.113.9"}})");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->user, "u_1");
  EXPECT_EQ(row->action, "log?[2Jin");
  EXPECT_EQ(row->resource, "wireguard:wg_42");
  EXPECT_EQ(row->ip, "203.0.113.9");
  auto bare = EventRowFromJson(R"({"action":"x","resource":{"type":"doc"}})");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->resource, "doc");
  EXPECT_EQ(bare->user, "");
  EXPECT_FALSE(EventRowFromJson("[1]").has_value());
}

TEST(SanitizeForTerminal, ReplacesControlsBidiAndBadUtf8) {
  EXPECT_EQ(SanitizeForTerminal("plain \xC3\xA9t\xC3\xA9"), "plain \xC3\xA9t\xC3\xA9");
  EXPECT_EQ(SanitizeForTerminal("a\tb\nc\x7f"), "a?b?c?");
  EXPECT_EQ(SanitizeForTerminal("x\xE2\x80\xAEy"), "x?y");  // U+202E right-to-left override
  EXPECT_EQ(SanitizeForTerminal("\xC2\x9B"), "?");          // U+009B CSI
  EXPECT_EQ(SanitizeForTerminal("\xFF\xC3"), "??");
}

TEST(ParseEventPage, KeepsEachEventsBytes) {
  auto page = ParseEventPage(
      R"({"total":3,"events":[{"a":1.0e2,"b":"\u00e9"}, {"c":[1,2]}],"next_cursor":"abc"})");
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_THAT(page->events, ElementsAre(R"({"a":1.0e2,"b":"\u00e9"})", R"({"c":[1,2]})"));
  EXPECT_EQ(page->next_cursor, "abc");
  EXPECT_EQ(page->total, 3u);
  auto last = ParseEventPage(R"({"events":[],"next_cursor":null,"total":0})");
  ASSERT_TRUE(last.has_value());
  EXPECT_FALSE(last->next_cursor.has_value());
}

TEST(ParseEventPage, RejectsOtherShapes) {
  for (const char* body :
       {"", "[]", R"({"events":[1],"total":1})", R"({"events":[]})", R"({"events":{},"total":0})",
        R"({"events":[],"total":-1})", R"({"events":[],"total":0} x)"}) {
    EXPECT_FALSE(ParseEventPage(body).has_value()) << body;
  }
}

TEST(DescribeErrorResponse, ShowsTitleDetailAndErrors) {
  HttpResponse response =
      Answer(400, R"({"title":"Bad Request","status":400,"detail":"invalid query",)"
                  R"("errors":[{"index":-1,"field":"limit","message":"must be 1..1000"},)"
                  R"({"index":2,"field":"action","message":"required"}]})");
  EXPECT_EQ(DescribeErrorResponse(response),
            "400 Bad Request: invalid query\n  limit: must be 1..1000\n  event 2: action: "
            "required");
  EXPECT_EQ(DescribeErrorResponse(Answer(502, "<html>bad gateway</html>")),
            "502: <html>bad gateway</html>");
}

// A scripted HTTP/1.1 server on the loopback interface for RunIngest: keep-alive, any number of
// connections, each request answered by `handler` (called under a lock). Hand-written on POSIX
// sockets because the test needs nothing of a real server but the wire format.
class FakeServer {
 public:
  struct Answer {
    int status = 201;
    std::string body;
    std::vector<HttpHeader> headers;
  };
  using Handler = std::function<Answer(const std::string& body)>;

  explicit FakeServer(Handler handler) : handler_(std::move(handler)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(listen(listener_, 16), 0);
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~FakeServer() {
    shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    close(listener_);
    {
      std::lock_guard lock(mu_);
      for (int fd : connections_) shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& thread : workers_) thread.join();
  }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  const std::string& url() const { return url_; }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  void AcceptLoop() {
    while (true) {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard lock(mu_);
      connections_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }
  void Serve(int fd) {
    std::string buffer;
    char chunk[65536];
    while (true) {
      size_t header_end;
      while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        ssize_t count = read(fd, chunk, sizeof chunk);
        if (count <= 0) return close(fd), void();
        buffer.append(chunk, static_cast<size_t>(count));
      }
      std::string head = util::AsciiLower(buffer.substr(0, header_end));
      size_t length_at = head.find("content-length:");
      size_t body_length =
          length_at == std::string::npos ? 0 : std::stoul(head.substr(length_at + 15));
      while (buffer.size() < header_end + 4 + body_length) {
        ssize_t count = read(fd, chunk, sizeof chunk);
        if (count <= 0) return close(fd), void();
        buffer.append(chunk, static_cast<size_t>(count));
      }
      std::string body = buffer.substr(header_end + 4, body_length);
      buffer.erase(0, header_end + 4 + body_length);
      Answer answer;
      {
        std::lock_guard lock(mu_);
        bodies_.push_back(body);
        answer = handler_(body);
      }
      std::string response = "HTTP/1.1 " + std::to_string(answer.status) + " X\r\n";
      for (const HttpHeader& header : answer.headers) {
        response += header.name + ": " + header.value + "\r\n";
      }
      response += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n\r\n";
      response += answer.body;
      if (write(fd, response.data(), response.size()) < 0) return close(fd), void();
    }
  }

  Handler handler_;
  int listener_ = -1;
  std::string url_;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> connections_;
  std::vector<std::thread> workers_;
  std::vector<std::string> bodies_;
};

// 201 acknowledging every line of `body` as stored.
FakeServer::Answer Acknowledge(const std::string& body) {
  nlohmann::json events = nlohmann::json::array();
  for (char c : body) {
    if (c == '\n') events.push_back({{"id", "x"}, {"tenant", "t"}, {"seq", 0}});
  }
  return {201, nlohmann::json{{"accepted", events.size()}, {"events", events}}.dump(), {}};
}

std::string NumberedLines(int count) {
  std::string text;
  for (int number = 1; number <= count; ++number) {
    text += "{\"action\":\"a" + std::to_string(number) + "\"}\n";
  }
  return text;
}

struct IngestRun {
  int exit_code;
  std::string out;
  std::string err;
};

IngestRun Ingest(const std::string& url, const std::string& input, size_t batch, int parallel,
                 int attempts = 5) {
  IngestOptions options;
  options.server.url = url;
  options.server.token = "t0ken";
  options.batch_size = batch;
  options.parallel = parallel;
  options.max_attempts = attempts;
  std::istringstream stream(input);
  std::ostringstream out;
  std::ostringstream err;
  int exit_code = RunIngest(options, stream, input.size(), out, err, ShowProgress::kNo);
  return {exit_code, out.str(), err.str()};
}

TEST(RunIngest, SendsEveryLineOnceInBatchesOverParallelConnections) {
  FakeServer server(Acknowledge);
  IngestRun run = Ingest(server.url(), NumberedLines(103), 10, 3);
  EXPECT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_EQ(run.out, "accepted 103, duplicate 0, refused 0\n");
  std::vector<std::string> bodies = server.bodies();
  EXPECT_EQ(bodies.size(), 11u);
  std::multiset<std::string> lines;
  for (const std::string& body : bodies) {
    std::istringstream stream(body);
    std::string line;
    while (std::getline(stream, line)) lines.insert(line);
  }
  std::multiset<std::string> expected;
  for (int number = 1; number <= 103; ++number) {
    expected.insert("{\"action\":\"a" + std::to_string(number) + "\"}");
  }
  EXPECT_EQ(lines, expected);
}

TEST(RunIngest, RetriesABusyBatchAfterRetryAfter) {
  std::set<std::string> seen;
  FakeServer server([&](const std::string& body) -> FakeServer::Answer {
    if (seen.insert(body).second) return {503, "", {{"Retry-After", "0"}}};
    return Acknowledge(body);
  });
  IngestRun run = Ingest(server.url(), NumberedLines(9), 3, 2);
  EXPECT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_EQ(run.out, "accepted 9, duplicate 0, refused 0\n");
  EXPECT_EQ(server.bodies().size(), 6u);  // each of the three batches twice
}

TEST(HttpClient, ReturnsStatusHeadersAndBody) {
  FakeServer server([](const std::string& body) -> FakeServer::Answer {
    return {409, "echo:" + body, {{"Retry-After", "7"}, {"X-Thing", " spaced "}}};
  });
  HttpClient client({.proxy = ProxyFromEnvironment::kNo});
  auto response = client.Post(server.url() + "/x", "payload", "text/plain");
  ASSERT_TRUE(response.has_value()) << response.error().message();
  EXPECT_EQ(response->status, 409);
  EXPECT_EQ(response->body, "echo:payload");
  EXPECT_EQ(response->Header("retry-after"), "7");
  EXPECT_EQ(response->Header("X-THING"), "spaced");
  EXPECT_EQ(response->Header("absent"), std::nullopt);
}

TEST(RunIngest, GivesUpOnABatchThatStaysBusy) {
  FakeServer server([](const std::string&) -> FakeServer::Answer {
    return {
        503, R"({"title":"Service Unavailable","detail":"overloaded"})", {{"Retry-After", "0"}}};
  });
  IngestRun run = Ingest(server.url(), NumberedLines(2), 5, 1, /*attempts=*/3);
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(run.out, "accepted 0, duplicate 0, refused 0\n");
  EXPECT_THAT(run.err, HasSubstr("still busy after 3 attempts at lines 1-2"));
  EXPECT_EQ(server.bodies().size(), 3u);
}

TEST(RunIngest, ReportsRefusedBatchesInInputOrder) {
  FakeServer server([](const std::string& body) -> FakeServer::Answer {
    for (const char* bad : {"\"a5\"", "\"a12\""}) {
      size_t at = body.find(bad);
      if (at == std::string::npos) continue;
      int64_t index =
          std::count(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(at), '\n');
      return {
          400,
          nlohmann::json{{"title", "Bad Request"},
                         {"errors", {{{"index", index}, {"field", "action"}, {"message", "bad"}}}}}
              .dump(),
          {}};
    }
    return Acknowledge(body);
  });
  IngestRun run = Ingest(server.url(), NumberedLines(14), 4, 3);
  EXPECT_EQ(run.exit_code, kExitRefused);
  EXPECT_EQ(run.out, "accepted 6, duplicate 0, refused 8\n");
  EXPECT_EQ(run.err, "refused: line 5: action: bad\nrefused: line 12: action: bad\n");
}

TEST(RunIngest, StopsAtARefusedCredential) {
  FakeServer server([](const std::string&) -> FakeServer::Answer {
    return {401, R"({"title":"Unauthorized","detail":"unknown token"})", {}};
  });
  IngestRun run = Ingest(server.url(), NumberedLines(100), 1, 2);
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr("refused the credential: 401 Unauthorized: unknown token"));
  // Each sender stops at its first answer; the reader stops feeding them.
  EXPECT_LE(server.bodies().size(), 2u);
}

// Port 1 on the loopback interface: nothing listens there, so connecting fails at once.
constexpr char kNowhere[] = "http://127.0.0.1:1";

TEST(RunIngest, ConnectionFailureIsExitTwoWithAClearMessage) {
  IngestOptions options;
  options.server.url = kNowhere;
  options.batch_size = 2;
  options.parallel = 2;
  std::istringstream input("{\"action\":\"a\"}\n{\"action\":\"b\"}\n{\"action\":\"c\"}\n");
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunIngest(options, input, 0, out, err, ShowProgress::kNo), kExitUsage);
  EXPECT_EQ(out.str(), "accepted 0, duplicate 0, refused 0\n");
  EXPECT_THAT(err.str(), HasSubstr("cannot reach the server"));
}

TEST(RunIngest, EmptyInputSendsNothing) {
  IngestOptions options;
  options.server.url = kNowhere;
  std::istringstream input("\n\n");
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunIngest(options, input, 0, out, err, ShowProgress::kNo), kExitOk);
  EXPECT_EQ(out.str(), "accepted 0, duplicate 0, refused 0\n");
  EXPECT_EQ(err.str(), "");
}

TEST(RunQuery, ConnectionFailureIsExitTwo) {
  QueryOptions options;
  options.server.url = kNowhere;
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunQuery(options, out, err), kExitUsage);
  EXPECT_EQ(out.str(), "");
  EXPECT_THAT(err.str(), HasSubstr("cannot reach the server"));
}

TEST(HttpClient, ReportsConnectionErrorsAsIOError) {
  HttpClient client({.connect_timeout = std::chrono::milliseconds(5000),
                     .timeout = std::chrono::milliseconds(0),
                     .proxy = ProxyFromEnvironment::kNo});
  auto response = client.Get(std::string(kNowhere) + "/healthz");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), util::ErrorCode::kIOError);
  EXPECT_THAT(response.error().message(), HasSubstr("127.0.0.1:1"));
}

}  // namespace
}  // namespace evident::cli
