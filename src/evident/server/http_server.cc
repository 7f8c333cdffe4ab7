// <utility> first: some Asio headers need it under g++ 12 in C++20 mode (LIBRARIES.md).
#include "evident/server/http_server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <latch>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "evident/api/problem.h"
#include "evident/util/thread.h"

namespace evident::server {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;  // LIBRARIES.md: smaller buffers cost 10x on POSTs
constexpr uint32_t kHeaderLimitBytes = 64 * 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kBodyTimeout = std::chrono::seconds(60);
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr auto kLingerTimeout = std::chrono::seconds(2);

bool IsQuietDisconnect(const beast::error_code& error) {
  return error == http::error::end_of_stream || error == net::error::eof ||
         error == net::error::operation_aborted || error == beast::error::timeout ||
         error == net::error::connection_reset || error == net::error::broken_pipe ||
         error == http::error::partial_message;
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(api::Api& api, HttpServerOptions options)
      : api_(api),
        options_(std::move(options)),
        acceptor_(ioc_),
        signals_(ioc_),
        ingest_work_(net::make_work_guard(ingest_ioc_)) {}

  util::Status Listen();
  uint16_t port() const { return port_; }
  void Run();
  void Stop();

  class Session;

  api::Api& api_;
  const HttpServerOptions options_;
  net::io_context ioc_;
  // Runs ingest requests on the ingest threads; its guard keeps them waiting for work until Run()
  // ends.
  net::io_context ingest_ioc_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};

  std::mutex sessions_mu_;
  // Live sessions, so that Stop() can close the idle ones. Protected by sessions_mu_.
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  net::executor_work_guard<net::io_context::executor_type> ingest_work_;

 private:
  void Accept();
  void DoStop();
};

// One connection. Every handler runs on the connection's strand; the only other threads that
// touch it are an ingest thread, which handles an ingest request while the strand waits for its
// answer, and the one answering a request (the ledger writer for POSTs), which only posts the
// answer onto the strand.
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
    beast::error_code error;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(error);
    if (!error) {
      // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d; audit it as a.b.c.d.
      const net::ip::address address = peer.address();
      remote_ip_ = address.is_v6() && address.to_v6().is_v4_mapped()
                       ? net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6()).to_string()
                       : address.to_string();
    }
  }

  ~Session() {
    std::lock_guard lock(server_.sessions_mu_);
    server_.sessions_.erase(this);
  }

  void Start() {
    {
      std::lock_guard lock(server_.sessions_mu_);
      server_.sessions_.emplace(this, weak_from_this());
    }
    buffer_.reserve(kReadBufferBytes);
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // Called on the strand when the server stops: an idle connection closes now, a busy one after
  // its answer.
  void OnStop() {
    if (state_ == State::kIdle) stream_.cancel();
  }

  net::any_io_executor executor() { return stream_.get_executor(); }

 private:
  enum class State { kIdle, kReadingBody, kHandling, kClosing };

  void ReadHeader() {
    if (server_.stopping_) return Close();
    state_ = State::kIdle;
    parser_.emplace();
    parser_->header_limit(kHeaderLimitBytes);
    parser_->body_limit(server_.options_.max_body_bytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code error, size_t) { self->OnHeader(error); });
  }

  void OnHeader(beast::error_code error) {
    started_ = std::chrono::steady_clock::now();
    if (error) return OnReadError(error);
    const auto& request = parser_->get();
    version_ = request.version();
    const auto content_length = parser_->content_length();
    if (content_length && *content_length > server_.options_.max_body_bytes) {
      return RejectTooLarge();
    }
    state_ = State::kReadingBody;
    stream_.expires_after(kBodyTimeout);
    const auto expect = request[http::field::expect];
    if (beast::iequals(expect, "100-continue") && !parser_->is_done()) {
      // Without this, curl and other clients wait a second before sending the body.
      auto interim =
          std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
      http::async_write(
          stream_, *interim,
          [self = shared_from_this(), interim](beast::error_code write_error, size_t) {
            if (write_error) return self->Close();
            self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code error, size_t) { self->OnBody(error); });
  }

  void OnBody(beast::error_code error) {
    if (error) return OnReadError(error);
    state_ = State::kHandling;
    stream_.expires_never();
    http::request<http::string_body> message = parser_->release();
    keep_alive_ = message.keep_alive();
    api::HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.authorization = std::string(message[http::field::authorization]);
    request.content_type = std::string(message[http::field::content_type]);
    request.cookie = std::string(message[http::field::cookie]);
    request.origin = std::string(message[http::field::origin]);
    request.host = std::string(message[http::field::host]);
    request.csrf_token = std::string(message["X-CSRF-Token"]);
    request.user_agent = std::string(message[http::field::user_agent]);
    request.remote_ip = remote_ip_;
    request.body = std::move(message.body());
    request.received = std::chrono::steady_clock::now();
    const bool ingest = api::Api::IsIngest(request);
    // The work guard keeps the io_context running while a POST waits for an ingest thread and
    // the ledger writer, so that a graceful stop still writes its answer.
    auto handle = [self = shared_from_this(), work = net::make_work_guard(server_.ioc_),
                   request = std::move(request)]() mutable {
      self->server_.api_.Handle(std::move(request), [self, work = std::move(work)](
                                                        api::HttpResponse response) mutable {
        net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
          self->Write(std::move(response), /*close=*/false);
        });
        work.reset();
      });
    };
    if (ingest) {
      net::post(server_.ingest_ioc_, std::move(handle));
    } else {
      handle();
    }
  }

  void OnReadError(beast::error_code error) {
    if (error == http::error::body_limit) return RejectTooLarge();
    if (IsQuietDisconnect(error) || state_ == State::kClosing) return Close();
    // The request could not be parsed; nothing after it on this connection can be trusted.
    const bool header_too_large = error == http::error::header_limit;
    server_.api_.ObserveTransportResponse(400, Elapsed());
    Write(
        api::ProblemResponse(400, header_too_large ? "request header too large"
                                                   : "malformed HTTP request: " + error.message()),
        /*close=*/true);
  }

  void RejectTooLarge() {
    server_.api_.ObserveTransportResponse(413, Elapsed());
    Write(api::ProblemResponse(413, "the request body exceeds the limit of " +
                                        std::to_string(server_.options_.max_body_bytes) + " bytes"),
          /*close=*/true);
  }

  void Write(api::HttpResponse answer, bool close) {
    const bool closing = close || !keep_alive_ || server_.stopping_;
    if (close) state_ = State::kClosing;
    auto response = std::make_shared<http::response<http::string_body>>();
    response->version(version_);
    response->result(static_cast<unsigned>(answer.status));
    response->set(http::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) response->set(name, value);
    response->body() = std::move(answer.body);
    response->keep_alive(!closing);
    response->prepare_payload();
    stream_.expires_after(kWriteTimeout);
    http::async_write(
        stream_, *response,
        [self = shared_from_this(), response, close, closing](beast::error_code error, size_t) {
          if (error) return self->Close();
          if (close) return self->LingeringClose();
          if (closing || response->need_eof()) return self->Close();
          self->ReadHeader();
        });
  }

  // Stops sending, then discards what the client still sends for a moment before closing, so
  // that closing with unread data does not reset the connection before the client reads the
  // answer (as nginx's lingering_close).
  void LingeringClose() {
    state_ = State::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    discard_ = std::make_unique<std::array<char, kReadBufferBytes>>();
    Discard();
  }

  void Discard() {
    stream_.async_read_some(net::buffer(*discard_),
                            [self = shared_from_this()](beast::error_code error, size_t) {
                              if (error) return self->Close();
                              self->Discard();
                            });
  }

  void Close() {
    state_ = State::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }

  Impl& server_;
  beast::tcp_stream stream_;
  std::string remote_ip_;  // constant after construction
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<std::array<char, kReadBufferBytes>> discard_;
  State state_ = State::kIdle;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

util::Status HttpServer::Impl::Listen() {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  beast::error_code error;
  tcp::resolver resolver(ioc_);
  const auto endpoints =
      resolver.resolve(options_.host, std::to_string(options_.port), tcp::resolver::passive, error);
  if (error || endpoints.empty()) {
    return util::Error::IOError("cannot resolve " + where + ": " + error.message());
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  if (acceptor_.open(endpoint.protocol(), error) ||
      acceptor_.set_option(net::socket_base::reuse_address(true), error) ||
      acceptor_.bind(endpoint, error) ||
      acceptor_.listen(net::socket_base::max_listen_connections, error)) {
    return util::Error::IOError("cannot listen on " + where + ": " + error.message());
  }
  port_ = acceptor_.local_endpoint(error).port();
  if (error) return util::Error::IOError("cannot listen on " + where + ": " + error.message());
  // Catch the stop signals now, before the caller announces the port: a SIGTERM sent right after
  // that line must stop the server gracefully, not kill it.
  if (options_.signals == HttpServerOptions::Signals::kStop) {
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](beast::error_code wait_error, int signal) {
      if (wait_error) return;
      spdlog::info("received {}, stopping: finishing in-flight requests",
                   signal == SIGTERM ? "SIGTERM" : "SIGINT");
      DoStop();
    });
  }
  return {};
}

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(
      net::make_strand(ioc_), [this](beast::error_code error, tcp::socket socket) {
        if (stopping_ || error == net::error::operation_aborted) return;
        if (error) {
          // Out of descriptors and the like: say so, and try again shortly rather than spin.
          spdlog::warn("accept failed: {}", error.message());
          auto timer = std::make_shared<net::steady_timer>(ioc_, std::chrono::milliseconds(50));
          timer->async_wait([this, timer](beast::error_code) {
            if (!stopping_) Accept();
          });
          return;
        }
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(*this, std::move(socket))->Start();
        Accept();
      });
}

void HttpServer::Impl::Run() {
  if (!stopping_) Accept();
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  const unsigned threads =
      options_.io_threads > 0 ? static_cast<unsigned>(options_.io_threads) : hardware;
  const unsigned ingest_threads =
      options_.ingest_threads > 0 ? static_cast<unsigned>(options_.ingest_threads) : threads;
  std::vector<std::thread> ingest_pool;
  ingest_pool.reserve(ingest_threads);
  // Every ingest thread is at its priority before the first request is handled.
  std::latch lowered(static_cast<std::ptrdiff_t>(ingest_threads));
  for (unsigned i = 0; i < ingest_threads; ++i) {
    ingest_pool.emplace_back([this, &lowered, first = i == 0] {
      util::NameThisThread("evident-ingest");
      if (auto status = util::LowerThisThreadPriority(options_.ingest_nice); !status && first) {
        spdlog::warn("ingest threads keep the server's priority: {}", status.error().message());
      }
      lowered.count_down();
      ingest_ioc_.run();
    });
  }
  lowered.wait();
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (unsigned i = 1; i < threads; ++i) {
    pool.emplace_back([this] {
      util::NameThisThread("evident-http");
      ioc_.run();
    });
  }
  ioc_.run();
  for (std::thread& thread : pool) thread.join();
  // Every ingest request has been answered: each held work on ioc_ until then.
  ingest_work_.reset();
  for (std::thread& thread : ingest_pool) thread.join();
}

void HttpServer::Impl::Stop() {
  net::post(ioc_, [this] { DoStop(); });
}

void HttpServer::Impl::DoStop() {
  if (stopping_.exchange(true)) return;
  beast::error_code ignored;
  acceptor_.close(ignored);
  signals_.cancel(ignored);
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mu_);
    for (auto& [raw, weak] : sessions_) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  // Posted rather than called: each session's state belongs to its strand. The shared_ptrs are
  // released outside sessions_mu_, since a session's destructor takes it.
  for (std::shared_ptr<Session>& session : live) {
    net::post(session->executor(), [session] { session->OnStop(); });
  }
}

HttpServer::HttpServer(api::Api& api, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(api, std::move(options))) {}
HttpServer::~HttpServer() = default;
util::Status HttpServer::Listen() { return impl_->Listen(); }
uint16_t HttpServer::port() const { return impl_->port(); }
void HttpServer::Run() { impl_->Run(); }
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace evident::server
