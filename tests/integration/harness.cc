#include "integration/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "evident/util/strings.h"

extern char** environ;  // NOLINT: POSIX

namespace evident::integration {
namespace {

constexpr std::string_view kListeningPrefix = "listening on ";

// Writing to a pipe whose reader has gone must fail with EPIPE, not kill the test binary.
void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] { signal(SIGPIPE, SIG_IGN); });
}

bool IsDroppedVariable(std::string_view name) {
  if (name.starts_with("EVIDENT_")) return true;
  std::string lower = util::AsciiLower(name);
  return lower == "http_proxy" || lower == "https_proxy" || lower == "all_proxy";
}

// The inherited environment without EVIDENT_* and proxies, plus `additions` (which win).
std::vector<std::string> ChildEnvironment(const Environment& additions) {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    std::string_view name = text.substr(0, text.find('='));
    if (IsDroppedVariable(name)) continue;
    bool overridden = false;
    for (const auto& [key, value] : additions) overridden = overridden || key == name;
    if (!overridden) entries.emplace_back(text);
  }
  for (const auto& [key, value] : additions) entries.push_back(key + "=" + value);
  return entries;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

util::Error SystemError(const std::string& what, int error_number) {
  return util::Error::Internal(what + ": " + std::strerror(error_number));
}

struct Pipe {
  int read_end = -1;
  int write_end = -1;
};

struct Spawned {
  pid_t pid = -1;
  int stdin_fd = -1;  // -1 when stdin is /dev/null
  int stdout_fd = -1;
  int stderr_fd = -1;
};

util::Result<Pipe> MakePipe() {
  int fds[2];
  // Close-on-exec, so that a child spawned by another thread does not keep our pipes open.
  if (pipe2(fds, O_CLOEXEC) != 0) return SystemError("pipe2", errno);
  return Pipe{fds[0], fds[1]};
}

util::Result<Spawned> Spawn(std::vector<std::string> argv, const Environment& env,
                            bool with_stdin) {
  IgnoreSigpipeOnce();
  EVIDENT_ASSIGN_OR_RETURN(Pipe out, MakePipe());
  EVIDENT_ASSIGN_OR_RETURN(Pipe err, MakePipe());
  Pipe in;
  if (with_stdin) {
    EVIDENT_ASSIGN_OR_RETURN(in, MakePipe());
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (with_stdin) {
    posix_spawn_file_actions_adddup2(&actions, in.read_end, STDIN_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out.write_end, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write_end, STDERR_FILENO);

  // Ignored signals stay ignored across exec: give the child default SIGPIPE (and SIGTERM,
  // SIGINT), and an empty signal mask.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attributes, &empty);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> env_strings = ChildEnvironment(env);
  std::vector<char*> argv_pointers = Pointers(argv);
  std::vector<char*> env_pointers = Pointers(env_strings);
  pid_t pid = -1;
  int spawn_error = posix_spawn(&pid, argv.front().c_str(), &actions, &attributes,
                                argv_pointers.data(), env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(out.write_end);
  close(err.write_end);
  if (with_stdin) close(in.read_end);
  if (spawn_error != 0) {
    close(out.read_end);
    close(err.read_end);
    if (with_stdin) close(in.write_end);
    return SystemError("cannot run " + argv.front(), spawn_error);
  }
  return Spawned{pid, in.write_end, out.read_end, err.read_end};
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Reads `fd` to its end into `out`, then closes it.
void ReadAll(int fd, std::string& out) {
  char buffer[16384];
  while (true) {
    ssize_t count = read(fd, buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    out.append(buffer, static_cast<size_t>(count));
  }
  close(fd);
}

bool ForwardingRequested(const ServerOptions& options) {
  return options.forward_output || std::getenv("EVIDENT_TEST_SERVER_LOG") != nullptr;
}

}  // namespace

std::string EvidentBinary() { return EVIDENT_BINARY; }

ServerProcess::ServerProcess(ServerOptions options) : options_(std::move(options)) {
  std::string pattern = (std::filesystem::temp_directory_path() / "evident-it-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    // Without a directory Start() fails and says why.
    pattern.clear();
  }
  data_dir_ = pattern;
}

ServerProcess::~ServerProcess() {
  if (running()) {
    kill(pid_, SIGKILL);
    (void)WaitForExit(std::chrono::milliseconds(0));
  }
  JoinReaders();
  if (!data_dir_.empty() && std::getenv("EVIDENT_KEEP_TEST_DATA") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(data_dir_, ignored);
  }
}

std::string ServerProcess::url() const {
  std::lock_guard lock(mu_);
  return url_;
}

std::string ServerProcess::Output() const {
  std::lock_guard lock(mu_);
  return output_;
}

util::Status ServerProcess::Start() {
  if (running()) return util::Error::Internal("the server is already running");
  if (data_dir_.empty()) return util::Error::Internal("could not create a data directory");
  JoinReaders();
  {
    std::lock_guard lock(mu_);
    url_.clear();
    stdout_closed_ = false;
  }
  std::vector<std::string> argv = {EvidentBinary(),    "serve",    "--data",
                                   data_dir_.string(), "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  Environment env = options_.env;
  env.emplace_back("EVIDENT_ADMIN_TOKEN", options_.admin_token);
  for (const auto& [name, value] :
       {std::pair<const char*, const char*>{"EVIDENT_ADMIN_EMAIL", kAdminEmail},
        {"EVIDENT_ADMIN_PASSWORD", kAdminPassword},
        {"EVIDENT_RATE_LIMIT_RPS", "0"}}) {
    const bool given = std::any_of(options_.env.begin(), options_.env.end(),
                                   [&](const auto& entry) { return entry.first == name; });
    if (!given) env.emplace_back(name, value);
  }
  EVIDENT_ASSIGN_OR_RETURN(Spawned child, Spawn(std::move(argv), env, /*with_stdin=*/false));
  pid_ = child.pid;
  readers_.emplace_back([this, fd = child.stdout_fd] { ReadStream(fd, true); });
  readers_.emplace_back([this, fd = child.stderr_fd] { ReadStream(fd, false); });

  bool listening = false;
  bool silent = false;
  {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, options_.start_timeout,
                      [&] { return !url_.empty() || stdout_closed_; });
    listening = !url_.empty();
    silent = !stdout_closed_;
  }
  if (listening) return {};
  if (silent) kill(pid_, SIGKILL);
  util::Result<int> status = WaitForExit(std::chrono::seconds(60));
  std::string what = silent ? "the server did not print \"listening on\" in time"
                            : "the server exited before listening, status " +
                                  (status ? std::to_string(*status) : status.error().message());
  return util::Error::Internal(what + "; its output:\n" + Output());
}

void ServerProcess::ReadStream(int fd, bool is_stdout) {
  const bool forward = ForwardingRequested(options_);
  std::string pending;  // stdout's incomplete last line
  char buffer[8192];
  while (true) {
    ssize_t count = read(fd, buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    std::string_view chunk(buffer, static_cast<size_t>(count));
    if (forward) (void)!write(STDERR_FILENO, chunk.data(), chunk.size());
    std::lock_guard lock(mu_);
    output_.append(chunk);
    if (!is_stdout || !url_.empty()) continue;
    pending.append(chunk);
    size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      std::string_view line = util::Trim(std::string_view(pending).substr(0, newline));
      if (line.starts_with(kListeningPrefix) && url_.empty()) {
        url_ = std::string(util::Trim(line.substr(kListeningPrefix.size())));
        changed_.notify_all();
      }
      pending.erase(0, newline + 1);
    }
  }
  close(fd);
  if (is_stdout) {
    std::lock_guard lock(mu_);
    stdout_closed_ = true;
    changed_.notify_all();
  }
}

util::Result<int> ServerProcess::WaitForExit(std::chrono::milliseconds timeout) {
  if (!running()) return util::Error::Internal("the server is not running");
  bool timed_out = false;
  if (timeout.count() > 0) {
    // A pidfd turns "wait, but not forever" into one poll() without a polling loop.
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd >= 0) {
      pollfd entry{pidfd, POLLIN, 0};
      int ready;
      do {
        ready = poll(&entry, 1, static_cast<int>(timeout.count()));
      } while (ready < 0 && errno == EINTR);
      close(pidfd);
      if (ready == 0) {
        timed_out = true;
        kill(pid_, SIGKILL);
      }
    }
  }
  int status = 0;
  pid_t reaped;
  do {
    reaped = waitpid(pid_, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  pid_ = -1;
  JoinReaders();
  if (reaped < 0) return SystemError("waitpid", errno);
  if (timed_out) {
    return util::Error::Internal("the server did not exit within " +
                                 std::to_string(timeout.count()) + " ms and was killed");
  }
  return DecodeWaitStatus(status);
}

void ServerProcess::JoinReaders() {
  for (std::thread& reader : readers_) {
    if (reader.joinable()) reader.join();
  }
  readers_.clear();
}

util::Result<int> ServerProcess::Terminate(std::chrono::milliseconds timeout) {
  if (!running()) return util::Error::Internal("the server is not running");
  kill(pid_, SIGTERM);
  return WaitForExit(timeout);
}

util::Result<int> ServerProcess::Kill9() {
  if (!running()) return util::Error::Internal("the server is not running");
  kill(pid_, SIGKILL);
  return WaitForExit(std::chrono::seconds(60));
}

util::Status ServerProcess::Restart() {
  if (running()) {
    util::Result<int> status = Terminate();
    if (!status) return status.error();
  }
  return Start();
}

CommandResult RunEvident(const std::vector<std::string>& args, const Environment& env,
                         std::string_view stdin_data) {
  CommandResult result;
  std::vector<std::string> argv = {EvidentBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  util::Result<Spawned> child = Spawn(std::move(argv), env, /*with_stdin=*/true);
  if (!child) {
    result.err = child.error().message();
    return result;
  }
  std::thread writer([fd = child->stdin_fd, stdin_data] {
    size_t written = 0;
    while (written < stdin_data.size()) {
      ssize_t count = write(fd, stdin_data.data() + written, stdin_data.size() - written);
      if (count < 0 && errno == EINTR) continue;
      if (count <= 0) break;  // the child closed its stdin
      written += static_cast<size_t>(count);
    }
    close(fd);
  });
  std::thread err_reader([fd = child->stderr_fd, &result] { ReadAll(fd, result.err); });
  ReadAll(child->stdout_fd, result.out);
  err_reader.join();
  writer.join();
  int status = 0;
  while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = DecodeWaitStatus(status);
  return result;
}

ApiClient::ApiClient(std::string base_url, std::string token)
    : base_url_(std::move(base_url)),
      token_(std::move(token)),
      http_(cli::HttpClientOptions{.connect_timeout = std::chrono::seconds(10),
                                   .timeout = std::chrono::minutes(5),
                                   .proxy = cli::ProxyFromEnvironment::kNo}) {}

util::Result<HttpResponse> ApiClient::Send(std::string_view method, const std::string& path,
                                           std::string_view body, std::vector<HttpHeader> headers) {
  bool has_authorization = false;
  for (const HttpHeader& header : headers) {
    has_authorization = has_authorization || util::EqualsIgnoreCase(header.name, "authorization");
  }
  if (!has_authorization && !token_.empty()) headers.push_back(cli::BearerAuth(token_));
  return http_.Send(method, base_url_ + path, body, headers);
}

util::Result<HttpResponse> ApiClient::Get(const std::string& path_and_query) {
  return Send("GET", path_and_query, {}, {});
}

util::Result<HttpResponse> ApiClient::Get(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& query) {
  return Send("GET", cli::BuildUrl("", path, query), {}, {});
}

util::Result<HttpResponse> ApiClient::Post(const std::string& path, std::string_view body,
                                           std::string_view content_type) {
  return Send("POST", path, body, {{"Content-Type", std::string(content_type)}});
}

util::Result<HttpResponse> ApiClient::PostEvents(const nlohmann::json& event_or_array) {
  return Post("/api/v1/events", event_or_array.dump());
}

util::Result<HttpResponse> ApiClient::PostNdjson(std::string_view lines) {
  return Post("/api/v1/events", lines, "application/x-ndjson");
}

nlohmann::json ParseJson(const HttpResponse& response) {
  return nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
}

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace evident::integration
