// The HTTP/1.1 transport: Boost.Beast over Asio, keep-alive and pipelining, a small pool of I/O
// threads and one of ingest threads, TCP_NODELAY. It parses requests, enforces the body limit, and
// hands each request to api::Api; everything about routes and answers lives in api/. Beast is
// confined to http_server.cc because it compiles slowly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "evident/api/api.h"
#include "evident/util/result.h"

namespace evident::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port; see HttpServer::port()
  uint64_t max_body_bytes = 16 * 1024 * 1024;
  int io_threads = 0;  // 0: one per hardware thread
  // Ingest requests (api::Api::IsIngest) are decoded and prepared on threads of their own, this
  // many (0: as many as io_threads) and this many nice levels below the rest of the server, so
  // that under load the indexer and queries come first and ingest takes what they leave. 0 runs
  // them at the server's own priority.
  int ingest_threads = 0;
  int ingest_nice = 0;
  // Stop() on SIGINT or SIGTERM while Run() runs.
  enum class Signals { kIgnore, kStop } signals = Signals::kStop;
};

// Lifecycle: Listen(), then Run() on one thread until Stop(). Stop() may be called from any
// thread (or comes from a signal). Holds a reference to `api`, which must outlive the server.
//
// Requests over max_body_bytes are answered 413 from their Content-Length alone, or as soon as a
// chunked body passes the limit; the body is never buffered, and the connection is closed (after
// a short lingering close that discards what the client is still sending, so that it can read
// the 413 rather than a connection reset).
class HttpServer {
 public:
  HttpServer(api::Api& api, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens. Errors: IOError naming the address (in use, no permission, unresolvable).
  util::Status Listen();
  // The bound port (the real one when options.port was 0). Valid after Listen().
  uint16_t port() const;

  // Serves on io_threads threads, the caller's among them, and ingest_threads more for ingest
  // requests. Returns once Stop() was called, every request already received has been answered
  // (including POSTs waiting for an ingest thread or the ledger writer), and every connection is
  // closed.
  void Run();

  // Stops accepting, closes idle connections, and lets in-flight requests finish (their
  // connections close after the answer). Thread-safe and idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace evident::server
