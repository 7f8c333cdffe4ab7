// The transport over real sockets on 127.0.0.1 with the memory store: pipelining, the body limit,
// 100-continue, graceful stop with a POST in flight, and ingest on threads of its own.
#include "evident/server/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "evident/auth/test_identity.h"
#include "evident/storage/forwarding_event_store.h"
#include "evident/storage/memory/memory_event_store.h"
#include "evident/util/thread.h"

namespace evident::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kToken = "evd_transport-test";
constexpr std::string_view kEvent = R"({"tenant":"acme","action":"create"})";
constexpr int kIngestNice = 3;

// Wraps the memory store; when armed, Append waits until released, so that a test can hold a
// POST in flight. Likewise Prepare (on the thread that handles the POST), which also records
// that thread's name and nice value, and Query records its caller's.
class GatedStore final : public storage::ForwardingEventStore {
 public:
  struct Caller {
    std::string name;
    int nice = 0;
  };

  GatedStore() : ForwardingEventStore(storage::memory::NewMemoryEventStore()) {}

  void ArmPrepare() {
    std::lock_guard lock(mu_);
    prepare_armed_ = true;
  }
  // Waits until `count` calls of Prepare wait at the gate; returns their callers.
  std::vector<Caller> WaitUntilPreparing(size_t count) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return preparing_.size() >= count; });
    return preparing_;
  }
  void ReleasePrepare() {
    std::lock_guard lock(mu_);
    prepare_armed_ = false;
    changed_.notify_all();
  }
  std::unique_ptr<storage::PreparedEvents> Prepare(
      const std::vector<core::Event>& events) const override {
    {
      std::unique_lock lock(mu_);
      if (prepare_armed_) {
        preparing_.push_back(ThisCaller());
        changed_.notify_all();
        changed_.wait(lock, [this] { return !prepare_armed_; });
      }
    }
    return ForwardingEventStore::Prepare(events);
  }

  util::Result<storage::Page> Query(const core::Filter& filter,
                                    const std::optional<core::Cursor>& after,
                                    size_t limit) override {
    {
      std::lock_guard lock(mu_);
      last_query_caller_ = ThisCaller();
    }
    return ForwardingEventStore::Query(filter, after, limit);
  }
  Caller last_query_caller() {
    std::lock_guard lock(mu_);
    return last_query_caller_;
  }

  void Arm() {
    std::lock_guard lock(mu_);
    armed_ = true;
  }
  void WaitUntilEntered() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [this] { return entered_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    armed_ = false;
    changed_.notify_all();
  }

  using ForwardingEventStore::Append;
  std::vector<util::Result<std::vector<storage::Appended>>> Append(
      std::span<storage::Batch> batches) override {
    {
      std::unique_lock lock(mu_);
      entered_ = true;
      changed_.notify_all();
      changed_.wait(lock, [this] { return !armed_; });
    }
    return ForwardingEventStore::Append(batches);
  }

 private:
  static Caller ThisCaller() {
    char name[16] = {};
    (void)pthread_getname_np(pthread_self(), name, sizeof name);
    return {.name = name, .nice = util::ThisThreadNice()};
  }

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  bool armed_ = false;
  bool entered_ = false;
  bool prepare_armed_ = false;
  mutable std::vector<Caller> preparing_;
  Caller last_query_caller_;
};

// A blocking client socket speaking just enough HTTP/1.1 for these tests.
class Client {
 public:
  explicit Client(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    // A bound on a test that would otherwise hang: an answer that never comes fails the test.
    const timeval timeout{.tv_sec = 30, .tv_usec = 0};
    (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  void Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
  }

  // Reads one response (status line, headers and a Content-Length body); empty at end of stream.
  std::string ReadResponse() {
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return {};
    }
    head_end += 4;
    size_t body_length = 0;
    const std::string head = buffer_.substr(0, head_end);
    const size_t at = head.find("Content-Length: ");
    if (at != std::string::npos) body_length = std::stoul(head.substr(at + 16));
    while (buffer_.size() < head_end + body_length) {
      if (!Fill()) return {};
    }
    std::string response = buffer_.substr(0, head_end + body_length);
    buffer_.erase(0, head_end + body_length);
    return response;
  }

  // True when the server closed the connection (and sent nothing more).
  bool ClosedByPeer() {
    char byte;
    return buffer_.empty() && ::recv(fd_, &byte, 1, 0) == 0;
  }

 private:
  bool Fill() {
    char chunk[4096];
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(got));
    return true;
  }

  int fd_;
  bool connected_ = false;
  std::string buffer_;
};

std::string PostRequest(std::string_view body, std::string_view extra_headers = "") {
  return "POST /api/v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + std::string(kToken) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + std::string(extra_headers) + "\r\n" + std::string(body);
}

std::string GetRequest(std::string_view target) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
         std::string(kToken) + "\r\n\r\n";
}

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest()
      : writer_(store_, ledger::WriterOptions{}),
        clock_(1746775626123),
        identity_(clock_, std::string(kToken)),
        api_(store_, writer_, clock_, nullptr, identity_.service(), api::ApiOptions{}),
        server_(api_, HttpServerOptions{.host = "127.0.0.1",
                                        .port = 0,
                                        .max_body_bytes = 1024,
                                        .io_threads = 2,
                                        .ingest_threads = 2,
                                        .ingest_nice = kIngestNice,
                                        .signals = HttpServerOptions::Signals::kIgnore}) {
    const util::Status listening = server_.Listen();
    EXPECT_TRUE(listening) << listening.error().ToString();
    EXPECT_NE(server_.port(), 0);
    runner_ = std::thread([this] { server_.Run(); });
  }

  ~HttpServerTest() override {
    StopAndJoin();
    writer_.Shutdown();
  }

  void StopAndJoin() {
    server_.Stop();
    if (runner_.joinable()) runner_.join();
  }

  GatedStore store_;
  ledger::Writer writer_;
  core::FakeClock clock_;
  auth::TestIdentity identity_;
  api::Api api_;
  HttpServer server_;
  std::thread runner_;
};

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Client client(server_.port());
  ASSERT_TRUE(client.connected());
  client.Send(GetRequest("/healthz") + PostRequest(kEvent) + GetRequest("/api/v1/events") +
              GetRequest("/nowhere"));
  const std::string health = client.ReadResponse();
  EXPECT_THAT(health, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(health, HasSubstr("Content-Type: application/json\r\n"));
  EXPECT_THAT(health, HasSubstr(R"({"status":"ok",)"));
  const std::string post = client.ReadResponse();
  EXPECT_THAT(post, StartsWith("HTTP/1.1 201 Created\r\n"));
  EXPECT_THAT(post, HasSubstr(R"("seq":0)"));
  // The GET was sent before the POST was answered, yet sees the acknowledged event.
  const std::string list = client.ReadResponse();
  EXPECT_THAT(list, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(list, HasSubstr(R"("total":1)"));
  const std::string missing = client.ReadResponse();
  EXPECT_THAT(missing, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(missing, HasSubstr("Content-Type: application/problem+json\r\n"));
}

TEST_F(HttpServerTest, OversizedContentLengthIs413WithoutReadingTheBody) {
  Client client(server_.port());
  ASSERT_TRUE(client.connected());
  // Only the header is sent: the answer must not wait for the 2,000 announced bytes.
  std::string request = PostRequest(std::string(2000, ' '));
  request.resize(request.find("\r\n\r\n") + 4);
  client.Send(request);
  const std::string response = client.ReadResponse();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 413 "));
  EXPECT_THAT(response, HasSubstr("application/problem+json"));
  EXPECT_THAT(response, HasSubstr("Connection: close"));
  EXPECT_TRUE(client.ClosedByPeer());
  EXPECT_EQ(store_.Stats().log_position, 0);
}

TEST_F(HttpServerTest, ChunkedBodyStopsAtTheLimit) {
  Client client(server_.port());
  ASSERT_TRUE(client.connected());
  std::string request = "POST /api/v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                        std::string(kToken) +
                        "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "200\r\n" + std::string(512, ' ') + "\r\n";
  client.Send(request);
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 413 "));
  EXPECT_EQ(store_.Stats().log_position, 0);
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimResponse) {
  Client client(server_.port());
  ASSERT_TRUE(client.connected());
  std::string request = PostRequest(kEvent, "Expect: 100-continue\r\n");
  const size_t head = request.find("\r\n\r\n") + 4;
  client.Send(request.substr(0, head));
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 100 Continue\r\n"));
  client.Send(request.substr(head));
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 201 Created\r\n"));
}

TEST_F(HttpServerTest, MalformedRequestIs400AndCloses) {
  Client client(server_.port());
  ASSERT_TRUE(client.connected());
  client.Send("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 400 "));
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(HttpServerTest, StopAnswersTheInFlightPostAndClosesIdleConnections) {
  Client idle(server_.port());
  ASSERT_TRUE(idle.connected());
  idle.Send(GetRequest("/healthz"));
  EXPECT_THAT(idle.ReadResponse(), StartsWith("HTTP/1.1 200 "));

  store_.Arm();
  Client busy(server_.port());
  ASSERT_TRUE(busy.connected());
  busy.Send(PostRequest(kEvent));
  store_.WaitUntilEntered();
  server_.Stop();
  EXPECT_TRUE(idle.ClosedByPeer());
  store_.Release();
  const std::string answer = busy.ReadResponse();
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 201 Created\r\n"));
  EXPECT_THAT(answer, HasSubstr("Connection: close"));
  runner_.join();
  EXPECT_EQ(store_.Stats().log_position, 1);
  Client refused(server_.port());
  EXPECT_FALSE(refused.connected());
}

TEST_F(HttpServerTest, QueriesAreAnsweredWhileEveryIngestThreadIsBusy) {
  // Both ingest threads are held inside the store's Prepare of a POST each, as under heavy ingest.
  store_.ArmPrepare();
  Client first(server_.port());
  Client second(server_.port());
  ASSERT_TRUE(first.connected());
  ASSERT_TRUE(second.connected());
  first.Send(PostRequest(kEvent));
  second.Send(PostRequest(kEvent));
  const std::vector<GatedStore::Caller> preparing = store_.WaitUntilPreparing(2);
  const int own_nice = util::ThisThreadNice();
  for (const GatedStore::Caller& caller : preparing) {
    EXPECT_EQ(caller.name, "evident-ingest");
    EXPECT_EQ(caller.nice, std::min(19, own_nice + kIngestNice));
  }

  // A query still gets an I/O thread at the server's own priority, and sees nothing yet.
  Client reader(server_.port());
  ASSERT_TRUE(reader.connected());
  reader.Send(GetRequest("/api/v1/events"));
  const std::string list = reader.ReadResponse();
  EXPECT_THAT(list, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(list, HasSubstr(R"("total":0)"));
  const GatedStore::Caller query = store_.last_query_caller();
  EXPECT_EQ(query.nice, own_nice);
  EXPECT_NE(query.name, "evident-ingest");

  store_.ReleasePrepare();
  EXPECT_THAT(first.ReadResponse(), StartsWith("HTTP/1.1 201 Created\r\n"));
  EXPECT_THAT(second.ReadResponse(), StartsWith("HTTP/1.1 201 Created\r\n"));
  EXPECT_EQ(store_.Stats().log_position, 2);
}

}  // namespace
}  // namespace evident::server
