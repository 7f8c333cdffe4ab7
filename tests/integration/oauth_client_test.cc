// Evident's OAuth 2.0 authorization server (docs/oauth.md) driven by oauth4webapi, an
// independent, spec-compliant client library from the npm registry, used unchanged:
// tests/oauth_client/flows.mjs runs every flow with it against a real server, and this test then
// reads back the authentication log those flows left. The library is installed by
// `scripts/install-deps.sh test` (npm ci in tests/oauth_client).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "evident/util/strings.h"
#include "integration/harness.h"
#include "integration/json_fields.h"
#include "integration/suite_setup.h"

extern char** environ;  // NOLINT: POSIX

namespace evident::integration {
namespace {

using nlohmann::json;

// Where package.json, package-lock.json, node_modules and flows.mjs are.
std::filesystem::path ClientDir() {
  return std::filesystem::path(EVIDENT_SOURCE_DIR) / "tests" / "oauth_client";
}

// Node must finish the flows within this; a hung request then fails the test instead of hanging.
constexpr std::chrono::seconds kNodeTimeout{180};

// What flows.mjs prints, in order, when every check passes.
constexpr const char* kChecks[] = {
    "discovery",
    "public: sign-in redirects with code, state and iss",
    "public: code exchange",
    "public: access token works as Bearer",
    "public: refresh rotates the refresh token",
    "public: spent refresh token is invalid_grant",
    "public: reuse revoked the family",
    "public: signed-in session skips the login page",
    "public: wrong PKCE verifier is invalid_grant",
    "public: revoking the refresh token ends it",
    "public: authorization errors redirect with state and iss",
    "public: introspection is invalid_client",
    "confidential: code exchange (client_secret_basic)",
    "confidential: introspection of a live access token",
    "confidential: introspection of a refresh token (client_secret_post)",
    "confidential: refresh rotates (client_secret_post)",
    "confidential: revoked access token introspects inactive",
    "confidential: revoked refresh token introspects inactive",
    "confidential: replayed code is invalid_grant and revokes its tokens",
    "confidential: another client's code is invalid_grant and stays usable",
    "confidential: unknown token introspects inactive",
    "confidential: wrong secret is invalid_client",
    "machine: client_credentials (client_secret_basic)",
    "machine: client_credentials with scope (client_secret_post)",
    "machine: introspection of its own token",
    "machine: wrong secret is invalid_client",
};

constexpr char kTenant[] = "oauthlib";
constexpr char kEmail[] = "ada@oauthlib.test";
constexpr char kPassword[] = "the library signs in with this";
constexpr char kPublicRedirect[] = "http://127.0.0.1:53682/callback";
constexpr char kConfidentialRedirect[] = "https://app.example.test/oauth/callback";

struct NodeRun {
  int exit_code = -1;  // or 128 + signal
  std::string output;  // stdout and stderr, interleaved as written
  bool timed_out = false;
};

// The inherited environment without EVIDENT_* and proxies, plus `additions`.
std::vector<std::string> NodeEnvironment(const Environment& additions) {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string_view name = text.substr(0, text.find('='));
    const std::string lower = util::AsciiLower(name);
    if (name.starts_with("EVIDENT_") || lower == "http_proxy" || lower == "https_proxy" ||
        lower == "all_proxy") {
      continue;
    }
    entries.emplace_back(text);
  }
  for (const auto& [key, value] : additions) entries.push_back(key + "=" + value);
  return entries;
}

// Runs `node args...` (found on PATH) in ClientDir() to completion, or kills it at kNodeTimeout.
NodeRun RunNode(std::vector<std::string> args, const Environment& env) {
  NodeRun run;
  const std::filesystem::path client_dir = ClientDir();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    run.output = std::string("pipe2: ") + std::strerror(errno);
    return run;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addchdir_np(&actions, client_dir.c_str());
  // The harness ignores SIGPIPE; node gets the default back.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);

  args.insert(args.begin(), "node");
  std::vector<std::string> env_strings = NodeEnvironment(env);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int spawn_error =
      posix_spawnp(&pid, "node", &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(fds[1]);
  if (spawn_error != 0) {
    close(fds[0]);
    run.output = std::string("cannot run node: ") + std::strerror(spawn_error);
    return run;
  }

  const auto deadline = std::chrono::steady_clock::now() + kNodeTimeout;
  char buffer[16384];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd readable{.fd = fds[0], .events = POLLIN, .revents = 0};
    const int ready = poll(&readable, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      run.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    const ssize_t count = read(fds[0], buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    run.output.append(buffer, static_cast<size_t>(count));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.exit_code = 128 + WTERMSIG(status);
  return run;
}

class OAuthClient : public ::testing::Test {
 protected:
  // One server, one tenant with its user and three clients, one run of flows.mjs: the tests
  // below read its outcome.
  // The shared set-up's failures are kept for each test to report (suite_setup.h).
  static void SetUpTestSuite() { setup_failures_ = CaptureFailures(SetUpSuite); }
  inline static std::string setup_failures_;
  static void SetUpSuite() {
    server_ = new ServerProcess();
    ASSERT_TRUE(server_->Start()) << server_->Output();
    ASSERT_TRUE(std::filesystem::exists(ClientDir() / "node_modules" / "oauth4webapi"))
        << "oauth4webapi is not installed: run scripts/install-deps.sh test (npm ci in "
        << ClientDir().string() << ")";

    Expect201("/api/v1/tenants", {{"id", kTenant}, {"name", "OAuth client library"}});
    Expect201("/api/v1/users", {{"email", kEmail},
                                {"name", "Ada"},
                                {"role", "admin"},
                                {"tenant", kTenant},
                                {"password", kPassword}});
    const json all_scopes = {"events:read", "events:write", "admin"};
    const json code_grants = {"authorization_code", "refresh_token"};
    const json public_client =
        Expect201("/api/v1/oauth/clients", {{"name", "Command line"},
                                            {"type", "public"},
                                            {"redirect_uris", {kPublicRedirect}},
                                            {"grant_types", code_grants},
                                            {"scopes", all_scopes},
                                            {"tenant", kTenant}});
    const json confidential =
        Expect201("/api/v1/oauth/clients", {{"name", "Web application"},
                                            {"type", "confidential"},
                                            {"redirect_uris", {kConfidentialRedirect}},
                                            {"grant_types", code_grants},
                                            {"scopes", {"events:read", "events:write"}},
                                            {"tenant", kTenant}});
    const json machine =
        Expect201("/api/v1/oauth/clients", {{"name", "Exporter"},
                                            {"type", "confidential"},
                                            {"grant_types", {"client_credentials"}},
                                            {"scopes", {"events:read", "events:write"}},
                                            {"tenant", kTenant}});
    ids_ = {At(public_client, "/client/client_id"), At(confidential, "/client/client_id"),
            At(machine, "/client/client_id")};
    secrets_ = {At(confidential, "/client_secret"), At(machine, "/client_secret")};
    for (const std::string& id : ids_) ASSERT_FALSE(id.empty());
    for (const std::string& secret : secrets_) ASSERT_FALSE(secret.empty());

    run_ = new NodeRun(RunNode({(ClientDir() / "flows.mjs").string()},
                               {{"EVIDENT_URL", server_->url()},
                                {"EVIDENT_TENANT", kTenant},
                                {"EVIDENT_USER_EMAIL", kEmail},
                                {"EVIDENT_USER_PASSWORD", kPassword},
                                {"EVIDENT_PUBLIC_CLIENT_ID", ids_[0]},
                                {"EVIDENT_PUBLIC_REDIRECT_URI", kPublicRedirect},
                                {"EVIDENT_CONFIDENTIAL_CLIENT_ID", ids_[1]},
                                {"EVIDENT_CONFIDENTIAL_CLIENT_SECRET", secrets_[0]},
                                {"EVIDENT_CONFIDENTIAL_REDIRECT_URI", kConfidentialRedirect},
                                {"EVIDENT_MACHINE_CLIENT_ID", ids_[2]},
                                {"EVIDENT_MACHINE_CLIENT_SECRET", secrets_[1]}}));
  }

  static void TearDownTestSuite() {
    delete run_;
    run_ = nullptr;
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(setup_failures_, "") << "the suite's set-up failed";
    ASSERT_NE(run_, nullptr) << "the suite's set-up failed before running flows.mjs";
  }

  static json Expect201(const std::string& path, const json& body) {
    auto response = ApiClient(server_->url()).Post(path, body.dump());
    EXPECT_TRUE(response.has_value());
    if (!response) return {};
    EXPECT_EQ(response->status, 201) << path << " " << body << " -> " << response->body;
    return ParseJson(*response);
  }

  // Every event of the tenant matching `filters`.
  static std::vector<json> Events(std::vector<std::pair<std::string, std::string>> filters) {
    const std::string query = json(filters).dump();
    filters.emplace_back("tenant", kTenant);
    filters.emplace_back("limit", "1000");
    auto response = ApiClient(server_->url()).Get("/api/v1/events", filters);
    EXPECT_TRUE(response.has_value());
    if (!response) return {};
    EXPECT_EQ(response->status, 200) << query << " -> " << response->body;
    const json page = ParseJson(*response);
    EXPECT_TRUE(page.contains("next_cursor") && page["next_cursor"].is_null())
        << "more than one page: " << query;
    if (!page.contains("events") || !page["events"].is_array()) return {};
    return {page["events"].begin(), page["events"].end()};
  }

  static ServerProcess* server_;
  static NodeRun* run_;
  static std::vector<std::string> ids_;      // public, confidential, machine
  static std::vector<std::string> secrets_;  // confidential, machine
};

ServerProcess* OAuthClient::server_ = nullptr;
NodeRun* OAuthClient::run_ = nullptr;
std::vector<std::string> OAuthClient::ids_;
std::vector<std::string> OAuthClient::secrets_;

TEST_F(OAuthClient, EveryFlowOfTheLibraryPasses) {
  EXPECT_FALSE(run_->timed_out) << "flows.mjs ran past " << kNodeTimeout.count() << " s";
  EXPECT_EQ(run_->exit_code, 0) << run_->output;
  std::vector<std::string> passed;
  for (const std::string& line : SplitLines(run_->output)) {
    if (line.starts_with("ok ")) passed.push_back(line.substr(3));
  }
  EXPECT_THAT(passed, ::testing::ElementsAreArray(kChecks));
}

TEST_F(OAuthClient, TheFlowsAreInTheAuthenticationLog) {
  const std::vector<json> events = Events({{"type", "authentication"}});
  ASSERT_FALSE(events.empty());
  auto token_events = [&](const std::string& status, const std::string& grant_type) {
    return Where(events, [&](const json& e) {
      return At(e, "/action") == "oauth.token" && At(e, "/status") == status &&
             At(e, "/details/grant_type") == grant_type &&
             At(e, "/details/entrypoint") == "OAUTH_TOKEN";
    });
  };
  const std::vector<json> exchanged = token_events("success", "authorization_code");
  EXPECT_FALSE(exchanged.empty());
  const std::vector<json> refreshed = token_events("success", "refresh_token");
  EXPECT_FALSE(refreshed.empty());
  // A refresh carries the flow of the sign-in that began its session, and the session.
  for (const json& event : refreshed) {
    const std::string flow_id = At(event, "/details/flow_id");
    EXPECT_FALSE(
        Where(exchanged, [&](const json& e) { return At(e, "/details/flow_id") == flow_id; })
            .empty())
        << event;
    EXPECT_FALSE(At(event, "/details/session_id").empty()) << event;
  }
  const std::vector<json> machine = token_events("success", "client_credentials");
  EXPECT_FALSE(machine.empty());
  for (const json& event : machine) EXPECT_EQ(At(event, "/details/client_id"), ids_[2]) << event;

  auto failures = [&](const std::string& grant_type, const std::string& error,
                      const std::string& reason) {
    return Where(token_events("failure", grant_type), [&](const json& e) {
      return At(e, "/details/error") == error &&
             (reason.empty() || At(e, "/details/reason") == reason);
    });
  };
  EXPECT_FALSE(failures("refresh_token", "invalid_grant", "refresh_token_reuse").empty());
  EXPECT_FALSE(failures("authorization_code", "invalid_grant", "code_reuse").empty());
  EXPECT_FALSE(failures("client_credentials", "invalid_client", "").empty());
  EXPECT_FALSE(Where(events, [](const json& e) {
                 return At(e, "/action") == "oauth.revoke" && At(e, "/status") == "success";
               }).empty());
  // A reused code and a spent refresh token each ended a session; the spent refresh token names
  // the session it ended.
  const std::vector<json> revoked = Events({{"type", "session"}, {"action", "revoke"}});
  EXPECT_GE(revoked.size(), 2u);
  for (const json& reuse : failures("refresh_token", "invalid_grant", "refresh_token_reuse")) {
    const std::string session_id = At(reuse, "/details/session_id");
    EXPECT_FALSE(session_id.empty()) << reuse;
    EXPECT_EQ(
        Where(revoked, [&](const json& e) { return At(e, "/resource/id") == session_id; }).size(),
        1u)
        << reuse;
  }

  // Every code exchanged began as a valid authorization request and was issued in the same flow;
  // at least one of those flows went through the login page.
  auto in_flow = [&](const std::string& flow_id, const std::string& action,
                     const std::string& status) {
    return Where(events, [&](const json& e) {
      return At(e, "/details/flow_id") == flow_id && At(e, "/action") == action &&
             At(e, "/status") == status && At(e, "/details/entrypoint") == "OAUTH_AUTHORIZE";
    });
  };
  int signed_in = 0;
  for (const json& event : exchanged) {
    const std::string flow_id = At(event, "/details/flow_id");
    ASSERT_FALSE(flow_id.empty()) << event;
    EXPECT_EQ(in_flow(flow_id, "oauth.authorize", "initiated").size(), 1u) << flow_id;
    EXPECT_EQ(in_flow(flow_id, "oauth.authorize", "pending").size(), 1u) << flow_id;
    const std::vector<json> login = in_flow(flow_id, "login", "success");
    if (!login.empty()) {
      ++signed_in;
      EXPECT_EQ(At(login[0], "/actor/email"), kEmail) << login[0];
    }
  }
  EXPECT_GE(signed_in, 1);

  // No secret the test knows of is in the log.
  const std::string everything = json(Events({})).dump();
  for (const std::string& secret : {secrets_[0], secrets_[1], std::string(kPassword)}) {
    EXPECT_EQ(everything.find(secret), std::string::npos) << "a secret is in the log";
  }
}

}  // namespace
}  // namespace evident::integration
