// The integration-test harness: runs the real `evident` binary (the path comes from the
// EVIDENT_BINARY compile definition) as a server on a free port with a fresh data directory,
// runs its client subcommands, and speaks HTTP to it.
//
// Typical use:
//   ServerProcess server;
//   ASSERT_TRUE(server.Start()) << server.Output();
//   ApiClient api(server.url());
//   auto answer = api.PostNdjson(lines);
//   CommandResult query = RunEvident({"query", "--url", server.url(), "--json", "--all"},
//                                    {{"EVIDENT_TOKEN", kAdminToken}});
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "evident/cli/http_client.h"
#include "evident/util/result.h"

namespace evident::integration {

using cli::HttpHeader;
using cli::HttpResponse;

// The bootstrap super-admin token every ServerProcess starts with (EVIDENT_ADMIN_TOKEN), and that
// super admin's email and password (EVIDENT_ADMIN_EMAIL, EVIDENT_ADMIN_PASSWORD).
inline constexpr char kAdminToken[] = "evident-integration-admin-token";
inline constexpr char kAdminEmail[] = "root@evident.test";
inline constexpr char kAdminPassword[] = "integration super admin password";

using Environment = std::vector<std::pair<std::string, std::string>>;

// The path of the evident binary under test.
std::string EvidentBinary();

struct ServerOptions {
  // Added to the child's environment. Inherited EVIDENT_* variables are always dropped, so
  // the developer's shell cannot change a test; EVIDENT_ADMIN_TOKEN is set to admin_token,
  // EVIDENT_ADMIN_EMAIL and EVIDENT_ADMIN_PASSWORD to kAdminEmail and kAdminPassword, and
  // EVIDENT_RATE_LIMIT_RPS to 0 (no rate limits) unless `env` sets them.
  Environment env;
  std::vector<std::string> extra_args;  // after `serve --data DIR --listen 127.0.0.1:0`
  std::string admin_token = kAdminToken;
  // Waiting for the "listening on" line; generous for sanitizer builds.
  std::chrono::milliseconds start_timeout{60'000};
  // Copies the server's output to this process's stderr as it arrives (also when the
  // environment variable EVIDENT_TEST_SERVER_LOG is set). It is always kept for Output().
  bool forward_output = false;
};

// One `evident serve` child process over one data directory, which it creates (empty, under
// the system temporary directory) and removes in the destructor unless EVIDENT_KEEP_TEST_DATA
// is set. Start, Terminate, Kill9 and Restart may be called again and again: each run gets a
// new port. Its stdout and stderr are drained by reader threads into Output(), so the pipes
// never fill. Not thread-safe, except Output() and url(), which may be called from any thread.
class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options = {});
  ~ServerProcess();  // SIGKILLs a still-running server
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server and returns once it printed `listening on http://HOST:PORT`. Errors:
  // Internal when it is already running, when it cannot be spawned, or when it exits or stays
  // silent past start_timeout (then it is killed); the message ends with its output.
  util::Status Start();
  // SIGTERM, then waits (up to `timeout`, then SIGKILL) and returns the exit status: the exit
  // code, or 128 + signal number when a signal ended it. Error when it was not running.
  util::Result<int> Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // SIGKILL and wait: a crash at this instant. Returns 128 + 9 as Terminate would.
  util::Result<int> Kill9();
  // Terminate (when running) and Start again on the same data directory.
  util::Status Restart();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // "http://127.0.0.1:PORT" of the current run; empty before the first Start.
  std::string url() const;
  const std::filesystem::path& data_dir() const { return data_dir_; }
  // Everything the server wrote to stdout and stderr, over all runs, in arrival order.
  std::string Output() const;

 private:
  void ReadStream(int fd, bool is_stdout);
  util::Result<int> WaitForExit(std::chrono::milliseconds timeout);
  void JoinReaders();

  const ServerOptions options_;
  std::filesystem::path data_dir_;
  pid_t pid_ = -1;
  std::vector<std::thread> readers_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::string output_;          // guarded by mu_
  std::string url_;             // guarded by mu_
  bool stdout_closed_ = false;  // guarded by mu_
};

// What a finished `evident ...` run printed and returned.
struct CommandResult {
  int exit_code = -1;  // or 128 + signal
  std::string out;
  std::string err;
};

// Runs the evident binary with `args` (without the program name) to completion, `stdin_data`
// on its standard input, with `env` added to the inherited environment minus EVIDENT_* (and
// with proxies disabled for loopback addresses).
CommandResult RunEvident(const std::vector<std::string>& args, const Environment& env = {},
                         std::string_view stdin_data = {});

// An HttpClient bound to one server and token, with helpers for the API. Not thread-safe: use
// one per thread.
class ApiClient {
 public:
  explicit ApiClient(std::string base_url, std::string token = kAdminToken);

  // `path_and_query` starts with '/', e.g. "/api/v1/events?limit=5".
  util::Result<HttpResponse> Get(const std::string& path_and_query);
  // `path` plus query parameters, each percent-encoded.
  util::Result<HttpResponse> Get(const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& query);
  util::Result<HttpResponse> Post(const std::string& path, std::string_view body,
                                  std::string_view content_type = "application/json");
  // POST /api/v1/events with a JSON body (one event or an array) or NDJSON lines.
  util::Result<HttpResponse> PostEvents(const nlohmann::json& event_or_array);
  util::Result<HttpResponse> PostNdjson(std::string_view lines);
  // Any method, extra headers included as given (no Authorization added when `headers`
  // already has one).
  util::Result<HttpResponse> Send(std::string_view method, const std::string& path,
                                  std::string_view body, std::vector<HttpHeader> headers);

  const std::string& base_url() const { return base_url_; }
  void set_token(std::string token) { token_ = std::move(token); }

 private:
  std::string base_url_;
  std::string token_;
  cli::HttpClient http_;
};

// The body parsed as JSON; a discarded value (is_discarded()) when it is not JSON.
nlohmann::json ParseJson(const HttpResponse& response);

// The lines of `text`, without their '\n'; no empty last line.
std::vector<std::string> SplitLines(std::string_view text);

}  // namespace evident::integration
