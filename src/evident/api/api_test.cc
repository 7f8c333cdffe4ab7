#include "evident/api/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <future>
#include <optional>
#include <set>

#include "evident/api/problem.h"
#include "evident/auth/test_identity.h"
#include "evident/core/event.h"
#include "evident/storage/memory/memory_event_store.h"
#include "evident/storage/sqlite/fault_vfs.h"
#include "evident/storage/sqlite/sqlite_event_store.h"

namespace evident::api {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kToken = "evd_test-token";
constexpr util::UnixMillis kNow = 1746775626123;  // 2025-05-09T07:27:06.123Z

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  EXPECT_FALSE(document.HasParseError()) << text;
  return document;
}

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : ApiTest(storage::memory::NewMemoryEventStore()) {}
  explicit ApiTest(std::unique_ptr<storage::EventStore> store)
      : store_(std::move(store)),
        writer_(std::make_unique<ledger::Writer>(*store_, ledger::WriterOptions{})),
        clock_(kNow),
        identity_(clock_, std::string(kToken)),
        api_(std::make_unique<Api>(*store_, *writer_, clock_, nullptr, identity_.service(),
                                   ApiOptions{})) {}

  ~ApiTest() override {
    api_.reset();
    if (writer_ != nullptr) writer_->Shutdown();
  }

  // Sends one request and waits for its answer, which may come from the writer thread.
  HttpResponse Send(std::string method, std::string target, std::string body = "",
                    std::string content_type = "application/json",
                    std::string authorization = "Bearer " + std::string(kToken)) {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.authorization = std::move(authorization);
    request.content_type = std::move(content_type);
    request.body = std::move(body);
    request.remote_ip = "192.0.2.1";
    std::promise<HttpResponse> answered;
    std::future<HttpResponse> answer = answered.get_future();
    int calls = 0;
    api_->Handle(std::move(request), [&answered, &calls](HttpResponse response) {
      ++calls;
      answered.set_value(std::move(response));
    });
    HttpResponse response = answer.get();
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(response.content_type.empty());
    return response;
  }

  HttpResponse Post(std::string body, std::string content_type = "application/json") {
    return Send("POST", "/api/v1/events", std::move(body), std::move(content_type));
  }

  // The number of stored events, read through the API.
  uint64_t StoredCount() {
    HttpResponse response = Send("GET", "/api/v1/events");
    EXPECT_EQ(response.status, 200) << response.body;
    return ParseJson(response.body)["total"].GetUint64();
  }

  // Asserts the RFC 9457 shape and returns the document.
  rapidjson::Document ExpectProblem(const HttpResponse& response, int status) {
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_EQ(response.content_type, "application/problem+json");
    rapidjson::Document problem = ParseJson(response.body);
    EXPECT_TRUE(problem.IsObject());
    EXPECT_STREQ(problem["type"].GetString(), "about:blank");
    EXPECT_EQ(std::string(problem["title"].GetString()), ReasonPhrase(status));
    EXPECT_EQ(problem["status"].GetInt(), status);
    EXPECT_TRUE(problem["detail"].IsString());
    EXPECT_TRUE(problem["errors"].IsArray());
    return problem;
  }

  std::unique_ptr<storage::EventStore> store_;
  std::unique_ptr<ledger::Writer> writer_;
  core::FakeClock clock_;
  auth::TestIdentity identity_;
  std::unique_ptr<Api> api_;
};

std::string EventJson(std::string_view extra = "", std::string_view tenant = "acme") {
  std::string json = R"({"tenant":")" + std::string(tenant) +
                     R"(","action":"create","occurred_at":"2025-05-09T07:00:00.000Z")";
  if (!extra.empty()) json += "," + std::string(extra);
  return json + "}";
}

TEST_F(ApiTest, HealthNeedsNoCredential) {
  HttpResponse response = Send("GET", "/healthz", "", "", "");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"status":"ok","indexer":"ok","audit":"ok"})");
}

TEST_F(ApiTest, ApiRequiresBearerToken) {
  for (const std::string& authorization : std::vector<std::string>{
           "", "Bearer", "Bearer wrong", "Basic ZXZkOng=", std::string(kToken)}) {
    HttpResponse response = Send("GET", "/api/v1/events", "", "", authorization);
    ExpectProblem(response, 401);
    EXPECT_EQ(response.Header("www-authenticate"), "Bearer") << authorization;
  }
  // Unknown API paths do not reveal themselves before authentication.
  ExpectProblem(Send("GET", "/api/v1/nothing", "", "", ""), 401);
  EXPECT_EQ(Send("GET", "/api/v1/events", "", "", "bearer " + std::string(kToken)).status, 200);
}

TEST_F(ApiTest, UnauthorizedPostStoresNothing) {
  ExpectProblem(Send("POST", "/api/v1/events", EventJson(), "application/json", "Bearer x"), 401);
  EXPECT_EQ(StoredCount(), 0u);
}

TEST_F(ApiTest, PostOneEventAnswersWithIdTenantSeq) {
  HttpResponse response = Post(EventJson(R"("id":"evt-1")"));
  ASSERT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"accepted":1,"events":[{"id":"evt-1","tenant":"acme","seq":0}]})");
  EXPECT_EQ(StoredCount(), 1u);
}

TEST_F(ApiTest, PostArrayAndNdjsonKeepRequestOrder) {
  HttpResponse array =
      Post("[" + EventJson() + "," + EventJson("", "beta") + "," + EventJson() + "]");
  ASSERT_EQ(array.status, 201) << array.body;
  rapidjson::Document answer = ParseJson(array.body);
  EXPECT_EQ(answer["accepted"].GetInt(), 3);
  ASSERT_EQ(answer["events"].Size(), 3u);
  EXPECT_STREQ(answer["events"][0]["tenant"].GetString(), "acme");
  EXPECT_EQ(answer["events"][0]["seq"].GetInt(), 0);
  EXPECT_STREQ(answer["events"][1]["tenant"].GetString(), "beta");
  EXPECT_EQ(answer["events"][1]["seq"].GetInt(), 0);
  EXPECT_EQ(answer["events"][2]["seq"].GetInt(), 1);
  EXPECT_FALSE(answer["events"][0].HasMember("duplicate"));

  HttpResponse ndjson = Post(EventJson() + "\n\n" + EventJson() + "\n", "application/x-ndjson");
  ASSERT_EQ(ndjson.status, 201) << ndjson.body;
  answer = ParseJson(ndjson.body);
  EXPECT_EQ(answer["accepted"].GetInt(), 2);
  EXPECT_EQ(answer["events"][1]["seq"].GetInt(), 3);
  EXPECT_EQ(StoredCount(), 5u);
}

TEST_F(ApiTest, ContentTypeParametersAndCaseAreAccepted) {
  EXPECT_EQ(Post(EventJson(), "Application/JSON; charset=utf-8").status, 201);
}

TEST_F(ApiTest, OtherContentTypesAre415AndStoreNothing) {
  for (const char* type : {"text/plain", "", "application/xml", "application/jsonx"}) {
    rapidjson::Document problem = ExpectProblem(Post(EventJson(), type), 415);
    EXPECT_THAT(problem["detail"].GetString(), HasSubstr("application/x-ndjson")) << type;
  }
  EXPECT_EQ(StoredCount(), 0u);
}

// Each invalid event is a 400 whose errors name the batch index and field, and nothing of the
// request is stored, even its valid events.
TEST_F(ApiTest, ValidationErrorsAre400WithFieldErrorsAndStoreNothing) {
  struct Case {
    std::string bad_event;
    std::string field;
  };
  const std::vector<Case> cases = {
      {EventJson(R"("colour":"red")"), "colour"},
      {EventJson(R"("request":{"status_code":"200"})"), "request.status_code"},
      {EventJson(R"("request":{"ip":"300.1.1.1"})"), "request.ip"},
      {EventJson(R"("details":[1,2])"), "details"},
      {EventJson("", "Not_A_Tenant"), "tenant"},
      {R"({"tenant":"acme"})", "action"},
  };
  for (const Case& bad : cases) {
    HttpResponse response = Post("[" + EventJson() + "," + bad.bad_event + "]");
    rapidjson::Document problem = ExpectProblem(response, 400);
    ASSERT_GE(problem["errors"].Size(), 1u) << response.body;
    const auto& first = problem["errors"][0];
    EXPECT_EQ(first["index"].GetInt(), 1) << response.body;
    EXPECT_EQ(std::string(first["field"].GetString()), bad.field) << response.body;
    EXPECT_GT(first["message"].GetStringLength(), 0u);
  }
  EXPECT_EQ(StoredCount(), 0u);
}

TEST_F(ApiTest, MalformedAndEmptyBodiesAre400) {
  ExpectProblem(Post("{\"tenant\":"), 400);
  ExpectProblem(Post(""), 400);
  ExpectProblem(Post("[]"), 400);
  ExpectProblem(Post("{\"action\":\"x\",\"tenant\":\"acme\",\"details\":{\"a\":\"\xff\"}}"), 400);
  EXPECT_EQ(StoredCount(), 0u);
}

TEST_F(ApiTest, DuplicateIsAcknowledgedAndStoredOnce) {
  ASSERT_EQ(Post(EventJson(R"("id":"evt-1")")).status, 201);
  HttpResponse again = Post("[" + EventJson(R"("id":"evt-1")") + "]");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.body,
            R"({"accepted":1,"events":[{"id":"evt-1","tenant":"acme","seq":0,"duplicate":true}]})");
  EXPECT_EQ(StoredCount(), 1u);
}

TEST_F(ApiTest, ConflictingIdIs409AndStoresNothingOfTheRequest) {
  ASSERT_EQ(Post(EventJson(R"("id":"evt-1")")).status, 201);
  HttpResponse conflict = Post("[" + EventJson(R"("id":"evt-2")") + "," +
                               EventJson(R"("id":"evt-1","workspace":"other")") + "]");
  ExpectProblem(conflict, 409);
  EXPECT_EQ(StoredCount(), 1u);
  ExpectProblem(Send("GET", "/api/v1/tenants/acme/events/evt-2"), 404);
}

TEST_F(ApiTest, WriterShutDownIs503WithRetryAfter) {
  writer_->Shutdown();
  HttpResponse response = Post(EventJson());
  ExpectProblem(response, 503);
  EXPECT_EQ(response.Header("Retry-After"), "1");
}

// The fault VFS must be SQLite's default before the store opens its files: hence a base of the
// fixture, constructed before ApiTest.
struct WithFaultVfs {
  storage::sqlite::FaultVfs vfs;
};

class ApiOnSqliteTest : public WithFaultVfs, public ApiTest {
 protected:
  ApiOnSqliteTest() : ApiOnSqliteTest(storage::sqlite::SqliteOptions().max_tail_events) {}
  explicit ApiOnSqliteTest(size_t max_tail_events) : ApiTest(OpenStore(max_tail_events)) {}
  ~ApiOnSqliteTest() override {
    // The store's connections go before the VFS they use, and what uses the store before it.
    api_.reset();
    writer_->Shutdown();
    writer_.reset();
    store_->Close();
    store_.reset();
    std::filesystem::remove_all(Dir());
  }

  static std::string Dir() {
    return (std::filesystem::path(::testing::TempDir()) /
            (std::string("evident_api_") +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
        .string();
  }
  static std::unique_ptr<storage::EventStore> OpenStore(size_t max_tail_events) {
    std::filesystem::remove_all(Dir());
    storage::sqlite::SqliteOptions options;
    options.data_dir = Dir();
    options.index_retry_max_ms = 5;
    options.max_tail_events = max_tail_events;
    auto store = storage::sqlite::OpenSqliteEventStore(options);
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store ? std::move(store).value() : nullptr;
  }

  // The value of one line of /metrics (`name` with its labels), if it has that line.
  std::optional<uint64_t> Metric(std::string_view name) {
    const std::string body = Send("GET", "/metrics").body;
    const std::string line = "\n" + std::string(name) + " ";
    const size_t at = body.find(line);
    if (at == std::string::npos) return std::nullopt;
    return std::stoull(body.substr(at + line.size()));
  }
};

// A request the log cannot store because the disk is full is 503 with Retry-After (a client
// sends it again later rather than dropping it), says why without the server's SQL, and stores
// nothing: sent again once the disk frees, it is stored as new, at the seqs it would have had.
TEST_F(ApiOnSqliteTest, AFullDiskIs503WithRetryAfterAndStoresNothing) {
  ASSERT_EQ(Post(EventJson(R"("id":"evt-1")")).status, 201);
  vfs.Arm("log.db-wal", storage::sqlite::FaultVfs::Fail::kEveryWrite);
  const std::string body =
      "[" + EventJson(R"("id":"evt-2")") + "," + EventJson(R"("id":"evt-3")", "globex") + "]";
  HttpResponse full = Post(body);
  rapidjson::Document problem = ExpectProblem(full, 503);
  EXPECT_EQ(full.Header("Retry-After"), "1");
  EXPECT_EQ(std::string(problem["detail"].GetString()), "the disk is full");
  vfs.Disarm();
  EXPECT_EQ(StoredCount(), 1u);
  ExpectProblem(Send("GET", "/api/v1/tenants/acme/events/evt-2"), 404);
  HttpResponse stored = Post(body);
  ASSERT_EQ(stored.status, 201) << stored.body;
  // Fresh (not duplicates), at the seqs the failed request would have had: it took none.
  EXPECT_EQ(stored.body, R"({"accepted":2,"events":[{"id":"evt-2","tenant":"acme","seq":1},)"
                         R"({"id":"evt-3","tenant":"globex","seq":0}]})");
  EXPECT_EQ(StoredCount(), 3u);
  EXPECT_EQ(Send("GET", "/api/v1/tenants/globex/events/evt-3").status, 200);
}

// A state change whose audit event the log cannot take (a full disk) is made, so its record is
// kept and stored, before the next audit event, once the log takes events again: no change is
// ever without its record, and none is recorded twice.
TEST_F(ApiOnSqliteTest, AnAuditEventTheLogCannotTakeIsKeptAndStoredWithTheNext) {
  auto created = [&](std::string_view tenant) {
    return "/api/v1/events?tenant=" + std::string(tenant) + "&action=create";
  };
  vfs.Arm("log.db-wal", storage::sqlite::FaultVfs::Fail::kEveryWrite);
  ASSERT_EQ(Send("POST", "/api/v1/tenants", R"({"id":"initech","name":"Initech"})").status, 201);
  ASSERT_EQ(Send("POST", "/api/v1/tenants", R"({"id":"hooli","name":"Hooli"})").status, 201);
  vfs.Disarm();
  auto kept = identity_.service().PendingAudit();
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->size(), 2u);
  EXPECT_THAT(Send("GET", "/metrics").body, HasSubstr("\nevident_audit_events_waiting 1\n"));
  EXPECT_EQ(Send("GET", "/healthz", "", "", "").body,
            R"({"status":"degraded","indexer":"ok","audit":"waiting"})");
  EXPECT_EQ(ParseJson(Send("GET", created("initech")).body)["total"].GetUint64(), 0u);
  // The next audited change brings them.
  ASSERT_EQ(Send("POST", "/api/v1/tenants", R"({"id":"umbrella","name":"Umbrella"})").status, 201);
  kept = identity_.service().PendingAudit();
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(kept->empty());
  EXPECT_THAT(Send("GET", "/metrics").body, HasSubstr("\nevident_audit_events_waiting 0\n"));
  EXPECT_EQ(Send("GET", "/healthz", "", "", "").body,
            R"({"status":"ok","indexer":"ok","audit":"ok"})");
  for (std::string_view tenant : {"initech", "hooli", "umbrella"}) {
    rapidjson::Document page = ParseJson(Send("GET", created(tenant)).body);
    ASSERT_EQ(page["total"].GetUint64(), 1u) << tenant;
    EXPECT_EQ(std::string(page["events"][0]["resource"]["type"].GetString()), "tenant");
  }
  // Once, not again with the one after.
  ASSERT_EQ(Send("POST", "/api/v1/tenants", R"({"id":"wayne","name":"Wayne"})").status, 201);
  EXPECT_EQ(ParseJson(Send("GET", created("initech")).body)["total"].GetUint64(), 1u);
  EXPECT_EQ(ParseJson(Send("GET", created("wayne")).body)["total"].GetUint64(), 1u);
}

// While the indexer tries again a batch it could not write (its full-text files' WAL cannot grow:
// a full disk), /healthz says so, still 200 since every answer stays exact, and is ok again once
// the batch is written.
TEST_F(ApiOnSqliteTest, HealthIsDegradedWhileTheIndexerRetries) {
  const std::string ok = R"({"status":"ok","indexer":"ok","audit":"ok"})";
  EXPECT_EQ(Send("GET", "/healthz", "", "", "").body, ok);
  vfs.Arm(".words.db-wal", storage::sqlite::FaultVfs::Fail::kEveryWrite);
  ASSERT_EQ(Post(EventJson(R"("id":"evt-1")")).status, 201);
  ASSERT_TRUE(vfs.WaitForFailures(2, std::chrono::seconds(60)));  // the first try has failed
  HttpResponse degraded = Send("GET", "/healthz", "", "", "");
  EXPECT_EQ(degraded.status, 200);
  EXPECT_EQ(degraded.body, R"({"status":"degraded","indexer":"retrying","audit":"ok"})");
  EXPECT_EQ(ParseJson(Send("GET", "/api/v1/events?tenant=acme").body)["total"].GetUint64(), 1u);
  vfs.Disarm();
  store_->WaitUntilIndexed();
  EXPECT_EQ(Send("GET", "/healthz", "", "", "").body, ok);
}

// /metrics shows the memory the events not indexed yet take, here while the indexer is stalled on
// a disk that does not answer, and that no append waited for it; once indexed, none.
TEST_F(ApiOnSqliteTest, MetricsShowTheMemoryOfTheEventsNotIndexedYet) {
  auto metric = [&](std::string_view name) { return Metric(name); };
  vfs.Arm(".words.db-wal", storage::sqlite::FaultVfs::Fail::kStall);
  ASSERT_EQ(Post(EventJson(R"("id":"evt-1")")).status, 201);
  ASSERT_TRUE(vfs.WaitForFailures(1, std::chrono::seconds(60)));  // the indexer has taken it
  EXPECT_EQ(metric("evident_indexer_lag_events"), 1u);
  const std::optional<uint64_t> tail_bytes = metric("evident_indexer_tail_bytes");
  ASSERT_TRUE(tail_bytes.has_value());
  EXPECT_GT(*tail_bytes, sizeof(core::Event));
  EXPECT_LT(*tail_bytes, 8192u);
  EXPECT_EQ(metric("evident_ingest_waits_total"), 0u);
  EXPECT_EQ(metric("evident_ingest_waiting"), 0u);
  vfs.Disarm();
  store_->WaitUntilIndexed();
  EXPECT_EQ(metric("evident_indexer_tail_bytes"), 0u);
  EXPECT_EQ(metric("evident_indexer_lag_events"), 0u);
}

// A store that keeps at most 4 events unindexed while its indexer keeps up, and 16 while it
// retries (retrying_tail_factor).
class ApiOnASmallTailTest : public ApiOnSqliteTest {
 protected:
  ApiOnASmallTailTest() : ApiOnSqliteTest(4) {}
};

// While the index cannot be written, events are acknowledged until the ones not indexed yet fill
// the memory kept for them; then a request is 503 with Retry-After, stores nothing, and /metrics
// counts it; once the index is written again, events are taken again.
TEST_F(ApiOnASmallTailTest, IngestIs503OnceTheIndexHasFailedForTooLong) {
  std::string sixteen = "[";
  for (int i = 0; i < 16; ++i) sixteen += (i > 0 ? "," : "") + EventJson();
  sixteen += "]";
  vfs.Arm(".words.db-wal", storage::sqlite::FaultVfs::Fail::kEveryWrite);
  ASSERT_EQ(Post(sixteen).status, 201);
  ASSERT_TRUE(vfs.WaitForFailures(2, std::chrono::seconds(60)));  // retrying
  HttpResponse refused = Post(EventJson(R"("id":"evt-17")"));
  rapidjson::Document problem = ExpectProblem(refused, 503);
  EXPECT_EQ(refused.Header("Retry-After"), "1");
  EXPECT_THAT(std::string(problem["detail"].GetString()), HasSubstr("try again later"));
  EXPECT_EQ(Metric("evident_ingest_refused_total"), 1u);
  EXPECT_EQ(Send("GET", "/healthz", "", "", "").body,
            R"({"status":"degraded","indexer":"retrying","audit":"ok"})");
  EXPECT_EQ(ParseJson(Send("GET", "/api/v1/events?tenant=acme").body)["total"].GetUint64(), 16u);
  EXPECT_EQ(Send("GET", "/api/v1/tenants/acme/events/evt-17").status, 404);
  vfs.Disarm();
  store_->WaitUntilIndexed();
  ASSERT_EQ(Post(EventJson(R"("id":"evt-17")")).status, 201);
  EXPECT_EQ(ParseJson(Send("GET", "/api/v1/events?tenant=acme").body)["total"].GetUint64(), 17u);
  EXPECT_EQ(Metric("evident_ingest_refused_total"), 1u);
}

// /metrics measures the store's files: the log with its WAL, and every index file.
TEST_F(ApiOnSqliteTest, MetricsGiveTheBytesOfTheLogAndTheIndexOnDisk) {
  ASSERT_EQ(Post(EventJson(R"("id":"evt-1")")).status, 201);
  store_->WaitUntilIndexed();
  namespace fs = std::filesystem;
  auto size_of = [](const fs::path& path) {
    return fs::exists(path) ? static_cast<uint64_t>(fs::file_size(path)) : uint64_t{0};
  };
  const fs::path dir = Dir();
  uint64_t index_bytes = 0, index_files = 0;
  for (const auto& entry : fs::directory_iterator(dir / "index")) {
    index_bytes += size_of(entry.path());
    ++index_files;
  }
  ASSERT_GE(index_files, 2u);  // a week's rows and words
  const uint64_t log_bytes = size_of(dir / "log.db") + size_of(dir / "log.db-wal");
  ASSERT_GT(log_bytes, 0u);
  EXPECT_EQ(Metric(R"(evident_database_bytes{kind="log"})"), log_bytes);
  EXPECT_EQ(Metric(R"(evident_database_bytes{kind="index"})"), index_bytes);
}

// On a server that audits nothing else, the kept events are stored by StoreKeptAudit (which the
// server calls every few seconds): once the log takes events again, and once only.
TEST_F(ApiOnSqliteTest, KeptAuditEventsAreStoredWithoutAnotherAuditedChange) {
  const std::string created = "/api/v1/events?tenant=initech&action=create";
  vfs.Arm("log.db-wal", storage::sqlite::FaultVfs::Fail::kEveryWrite);
  ASSERT_EQ(Send("POST", "/api/v1/tenants", R"({"id":"initech","name":"Initech"})").status, 201);
  // The log still cannot take it: kept, and still waiting.
  EXPECT_FALSE(api_->StoreKeptAudit());
  EXPECT_THAT(Send("GET", "/metrics").body, HasSubstr("\nevident_audit_events_waiting 1\n"));
  vfs.Disarm();
  EXPECT_EQ(ParseJson(Send("GET", created).body)["total"].GetUint64(), 0u);
  ASSERT_TRUE(api_->StoreKeptAudit());
  EXPECT_EQ(ParseJson(Send("GET", created).body)["total"].GetUint64(), 1u);
  auto kept = identity_.service().PendingAudit();
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(kept->empty());
  EXPECT_THAT(Send("GET", "/metrics").body, HasSubstr("\nevident_audit_events_waiting 0\n"));
  ASSERT_TRUE(api_->StoreKeptAudit());  // nothing waits: nothing stored again
  EXPECT_EQ(ParseJson(Send("GET", created).body)["total"].GetUint64(), 1u);
}

TEST_F(ApiTest, SecretsAreRedactedBeforeStorage) {
  ASSERT_EQ(Post(EventJson(R"("id":"e","details":{"nested":[{"Password":"hunter2"}]})")).status,
            201);
  HttpResponse event = Send("GET", "/api/v1/tenants/acme/events/e");
  ASSERT_EQ(event.status, 200);
  EXPECT_THAT(event.body, HasSubstr(R"({"Password":"[REDACTED]"})"));
  EXPECT_THAT(event.body, ::testing::Not(HasSubstr("hunter2")));
}

TEST_F(ApiTest, GetOneEventReturnsStoredJson) {
  ASSERT_EQ(Post(EventJson(R"("id":"evt-1","actor":{"email":"ana@acme.test"})")).status, 201);
  HttpResponse response = Send("GET", "/api/v1/tenants/acme/events/evt-1");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  rapidjson::Document event = ParseJson(response.body);
  EXPECT_STREQ(event["id"].GetString(), "evt-1");
  EXPECT_STREQ(event["occurred_at"].GetString(), "2025-05-09T07:00:00.000Z");
  EXPECT_STREQ(event["received_at"].GetString(), "2025-05-09T07:27:06.123Z");
  EXPECT_EQ(event["seq"].GetInt(), 0);

  ExpectProblem(Send("GET", "/api/v1/tenants/acme/events/evt-2"), 404);
  ExpectProblem(Send("GET", "/api/v1/tenants/beta/events/evt-1"), 404);
  ExpectProblem(Send("GET", "/api/v1/tenants/BAD/events/evt-1"), 404);
}

TEST_F(ApiTest, UnknownRoutesAre404AndWrongMethods405WithAllow) {
  ExpectProblem(Send("GET", "/nothing", "", "", ""), 404);
  ExpectProblem(Send("GET", "/api/v1/events/"), 404);
  ExpectProblem(Send("GET", "/api/v2/events"), 404);

  HttpResponse del = Send("DELETE", "/api/v1/events");
  ExpectProblem(del, 405);
  EXPECT_EQ(del.Header("Allow"), "GET, POST");
  HttpResponse post = Send("POST", "/api/v1/events/histogram");
  ExpectProblem(post, 405);
  EXPECT_EQ(post.Header("Allow"), "GET");
  EXPECT_EQ(Send("POST", "/healthz", "", "", "").status, 405);
}

TEST_F(ApiTest, ListFiltersAndAnswerShape) {
  ASSERT_EQ(Post("[" + EventJson(R"("action":"delete","id":"a")") + "," +
                 EventJson(R"("status":"failure","id":"b")", "beta") + "," +
                 EventJson(R"("request":{"method":"POST"},"id":"c")", "gamma") + "]")
                .status,
            400);  // "action" given twice
  ASSERT_EQ(Post("[" + EventJson(R"("id":"a")") + "," +
                 EventJson(R"("status":"failure","id":"b")", "beta") + "," +
                 EventJson(R"("request":{"method":"POST"},"id":"c")", "gamma") + "]")
                .status,
            201);
  HttpResponse any_of = Send("GET", "/api/v1/events?tenant=acme,gamma");
  ASSERT_EQ(any_of.status, 200) << any_of.body;
  EXPECT_EQ(any_of.content_type, "application/json");
  rapidjson::Document page = ParseJson(any_of.body);
  EXPECT_EQ(page["total"].GetInt(), 2);
  EXPECT_TRUE(page["next_cursor"].IsNull());
  ASSERT_EQ(page["events"].Size(), 2u);
  std::set<std::string> ids;
  for (const auto& event : page["events"].GetArray()) ids.insert(event["id"].GetString());
  EXPECT_EQ(ids, (std::set<std::string>{"a", "c"}));

  page = ParseJson(Send("GET", "/api/v1/events?status=failure").body);
  EXPECT_EQ(page["total"].GetInt(), 1);
  EXPECT_STREQ(page["events"][0]["id"].GetString(), "b");
  page = ParseJson(Send("GET", "/api/v1/events?method=post").body);
  EXPECT_EQ(page["total"].GetInt(), 1);
  EXPECT_STREQ(page["events"][0]["id"].GetString(), "c");
}

TEST_F(ApiTest, BadQueryParametersAre400NamingTheParameter) {
  ASSERT_EQ(Post(EventJson()).status, 201);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"limit=0", "limit"},      {"limit=1001", "limit"}, {"cursor=abc", "cursor"},
      {"from=tomorrow", "from"}, {"type=bogus", "type"},  {"status=ok", "status"},
      {"ip=1.2.3.4.5", "ip"},    {"nope=1", "nope"},      {"buckets=3", "buckets"},
  };
  for (const auto& [query, field] : cases) {
    rapidjson::Document problem = ExpectProblem(Send("GET", "/api/v1/events?" + query), 400);
    ASSERT_EQ(problem["errors"].Size(), 1u) << query;
    EXPECT_TRUE(problem["errors"][0]["index"].IsNull());
    EXPECT_EQ(std::string(problem["errors"][0]["field"].GetString()), field);
  }
  ExpectProblem(Send("GET", "/api/v1/events?q=%zz"), 400);
}

TEST_F(ApiTest, CursorPagesThroughEverythingOnceNewestFirst) {
  std::string batch = "[";
  for (int i = 0; i < 25; ++i) {
    if (i > 0) batch += ",";
    // Two events share each timestamp so that ties are exercised.
    batch += R"({"tenant":"acme","action":"a","id":"e)" + std::to_string(i) +
             R"(","occurred_at":)" + std::to_string(kNow - (i / 2) * 1000) + "}";
  }
  ASSERT_EQ(Post(batch + "]").status, 201);

  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  util::UnixMillis previous = INT64_MAX;
  do {
    std::string target = "/api/v1/events?limit=10";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    HttpResponse response = Send("GET", target);
    ASSERT_EQ(response.status, 200) << response.body;
    rapidjson::Document page = ParseJson(response.body);
    EXPECT_EQ(page["total"].GetInt(), 25);
    ++pages;
    for (const auto& event : page["events"].GetArray()) {
      seen.push_back(event["id"].GetString());
      auto occurred = util::ParseRfc3339(event["occurred_at"].GetString());
      ASSERT_TRUE(occurred);
      EXPECT_LE(*occurred, previous);
      previous = *occurred;
    }
    EXPECT_EQ(page["events"].Size(), pages < 3 ? 10u : 5u);
    cursor = page["next_cursor"].IsNull() ? "" : page["next_cursor"].GetString();
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 25u);
}

TEST_F(ApiTest, HistogramCountsAddUpToTotal) {
  std::string batch = "[";
  for (int i = 0; i < 12; ++i) {
    if (i > 0) batch += ",";
    batch += R"({"tenant":"acme","action":"a","occurred_at":")" +
             util::FormatRfc3339Millis(kNow - i * 3'600'000) + "\"}";
  }
  ASSERT_EQ(Post(batch + "]").status, 201);
  HttpResponse response = Send("GET", "/api/v1/events/histogram?tenant=acme&buckets=4&from=" +
                                          util::FormatRfc3339Millis(kNow - 12 * 3'600'000) +
                                          "&to=" + util::FormatRfc3339Millis(kNow + 1));
  ASSERT_EQ(response.status, 200) << response.body;
  rapidjson::Document histogram = ParseJson(response.body);
  EXPECT_TRUE(histogram["from"].IsString());
  EXPECT_TRUE(histogram["to"].IsString());
  EXPECT_GT(histogram["interval_ms"].GetInt64(), 0);
  ASSERT_GE(histogram["buckets"].Size(), 4u);
  uint64_t sum = 0;
  for (const auto& bucket : histogram["buckets"].GetArray()) {
    EXPECT_TRUE(util::ParseRfc3339(bucket["start"].GetString()));
    EXPECT_THAT(bucket["start"].GetString(), ::testing::EndsWith("Z"));
    sum += bucket["count"].GetUint64();
  }
  EXPECT_EQ(sum, 12u);

  ExpectProblem(Send("GET", "/api/v1/events/histogram?buckets=0"), 400);
  ExpectProblem(Send("GET", "/api/v1/events/histogram?buckets=1001"), 400);
  ExpectProblem(Send("GET", "/api/v1/events/histogram?limit=5"), 400);
}

TEST_F(ApiTest, MetricsUseRouteTemplatesAndCountIngestion) {
  ASSERT_EQ(Post(EventJson(R"("id":"x")")).status, 201);
  ASSERT_EQ(Send("GET", "/api/v1/tenants/acme/events/x").status, 200);
  HttpResponse metrics = Send("GET", "/metrics", "", "", "");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.content_type, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_events_ingested_total 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_writer_queue_depth 0\n"));
  EXPECT_THAT(metrics.body,
              HasSubstr("evident_http_request_duration_seconds_count{route=\"/api/v1/tenants/"
                        "{tenant}/events/{id}\",code=\"2xx\"} 1\n"));
  EXPECT_THAT(metrics.body,
              HasSubstr("evident_http_request_duration_seconds_count{route=\"/api/v1/events\","
                        "code=\"2xx\"} 1\n"));
  EXPECT_THAT(metrics.body, ::testing::Not(HasSubstr("events/x")));
  EXPECT_THAT(metrics.body, HasSubstr("evident_commit_batch_size_count 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_commit_batch_size_bucket{le=\"1\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_database_bytes{kind=\"log\"}"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_database_bytes{kind=\"index\"}"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_indexer_lag_events 0\n"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_indexer_failures_total 0\n"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_indexer_retrying 0\n"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_indexer_tail_bytes 0\n"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_ingest_waits_total 0\n"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_ingest_waiting 0\n"));
  EXPECT_THAT(metrics.body, HasSubstr("evident_ingest_refused_total 0\n"));
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE evident_audit_events_waiting gauge\n"
                                      "evident_audit_events_waiting 0\n"));
}

}  // namespace
}  // namespace evident::api
