// The access-control rules, over a real SQLite IdentityStore and a clock that moves only when
// told to. Principals come from Authenticate on secrets that Bootstrap, Login, CreateToken and
// Assume hand out, as in the server.
#include "evident/auth/identity_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "evident/auth/secrets.h"
#include "evident/storage/sqlite/sqlite_identity_store.h"

namespace evident::auth {
namespace {

using Outcome = LoginResult::Outcome;
using util::ErrorCode;

constexpr util::UnixMillis kBase = 1'746'000'000'000;
constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;

constexpr char kRootEmail[] = "root@example.test";
constexpr char kRootPassword[] = "root password 1234";
constexpr char kPassword[] = "user password 1234";
constexpr char kIp[] = "203.0.113.5";
constexpr char kUserAgent[] = "test-agent/1.0";

template <typename T>
ErrorCode CodeOf(const util::Result<T>& result) {
  EXPECT_FALSE(result.has_value()) << "expected an error";
  return result ? ErrorCode::kInternal : result.error().code();
}

NewUser MakeNewUser(const std::string& email, const std::string& role, const std::string& tenant,
                    const std::string& password = kPassword) {
  NewUser user;
  user.email = email;
  user.name = "Name of " + email;
  user.role = role;
  user.tenant = tenant;
  user.password = password;
  return user;
}

bool Contains(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

class IdentityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::path(::testing::TempDir()) /
            (std::string("evident_identity_service_") +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
             std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = storage::sqlite::OpenSqliteIdentityStore(
        (std::filesystem::path(dir_) / storage::sqlite::kIdentityDbFile).string());
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(store).value();
    service_ = std::make_unique<IdentityService>(*store_, clock_, IdentityOptions{});
  }

  void TearDown() override {
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The principal behind `secret`, which must be valid.
  Principal Auth(const std::string& secret) {
    auto principal = service_->Authenticate(secret, kIp, false);
    EXPECT_TRUE(principal) << principal.error().ToString();
    return principal ? *principal : Principal{};
  }

  ErrorCode AuthError(const std::string& secret) {
    return CodeOf(service_->Authenticate(secret, kIp, false));
  }

  // Bootstraps the super admin (with kRootPassword) and authenticates its generated token.
  void BootstrapRoot() {
    auto bootstrapped = service_->Bootstrap(kRootEmail, kRootPassword, "");
    ASSERT_TRUE(bootstrapped) << bootstrapped.error().ToString();
    ASSERT_TRUE(bootstrapped->created);
    root_user_ = bootstrapped->admin;
    root_token_ = bootstrapped->generated_token;
    root_ = Auth(root_token_);
    ASSERT_EQ(root_.user_id, root_user_.id);
  }

  void MakeTenant(const std::string& id) {
    auto tenant = service_->CreateTenant(root_, id, "");
    ASSERT_TRUE(tenant) << tenant.error().ToString();
  }

  storage::UserRecord MakeUser(const std::string& email, const std::string& role,
                               const std::string& tenant) {
    auto user = service_->CreateUser(root_, MakeNewUser(email, role, tenant));
    EXPECT_TRUE(user) << user.error().ToString();
    return user ? *user : storage::UserRecord{};
  }

  // Logs in with kPassword; the session's secret.
  std::string LoginSecret(const std::string& email) {
    LoginResult login = service_->Login(email, kPassword, kIp, kUserAgent);
    EXPECT_EQ(login.outcome, Outcome::kSuccess) << email << ": " << login.reason;
    return login.secret;
  }

  Principal LoginAs(const std::string& email) { return Auth(LoginSecret(email)); }

  std::string TokenFor(const Principal& principal, const std::vector<std::string>& scopes,
                       const std::string& tenant = "", util::UnixMillis expires_at = 0) {
    auto token = service_->CreateToken(principal, "token", scopes, tenant, expires_at);
    EXPECT_TRUE(token) << token.error().ToString();
    return token ? token->secret : std::string();
  }

  storage::CredentialRecord Stored(const std::string& credential_id) {
    auto found = store_->GetCredential(credential_id);
    EXPECT_TRUE(found) << found.error().ToString();
    return found ? found->credential : storage::CredentialRecord{};
  }

  std::vector<std::string> ListedIds(const Principal& principal,
                                     storage::CredentialQuery query = {}) {
    query.limit = 1000;
    auto page = service_->ListCredentials(principal, query);
    EXPECT_TRUE(page) << page.error().ToString();
    std::vector<std::string> ids;
    if (!page) return ids;
    EXPECT_EQ(page->total, page->items.size());
    for (const storage::CredentialWithUser& item : page->items) ids.push_back(item.credential.id);
    return ids;
  }

  std::string dir_;
  core::FakeClock clock_{kBase};
  std::unique_ptr<storage::IdentityStore> store_;
  std::unique_ptr<IdentityService> service_;
  storage::UserRecord root_user_;
  std::string root_token_;
  Principal root_;
};

// ---------------------------------------------------------------------------------------------
// Bootstrap

TEST_F(IdentityServiceTest, BootstrapMakesTheSuperAdminOnFirstStartOnly) {
  auto first = service_->Bootstrap(kRootEmail, "", "");
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->admin.email, kRootEmail);
  EXPECT_EQ(first->admin.role, "super_admin");
  EXPECT_EQ(first->admin.tenant, "");
  EXPECT_EQ(first->admin.status, "active");
  EXPECT_TRUE(CheckPasswordPolicy(first->generated_password));
  EXPECT_TRUE(first->generated_token.starts_with(kApiTokenPrefix)) << first->generated_token;
  EXPECT_FALSE(first->token_replaced);

  const Principal root = Auth(first->generated_token);
  EXPECT_EQ(root.user_id, first->admin.id);
  EXPECT_EQ(root.kind, "api");
  EXPECT_EQ(root.role, Role::kSuperAdmin);
  EXPECT_TRUE(root.Unbound());
  EXPECT_EQ(root.scopes, kAllScopes);
  // The generated password logs in.
  EXPECT_EQ(service_->Login(kRootEmail, first->generated_password, kIp, kUserAgent).outcome,
            Outcome::kSuccess);

  auto second = service_->Bootstrap(kRootEmail, "", "");
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->admin, first->admin);
  EXPECT_EQ(second->generated_password, "");
  EXPECT_EQ(second->generated_token, "");
  EXPECT_FALSE(second->token_replaced);
  EXPECT_EQ(*store_->CountUsers(), 1u);
  storage::CredentialQuery tokens;
  tokens.kinds = {"api"};
  EXPECT_EQ(ListedIds(root, tokens).size(), 1u);
  Auth(first->generated_token);  // still valid
}

TEST_F(IdentityServiceTest, BootstrapTokenIsConfigurableAndReplaceable) {
  constexpr char kFirst[] = "configured-admin-token-one";  // any string may be configured
  auto first = service_->Bootstrap(kRootEmail, kRootPassword, kFirst);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->generated_password, "");  // one was configured
  EXPECT_EQ(first->generated_token, "");
  const Principal root = Auth(kFirst);
  EXPECT_EQ(root.user_id, first->admin.id);
  EXPECT_EQ(root.scopes, kAllScopes);

  auto same = service_->Bootstrap(kRootEmail, kRootPassword, kFirst);
  ASSERT_TRUE(same) << same.error().ToString();
  EXPECT_FALSE(same->created);
  EXPECT_FALSE(same->token_replaced);
  Auth(kFirst);

  constexpr char kSecond[] = "evd_configured-admin-token-two";
  auto replaced = service_->Bootstrap(kRootEmail, kRootPassword, kSecond);
  ASSERT_TRUE(replaced) << replaced.error().ToString();
  EXPECT_FALSE(replaced->created);
  EXPECT_TRUE(replaced->token_replaced);
  EXPECT_EQ(AuthError(kFirst), ErrorCode::kUnauthorized);
  EXPECT_EQ(Auth(kSecond).user_id, first->admin.id);

  // Tokens the admin made by hand are not bootstrap tokens: a new configured token leaves them.
  const std::string own = TokenFor(Auth(kSecond), {"events:read"});
  auto third = service_->Bootstrap(kRootEmail, kRootPassword, "configured-admin-token-three");
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->token_replaced);
  EXPECT_EQ(AuthError(kSecond), ErrorCode::kUnauthorized);
  Auth(own);
  Auth("configured-admin-token-three");
}

TEST_F(IdentityServiceTest, BootstrapRefusesBadInputs) {
  EXPECT_EQ(CodeOf(service_->Bootstrap(kRootEmail, "too short", "")), ErrorCode::kInvalidArgument);
  EXPECT_EQ(*store_->CountUsers(), 0u);

  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  MakeUser("ann@acme.test", "admin", "acme");
  // An email of a user who is no super admin, or one nobody has once users exist.
  EXPECT_EQ(CodeOf(service_->Bootstrap("ann@acme.test", "", "")), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->Bootstrap("new@example.test", "", "")), ErrorCode::kInvalidArgument);
  EXPECT_EQ(*store_->CountUsers(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Login, lockout and sessions

TEST_F(IdentityServiceTest, LoginStartsASession) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  const storage::UserRecord ann = MakeUser("ann@acme.test", "viewer", "acme");

  LoginResult login = service_->Login("  ANN@acme.test ", kPassword, kIp, kUserAgent);
  ASSERT_EQ(login.outcome, Outcome::kSuccess) << login.reason;
  ASSERT_TRUE(login.user.has_value());
  EXPECT_EQ(login.user->id, ann.id);
  EXPECT_TRUE(login.secret.starts_with(kSessionTokenPrefix));
  EXPECT_EQ(login.csrf_token, CsrfTokenFor(login.secret));
  EXPECT_EQ(login.session.kind, "session");
  EXPECT_EQ(login.session.user_id, ann.id);
  EXPECT_EQ(login.session.tenant, "acme");
  EXPECT_EQ(login.session.created_at, kBase);
  EXPECT_EQ(login.session.expires_at, kBase + IdentityOptions{}.session_ttl_ms);
  EXPECT_EQ(login.session.idle_timeout_ms, IdentityOptions{}.session_idle_ms);
  EXPECT_EQ(login.session.ip, kIp);
  EXPECT_EQ(login.session.user_agent, kUserAgent);
  EXPECT_EQ(login.session.secret_hash, SecretHash(login.secret));  // the secret is not stored
  EXPECT_EQ(Stored(login.session.id).secret_hash, SecretHash(login.secret));

  auto principal = service_->Authenticate(login.secret, kIp, true);
  ASSERT_TRUE(principal) << principal.error().ToString();
  EXPECT_EQ(principal->credential_id, login.session.id);
  EXPECT_EQ(principal->kind, "session");
  EXPECT_EQ(principal->user_id, ann.id);
  EXPECT_EQ(principal->email, "ann@acme.test");
  EXPECT_EQ(principal->role, Role::kViewer);
  EXPECT_EQ(principal->tenant, "acme");
  EXPECT_EQ(principal->scopes, 0);
  EXPECT_TRUE(principal->via_cookie);
  EXPECT_TRUE(principal->assumed_by_id.empty());
}

TEST_F(IdentityServiceTest, LoginFailuresSayWhyForTheAuditTrailOnly) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  const storage::UserRecord ann = MakeUser("ann@acme.test", "viewer", "acme");

  LoginResult wrong = service_->Login("ann@acme.test", "not the password", kIp, kUserAgent);
  EXPECT_EQ(wrong.outcome, Outcome::kFailure);
  EXPECT_EQ(wrong.reason, "wrong_password");
  ASSERT_TRUE(wrong.user.has_value());
  EXPECT_EQ(wrong.user->id, ann.id);
  EXPECT_FALSE(wrong.locked_now);
  EXPECT_TRUE(wrong.secret.empty());

  LoginResult unknown = service_->Login("nobody@acme.test", kPassword, kIp, kUserAgent);
  EXPECT_EQ(unknown.outcome, Outcome::kFailure);
  EXPECT_EQ(unknown.reason, "unknown_email");
  EXPECT_FALSE(unknown.user.has_value());
  EXPECT_TRUE(unknown.secret.empty());

  storage::CredentialQuery sessions;
  sessions.kinds = {"session"};
  EXPECT_TRUE(ListedIds(root_, sessions).empty());  // no failure made a session
}

TEST_F(IdentityServiceTest, DisabledUserCannotLogIn) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  const storage::UserRecord ann = MakeUser("ann@acme.test", "viewer", "acme");
  UserPatch disable;
  disable.status = "disabled";
  ASSERT_TRUE(service_->UpdateUser(root_, ann.id, disable));

  LoginResult login = service_->Login("ann@acme.test", kPassword, kIp, kUserAgent);
  EXPECT_EQ(login.outcome, Outcome::kFailure);
  EXPECT_EQ(login.reason, "user_disabled");
  EXPECT_TRUE(login.secret.empty());
}

TEST_F(IdentityServiceTest, FiveFailuresBlockEvenTheRightPassword) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  MakeUser("ann@acme.test", "viewer", "acme");

  for (int i = 1; i <= 5; ++i) {
    clock_.Advance(kMinute);
    LoginResult failed = service_->Login("ann@acme.test", "wrong password!", kIp, kUserAgent);
    EXPECT_EQ(failed.outcome, Outcome::kFailure) << i;
    EXPECT_EQ(failed.locked_now, i == 5) << i;
  }
  LoginResult blocked = service_->Login("ann@acme.test", kPassword, "198.51.100.1", kUserAgent);
  EXPECT_EQ(blocked.outcome, Outcome::kBlocked);
  EXPECT_GT(blocked.retry_after_ms, 0);
  EXPECT_EQ(blocked.retry_after_ms, 15 * kMinute);
  EXPECT_TRUE(blocked.secret.empty());

  clock_.Advance(15 * kMinute - 1);
  LoginResult still = service_->Login("Ann@Acme.test", kPassword, kIp, kUserAgent);
  EXPECT_EQ(still.outcome, Outcome::kBlocked);
  EXPECT_EQ(still.retry_after_ms, 1);

  clock_.Advance(1);
  EXPECT_EQ(service_->Login("ann@acme.test", kPassword, kIp, kUserAgent).outcome,
            Outcome::kSuccess);
}

TEST_F(IdentityServiceTest, UnknownEmailsLockOutAlike) {
  for (int i = 1; i <= 5; ++i) {
    LoginResult failed = service_->Login("ghost@example.test", kPassword, kIp, kUserAgent);
    EXPECT_EQ(failed.outcome, Outcome::kFailure) << i;
    EXPECT_EQ(failed.reason, "unknown_email");
    EXPECT_EQ(failed.locked_now, i == 5) << i;
  }
  LoginResult blocked = service_->Login("GHOST@example.test", kPassword, kIp, kUserAgent);
  EXPECT_EQ(blocked.outcome, Outcome::kBlocked);
  EXPECT_EQ(blocked.retry_after_ms, 15 * kMinute);
}

TEST_F(IdentityServiceTest, AuthenticateRejectsWhatItDoesNotKnow) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  EXPECT_EQ(AuthError(""), ErrorCode::kUnauthorized);
  EXPECT_EQ(AuthError("evd_unknown"), ErrorCode::kUnauthorized);
  EXPECT_EQ(AuthError("evs_unknown"), ErrorCode::kUnauthorized);
  EXPECT_EQ(AuthError(root_token_ + "x"), ErrorCode::kUnauthorized);
  EXPECT_EQ(AuthError(SecretHash(root_token_)), ErrorCode::kUnauthorized);  // the hash is no key
  // An API token is no session cookie.
  EXPECT_EQ(CodeOf(service_->Authenticate(root_token_, kIp, true)), ErrorCode::kUnauthorized);
}

TEST_F(IdentityServiceTest, TokenScopesNeverExceedTheRole) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  const storage::UserRecord alice = MakeUser("alice@acme.test", "admin", "acme");
  const Principal session = LoginAs("alice@acme.test");
  EXPECT_EQ(session.scopes, kAllScopes);

  const Principal reader = Auth(TokenFor(session, {"events:read"}));
  EXPECT_EQ(reader.kind, "api");
  EXPECT_EQ(reader.role, Role::kAdmin);
  EXPECT_EQ(reader.tenant, "acme");
  EXPECT_EQ(reader.scopes, kEventsRead);
  const std::string full = TokenFor(session, {"events:write", "events:read", "admin"});
  EXPECT_EQ(Auth(full).scopes, kAllScopes);

  // Demoted to viewer: the token keeps its scopes on paper but acts with none.
  UserPatch demote;
  demote.role = "viewer";
  ASSERT_TRUE(service_->UpdateUser(root_, alice.id, demote));
  const Principal demoted = Auth(full);
  EXPECT_EQ(demoted.role, Role::kViewer);
  EXPECT_EQ(demoted.scopes, 0);
  EXPECT_EQ(Stored(demoted.credential_id).scopes,
            (std::vector<std::string>{"events:write", "events:read", "admin"}));
}

TEST_F(IdentityServiceTest, SessionsExpireWhenIdle) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  MakeUser("ann@acme.test", "viewer", "acme");
  const std::string secret = LoginSecret("ann@acme.test");
  const int64_t idle = IdentityOptions{}.session_idle_ms;

  // Each use restarts the idle timeout.
  clock_.Advance(idle - 1);
  Auth(secret);
  clock_.Advance(idle - 1);
  Auth(secret);
  clock_.Advance(idle);
  EXPECT_EQ(AuthError(secret), ErrorCode::kUnauthorized);
}

TEST_F(IdentityServiceTest, SessionsExpireAfterTheirLifetime) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  MakeUser("ann@acme.test", "viewer", "acme");
  const std::string secret = LoginSecret("ann@acme.test");
  const IdentityOptions options;
  const util::UnixMillis created = clock_.NowMillis();

  // Busy all along, never idle: the absolute lifetime still ends it.
  while (clock_.NowMillis() + 25 * kMinute < created + options.session_ttl_ms) {
    clock_.Advance(25 * kMinute);
    Auth(secret);
  }
  clock_.Set(created + options.session_ttl_ms - 1);
  Auth(secret);
  clock_.Set(created + options.session_ttl_ms);
  EXPECT_EQ(AuthError(secret), ErrorCode::kUnauthorized);
}

TEST_F(IdentityServiceTest, RecordsUseAtMostOnceAMinute) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  const std::string token = TokenFor(root_, {"events:read"});
  const util::UnixMillis start = clock_.NowMillis();
  const std::string id = Auth(token).credential_id;
  EXPECT_EQ(Stored(id).last_used_at, start);
  EXPECT_EQ(Stored(id).last_used_ip, kIp);

  clock_.Advance(30'000);
  Auth(token);
  EXPECT_EQ(Stored(id).last_used_at, start);
  clock_.Advance(29'999);
  Auth(token);
  EXPECT_EQ(Stored(id).last_used_at, start);
  clock_.Advance(1);
  Auth(token);
  EXPECT_EQ(Stored(id).last_used_at, start + kMinute);
  clock_.Advance(59'999);
  Auth(token);
  EXPECT_EQ(Stored(id).last_used_at, start + kMinute);
}

TEST_F(IdentityServiceTest, LogoutEndsTheSession) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  const Principal session =
      Auth(service_->Login(kRootEmail, kRootPassword, kIp, kUserAgent).secret);
  ASSERT_EQ(session.kind, "session");

  clock_.Advance(1000);
  auto ended = service_->Logout(session);
  ASSERT_TRUE(ended) << ended.error().ToString();
  EXPECT_EQ(ended->credential.id, session.credential_id);
  EXPECT_EQ(ended->credential.revoked_at, kBase + 1000);
  EXPECT_EQ(ended->credential.revoked_reason, "logout");

  // An API token cannot log out.
  EXPECT_EQ(CodeOf(service_->Logout(root_)), ErrorCode::kInvalidArgument);
  Auth(root_token_);
}

TEST_F(IdentityServiceTest, AuthenticateFailsAfterLogout) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  LoginResult login = service_->Login(kRootEmail, kRootPassword, kIp, kUserAgent);
  ASSERT_EQ(login.outcome, Outcome::kSuccess);
  const Principal session = Auth(login.secret);
  ASSERT_TRUE(service_->Logout(session));
  EXPECT_EQ(AuthError(login.secret), ErrorCode::kUnauthorized);
  EXPECT_EQ(CodeOf(service_->Authenticate(login.secret, kIp, true)), ErrorCode::kUnauthorized);
}

// ---------------------------------------------------------------------------------------------
// Users

TEST_F(IdentityServiceTest, CreateUserFollowsTheRoles) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  ASSERT_NO_FATAL_FAILURE(MakeTenant("globex"));
  MakeUser("alice@acme.test", "admin", "acme");
  const Principal alice = LoginAs("alice@acme.test");

  // An admin creates users in its own tenant, which is also the default.
  auto vic = service_->CreateUser(alice, MakeNewUser("Vic@Acme.test", "viewer", ""));
  ASSERT_TRUE(vic) << vic.error().ToString();
  EXPECT_EQ(vic->tenant, "acme");
  EXPECT_EQ(vic->role, "viewer");
  EXPECT_EQ(vic->status, "active");
  EXPECT_TRUE(VerifyPassword(vic->password_hash, kPassword));
  EXPECT_EQ(store_->GetUser(vic->id)->email, "Vic@Acme.test");

  EXPECT_EQ(CodeOf(service_->CreateUser(alice, MakeNewUser("g@globex.test", "viewer", "globex"))),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf(service_->CreateUser(alice, MakeNewUser("s@example.test", "super_admin", ""))),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf(service_->CreateUser(root_, MakeNewUser("n@nope.test", "viewer", "nope"))),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateUser(root_, MakeNewUser("s@system.test", "viewer", "system"))),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateUser(root_, MakeNewUser("t@example.test", "viewer", ""))),
            ErrorCode::kInvalidArgument);  // a tenant role needs a tenant
  EXPECT_EQ(CodeOf(service_->CreateUser(
                alice, MakeNewUser("short@acme.test", "viewer", "", "eleven char"))),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateUser(alice, MakeNewUser("not an email", "viewer", ""))),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateUser(alice, MakeNewUser("o@acme.test", "owner", ""))),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateUser(alice, MakeNewUser("VIC@acme.TEST", "viewer", ""))),
            ErrorCode::kConflict);

  const Principal viewer = LoginAs("vic@acme.test");
  EXPECT_EQ(CodeOf(service_->CreateUser(viewer, MakeNewUser("w@acme.test", "viewer", ""))),
            ErrorCode::kForbidden);
  EXPECT_EQ(*store_->CountUsers(), 3u);  // root, alice and vic
}

TEST_F(IdentityServiceTest, UpdateUserStaysInTheTenantAndLeavesOneselfAlone) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  ASSERT_NO_FATAL_FAILURE(MakeTenant("globex"));
  const storage::UserRecord alice_user = MakeUser("alice@acme.test", "admin", "acme");
  const storage::UserRecord gary = MakeUser("gary@globex.test", "viewer", "globex");
  const Principal alice = LoginAs("alice@acme.test");

  UserPatch rename;
  rename.name = "Gary G.";
  EXPECT_EQ(CodeOf(service_->UpdateUser(alice, gary.id, rename)), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(service_->GetUser(alice, gary.id)), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(service_->UpdateUser(alice, root_user_.id, rename)), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(service_->UpdateUser(alice, "no-such-id", rename)), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetUser(gary.id)->name, gary.name);

  UserPatch demote;
  demote.role = "viewer";
  EXPECT_EQ(CodeOf(service_->UpdateUser(alice, alice_user.id, demote)),
            ErrorCode::kInvalidArgument);
  UserPatch disable;
  disable.status = "disabled";
  EXPECT_EQ(CodeOf(service_->UpdateUser(alice, alice_user.id, disable)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->UpdateUser(root_, root_user_.id, disable)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->GetUser(alice_user.id)->role, "admin");
  EXPECT_EQ(store_->GetUser(alice_user.id)->status, "active");

  // One's own name may change.
  UserPatch own_name;
  own_name.name = "Alice A.";
  clock_.Advance(1000);
  auto renamed = service_->UpdateUser(alice, alice_user.id, own_name);
  ASSERT_TRUE(renamed) << renamed.error().ToString();
  EXPECT_EQ(renamed->before.name, alice_user.name);
  EXPECT_EQ(renamed->after.name, "Alice A.");
  EXPECT_EQ(renamed->after.updated_at, kBase + 1000);
  EXPECT_EQ(*store_->GetUser(alice_user.id), renamed->after);

  // Nobody becomes a super admin by PATCH, and an email stays unique.
  UserPatch promote;
  promote.role = "super_admin";
  EXPECT_EQ(CodeOf(service_->UpdateUser(root_, gary.id, promote)), ErrorCode::kInvalidArgument);
  UserPatch steal;
  steal.email = "ALICE@acme.test";
  EXPECT_EQ(CodeOf(service_->UpdateUser(root_, gary.id, steal)), ErrorCode::kConflict);
}

TEST_F(IdentityServiceTest, DisablingAUserEndsItsSessionsAndTokens) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  const storage::UserRecord ann = MakeUser("ann@acme.test", "admin", "acme");
  const std::string session = LoginSecret("ann@acme.test");
  const Principal ann_session = Auth(session);
  const std::string token = TokenFor(ann_session, {"events:write"});
  const std::string token_id = Auth(token).credential_id;

  UserPatch disable;
  disable.status = "disabled";
  auto change = service_->UpdateUser(root_, ann.id, disable);
  ASSERT_TRUE(change) << change.error().ToString();
  EXPECT_EQ(change->before.status, "active");
  EXPECT_EQ(change->after.status, "disabled");
  EXPECT_EQ(change->revoked_credentials.size(), 2u);
  EXPECT_TRUE(Contains(change->revoked_credentials, ann_session.credential_id));
  EXPECT_TRUE(Contains(change->revoked_credentials, token_id));
  EXPECT_EQ(Stored(token_id).revoked_reason, "user_disabled");
  EXPECT_EQ(AuthError(session), ErrorCode::kUnauthorized);
  EXPECT_EQ(AuthError(token), ErrorCode::kUnauthorized);
  Auth(root_token_);  // nobody else's

  // Enabling the user again does not bring them back.
  UserPatch enable;
  enable.status = "active";
  auto enabled = service_->UpdateUser(root_, ann.id, enable);
  ASSERT_TRUE(enabled);
  EXPECT_TRUE(enabled->revoked_credentials.empty());
  EXPECT_EQ(AuthError(session), ErrorCode::kUnauthorized);
  EXPECT_EQ(AuthError(token), ErrorCode::kUnauthorized);
}

TEST_F(IdentityServiceTest, NewPasswordEndsSessionsButNotTokens) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  const storage::UserRecord ann = MakeUser("ann@acme.test", "admin", "acme");
  const std::string session = LoginSecret("ann@acme.test");
  const std::string token = TokenFor(Auth(session), {"events:read"});

  UserPatch password;
  password.password = "a brand new password";
  auto change = service_->UpdateUser(root_, ann.id, password);
  ASSERT_TRUE(change) << change.error().ToString();
  EXPECT_EQ(change->revoked_credentials.size(), 1u);
  EXPECT_EQ(AuthError(session), ErrorCode::kUnauthorized);
  Auth(token);
  EXPECT_EQ(service_->Login("ann@acme.test", kPassword, kIp, kUserAgent).outcome,
            Outcome::kFailure);
  EXPECT_EQ(service_->Login("ann@acme.test", "a brand new password", kIp, kUserAgent).outcome,
            Outcome::kSuccess);
}

TEST_F(IdentityServiceTest, ResetPasswordEndsSessionsAndTokens) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  MakeUser("ann@acme.test", "admin", "acme");
  const std::string session = LoginSecret("ann@acme.test");
  const std::string token = TokenFor(Auth(session), {"events:read"});

  EXPECT_EQ(CodeOf(service_->ResetPassword("nobody@acme.test", "the reset password")),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(service_->ResetPassword("ann@acme.test", "too short")),
            ErrorCode::kInvalidArgument);
  Auth(session);

  auto change = service_->ResetPassword("ANN@acme.test", "the reset password");
  ASSERT_TRUE(change) << change.error().ToString();
  EXPECT_EQ(change->revoked_credentials.size(), 2u);
  EXPECT_EQ(AuthError(session), ErrorCode::kUnauthorized);
  EXPECT_EQ(AuthError(token), ErrorCode::kUnauthorized);
  EXPECT_EQ(service_->Login("ann@acme.test", "the reset password", kIp, kUserAgent).outcome,
            Outcome::kSuccess);
}

// ---------------------------------------------------------------------------------------------
// Tokens and the tokens log

TEST_F(IdentityServiceTest, CreateTokenRules) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  ASSERT_NO_FATAL_FAILURE(MakeTenant("globex"));
  MakeUser("alice@acme.test", "admin", "acme");
  MakeUser("vic@acme.test", "viewer", "acme");
  const Principal alice = LoginAs("alice@acme.test");
  const Principal vic = LoginAs("vic@acme.test");
  const util::UnixMillis now = clock_.NowMillis();

  EXPECT_EQ(CodeOf(service_->CreateToken(vic, "mine", {"events:read"}, "", 0)),
            ErrorCode::kForbidden);

  // A token cannot grant more than the credential that makes it.
  const Principal limited = Auth(TokenFor(alice, {"events:read", "admin"}));
  EXPECT_EQ(CodeOf(service_->CreateToken(limited, "more", {"events:write"}, "", 0)),
            ErrorCode::kForbidden);
  EXPECT_EQ(Auth(TokenFor(limited, {"events:read"})).scopes, kEventsRead);
  // Without the admin scope, a token makes no tokens at all.
  const Principal reader = Auth(TokenFor(alice, {"events:read"}));
  EXPECT_EQ(CodeOf(service_->CreateToken(reader, "same", {"events:read"}, "", 0)),
            ErrorCode::kForbidden);

  // Tenants: an admin's tokens are bound to its own.
  auto bound = service_->CreateToken(alice, "ci", {"events:write"}, "acme", 0);
  ASSERT_TRUE(bound) << bound.error().ToString();
  EXPECT_EQ(bound->record.credential.tenant, "acme");
  EXPECT_EQ(bound->record.credential.name, "ci");
  EXPECT_EQ(bound->record.credential.kind, "api");
  EXPECT_EQ(bound->record.user.email, "alice@acme.test");
  EXPECT_TRUE(bound->secret.starts_with(kApiTokenPrefix));
  EXPECT_EQ(bound->record.credential.secret_hash, SecretHash(bound->secret));
  EXPECT_EQ(CodeOf(service_->CreateToken(alice, "other", {"events:write"}, "globex", 0)),
            ErrorCode::kForbidden);

  // A super admin binds a token to one tenant, and it then acts for that tenant alone.
  const Principal root_for_acme = Auth(TokenFor(root_, {"events:read", "admin"}, "acme"));
  EXPECT_EQ(root_for_acme.tenant, "acme");
  EXPECT_FALSE(root_for_acme.Unbound());
  EXPECT_FALSE(root_for_acme.MayAccessTenant("globex"));
  EXPECT_EQ(CodeOf(service_->CreateToken(root_for_acme, "x", {"events:read"}, "globex", 0)),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf(service_->CreateTenant(root_for_acme, "initech", "")), ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf(service_->CreateToken(root_, "sys", {"events:read"}, "system", 0)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateToken(root_, "bad", {"events:read"}, "Not Valid", 0)),
            ErrorCode::kInvalidArgument);

  // Fields.
  EXPECT_EQ(CodeOf(service_->CreateToken(alice, "", {"events:read"}, "", 0)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateToken(alice, "none", {}, "", 0)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateToken(alice, "odd", {"events:delete"}, "", 0)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateToken(alice, "past", {"events:read"}, "", now - 1)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateToken(alice, "now", {"events:read"}, "", now)),
            ErrorCode::kInvalidArgument);

  // An expiring token works until it expires.
  const std::string expiring = TokenFor(alice, {"events:read"}, "", now + kHour);
  Auth(expiring);
  clock_.Advance(kHour - 1);
  Auth(expiring);
  clock_.Advance(1);
  EXPECT_EQ(AuthError(expiring), ErrorCode::kUnauthorized);
}

TEST_F(IdentityServiceTest, ListCredentialsShowsWhatThePrincipalMaySee) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  ASSERT_NO_FATAL_FAILURE(MakeTenant("globex"));
  const storage::UserRecord vic_user = MakeUser("vic@acme.test", "viewer", "acme");
  MakeUser("alice@acme.test", "admin", "acme");
  MakeUser("gary@globex.test", "admin", "globex");
  const Principal alice = LoginAs("alice@acme.test");
  const Principal vic = LoginAs("vic@acme.test");
  const Principal gary = LoginAs("gary@globex.test");
  const std::string alice_token = Auth(TokenFor(alice, {"events:read"})).credential_id;
  const std::string gary_token = Auth(TokenFor(gary, {"events:read"})).credential_id;

  // An admin sees its tenant's credentials, nobody else's.
  const std::vector<std::string> acme = ListedIds(alice);
  EXPECT_EQ(acme.size(), 3u);
  EXPECT_TRUE(Contains(acme, alice.credential_id));
  EXPECT_TRUE(Contains(acme, vic.credential_id));
  EXPECT_TRUE(Contains(acme, alice_token));
  storage::CredentialQuery own_tenant;
  own_tenant.tenants = {"acme"};
  EXPECT_EQ(ListedIds(alice, own_tenant).size(), 3u);
  storage::CredentialQuery other_tenant;
  other_tenant.tenants = {"globex"};
  EXPECT_EQ(CodeOf(service_->ListCredentials(alice, other_tenant)), ErrorCode::kForbidden);
  other_tenant.tenants = {"acme", "globex"};
  EXPECT_EQ(CodeOf(service_->ListCredentials(alice, other_tenant)), ErrorCode::kForbidden);

  // A viewer sees its own.
  EXPECT_EQ(ListedIds(vic), std::vector<std::string>{vic.credential_id});
  storage::CredentialQuery by_email;
  by_email.user = "VIC@acme.test";
  EXPECT_EQ(ListedIds(vic, by_email), std::vector<std::string>{vic.credential_id});
  storage::CredentialQuery someone_else;
  someone_else.user = alice.user_id;
  EXPECT_EQ(CodeOf(service_->ListCredentials(vic, someone_else)), ErrorCode::kForbidden);
  // Its own tenant narrows nothing; another tenant is refused.
  own_tenant.tenants = {"acme"};
  EXPECT_EQ(ListedIds(vic, own_tenant), std::vector<std::string>{vic.credential_id});
  own_tenant.tenants = {"globex"};
  EXPECT_EQ(CodeOf(service_->ListCredentials(vic, own_tenant)), ErrorCode::kForbidden);
  EXPECT_EQ(vic.user_id, vic_user.id);

  // The unbound super admin sees everything, and may narrow it down.
  const std::vector<std::string> all = ListedIds(root_);
  EXPECT_TRUE(Contains(all, gary_token));
  EXPECT_TRUE(Contains(all, alice_token));
  EXPECT_TRUE(Contains(all, root_.credential_id));
  EXPECT_EQ(all.size(), 6u);  // root's token, three sessions, two tokens
  other_tenant.tenants = {"globex"};
  const std::vector<std::string> globex = ListedIds(root_, other_tenant);
  EXPECT_EQ(globex.size(), 2u);
  EXPECT_TRUE(Contains(globex, gary.credential_id));
  EXPECT_TRUE(Contains(globex, gary_token));
}

TEST_F(IdentityServiceTest, RevokeCredentialOnlyWhatThePrincipalMaySee) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  ASSERT_NO_FATAL_FAILURE(MakeTenant("globex"));
  MakeUser("alice@acme.test", "admin", "acme");
  MakeUser("vic@acme.test", "viewer", "acme");
  MakeUser("gary@globex.test", "viewer", "globex");
  const Principal alice = LoginAs("alice@acme.test");
  const std::string vic_secret = LoginSecret("vic@acme.test");
  const Principal vic = Auth(vic_secret);
  const std::string gary_secret = LoginSecret("gary@globex.test");
  const Principal gary = Auth(gary_secret);

  bool changed = true;
  EXPECT_EQ(CodeOf(service_->RevokeCredential(alice, gary.credential_id, "revoke", &changed)),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(service_->RevokeCredential(alice, "no-such-id", "revoke", &changed)),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(service_->RevokeCredential(alice, root_.credential_id, "revoke", &changed)),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(service_->RevokeCredential(vic, alice.credential_id, "revoke", &changed)),
            ErrorCode::kNotFound);
  Auth(gary_secret);
  Auth(root_token_);
  EXPECT_EQ(Stored(alice.credential_id).revoked_at, 0);

  clock_.Advance(500);
  auto revoked = service_->RevokeCredential(alice, vic.credential_id, "deactivate", &changed);
  ASSERT_TRUE(revoked) << revoked.error().ToString();
  EXPECT_TRUE(changed);
  EXPECT_EQ(revoked->credential.revoked_at, clock_.NowMillis());
  EXPECT_EQ(revoked->credential.revoked_reason, "deactivate");
  EXPECT_EQ(AuthError(vic_secret), ErrorCode::kUnauthorized);
  auto again = service_->RevokeCredential(alice, vic.credential_id, "revoke", &changed);
  ASSERT_TRUE(again);
  EXPECT_FALSE(changed);
  EXPECT_EQ(again->credential.revoked_reason, "deactivate");

  // Everyone may end their own.
  EXPECT_TRUE(service_->RevokeCredential(gary, gary.credential_id, "revoke", nullptr));
  EXPECT_EQ(AuthError(gary_secret), ErrorCode::kUnauthorized);
}

// ---------------------------------------------------------------------------------------------
// Assumed identities

TEST_F(IdentityServiceTest, AssumeRules) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  const storage::UserRecord alice_user = MakeUser("alice@acme.test", "admin", "acme");
  const storage::UserRecord other_root = MakeUser("root2@example.test", "super_admin", "");
  const Principal alice = LoginAs("alice@acme.test");

  EXPECT_EQ(CodeOf(service_->Assume(alice, alice_user.id, "why not", kIp, kUserAgent)),
            ErrorCode::kForbidden);
  const Principal root_for_acme = Auth(TokenFor(root_, {"admin"}, "acme"));
  EXPECT_EQ(CodeOf(service_->Assume(root_for_acme, alice_user.id, "ticket", kIp, kUserAgent)),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf(service_->Assume(root_, alice_user.id, "", kIp, kUserAgent)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->Assume(root_, alice_user.id, "   ", kIp, kUserAgent)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->Assume(root_, other_root.id, "ticket", kIp, kUserAgent)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->Assume(root_, "no-such-id", "ticket", kIp, kUserAgent)),
            ErrorCode::kNotFound);

  auto issued = service_->Assume(root_, alice_user.id, "support ticket 42", kIp, kUserAgent);
  ASSERT_TRUE(issued) << issued.error().ToString();
  EXPECT_EQ(issued->record.credential.kind, "session");
  EXPECT_EQ(issued->record.credential.user_id, alice_user.id);
  EXPECT_EQ(issued->record.credential.tenant, "acme");
  EXPECT_EQ(issued->record.credential.assumed_by, root_user_.id);
  EXPECT_EQ(issued->record.credential.assume_reason, "support ticket 42");
  EXPECT_EQ(issued->csrf_token, CsrfTokenFor(issued->secret));

  const Principal assumed = Auth(issued->secret);
  EXPECT_EQ(assumed.kind, "session");
  EXPECT_EQ(assumed.user_id, alice_user.id);
  EXPECT_EQ(assumed.email, "alice@acme.test");
  EXPECT_EQ(assumed.role, Role::kAdmin);
  EXPECT_EQ(assumed.tenant, "acme");
  EXPECT_EQ(assumed.scopes, kAllScopes);
  EXPECT_EQ(assumed.assumed_by_id, root_user_.id);
  EXPECT_EQ(assumed.assumed_by_email, kRootEmail);
  EXPECT_EQ(assumed.assume_reason, "support ticket 42");

  // Acting as someone does not extend to making tokens for them or assuming further.
  EXPECT_EQ(CodeOf(service_->CreateToken(assumed, "t", {"events:read"}, "", 0)),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf(service_->Assume(assumed, alice_user.id, "again", kIp, kUserAgent)),
            ErrorCode::kForbidden);

  // A disabled user cannot be assumed.
  UserPatch disable;
  disable.status = "disabled";
  ASSERT_TRUE(service_->UpdateUser(root_, alice_user.id, disable));
  EXPECT_EQ(CodeOf(service_->Assume(root_, alice_user.id, "ticket", kIp, kUserAgent)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(AuthError(issued->secret), ErrorCode::kUnauthorized);
}

TEST_F(IdentityServiceTest, DisablingTheAssumerEndsTheAssumedSession) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  ASSERT_NO_FATAL_FAILURE(MakeTenant("acme"));
  const storage::UserRecord alice = MakeUser("alice@acme.test", "admin", "acme");
  const storage::UserRecord other_root = MakeUser("root2@example.test", "super_admin", "");
  const Principal assumer = LoginAs("root2@example.test");
  auto issued = service_->Assume(assumer, alice.id, "ticket 7", kIp, kUserAgent);
  ASSERT_TRUE(issued) << issued.error().ToString();
  EXPECT_EQ(Auth(issued->secret).assumed_by_email, "root2@example.test");

  UserPatch disable;
  disable.status = "disabled";
  auto change = service_->UpdateUser(root_, other_root.id, disable);
  ASSERT_TRUE(change) << change.error().ToString();
  EXPECT_TRUE(Contains(change->revoked_credentials, issued->record.credential.id));
  EXPECT_TRUE(Contains(change->revoked_credentials, assumer.credential_id));
  EXPECT_EQ(AuthError(issued->secret), ErrorCode::kUnauthorized);
  EXPECT_EQ(store_->GetUser(alice.id)->status, "active");  // the assumed user is untouched
}

// ---------------------------------------------------------------------------------------------
// Tenants

TEST_F(IdentityServiceTest, EnsureTenantAndTenantExists) {
  auto exists = service_->TenantExists("acme");
  ASSERT_TRUE(exists);
  EXPECT_FALSE(*exists);
  auto created = service_->EnsureTenant("acme");
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_TRUE(*created);
  EXPECT_FALSE(*service_->EnsureTenant("acme"));
  EXPECT_TRUE(*service_->TenantExists("acme"));
  auto stored = store_->GetTenant("acme");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->name, "acme");
  EXPECT_EQ(stored->created_at, kBase);

  // Another service over the same store learns of it from the store.
  IdentityService other(*store_, clock_, IdentityOptions{});
  EXPECT_TRUE(*other.TenantExists("acme"));
  EXPECT_FALSE(*other.EnsureTenant("acme"));
  EXPECT_FALSE(*other.TenantExists("globex"));
}

TEST_F(IdentityServiceTest, CreateTenantRules) {
  ASSERT_NO_FATAL_FAILURE(BootstrapRoot());
  auto acme = service_->CreateTenant(root_, "acme", "Acme Inc");
  ASSERT_TRUE(acme) << acme.error().ToString();
  EXPECT_EQ(acme->id, "acme");
  EXPECT_EQ(acme->name, "Acme Inc");
  EXPECT_EQ(acme->created_at, kBase);
  auto globex = service_->CreateTenant(root_, "globex-2", "");
  ASSERT_TRUE(globex);
  EXPECT_EQ(globex->name, "globex-2");  // the name defaults to the id
  EXPECT_TRUE(*service_->TenantExists("globex-2"));
  EXPECT_FALSE(*service_->EnsureTenant("globex-2"));

  EXPECT_EQ(CodeOf(service_->CreateTenant(root_, "acme", "Again")), ErrorCode::kConflict);
  EXPECT_EQ(CodeOf(service_->CreateTenant(root_, "system", "")), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateTenant(root_, "Acme", "")), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateTenant(root_, "", "")), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateTenant(root_, "-acme", "")), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(service_->CreateTenant(root_, "has space", "")), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(*service_->TenantExists("system"));

  MakeUser("alice@acme.test", "admin", "acme");
  const Principal alice = LoginAs("alice@acme.test");
  EXPECT_EQ(CodeOf(service_->CreateTenant(alice, "initech", "")), ErrorCode::kForbidden);
  EXPECT_FALSE(*service_->TenantExists("initech"));

  auto visible = service_->ListTenants(alice);
  ASSERT_TRUE(visible) << visible.error().ToString();
  ASSERT_EQ(visible->size(), 1u);
  EXPECT_EQ(visible->front().id, "acme");
  auto all = service_->ListTenants(root_);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
}

}  // namespace
}  // namespace evident::auth
