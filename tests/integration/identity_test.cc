// Identity and access over real HTTP against `evident serve` (docs/identity.md): who may do what,
// logins and lockout, sessions, the tokens log, CSRF, rate limits, assumed identities, Evident's
// own audit trail, secrets that never reach the disk, and offline password recovery.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evident/util/time.h"
#include "integration/data_dir.h"
#include "integration/harness.h"
#include "integration/json_client.h"
#include "integration/json_fields.h"
#include "integration/suite_setup.h"

namespace evident::integration {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr char kChromeOnWindows[] =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36";
constexpr char kLoginPath[] = "/api/v1/auth/login";

// Milliseconds since the epoch of the RFC 3339 time at `pointer`, or -1.
int64_t Millis(const json& value, const std::string& pointer) {
  auto millis = util::ParseRfc3339(At(value, pointer));
  return millis ? *millis : -1;
}

using Client = JsonClient;

struct Session {
  std::string token, csrf, id;
  json user;
};

HttpResponse TryLogin(const std::string& url, const std::string& email, const std::string& password,
                      const std::string& user_agent = "") {
  Client anonymous(url, "");
  std::vector<HttpHeader> headers;
  if (!user_agent.empty()) headers.push_back({"User-Agent", user_agent});
  return anonymous.Call("POST", kLoginPath, {{"email", email}, {"password", password}},
                        std::move(headers));
}

Session Login(const std::string& url, const std::string& email, const std::string& password,
              const std::string& user_agent = "") {
  const HttpResponse response = TryLogin(url, email, password, user_agent);
  EXPECT_EQ(response.status, 200) << "login " << email << ": " << response.body;
  json body = ParseJson(response);
  if (response.status != 200 || !body.is_object()) return {};
  return {At(body, "/token"), At(body, "/csrf_token"), At(body, "/session/id"), body["user"]};
}

// Creates a user (password PasswordFor(email)) as `admin`; answers the user's JSON.
json CreateUser(Client& admin, const std::string& email, const std::string& role,
                const std::string& tenant, const std::string& name = "") {
  json body = {{"email", email},
               {"name", name.empty() ? "Name of " + email : name},
               {"role", role},
               {"password", PasswordFor(email)}};
  if (!tenant.empty()) body["tenant"] = tenant;
  return admin.Expect(201, "POST", "/api/v1/users", body);
}

// Creates an API token with `scopes` as `creator`; answers {secret, token}.
json CreateToken(Client& creator, const std::string& name, const std::vector<std::string>& scopes,
                 const std::string& tenant = "") {
  json body = {{"name", name}, {"scopes", scopes}};
  if (!tenant.empty()) body["tenant"] = tenant;
  return creator.Expect(201, "POST", "/api/v1/tokens", body);
}

// The events of one page (up to 1000) of GET /api/v1/events?QUERY.
std::vector<json> Events(Client& reader, const std::string& query) {
  return ListAt(reader.Expect(200, "GET", "/api/v1/events?limit=1000&" + query), "/events");
}

std::vector<std::string> Ids(const json& items) {
  std::vector<std::string> ids;
  if (!items.is_array()) return ids;
  for (const json& item : items) ids.push_back(At(item, "/id"));
  return ids;
}

// --- 1. Who sees what ---------------------------------------------------------------------------

// The callers of the matrix, in the order of Row::own and Row::other.
enum Who : size_t {
  kBySuperSession,
  kBySuperToken,
  kByAcmeAdmin,
  kByAcmeViewer,
  kByWriteToken,
  kByReadToken,
  kByAdminToken,
  kByBoundSuperToken,
  kWhoCount
};
constexpr const char* kWhoNames[kWhoCount] = {"super admin session",
                                              "super admin's token",
                                              "acme admin session",
                                              "acme viewer session",
                                              "acme admin's events:write token",
                                              "acme admin's events:read token",
                                              "acme admin's admin token",
                                              "super admin's token bound to acme"};

// The status each caller gets, in the order of Who.
using Statuses = std::array<long, kWhoCount>;  // NOLINT(google-runtime-int): libcurl's type
constexpr Statuses kNoVariant = {};            // the endpoint names no tenant

struct Request {
  std::string method, path;
  json body;
};

struct Row {
  std::string endpoint;
  std::function<Request(const std::string& tenant, size_t who)> make;
  Statuses own;    // asking about tenant acme, the callers' own
  Statuses other;  // asking about tenant globex; all kNoVariant when the endpoint has no tenant
};

struct World {
  std::string url;
  std::array<std::string, kWhoCount> secrets;
  std::string super_admin_id, super_token_id;
  std::string acme_admin_id, acme_viewer_id;
  std::map<std::string, std::string> target_user;  // tenant -> a viewer of that tenant
  std::map<std::string, std::string> event_id;     // tenant -> an event of that tenant
};

class IdentityAccess : public ::testing::Test {
 protected:
  // The shared set-up's failures are kept for each test to report (suite_setup.h).
  static void SetUpTestSuite() { setup_failures_ = CaptureFailures(SetUpSuite); }
  inline static std::string setup_failures_;
  static void SetUpSuite() {
    server_ = new ServerProcess();
    ASSERT_TRUE(server_->Start()) << server_->Output();
    world_ = new World();
    World& w = *world_;
    w.url = server_->url();
    Client root(w.url, kAdminToken);
    for (const char* tenant : {"acme", "globex"}) {
      root.Expect(201, "POST", "/api/v1/tenants", {{"id", tenant}});
    }
    w.acme_admin_id = At(CreateUser(root, "admin@acme.test", "admin", "acme"), "/id");
    w.acme_viewer_id = At(CreateUser(root, "viewer@acme.test", "viewer", "acme"), "/id");
    CreateUser(root, "admin@globex.test", "admin", "globex");
    for (const char* tenant : {"acme", "globex"}) {
      const std::string email = std::string("target@") + tenant + ".test";
      w.target_user[tenant] = At(CreateUser(root, email, "viewer", tenant), "/id");
      w.event_id[tenant] = std::string(tenant) + "-first";
      root.Expect(201, "POST", "/api/v1/events",
                  {{"tenant", tenant}, {"action", "create"}, {"id", w.event_id[tenant]}});
    }
    const Session super = Login(w.url, kAdminEmail, kAdminPassword);
    w.super_admin_id = At(super.user, "/id");
    w.secrets[kBySuperSession] = super.token;
    Client super_client(w.url, super.token);
    json super_token = CreateToken(super_client, "super", {"events:write", "events:read", "admin"});
    w.secrets[kBySuperToken] = At(super_token, "/secret");
    w.super_token_id = At(super_token, "/token/id");
    // Bound to one tenant, a super admin's token acts as an admin of that tenant only.
    w.secrets[kByBoundSuperToken] =
        At(CreateToken(super_client, "bound", {"events:write", "events:read", "admin"}, "acme"),
           "/secret");
    w.secrets[kByAcmeAdmin] = Login(w.url, "admin@acme.test", PasswordFor("admin@acme.test")).token;
    w.secrets[kByAcmeViewer] =
        Login(w.url, "viewer@acme.test", PasswordFor("viewer@acme.test")).token;
    Login(w.url, "admin@globex.test", PasswordFor("admin@globex.test"));  // a globex session
    Client acme_admin(w.url, w.secrets[kByAcmeAdmin]);
    w.secrets[kByWriteToken] = At(CreateToken(acme_admin, "write", {"events:write"}), "/secret");
    w.secrets[kByReadToken] = At(CreateToken(acme_admin, "read", {"events:read"}), "/secret");
    w.secrets[kByAdminToken] = At(CreateToken(acme_admin, "admin", {"admin"}), "/secret");
    for (const std::string& secret : w.secrets) ASSERT_FALSE(secret.empty());
  }

  void SetUp() override {
    ASSERT_EQ(setup_failures_, "") << "the suite's set-up failed";
    ASSERT_NE(world_, nullptr) << "the suite's server did not start";
  }

  static void TearDownTestSuite() {
    delete world_;
    delete server_;
    world_ = nullptr;
    server_ = nullptr;
  }

  static ServerProcess* server_;
  static World* world_;
};

ServerProcess* IdentityAccess::server_ = nullptr;
World* IdentityAccess::world_ = nullptr;

TEST_F(IdentityAccess, EveryRoleAndScopeGetsTheDocumentedStatus) {
  const World& w = *world_;
  auto get = [](std::string path) {
    return [path = std::move(path)](const std::string& tenant, size_t) {
      return Request{"GET", path + tenant, json()};
    };
  };
  // Sessions and the tokens log: the own variant is the plain list (which a viewer may read:
  // their own), the other one filters by tenant globex.
  auto list = [](std::string path) {
    return [path = std::move(path)](const std::string& tenant, size_t) {
      return Request{"GET", tenant == "acme" ? path : path + "?tenant=" + tenant, json()};
    };
  };
  using S = Statuses;
  // clang-format off
  const std::vector<Row> rows = {
      // Columns:    super session, super token, acme admin, viewer, :write, :read, admin, bound
      {"POST /api/v1/events {tenant}",
       [](const std::string& tenant, size_t) {
         return Request{"POST", "/api/v1/events", {{"tenant", tenant}, {"action", "update"}}};
       },
       S{201, 201, 201, 403, 201, 403, 403, 201},
       S{201, 201, 400, 403, 400, 403, 403, 400}},
      {"GET /api/v1/events?tenant=", get("/api/v1/events?tenant="),
       S{200, 200, 200, 403, 403, 200, 403, 200},
       S{200, 200, 403, 403, 403, 403, 403, 403}},
      {"GET /api/v1/events/histogram?tenant=", get("/api/v1/events/histogram?tenant="),
       S{200, 200, 200, 403, 403, 200, 403, 200},
       S{200, 200, 403, 403, 403, 403, 403, 403}},
      {"GET /api/v1/tenants/{t}/events/{id}",
       [&w](const std::string& tenant, size_t) {
         return Request{"GET", "/api/v1/tenants/" + tenant + "/events/" + w.event_id.at(tenant),
                        json()};
       },
       S{200, 200, 200, 403, 403, 200, 403, 200},
       S{200, 200, 404, 403, 403, 404, 403, 404}},
      {"GET /api/v1/tenants/{t}/log/checkpoint",
       [](const std::string& tenant, size_t) {
         return Request{"GET", "/api/v1/tenants/" + tenant + "/log/checkpoint", json()};
       },
       S{200, 200, 200, 403, 403, 200, 403, 200},
       S{200, 200, 404, 403, 403, 404, 403, 404}},
      {"GET /api/v1/users?tenant=", get("/api/v1/users?tenant="),
       S{200, 200, 200, 403, 403, 403, 200, 200},
       S{200, 200, 403, 403, 403, 403, 403, 403}},
      {"POST /api/v1/users {tenant}",
       [](const std::string& tenant, size_t who) {
         const std::string email = "made-by-" + std::to_string(who) + "@" + tenant + ".test";
         return Request{"POST", "/api/v1/users",
                        {{"email", email}, {"role", "viewer"}, {"tenant", tenant},
                         {"password", PasswordFor(email)}}};
       },
       S{201, 201, 201, 403, 403, 403, 201, 201},
       S{201, 201, 403, 403, 403, 403, 403, 403}},
      {"GET /api/v1/users/{id}",
       [&w](const std::string& tenant, size_t) {
         return Request{"GET", "/api/v1/users/" + w.target_user.at(tenant), json()};
       },
       S{200, 200, 200, 403, 403, 403, 200, 200},
       S{200, 200, 404, 403, 403, 403, 404, 404}},
      {"PATCH /api/v1/users/{id}",
       [&w](const std::string& tenant, size_t who) {
         return Request{"PATCH", "/api/v1/users/" + w.target_user.at(tenant),
                        {{"name", std::string("renamed by ") + kWhoNames[who]}}};
       },
       S{200, 200, 200, 403, 403, 403, 200, 200},
       S{200, 200, 404, 403, 403, 403, 404, 404}},
      {"GET /api/v1/tenants",
       [](const std::string&, size_t) { return Request{"GET", "/api/v1/tenants", json()}; },
       S{200, 200, 200, 403, 403, 403, 200, 200},
       kNoVariant},
      {"POST /api/v1/tenants",
       [](const std::string&, size_t who) {
         return Request{"POST", "/api/v1/tenants", {{"id", "made-by-" + std::to_string(who)}}};
       },
       S{201, 201, 403, 403, 403, 403, 403, 403},
       kNoVariant},
      {"GET /api/v1/sessions[?tenant=globex]", list("/api/v1/sessions"),
       S{200, 200, 200, 200, 403, 403, 200, 200},
       S{200, 200, 403, 403, 403, 403, 403, 403}},
      {"GET /api/v1/tokens[?tenant=globex]", list("/api/v1/tokens"),
       S{200, 200, 200, 200, 403, 403, 200, 200},
       S{200, 200, 403, 403, 403, 403, 403, 403}},
      {"POST /api/v1/tokens {tenant}",
       [](const std::string& tenant, size_t who) {
         return Request{"POST", "/api/v1/tokens",
                        {{"name", "matrix " + std::to_string(who)},
                         {"scopes", json::array({"admin"})}, {"tenant", tenant}}};
       },
       S{201, 201, 201, 403, 403, 403, 201, 201},
       S{201, 201, 403, 403, 403, 403, 403, 403}},
      {"POST /api/v1/users/{id}/assume",
       [&w](const std::string& tenant, size_t) {
         return Request{"POST", "/api/v1/users/" + w.target_user.at(tenant) + "/assume",
                        {{"reason", "authorization matrix"}}};
       },
       S{201, 201, 403, 403, 403, 403, 403, 403},
       S{201, 201, 403, 403, 403, 403, 403, 403}},
  };
  // clang-format on

  std::vector<std::unique_ptr<Client>> callers;
  for (const std::string& secret : w.secrets) {
    callers.push_back(std::make_unique<Client>(w.url, secret));
  }
  size_t cells = 0;
  for (const Row& row : rows) {
    for (size_t who = 0; who < kWhoCount; ++who) {
      for (const char* tenant_name : {"acme", "globex"}) {
        const std::string tenant = tenant_name;
        const Statuses& statuses = tenant == "acme" ? row.own : row.other;
        if (statuses == kNoVariant) continue;
        const long want = statuses[who];  // NOLINT(google-runtime-int)
        ++cells;
        const Request request = row.make(tenant, who);
        const HttpResponse response =
            callers[who]->Call(request.method, request.path, request.body);
        EXPECT_EQ(response.status, want)
            << row.endpoint << " as " << kWhoNames[who] << " about " << tenant << ": "
            << request.method << " " << request.path << " -> " << response.body;
        if (want == 400 && response.status == 400) {
          // Writing to another tenant is refused naming the field.
          json problem = ParseJson(response);
          EXPECT_EQ(At(problem, "/errors/0/field"), "tenant") << response.body;
          EXPECT_NE(At(problem, "/errors/0/message").find("acme"), std::string::npos)
              << response.body;
        }
      }
    }
  }
  EXPECT_EQ(cells, 13 * 2 * kWhoCount + 2 * kWhoCount);
}

TEST_F(IdentityAccess, ListsHoldOnlyWhatTheCallerMaySee) {
  const World& w = *world_;
  Client root(w.url, kAdminToken);
  Client admin(w.url, w.secrets[kByAcmeAdmin]);
  Client viewer(w.url, w.secrets[kByAcmeViewer]);

  // An admin's lists without a tenant filter are its own tenant's.
  const std::vector<json> events = Events(admin, "");
  EXPECT_FALSE(events.empty());
  for (const json& event : events) EXPECT_EQ(At(event, "/tenant"), "acme") << event;
  json users = admin.Expect(200, "GET", "/api/v1/users?limit=1000");
  EXPECT_GE(users["users"].size(), 3u) << users;
  for (const json& user : users["users"]) {
    EXPECT_EQ(At(user, "/tenant"), "acme") << user;
    EXPECT_NE(At(user, "/role"), "super_admin") << user;
  }
  for (const char* list : {"sessions", "tokens"}) {
    json page = admin.Expect(200, "GET", std::string("/api/v1/") + list + "?limit=1000");
    EXPECT_GE(page[list].size(), 2u) << page;
    for (const json& item : page[list]) EXPECT_EQ(At(item, "/tenant"), "acme") << item;
  }
  json tenants = admin.Expect(200, "GET", "/api/v1/tenants");
  EXPECT_EQ(Ids(tenants["tenants"]), std::vector<std::string>{"acme"}) << tenants;
  const std::vector<std::string> all_tenants =
      Ids(root.Expect(200, "GET", "/api/v1/tenants")["tenants"]);
  EXPECT_NE(std::find(all_tenants.begin(), all_tenants.end(), "globex"), all_tenants.end());
  // Super admins and their credentials are not an admin's to see.
  admin.Expect(404, "GET", "/api/v1/users/" + w.super_admin_id);
  admin.Expect(404, "GET", "/api/v1/tokens/" + w.super_token_id);
  root.Expect(200, "GET", "/api/v1/tokens/" + w.super_token_id);

  // A super admin's token bound to acme acts as an acme admin: it sees acme's events only,
  // creates no super admins, and does not see (or end) its owner's credentials outside acme,
  // which an acme admin cannot see either.
  Client bound(w.url, w.secrets[kByBoundSuperToken]);
  const std::string unbound_id = At(CreateToken(root, "unbound", {"events:read"}), "/token/id");
  admin.Expect(404, "GET", "/api/v1/tokens/" + unbound_id);
  bound.Expect(404, "GET", "/api/v1/tokens/" + unbound_id);
  bound.Expect(404, "POST", "/api/v1/tokens/" + unbound_id + "/deactivate");
  EXPECT_EQ(root.Expect(200, "GET", "/api/v1/tokens/" + unbound_id)["active"], true);
  bound.Expect(403, "POST", "/api/v1/users",
               {{"email", "another-root@evident.test"},
                {"role", "super_admin"},
                {"password", PasswordFor("another-root@evident.test")}});
  for (const json& event : Events(bound, "")) EXPECT_EQ(At(event, "/tenant"), "acme") << event;

  // A tenant also comes into being with the first event written for it.
  root.Expect(201, "POST", "/api/v1/events", {{"tenant", "born-by-event"}, {"action", "create"}});
  const std::vector<std::string> now_tenants =
      Ids(root.Expect(200, "GET", "/api/v1/tenants")["tenants"]);
  EXPECT_NE(std::find(now_tenants.begin(), now_tenants.end(), "born-by-event"), now_tenants.end());
  EXPECT_EQ(std::find(now_tenants.begin(), now_tenants.end(), "system"), now_tenants.end());
  root.Expect(400, "POST", "/api/v1/tenants", {{"id", "system"}});
  root.Expect(409, "POST", "/api/v1/tenants", {{"id", "acme"}});

  // A viewer sees their own sessions and tokens only, and themselves by id.
  for (const char* list : {"sessions", "tokens"}) {
    json page = viewer.Expect(200, "GET", std::string("/api/v1/") + list);
    EXPECT_GE(page[list].size(), 1u) << page;
    for (const json& item : page[list]) EXPECT_EQ(At(item, "/user/id"), w.acme_viewer_id) << item;
  }
  EXPECT_EQ(At(viewer.Expect(200, "GET", "/api/v1/users/" + w.acme_viewer_id), "/email"),
            "viewer@acme.test");
  viewer.Expect(403, "GET", "/api/v1/users/" + w.acme_admin_id);
}

// --- 2. Logins and lockout, and their audit trail (9) -------------------------------------------

TEST(IdentityLogin, AnswersLocksOutAndAuditsEveryAttempt) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  const std::string url = server.url();
  Client root(url, kAdminToken);
  root.Expect(201, "POST", "/api/v1/tenants", {{"id", "acme"}});
  const std::string ana = "ana@acme.test";
  const std::string bob = "bob@acme.test";
  CreateUser(root, ana, "admin", "acme");
  CreateUser(root, bob, "viewer", "acme");

  // Success: the secrets, the session, the user and the cookie.
  const HttpResponse ok = TryLogin(url, ana, PasswordFor(ana), kChromeOnWindows);
  ASSERT_EQ(ok.status, 200) << ok.body;
  json answer = ParseJson(ok);
  const std::string token = At(answer, "/token");
  EXPECT_TRUE(token.starts_with("evs_")) << token;
  EXPECT_EQ(token.size(), 4u + 43u) << token;
  EXPECT_FALSE(At(answer, "/csrf_token").empty());
  EXPECT_NE(At(answer, "/csrf_token"), token);
  const std::string session_id = At(answer, "/session/id");
  EXPECT_FALSE(session_id.empty());
  EXPECT_EQ(At(answer, "/session/status"), "active");
  EXPECT_EQ(At(answer, "/session/user/email"), ana);
  EXPECT_EQ(At(answer, "/user/email"), ana);
  EXPECT_EQ(At(answer, "/user/role"), "admin");
  EXPECT_EQ(At(answer, "/user/tenant"), "acme");
  EXPECT_FALSE(answer["user"].contains("password_hash")) << answer;
  const std::string cookie = ok.Header("set-cookie").value_or("");
  EXPECT_TRUE(cookie.starts_with("evident_session=" + token + ";")) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("Path=/"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << "no TLS here: " << cookie;
  EXPECT_NE(cookie.find("Max-Age=43200"), std::string::npos) << "12 h by default: " << cookie;
  EXPECT_EQ(Millis(answer, "/session/expires_at") - Millis(answer, "/session/created_at"),
            12LL * 60 * 60 * 1000)
      << answer;
  EXPECT_EQ(ok.Header("cache-control"), "no-store");
  Client session(url, token);
  EXPECT_EQ(At(session.Expect(200, "GET", "/api/v1/auth/session"), "/credential/id"), session_id);

  // Emails are case-insensitive: for logins, and for uniqueness.
  Login(url, "ANA@Acme.TEST", PasswordFor(ana));
  root.Expect(409, "POST", "/api/v1/users",
              {{"email", "Ana@ACME.test"},
               {"role", "viewer"},
               {"tenant", "acme"},
               {"password", PasswordFor(ana)}});

  // A wrong password and an unknown email are answered alike.
  const HttpResponse wrong = TryLogin(url, ana, "not the password of ana");
  const HttpResponse unknown = TryLogin(url, "nobody@acme.test", "not the password of ana");
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_EQ(unknown.status, 401) << unknown.body;
  EXPECT_EQ(wrong.body, unknown.body);

  // Five failures lock an email out, whether or not an account has it; the right password waits
  // too.
  const std::string ghost = "ghost@nowhere.test";
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(TryLogin(url, ghost, "guess number " + std::to_string(i)).status, 401) << i;
    EXPECT_EQ(TryLogin(url, bob, "guess number " + std::to_string(i)).status, 401) << i;
  }
  for (const auto& [email, password] : {std::pair<std::string, std::string>{ghost, "guess 6"},
                                        {bob, "guess 6"},
                                        {bob, PasswordFor(bob)}}) {
    const HttpResponse blocked = TryLogin(url, email, password);
    EXPECT_EQ(blocked.status, 429) << email << ": " << blocked.body;
    const std::string retry_after = blocked.Header("retry-after").value_or("");
    ASSERT_FALSE(retry_after.empty()) << email;
    EXPECT_GE(std::stoll(retry_after), 1);
    EXPECT_LE(std::stoll(retry_after), 15 * 60);
  }
  // Another email from the same address is not locked.
  Login(url, ana, PasswordFor(ana));
  const Session super = Login(url, kAdminEmail, kAdminPassword);

  // POSTing to the reserved tenant is refused naming the field.
  const HttpResponse reserved =
      root.Call("POST", "/api/v1/events", {{"tenant", "system"}, {"action", "create"}});
  EXPECT_EQ(reserved.status, 400) << reserved.body;
  EXPECT_EQ(At(ParseJson(reserved), "/errors/0/field"), "tenant") << reserved.body;

  // The audit trail: logins of acme's users in acme.
  const std::vector<json> acme = Events(root, "tenant=acme&type=authentication");
  auto count = [](const std::vector<json>& events, const std::string& email,
                  const std::string& status, const std::string& reason) {
    return Where(events,
                 [&](const json& e) {
                   return At(e, "/actor/email") == email && At(e, "/status") == status &&
                          At(e, "/details/reason") == reason;
                 })
        .size();
  };
  const std::vector<json> success = Where(acme, [&](const json& e) {
    return At(e, "/status") == "success" && At(e, "/details/session_id") == session_id;
  });
  ASSERT_EQ(success.size(), 1u) << json(acme).dump(1);
  const json& login = success[0];
  EXPECT_EQ(At(login, "/action"), "login");
  EXPECT_EQ(At(login, "/actor/email"), ana);
  EXPECT_EQ(At(login, "/actor/role"), "admin");
  EXPECT_EQ(At(login, "/details/entrypoint"), "PASSWORD");
  EXPECT_EQ(At(login, "/resource/type"), "session");
  EXPECT_EQ(At(login, "/resource/id"), session_id);
  EXPECT_EQ(At(login, "/request/ip"), "127.0.0.1");
  EXPECT_EQ(At(login, "/request/status_code"), "200");
  EXPECT_EQ(At(login, "/request/method"), "POST");
  EXPECT_EQ(At(login, "/request/path"), kLoginPath);
  EXPECT_EQ(At(login, "/request/user_agent"), kChromeOnWindows);
  EXPECT_EQ(At(login, "/request/agent/os"), "Windows");
  EXPECT_EQ(At(login, "/request/agent/browser"), "Chrome");
  EXPECT_EQ(count(acme, ana, "failure", "wrong_password"), 1u);
  EXPECT_EQ(count(acme, bob, "failure", "wrong_password"), 5u);
  EXPECT_EQ(count(acme, bob, "blocked", "too_many_failures"), 1u);
  const std::vector<json> bob_blocked = Where(acme, [&](const json& e) {
    return At(e, "/actor/email") == bob && At(e, "/status") == "blocked";
  });
  EXPECT_EQ(bob_blocked.size(), 3u) << json(bob_blocked).dump(1);  // the lockout and two waits
  for (const json& e : acme) {
    EXPECT_EQ(At(e, "/action"), "login") << e;
    EXPECT_EQ(At(e, "/details/entrypoint"), "PASSWORD") << e;
    EXPECT_EQ(At(e, "/request/method"), "POST") << e;
    EXPECT_EQ(At(e, "/request/path"), kLoginPath) << e;
    EXPECT_EQ(At(e, "/request/ip"), "127.0.0.1") << e;
    const std::string status = At(e, "/status");
    const std::string code = At(e, "/request/status_code");
    if (status == "failure") {
      EXPECT_EQ(code, "401") << e;
    } else if (status == "blocked" && At(e, "/details/reason") == "too_many_failures") {
      EXPECT_EQ(code, "401") << e;  // recorded with the failure that locked the email
    } else if (status == "blocked") {
      EXPECT_EQ(code, "429") << e;
    }
  }
  // Unknown emails and the super admin are no tenant's: their logins are in `system`.
  const std::vector<json> system = Events(root, "tenant=system&type=authentication");
  EXPECT_EQ(count(system, ghost, "failure", "unknown_email"), 5u) << json(system).dump(1);
  EXPECT_EQ(count(system, "nobody@acme.test", "failure", "unknown_email"), 1u);
  EXPECT_EQ(count(system, ghost, "blocked", "too_many_failures"), 1u);
  const std::vector<json> super_login = Where(system, [&](const json& e) {
    return At(e, "/details/session_id") == super.id && At(e, "/status") == "success";
  });
  ASSERT_EQ(super_login.size(), 1u);
  EXPECT_EQ(At(super_login[0], "/actor/email"), kAdminEmail);
  EXPECT_EQ(At(super_login[0], "/actor/role"), "super_admin");
  EXPECT_EQ(At(super_login[0], "/tenant"), "system");
  EXPECT_TRUE(
      Where(acme, [](const json& e) { return At(e, "/actor/email") == kAdminEmail; }).empty());
  // The first start recorded the super admin's creation.
  const std::vector<json> first_start =
      Where(Events(root, "tenant=system&type=activity"), [](const json& e) {
        return At(e, "/action") == "create" && At(e, "/resource/name") == kAdminEmail;
      });
  ASSERT_EQ(first_start.size(), 1u);
  EXPECT_EQ(At(first_start[0], "/resource/type"), "user");
  EXPECT_EQ(At(first_start[0], "/details/role"), "super_admin");
}

TEST(IdentityLogin, PerAddressLockoutStopsSprayingAcrossEmails) {
  ServerOptions options;
  options.env = {{"EVIDENT_LOCKOUT_MAX_FAILURES_PER_IP", "3"}};
  ServerProcess server(options);
  ASSERT_TRUE(server.Start()) << server.Output();
  for (int i = 0; i < 3; ++i) {
    const std::string email = "sprayed" + std::to_string(i) + "@acme.test";
    EXPECT_EQ(TryLogin(server.url(), email, "Summer2025!Summer").status, 401) << email;
  }
  // A fourth email, never tried, and even a real account with its right password.
  for (const auto& [email, password] :
       {std::pair<std::string, std::string>{"fresh@acme.test", "Summer2025!Summer"},
        {kAdminEmail, kAdminPassword}}) {
    const HttpResponse blocked = TryLogin(server.url(), email, password);
    EXPECT_EQ(blocked.status, 429) << email << ": " << blocked.body;
    EXPECT_TRUE(blocked.Header("retry-after").has_value()) << email;
  }
  // Bearer tokens are not logins: the address may still use the API.
  Client root(server.url(), kAdminToken);
  root.Expect(200, "GET", "/api/v1/auth/session");
}

// --- 3 to 9: sessions, tokens, disabled users, CSRF, assumed identities, the audit trail --------

class IdentityFlows : public ::testing::Test {
 protected:
  // The shared set-up's failures are kept for each test to report (suite_setup.h).
  static void SetUpTestSuite() { setup_failures_ = CaptureFailures(SetUpSuite); }
  inline static std::string setup_failures_;
  void SetUp() override { ASSERT_EQ(setup_failures_, "") << "the suite's set-up failed"; }
  static void SetUpSuite() {
    server_ = new ServerProcess();
    ASSERT_TRUE(server_->Start()) << server_->Output();
    Client root(server_->url(), kAdminToken);
    for (const char* tenant : {"acme", "globex"}) {
      root.Expect(201, "POST", "/api/v1/tenants", {{"id", tenant}});
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static std::string url() { return server_->url(); }

  static ServerProcess* server_;
};

ServerProcess* IdentityFlows::server_ = nullptr;

TEST_F(IdentityFlows, SessionsAreListedFilteredPagedAndEnded) {
  Client root(url(), kAdminToken);
  const std::string sam = "sam@acme.test";
  const std::string sam_id =
      At(CreateUser(root, sam, "viewer", "acme", "Sam Sessionwright"), "/id");
  const Session first = Login(url(), sam, PasswordFor(sam), kChromeOnWindows);
  const Session second = Login(url(), sam, PasswordFor(sam));
  const Session third = Login(url(), sam, PasswordFor(sam));

  // Every field of a session.
  json all = root.Expect(200, "GET", "/api/v1/sessions?user=" + sam);
  EXPECT_EQ(all["total"], 3) << all;
  ASSERT_EQ(Ids(all["sessions"]), (std::vector<std::string>{third.id, second.id, first.id}))
      << "newest first: " << all;
  const json& s = all["sessions"][2];
  EXPECT_EQ(At(s, "/user/id"), sam_id);
  EXPECT_EQ(At(s, "/user/email"), sam);
  EXPECT_EQ(At(s, "/user/name"), "Sam Sessionwright");
  EXPECT_EQ(At(s, "/tenant"), "acme");
  EXPECT_EQ(At(s, "/ip"), "127.0.0.1");
  EXPECT_EQ(At(s, "/user_agent"), kChromeOnWindows);
  EXPECT_EQ(At(s, "/agent/os"), "Windows");
  EXPECT_EQ(At(s, "/agent/browser"), "Chrome");
  EXPECT_TRUE(Field(s, "/created_at").is_string()) << s;
  EXPECT_TRUE(Field(s, "/last_activity_at").is_string()) << s;
  EXPECT_TRUE(Field(s, "/expires_at").is_string()) << s;
  EXPECT_GT(At(s, "/expires_at"), At(s, "/created_at"));  // same RFC 3339 shape
  EXPECT_GE(At(s, "/last_activity_at"), At(s, "/created_at"));
  EXPECT_EQ(At(s, "/status"), "active");
  EXPECT_TRUE(s.contains("assumed_by") && Field(s, "/assumed_by").is_null()) << s;
  EXPECT_EQ(all.dump().find(first.token), std::string::npos) << "no secret in the list";
  json no_agent = all["sessions"][0];
  EXPECT_TRUE(no_agent["user_agent"].is_null()) << no_agent;

  // Pages: a cursor, and the total of all pages on each.
  json page1 = root.Expect(200, "GET", "/api/v1/sessions?limit=2&user=" + sam);
  EXPECT_EQ(Ids(page1["sessions"]), (std::vector<std::string>{third.id, second.id}));
  EXPECT_EQ(page1["total"], 3);
  ASSERT_TRUE(page1["next_cursor"].is_string()) << page1;
  json page2 = root.Expect(
      200, "GET", "/api/v1/sessions?limit=2&user=" + sam + "&cursor=" + At(page1, "/next_cursor"));
  EXPECT_EQ(Ids(page2["sessions"]), std::vector<std::string>{first.id});
  EXPECT_EQ(page2["total"], 3);
  EXPECT_TRUE(page2["next_cursor"].is_null()) << page2;

  // q: a substring of the owner's name, or a session id.
  json by_name = root.Expect(200, "GET", "/api/v1/sessions?q=sessionwright");
  EXPECT_EQ(by_name["total"], 3) << by_name;
  json by_id = root.Expect(200, "GET", "/api/v1/sessions?q=" + second.id);
  EXPECT_EQ(Ids(by_id["sessions"]), std::vector<std::string>{second.id});
  EXPECT_EQ(root.Expect(200, "GET", "/api/v1/sessions?user=" + sam_id)["total"], 3);

  // Revoking one ends it on the very next request; logging out ends the other.
  Client second_session(url(), second.token);
  second_session.Expect(200, "GET", "/api/v1/auth/session");
  json revoked = root.Expect(200, "POST", "/api/v1/sessions/" + second.id + "/revoke");
  EXPECT_EQ(At(revoked, "/status"), "revoked") << revoked;
  second_session.Expect(401, "GET", "/api/v1/auth/session");
  Client third_session(url(), third.token);
  const HttpResponse logout = third_session.Call("POST", "/api/v1/auth/logout");
  EXPECT_EQ(logout.status, 204) << logout.body;
  EXPECT_NE(logout.Header("set-cookie").value_or("").find("Max-Age=0"), std::string::npos);
  third_session.Expect(401, "GET", "/api/v1/auth/session");
  Client(url(), first.token).Expect(200, "GET", "/api/v1/auth/session");

  json ended = root.Expect(200, "GET", "/api/v1/sessions?status=revoked&user=" + sam);
  EXPECT_EQ(ended["total"], 2) << ended;
  EXPECT_EQ(Ids(ended["sessions"]), (std::vector<std::string>{third.id, second.id}));
  for (const json& item : ended["sessions"]) EXPECT_EQ(At(item, "/status"), "revoked");
  json active = root.Expect(200, "GET", "/api/v1/sessions?status=active&user=" + sam);
  EXPECT_EQ(Ids(active["sessions"]), std::vector<std::string>{first.id});
  root.Expect(400, "GET", "/api/v1/sessions?status=sleeping");
  // A session of another tenant is not an acme admin's to revoke.
  const std::string gus = "gus@globex.test";
  CreateUser(root, gus, "viewer", "globex");
  const Session gus_session = Login(url(), gus, PasswordFor(gus));
  CreateUser(root, "sessions-admin@acme.test", "admin", "acme");
  Client acme_admin(
      url(),
      Login(url(), "sessions-admin@acme.test", PasswordFor("sessions-admin@acme.test")).token);
  acme_admin.Expect(404, "POST", "/api/v1/sessions/" + gus_session.id + "/revoke");
  Client(url(), gus_session.token).Expect(200, "GET", "/api/v1/auth/session");
}

TEST_F(IdentityFlows, TokensLogListsEveryCredentialButNeverASecret) {
  Client root(url(), kAdminToken);
  const std::string tina = "tina@acme.test";
  const std::string tina_id = At(CreateUser(root, tina, "admin", "acme", "Tina Tokens"), "/id");
  const Session session = Login(url(), tina, PasswordFor(tina));
  Client tina_session(url(), session.token);

  json created = CreateToken(tina_session, "deploy", {"events:write", "events:read"});
  const std::string secret = At(created, "/secret");
  const std::string token_id = At(created, "/token/id");
  EXPECT_TRUE(secret.starts_with("evd_")) << secret;
  EXPECT_EQ(secret.size(), 4u + 43u) << secret;
  EXPECT_EQ(At(created, "/token/kind"), "api");
  EXPECT_EQ(created["token"]["active"], true) << created;
  EXPECT_FALSE(created["token"].contains("secret")) << created;
  Client token(url(), secret);
  token.Expect(201, "POST", "/api/v1/events", {{"tenant", "acme"}, {"action", "deploy"}});

  json log = tina_session.Expect(200, "GET", "/api/v1/tokens?limit=1000&user=" + tina);
  EXPECT_EQ(log.dump().find(secret), std::string::npos) << "the secret is shown once";
  EXPECT_EQ(log.dump().find(session.token), std::string::npos);
  const std::vector<json> items(log["tokens"].begin(), log["tokens"].end());
  const std::vector<json> api =
      Where(items, [&](const json& t) { return At(t, "/id") == token_id; });
  const std::vector<json> sessions =
      Where(items, [&](const json& t) { return At(t, "/id") == session.id; });
  ASSERT_EQ(api.size(), 1u) << log;
  ASSERT_EQ(sessions.size(), 1u) << log;
  const json& t = api[0];
  EXPECT_EQ(At(t, "/kind"), "api");
  EXPECT_EQ(At(t, "/name"), "deploy");
  EXPECT_EQ(At(t, "/user/id"), tina_id);
  EXPECT_EQ(At(t, "/user/email"), tina);
  EXPECT_EQ(At(t, "/user/name"), "Tina Tokens");
  EXPECT_EQ(At(t, "/tenant"), "acme");
  EXPECT_EQ(Field(t, "/scopes"), json({"events:write", "events:read"})) << t;
  EXPECT_TRUE(Field(t, "/created_at").is_string()) << t;
  EXPECT_TRUE(t.contains("expires_at") && Field(t, "/expires_at").is_null()) << t;
  EXPECT_TRUE(Field(t, "/last_used_at").is_string()) << "it was used: " << t;
  EXPECT_EQ(At(t, "/last_used_ip"), "127.0.0.1");
  EXPECT_EQ(Field(t, "/active"), true) << t;
  EXPECT_EQ(At(sessions[0], "/kind"), "session");
  EXPECT_EQ(Field(sessions[0], "/scopes"), json({"events:write", "events:read", "admin"}))
      << sessions[0];
  for (const json& item : items) {
    EXPECT_FALSE(item.contains("secret") || item.contains("secret_hash") || item.contains("token"))
        << item;
  }
  json kinds = tina_session.Expect(200, "GET", "/api/v1/tokens?kind=api&user=" + tina);
  EXPECT_EQ(Ids(kinds["tokens"]), std::vector<std::string>{token_id});
  json one = tina_session.Expect(200, "GET", "/api/v1/tokens/" + token_id);
  EXPECT_EQ(At(one, "/name"), "deploy");
  EXPECT_EQ(one.dump().find(secret), std::string::npos);

  // Deactivated: the very next use is refused, and the log says so.
  json deactivated = tina_session.Expect(200, "POST", "/api/v1/tokens/" + token_id + "/deactivate");
  EXPECT_EQ(deactivated["active"], false) << deactivated;
  token.Expect(401, "GET", "/api/v1/events?limit=1");
  EXPECT_EQ(tina_session.Expect(200, "GET", "/api/v1/tokens/" + token_id)["active"], false);

  // Entries of the log are never deleted by hand.
  const HttpResponse deleted = tina_session.Call("DELETE", "/api/v1/tokens/" + token_id);
  EXPECT_EQ(deleted.status, 405) << deleted.body;
  const std::string detail = At(ParseJson(deleted), "/detail");
  EXPECT_NE(detail.find("audit trail"), std::string::npos) << detail;
  EXPECT_NE(detail.find("retention"), std::string::npos) << detail;
  tina_session.Expect(200, "GET", "/api/v1/tokens/" + token_id);

  // No token beyond its creator: not a viewer's events:read or admin, not events:write from an
  // admin-only token.
  const std::string vic = "vic@acme.test";
  CreateUser(root, vic, "viewer", "acme");
  Client vic_session(url(), Login(url(), vic, PasswordFor(vic)).token);
  for (const char* scope : {"events:read", "events:write", "admin"}) {
    const HttpResponse refused = vic_session.Call(
        "POST", "/api/v1/tokens", {{"name", "mine"}, {"scopes", json::array({scope})}});
    EXPECT_EQ(refused.status, 403) << scope << ": " << refused.body;
  }
  Client admin_only(url(), At(CreateToken(tina_session, "admin only", {"admin"}), "/secret"));
  admin_only.Expect(403, "POST", "/api/v1/tokens",
                    {{"name", "more"}, {"scopes", json::array({"admin", "events:write"})}});
  CreateToken(admin_only, "as much", {"admin"});
  json vic_tokens = vic_session.Expect(200, "GET", "/api/v1/tokens?kind=api");
  EXPECT_EQ(vic_tokens["total"], 0) << vic_tokens;
}

TEST_F(IdentityFlows, DisabledUsersLoseAccessAtOnce) {
  Client root(url(), kAdminToken);
  const std::string dora = "dora@acme.test";
  const std::string dora_id = At(CreateUser(root, dora, "admin", "acme"), "/id");
  const Session session = Login(url(), dora, PasswordFor(dora));
  Client dora_session(url(), session.token);
  json token = CreateToken(dora_session, "dora's", {"events:read"});
  Client dora_token(url(), At(token, "/secret"));
  dora_token.Expect(200, "GET", "/api/v1/events?limit=1");
  // Nobody disables themselves.
  dora_session.Expect(400, "PATCH", "/api/v1/users/" + dora_id, {{"status", "disabled"}});

  json disabled = root.Expect(200, "PATCH", "/api/v1/users/" + dora_id, {{"status", "disabled"}});
  EXPECT_EQ(At(disabled, "/status"), "disabled") << disabled;
  dora_session.Expect(401, "GET", "/api/v1/auth/session");
  dora_token.Expect(401, "GET", "/api/v1/events?limit=1");
  const HttpResponse login = TryLogin(url(), dora, PasswordFor(dora));
  EXPECT_EQ(login.status, 401) << login.body;
  EXPECT_EQ(login.body, TryLogin(url(), "nobody@acme.test", PasswordFor(dora)).body)
      << "a disabled account is not told apart";
  json log = root.Expect(200, "GET", "/api/v1/tokens/" + At(token, "/token/id"));
  EXPECT_EQ(log["active"], false) << log;

  // Enabled again: the old credentials stay ended; a new login works.
  root.Expect(200, "PATCH", "/api/v1/users/" + dora_id, {{"status", "active"}});
  dora_session.Expect(401, "GET", "/api/v1/auth/session");
  dora_token.Expect(401, "GET", "/api/v1/events?limit=1");
  Login(url(), dora, PasswordFor(dora));

  const std::vector<json> changes =
      Where(Events(root, "tenant=acme&type=activity&resource_type=user"),
            [&](const json& e) { return At(e, "/resource/id") == dora_id; });
  auto actions = [&](const std::string& action) {
    return Where(changes, [&](const json& e) { return At(e, "/action") == action; }).size();
  };
  EXPECT_EQ(actions("disable"), 1u) << json(changes).dump(1);
  EXPECT_EQ(actions("enable"), 1u) << json(changes).dump(1);

  // Each credential the disabling ended is in the trail, as what it was.
  auto ended = [&](const std::string& type, const std::string& id) {
    return Where(Events(root, "tenant=acme&type=" + type), [&](const json& e) {
      return At(e, "/resource/id") == id && At(e, "/details/reason") == "user_disabled";
    });
  };
  const std::vector<json> session_ended = ended("session", session.id);
  ASSERT_EQ(session_ended.size(), 1u);
  EXPECT_EQ(At(session_ended[0], "/action"), "revoke");
  EXPECT_EQ(At(session_ended[0], "/resource/type"), "session");
  const std::vector<json> token_ended = ended("token", At(token, "/token/id"));
  ASSERT_EQ(token_ended.size(), 1u);
  EXPECT_EQ(At(token_ended[0], "/action"), "deactivate");
  EXPECT_EQ(At(token_ended[0], "/resource/type"), "token");
}

TEST_F(IdentityFlows, NewPasswordEndsSessionsButNotTokens) {
  Client root(url(), kAdminToken);
  const std::string pia = "pia@acme.test";
  const std::string pia_id = At(CreateUser(root, pia, "admin", "acme"), "/id");
  Client session(url(), Login(url(), pia, PasswordFor(pia)).token);
  Client token(url(), At(CreateToken(session, "survives", {"events:read"}), "/secret"));
  const std::string password = "pia's next password, long enough";
  root.Expect(200, "PATCH", "/api/v1/users/" + pia_id, {{"password", password}});
  session.Expect(401, "GET", "/api/v1/auth/session");
  token.Expect(200, "GET", "/api/v1/events?limit=1");
  EXPECT_EQ(TryLogin(url(), pia, PasswordFor(pia)).status, 401);
  Login(url(), pia, password);
}

TEST_F(IdentityFlows, PasswordsAndRolesFollowThePolicy) {
  Client root(url(), kAdminToken);
  auto create = [&](const std::string& email, const std::string& role, const std::string& tenant,
                    const std::string& password) {
    json body = {{"email", email}, {"role", role}, {"password", password}};
    if (!tenant.empty()) body["tenant"] = tenant;
    return root.Call("POST", "/api/v1/users", body).status;
  };
  std::string e_acute_11;
  for (int i = 0; i < 11; ++i) e_acute_11 += "\xc3\xa9";  // U+00E9, two bytes
  // At least 12 code points (not bytes), at most 1,024 bytes.
  EXPECT_EQ(create("p1@acme.test", "viewer", "acme", "eleven char"), 400);
  EXPECT_EQ(create("p2@acme.test", "viewer", "acme", e_acute_11), 400) << "11 code points";
  EXPECT_EQ(create("p3@acme.test", "viewer", "acme", e_acute_11 + "!"), 201) << "12 code points";
  EXPECT_EQ(create("p4@acme.test", "viewer", "acme", std::string(1025, 'x')), 400);
  EXPECT_EQ(create("p5@acme.test", "viewer", "acme", std::string(1024, 'x')), 201);
  EXPECT_EQ(create("p6@acme.test", "owner", "acme", PasswordFor("p6")), 400);
  EXPECT_EQ(create("p7@acme.test", "viewer", "no-such-tenant", PasswordFor("p7")), 400);
  EXPECT_EQ(create("p8@acme.test", "viewer", "system", PasswordFor("p8")), 400);
  Login(url(), "p3@acme.test", e_acute_11 + "!");

  // Nobody moves between super admin and a tenant role, nor changes their own role.
  const std::string pat = "pat@acme.test";
  const std::string pat_id = At(CreateUser(root, pat, "admin", "acme"), "/id");
  root.Expect(400, "PATCH", "/api/v1/users/" + pat_id, {{"role", "super_admin"}});
  Client pat_session(url(), Login(url(), pat, PasswordFor(pat)).token);
  pat_session.Expect(400, "PATCH", "/api/v1/users/" + pat_id, {{"role", "viewer"}});
  pat_session.Expect(200, "PATCH", "/api/v1/users/" + pat_id, {{"name", "Pat Self"}});
  EXPECT_EQ(At(root.Expect(200, "GET", "/api/v1/users/" + pat_id), "/role"), "admin");
}

TEST_F(IdentityFlows, CookieSessionsNeedOriginAndCsrfTokenToChangeState) {
  Client root(url(), kAdminToken);
  const std::string carl = "carl@acme.test";
  CreateUser(root, carl, "admin", "acme");
  const Session session = Login(url(), carl, PasswordFor(carl));
  const Session other = Login(url(), carl, PasswordFor(carl));
  ASSERT_NE(session.csrf, other.csrf);
  Client browser(url(), "");  // no Authorization header: the cookie alone
  const HttpHeader cookie{"Cookie", "theme=dark; evident_session=" + session.token};
  // curl sends Host: 127.0.0.1:PORT, which is what url() names.
  const HttpHeader origin{"Origin", url()};
  const HttpHeader foreign{"Origin", "https://evil.example"};
  const HttpHeader csrf{"X-CSRF-Token", session.csrf};
  const HttpHeader wrong_csrf{"X-CSRF-Token", other.csrf};
  json body = {{"name", "from the browser"}, {"scopes", json::array({"events:read"})}};

  EXPECT_EQ(At(browser.Expect(200, "GET", "/api/v1/auth/session", json(), {cookie}), "/user/email"),
            carl);
  browser.Expect(200, "GET", "/api/v1/tokens", json(), {cookie, foreign});  // reads need neither
  browser.Expect(401, "GET", "/api/v1/auth/session");

  struct Attempt {
    const char* what;
    std::vector<HttpHeader> headers;
    const char* detail;  // what the refusal names
  };
  const std::vector<Attempt> refused = {
      {"no Origin", {cookie}, "Origin"},
      {"no Origin, right token", {cookie, csrf}, "Origin"},
      {"foreign Origin", {cookie, foreign, csrf}, "Origin"},
      {"right Origin, no token", {cookie, origin}, "X-CSRF-Token"},
      {"right Origin, another session's token", {cookie, origin, wrong_csrf}, "X-CSRF-Token"},
      {"right Origin, a made-up token", {cookie, origin, {"X-CSRF-Token", "x"}}, "X-CSRF-Token"},
  };
  for (const Attempt& attempt : refused) {
    const HttpResponse response = browser.Call("POST", "/api/v1/tokens", body, attempt.headers);
    EXPECT_EQ(response.status, 403) << attempt.what << ": " << response.body;
    EXPECT_NE(At(ParseJson(response), "/detail").find(attempt.detail), std::string::npos)
        << attempt.what << ": " << response.body;
  }
  // A refused logout changes nothing either.
  browser.Expect(403, "POST", "/api/v1/auth/logout", json(), {cookie});
  browser.Expect(200, "GET", "/api/v1/auth/session", json(), {cookie});

  json made = browser.Expect(201, "POST", "/api/v1/tokens", body, {cookie, origin, csrf});
  EXPECT_TRUE(At(made, "/secret").starts_with("evd_")) << made;
  // Bearer credentials need neither defence.
  Client bearer(url(), session.token);
  bearer.Expect(201, "POST", "/api/v1/tokens", body);
  Client api_token(url(), At(made, "/secret"));
  api_token.Expect(200, "GET", "/api/v1/events?limit=1");
  // An API token is no session cookie.
  browser.Expect(401, "GET", "/api/v1/auth/session", json(),
                 {{"Cookie", "evident_session=" + At(made, "/secret")}});
  // Logging out with the cookie, both defences given.
  browser.Expect(204, "POST", "/api/v1/auth/logout", json(), {cookie, origin, csrf});
  browser.Expect(401, "GET", "/api/v1/auth/session", json(), {cookie});
}

TEST_F(IdentityFlows, AssumedIdentityActsAsTheUserAndIsAuditedWithTheSuperAdmin) {
  Client root(url(), kAdminToken);
  const std::string val = "val@acme.test";
  const std::string adam = "adam@acme.test";
  const std::string val_id = At(CreateUser(root, val, "viewer", "acme"), "/id");
  const std::string adam_id = At(CreateUser(root, adam, "admin", "acme"), "/id");
  const Session super = Login(url(), kAdminEmail, kAdminPassword);
  Client super_session(url(), super.token);
  Client adam_session(url(), Login(url(), adam, PasswordFor(adam)).token);
  const std::string assume_val = "/api/v1/users/" + val_id + "/assume";

  adam_session.Expect(403, "POST", assume_val, {{"reason", "I am only an admin"}});
  super_session.Expect(400, "POST", assume_val, json::object());
  super_session.Expect(400, "POST", assume_val, {{"reason", "  "}});
  super_session.Expect(400, "POST", "/api/v1/users/" + At(super.user, "/id") + "/assume",
                       {{"reason", "super admins cannot be assumed"}});

  Client reader(url(), At(CreateToken(super_session, "reader", {"events:read"}), "/secret"));
  reader.Expect(403, "POST", assume_val, {{"reason", "a token without the admin scope"}});

  const std::string reason = "ticket 4711: the viewer sees an empty dashboard";
  json assumed = super_session.Expect(201, "POST", assume_val, {{"reason", reason}});
  const std::string assumed_id = At(assumed, "/session/id");
  EXPECT_TRUE(At(assumed, "/token").starts_with("evs_")) << assumed;
  EXPECT_EQ(At(assumed, "/session/assumed_by"), kAdminEmail);
  EXPECT_EQ(At(assumed, "/session/user/email"), val);
  EXPECT_EQ(At(assumed, "/user/email"), val);
  Client as_val(url(), At(assumed, "/token"));
  json current = as_val.Expect(200, "GET", "/api/v1/auth/session");
  EXPECT_EQ(At(current, "/user/email"), val);
  EXPECT_EQ(At(current, "/credential/assumed_by"), kAdminEmail);
  json listed = root.Expect(200, "GET", "/api/v1/sessions?q=" + assumed_id);
  EXPECT_EQ(At(listed, "/sessions/0/assumed_by"), kAdminEmail) << listed;
  // The assumed viewer is still a viewer.
  as_val.Expect(403, "GET", "/api/v1/events?limit=1");

  // A logout during it is the viewer's, with the super admin and the reason.
  as_val.Expect(204, "POST", "/api/v1/auth/logout");
  as_val.Expect(401, "GET", "/api/v1/auth/session");
  const std::vector<json> logouts =
      Where(Events(root, "tenant=acme&type=session&action=logout"),
            [&](const json& e) { return At(e, "/resource/id") == assumed_id; });
  ASSERT_EQ(logouts.size(), 1u);
  const json& logout = logouts[0];
  EXPECT_EQ(At(logout, "/actor/id"), val_id);
  EXPECT_EQ(At(logout, "/actor/email"), val);
  EXPECT_EQ(At(logout, "/actor/assumed_by"), kAdminEmail);
  EXPECT_EQ(At(logout, "/details/assumedBy"), kAdminEmail);
  EXPECT_EQ(At(logout, "/details/assume_reason"), reason);
  EXPECT_EQ(At(logout, "/details/credential_id"), assumed_id);
  EXPECT_EQ(At(logout, "/details/credential_kind"), "session");
  // The assumption itself is the super admin's, in the user's tenant.
  const std::vector<json> assumptions =
      Where(Events(root, "tenant=acme&type=session&action=assume"),
            [&](const json& e) { return At(e, "/details/session_id") == assumed_id; });
  ASSERT_EQ(assumptions.size(), 1u);
  EXPECT_EQ(At(assumptions[0], "/actor/email"), kAdminEmail);
  EXPECT_EQ(At(assumptions[0], "/resource/type"), "user");
  EXPECT_EQ(At(assumptions[0], "/resource/id"), val_id);
  EXPECT_EQ(At(assumptions[0], "/details/reason"), reason);

  // An assumed admin deactivates a token: audited as the admin, with the super admin.
  const std::string token_id =
      At(CreateToken(adam_session, "to retire", {"events:read"}), "/token/id");
  const std::string reason2 = "ticket 4712: retire a leaked token";
  json assumed_adam = super_session.Expect(201, "POST", "/api/v1/users/" + adam_id + "/assume",
                                           {{"reason", reason2}});
  Client as_adam(url(), At(assumed_adam, "/token"));
  as_adam.Expect(403, "POST", "/api/v1/tokens",
                 {{"name", "no"}, {"scopes", json::array({"events:read"})}});
  as_adam.Expect(200, "POST", "/api/v1/tokens/" + token_id + "/deactivate");
  const std::vector<json> deactivations =
      Where(Events(root, "tenant=acme&type=token&action=deactivate"),
            [&](const json& e) { return At(e, "/resource/id") == token_id; });
  ASSERT_EQ(deactivations.size(), 1u);
  EXPECT_EQ(At(deactivations[0], "/actor/email"), adam);
  EXPECT_EQ(At(deactivations[0], "/actor/assumed_by"), kAdminEmail);
  EXPECT_EQ(At(deactivations[0], "/details/assumedBy"), kAdminEmail);
  EXPECT_EQ(At(deactivations[0], "/details/assume_reason"), reason2);

  // Not a disabled user; and the session ends when its super admin is disabled.
  const std::string off = "off@acme.test";
  json disabled = root.Expect(201, "POST", "/api/v1/users",
                              {{"email", off},
                               {"role", "viewer"},
                               {"tenant", "acme"},
                               {"status", "disabled"},
                               {"password", PasswordFor(off)}});
  super_session.Expect(400, "POST", "/api/v1/users/" + At(disabled, "/id") + "/assume",
                       {{"reason", "disabled"}});
  const std::string second_super = "second@evident.test";
  const std::string second_id = At(CreateUser(root, second_super, "super_admin", ""), "/id");
  Client second(url(), Login(url(), second_super, PasswordFor(second_super)).token);
  Client as_val_again(url(),
                      At(second.Expect(201, "POST", assume_val, {{"reason", "again"}}), "/token"));
  as_val_again.Expect(200, "GET", "/api/v1/auth/session");
  root.Expect(200, "PATCH", "/api/v1/users/" + second_id, {{"status", "disabled"}});
  as_val_again.Expect(401, "GET", "/api/v1/auth/session");
}

TEST_F(IdentityFlows, SelfAuditRecordsUsersRolesTokensAndRevocations) {
  Client root(url(), kAdminToken);
  const std::string rita = "rita@acme.test";
  const std::string rita_id = At(CreateUser(root, rita, "viewer", "acme"), "/id");
  root.Expect(200, "PATCH", "/api/v1/users/" + rita_id, {{"role", "admin"}});
  const Session session = Login(url(), rita, PasswordFor(rita));
  Client rita_session(url(), session.token);
  const std::string token_id =
      At(CreateToken(rita_session, "audited", {"events:write"}), "/token/id");
  rita_session.Expect(200, "POST", "/api/v1/tokens/" + token_id + "/deactivate");
  root.Expect(200, "POST", "/api/v1/sessions/" + session.id + "/revoke");
  root.Expect(201, "POST", "/api/v1/tenants", {{"id", "audited"}, {"name", "Audited Inc"}});

  const std::vector<json> acme = Events(root, "tenant=acme");
  auto one = [&](const std::string& what, const std::function<bool(const json&)>& wanted) {
    const std::vector<json> found = Where(acme, wanted);
    EXPECT_EQ(found.size(), 1u) << what;
    return found.empty() ? json::object() : found[0];
  };
  json created = one("user create", [&](const json& e) {
    return At(e, "/action") == "create" && At(e, "/resource/id") == rita_id;
  });
  EXPECT_EQ(At(created, "/type"), "activity");
  EXPECT_EQ(At(created, "/resource/type"), "user");
  EXPECT_EQ(At(created, "/resource/name"), rita);
  EXPECT_EQ(At(created, "/actor/email"), kAdminEmail);
  EXPECT_EQ(At(created, "/details/credential_kind"), "api");
  EXPECT_FALSE(At(created, "/details/credential_id").empty());
  EXPECT_EQ(At(created, "/request/method"), "POST");
  EXPECT_EQ(At(created, "/request/path"), "/api/v1/users");
  EXPECT_EQ(At(created, "/request/status_code"), "201");
  EXPECT_EQ(At(created, "/request/ip"), "127.0.0.1");
  auto role_event = [&](const std::string& action, const std::string& role) {
    return one(action + " " + role, [&](const json& e) {
      return At(e, "/action") == action && At(e, "/resource/type") == "role" &&
             At(e, "/resource/id") == role && At(e, "/details/user_id") == rita_id;
    });
  };
  EXPECT_EQ(At(role_event("assign", "viewer"), "/request/path"), "/api/v1/users");
  json unassigned = role_event("unassign", "viewer");
  EXPECT_EQ(At(unassigned, "/type"), "activity");
  EXPECT_EQ(At(unassigned, "/request/method"), "PATCH");
  EXPECT_EQ(At(role_event("assign", "admin"), "/request/method"), "PATCH");

  json token_created = one("token create", [&](const json& e) {
    return At(e, "/action") == "create" && At(e, "/resource/id") == token_id;
  });
  EXPECT_EQ(At(token_created, "/type"), "token");
  EXPECT_EQ(At(token_created, "/resource/type"), "token");
  EXPECT_EQ(At(token_created, "/actor/email"), rita);
  EXPECT_EQ(At(token_created, "/details/credential_id"), session.id);
  json token_deactivated = one("token deactivate", [&](const json& e) {
    return At(e, "/action") == "deactivate" && At(e, "/resource/id") == token_id;
  });
  EXPECT_EQ(At(token_deactivated, "/type"), "token");
  json revoked = one("session revoke", [&](const json& e) {
    return At(e, "/action") == "revoke" && At(e, "/resource/id") == session.id;
  });
  EXPECT_EQ(At(revoked, "/type"), "session");
  EXPECT_EQ(At(revoked, "/resource/type"), "session");
  EXPECT_EQ(At(revoked, "/status"), "success");

  const std::vector<json> tenant_events = Events(root, "tenant=audited&resource_type=tenant");
  ASSERT_EQ(tenant_events.size(), 1u);
  EXPECT_EQ(At(tenant_events[0], "/action"), "create");
  EXPECT_EQ(At(tenant_events[0], "/resource/id"), "audited");
  // No event carries a secret.
  for (const json& e : acme) EXPECT_EQ(e.dump().find(session.token), std::string::npos) << e;
}

// --- 7. Rate limits -----------------------------------------------------------------------------

TEST(IdentityRateLimit, BucketCountsRequestsNotEvents) {
  ServerOptions options;
  options.env = {{"EVIDENT_RATE_LIMIT_RPS", "1"}, {"EVIDENT_RATE_LIMIT_BURST", "3"}};
  ServerProcess server(options);
  ASSERT_TRUE(server.Start()) << server.Output();
  std::string batch;
  for (int i = 0; i < 1000; ++i) {
    batch +=
        json({{"tenant", "acme"}, {"action", "create"}, {"id", "e" + std::to_string(i)}}).dump() +
        "\n";
  }
  ApiClient api(server.url());
  // Four requests in well under a second: the bucket of three refills one token a second.
  auto ingest = api.PostNdjson(batch);
  auto second = api.Get("/api/v1/events?limit=1");
  auto third = api.Get("/api/v1/events?limit=1");
  auto fourth = api.Get("/api/v1/events?limit=1");
  ASSERT_TRUE(ingest && second && third && fourth);
  EXPECT_EQ(ingest->status, 201) << ingest->body;
  EXPECT_EQ(ParseJson(*ingest)["accepted"], 1000);
  EXPECT_EQ(ingest->Header("ratelimit-limit"), "3");
  EXPECT_EQ(ingest->Header("ratelimit-remaining"), "2") << "1,000 events cost one token";
  EXPECT_TRUE(ingest->Header("ratelimit-reset").has_value());
  EXPECT_EQ(second->status, 200) << second->body;
  EXPECT_EQ(second->Header("ratelimit-remaining"), "1");
  EXPECT_EQ(third->status, 200) << third->body;
  EXPECT_EQ(third->Header("ratelimit-remaining"), "0");
  EXPECT_EQ(fourth->status, 429) << fourth->body;
  EXPECT_EQ(fourth->Header("retry-after"), "1");
  EXPECT_EQ(fourth->Header("ratelimit-limit"), "3");
  EXPECT_EQ(fourth->Header("ratelimit-remaining"), "0");
  const std::string reset = fourth->Header("ratelimit-reset").value_or("");
  ASSERT_FALSE(reset.empty());
  EXPECT_GE(std::stoll(reset), 1);
  EXPECT_LE(std::stoll(reset), 3);
}

// --- 10. Secrets never on disk ------------------------------------------------------------------

TEST(IdentitySecrets, NeverReachTheDataDirectory) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  const std::string url = server.url();
  Client root(url, kAdminToken);
  root.Expect(201, "POST", "/api/v1/tenants", {{"id", "acme"}});
  const std::string una = "una.secretkeeper@acme.test";
  const std::string uli = "uli.secretkeeper@acme.test";
  const std::string una_id = At(CreateUser(root, una, "admin", "acme"), "/id");
  const std::string uli_id = At(CreateUser(root, uli, "viewer", "acme"), "/id");
  const std::string new_password = "uli's brand new password 31337";
  root.Expect(200, "PATCH", "/api/v1/users/" + uli_id, {{"password", new_password}});

  std::vector<std::string> secrets = {
      std::string(kAdminToken), kAdminPassword, PasswordFor(una),
      PasswordFor(uli),         new_password,   "a wrong guess 0xC0FFEE"};
  EXPECT_EQ(TryLogin(url, una, secrets.back()).status, 401);
  EXPECT_EQ(TryLogin(url, uli, PasswordFor(uli)).status, 401) << "the old password is gone";
  std::vector<Session> sessions = {Login(url, una, PasswordFor(una)), Login(url, uli, new_password),
                                   Login(url, kAdminEmail, kAdminPassword)};
  Client una_session(url, sessions[0].token);
  Client super_session(url, sessions[2].token);
  json assumed = super_session.Expect(201, "POST", "/api/v1/users/" + uli_id + "/assume",
                                      {{"reason", "test"}});
  sessions.push_back({At(assumed, "/token"), At(assumed, "/csrf_token"), "", json()});
  for (const Session& session : sessions) {
    secrets.push_back(session.token);
    secrets.push_back(session.csrf);
    Client(url, session.token).Expect(200, "GET", "/api/v1/auth/session");
  }
  for (const char* name : {"first", "second"}) {
    const std::string secret = At(CreateToken(una_session, name, {"events:write"}), "/secret");
    secrets.push_back(secret);
    Client(url, secret)
        .Expect(201, "POST", "/api/v1/events", {{"tenant", "acme"}, {"action", "use"}});
  }
  secrets.push_back(At(CreateToken(root, "root's", {"admin"}, "acme"), "/secret"));
  // A marker that is stored, in a compressed block only.
  const std::string marker = "stored-marker-5e1f0a9c";
  root.Expect(201, "POST", "/api/v1/events",
              {{"tenant", "acme"}, {"action", "create"}, {"details", {{"note", marker}}}});

  // A crash keeps the -wal files as they were.
  ASSERT_TRUE(server.Kill9());
  const fs::path dir = server.data_dir();
  const std::string events = StoredEventsText(dir);
  // Positive controls: the scans find what is stored.
  EXPECT_FALSE(FilesContaining(dir, una).empty()) << "identity.db holds emails";
  EXPECT_NE(events.find(una), std::string::npos) << "a user create event names the email";
  EXPECT_NE(events.find(una_id), std::string::npos);
  EXPECT_NE(events.find(marker), std::string::npos);
  for (const std::string& secret : secrets) {
    ASSERT_FALSE(secret.empty());
    EXPECT_EQ(FilesContaining(dir, secret), std::vector<std::string>{}) << secret;
    EXPECT_EQ(events.find(secret), std::string::npos) << secret;
    EXPECT_EQ(server.Output().find(secret), std::string::npos) << "printed: " << secret;
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir / "identity.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  auto pragma = [&](const char* sql) {
    sqlite3_stmt* statement = nullptr;
    std::string value;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    }
    sqlite3_finalize(statement);
    return value;
  };
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA user_version"), "2");
  sqlite3_close(db);
  const fs::perms perms = fs::status(dir / "identity.db").permissions();
  EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

// --- 11. Offline password recovery --------------------------------------------------------------

TEST(IdentityRecovery, ResetPasswordEndsCredentialsAndIsAudited) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  Client root(server.url(), kAdminToken);
  root.Expect(201, "POST", "/api/v1/tenants", {{"id", "acme"}});
  const std::string rosa = "rosa@acme.test";
  const std::string rosa_id = At(CreateUser(root, rosa, "admin", "acme"), "/id");
  const Session session = Login(server.url(), rosa, PasswordFor(rosa));
  Client rosa_session(server.url(), session.token);
  const std::string token = At(CreateToken(rosa_session, "before", {"events:read"}), "/secret");
  ASSERT_TRUE(server.Terminate());

  const std::string dir = server.data_dir().string();
  const std::string password = "rosa's recovered password!";
  const CommandResult unknown = RunEvident(
      {"admin", "reset-password", "--data", dir, "nobody@acme.test"}, {}, password + "\n");
  EXPECT_NE(unknown.exit_code, 0) << unknown.out << unknown.err;
  const CommandResult too_short =
      RunEvident({"admin", "reset-password", "--data", dir, rosa}, {}, "short\n");
  EXPECT_NE(too_short.exit_code, 0) << too_short.out << too_short.err;
  const CommandResult reset =
      RunEvident({"admin", "reset-password", "--data", dir, rosa}, {}, password + "\n");
  ASSERT_EQ(reset.exit_code, 0) << reset.out << reset.err;
  EXPECT_EQ(reset.out.find(password), std::string::npos);

  ASSERT_TRUE(server.Start()) << server.Output();
  const std::string url = server.url();
  EXPECT_EQ(TryLogin(url, rosa, PasswordFor(rosa)).status, 401);
  Client(url, session.token).Expect(401, "GET", "/api/v1/auth/session");
  Client(url, token).Expect(401, "GET", "/api/v1/events?limit=1");
  Client(url, Login(url, rosa, password).token).Expect(200, "GET", "/api/v1/auth/session");

  Client again(url, kAdminToken);
  const std::vector<json> resets = Events(again, "tenant=acme&action=reset_password");
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_EQ(At(resets[0], "/type"), "activity");
  EXPECT_EQ(At(resets[0], "/status"), "success");
  EXPECT_EQ(At(resets[0], "/resource/type"), "user");
  EXPECT_EQ(At(resets[0], "/resource/id"), rosa_id);
  EXPECT_EQ(At(resets[0], "/details/revoked_credentials"), "2");
  // Appended once, not again at the next start.
  ASSERT_TRUE(server.Restart()) << server.Output();
  Client third(server.url(), kAdminToken);
  EXPECT_EQ(Events(third, "tenant=acme&action=reset_password").size(), 1u);
}

}  // namespace
}  // namespace evident::integration
