// The authorization server's rules over a real SQLite IdentityStore and a clock that moves only
// when told to: what only a clock can show (code, flow and token expiry) and the protocol's
// decisions, one by one. The HTTP side is covered by tests/integration/oauth_test.cc.
#include "evident/auth/oauth_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "evident/auth/secrets.h"
#include "evident/storage/sqlite/sqlite_identity_store.h"

namespace evident::auth {
namespace {

constexpr util::UnixMillis kBase = 1'746'000'000'000;
constexpr char kIssuer[] = "http://evident.test";
constexpr char kRedirect[] = "https://app.example.test/callback";
constexpr char kPassword[] = "user password 1234";
// RFC 7636 appendix B.
constexpr char kVerifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr char kChallenge[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

using Params = std::vector<std::pair<std::string, std::string>>;

class OAuthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (std::string("evident_oauth_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = storage::sqlite::OpenSqliteIdentityStore((dir_ / "identity.db").string());
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(store).value();
    identity_ = std::make_unique<IdentityService>(*store_, clock_, IdentityOptions{});
    auto admin = identity_->Bootstrap("root@example.test", "root password 1234", "");
    ASSERT_TRUE(admin) << admin.error().ToString();
    oauth_ = std::make_unique<OAuthServer>(*store_, *identity_, clock_, OAuthOptions{});
    ASSERT_TRUE(oauth_->EnsureConsoleClient(admin->admin.id));
    root_ = Login("root@example.test", "root password 1234");
    ASSERT_TRUE(identity_->CreateTenant(root_, "acme", "Acme"));
    ASSERT_TRUE(identity_->CreateTenant(root_, "globex", "Globex"));
    auto user = identity_->CreateUser(root_, NewUser{.email = "ann@acme.test",
                                                     .name = "Ann",
                                                     .role = "admin",
                                                     .tenant = "acme",
                                                     .password = kPassword,
                                                     .status = "active"});
    ASSERT_TRUE(user) << user.error().ToString();
    ann_ = *user;
    auto other = identity_->CreateUser(root_, NewUser{.email = "gus@globex.test",
                                                      .name = "Gus",
                                                      .role = "admin",
                                                      .tenant = "globex",
                                                      .password = kPassword,
                                                      .status = "active"});
    ASSERT_TRUE(other) << other.error().ToString();
    gus_ = *other;
    auto app = oauth_->CreateClient(root_, NewClient{.name = "App",
                                                     .type = "confidential",
                                                     .tenant = "acme",
                                                     .redirect_uris = {kRedirect},
                                                     .grant_types = {},
                                                     .scopes = {}});
    ASSERT_TRUE(app) << app.error().ToString();
    app_ = app->client;
    app_secret_ = app->secret;
  }

  void TearDown() override {
    oauth_.reset();
    identity_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Principal Login(const std::string& email, const std::string& password) {
    LoginResult result = identity_->Login(email, password, "203.0.113.5", "agent");
    EXPECT_EQ(result.outcome, LoginResult::Outcome::kSuccess);
    auto principal = identity_->Authenticate(result.secret, "203.0.113.5", false);
    EXPECT_TRUE(principal);
    return principal ? *principal : Principal{};
  }

  Params AuthorizeParams(const std::string& client_id = "") const {
    return {{"response_type", "code"},      {"client_id", client_id.empty() ? app_.id : client_id},
            {"redirect_uri", kRedirect},    {"state", "xyz"},
            {"code_challenge", kChallenge}, {"code_challenge_method", "S256"}};
  }

  AuthorizeRequest Checked(const Params& params) {
    auto check = oauth_->CheckAuthorize(params, kIssuer);
    EXPECT_TRUE(check);
    EXPECT_EQ(check->next, AuthorizeCheck::Next::kProceed) << check->error.description;
    return check->request;
  }

  std::string Code(const storage::UserRecord& user) {
    auto code = oauth_->IssueCode(Checked(AuthorizeParams()), user, "203.0.113.5", "agent");
    EXPECT_TRUE(code);
    return code ? *code : "";
  }

  TokenOutcome Exchange(const std::string& code, const std::string& verifier = kVerifier) {
    auto outcome = oauth_->ExchangeCode(app_, code, std::string(kRedirect), verifier);
    EXPECT_TRUE(outcome) << outcome.error().ToString();
    return outcome ? *outcome : TokenOutcome{};
  }

  bool Works(const std::string& access_token) {
    return identity_->Authenticate(access_token, "198.51.100.1", false).has_value();
  }

  core::FakeClock clock_{kBase};
  std::filesystem::path dir_;
  std::unique_ptr<storage::IdentityStore> store_;
  std::unique_ptr<IdentityService> identity_;
  std::unique_ptr<OAuthServer> oauth_;
  Principal root_;
  storage::UserRecord ann_, gus_;
  storage::OAuthClientRecord app_;
  std::string app_secret_;
};

TEST_F(OAuthServerTest, S256MatchesRfc7636AppendixB) {
  EXPECT_EQ(S256Challenge(kVerifier), kChallenge);
}

TEST_F(OAuthServerTest, CodeExchangeIssuesTokensBoundToTheClientTenantAndASession) {
  const TokenOutcome outcome = Exchange(Code(ann_));
  ASSERT_FALSE(outcome.error) << outcome.error.description;
  EXPECT_TRUE(outcome.access_token.starts_with(kAccessTokenPrefix));
  EXPECT_TRUE(outcome.refresh_token.starts_with(kRefreshTokenPrefix));
  EXPECT_EQ(outcome.expires_in, 15 * 60);
  auto principal = identity_->Authenticate(outcome.access_token, "198.51.100.1", false);
  ASSERT_TRUE(principal) << principal.error().ToString();
  EXPECT_EQ(principal->kind, "oauth");
  EXPECT_EQ(principal->user_id, ann_.id);
  EXPECT_EQ(principal->tenant, "acme");
  auto session = store_->GetCredential(outcome.session_id);
  ASSERT_TRUE(session);
  EXPECT_EQ(session->credential.kind, "session");
  EXPECT_EQ(session->credential.client_id, app_.id);
}

TEST_F(OAuthServerTest, CodesExpireAfterSixtySeconds) {
  const std::string code = Code(ann_);
  clock_.Advance(60'000);
  const TokenOutcome outcome = Exchange(code);
  EXPECT_EQ(outcome.error.error, "invalid_grant");
  EXPECT_EQ(outcome.error.description, "the code has expired");
  EXPECT_TRUE(outcome.access_token.empty());
}

TEST_F(OAuthServerTest, ACodeJustInsideItsLifeWorks) {
  const std::string code = Code(ann_);
  clock_.Advance(59'999);
  EXPECT_FALSE(Exchange(code).error);
}

TEST_F(OAuthServerTest, AReplayedCodeFailsAndRevokesWhatItIssued) {
  const std::string code = Code(ann_);
  const TokenOutcome first = Exchange(code);
  ASSERT_FALSE(first.error);
  ASSERT_TRUE(Works(first.access_token));
  const TokenOutcome second = Exchange(code);
  EXPECT_EQ(second.error.error, "invalid_grant");
  EXPECT_EQ(second.reason, "code_reuse");
  EXPECT_EQ(second.revoked_session, first.session_id);
  EXPECT_FALSE(Works(first.access_token));
  auto refreshed = oauth_->Refresh(app_, first.refresh_token, std::nullopt);
  ASSERT_TRUE(refreshed);
  EXPECT_EQ(refreshed->error.error, "invalid_grant");
}

TEST_F(OAuthServerTest, AWrongVerifierFailsAndSpendsTheCode) {
  const std::string code = Code(ann_);
  EXPECT_EQ(Exchange(code, std::string(43, 'a')).error.error, "invalid_grant");
  EXPECT_EQ(Exchange(code).error.error, "invalid_grant");  // spent, even with the right one
}

TEST_F(OAuthServerTest, AnotherClientCannotRedeemTheCode) {
  const std::string code = Code(ann_);
  auto console = store_->GetClient(std::string(kConsoleClientId));
  ASSERT_TRUE(console);
  auto outcome = oauth_->ExchangeCode(*console, code, std::string(kRedirect), kVerifier);
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->error.error, "invalid_grant");
  EXPECT_TRUE(outcome->revoked_session.empty());
  // Its own client may still redeem it: another client cannot burn it.
  EXPECT_FALSE(Exchange(code).error);
}

TEST_F(OAuthServerTest, TheRedirectUriMustMatchTheAuthorizationRequest) {
  auto outcome = oauth_->ExchangeCode(app_, Code(ann_),
                                      std::string("https://app.example.test/other"), kVerifier);
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->error.error, "invalid_grant");
  auto missing = oauth_->ExchangeCode(app_, Code(ann_), std::nullopt, kVerifier);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->error.error, "invalid_grant");
}

TEST_F(OAuthServerTest, RefreshRotatesAndReuseRevokesTheFamily) {
  const TokenOutcome first = Exchange(Code(ann_));
  ASSERT_FALSE(first.error);
  auto second = oauth_->Refresh(app_, first.refresh_token, std::nullopt);
  ASSERT_TRUE(second);
  ASSERT_FALSE(second->error) << second->error.description;
  EXPECT_NE(second->refresh_token, first.refresh_token);
  EXPECT_EQ(second->session_id, first.session_id);
  EXPECT_EQ(second->flow_id, first.flow_id);
  ASSERT_TRUE(Works(second->access_token));

  auto replay = oauth_->Refresh(app_, first.refresh_token, std::nullopt);
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->error.error, "invalid_grant");
  EXPECT_EQ(replay->reason, "refresh_token_reuse");
  EXPECT_EQ(replay->revoked_session, first.session_id);
  EXPECT_FALSE(Works(first.access_token));
  EXPECT_FALSE(Works(second->access_token));
  auto newest = oauth_->Refresh(app_, second->refresh_token, std::nullopt);
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->error.error, "invalid_grant");
}

TEST_F(OAuthServerTest, RefreshMayNarrowButNotWidenTheScope) {
  auto check = oauth_->CheckAuthorize(
      [&] {
        Params params = AuthorizeParams();
        params.emplace_back("scope", "events:read");
        return params;
      }(),
      kIssuer);
  ASSERT_TRUE(check);
  ASSERT_EQ(check->next, AuthorizeCheck::Next::kProceed);
  auto code = oauth_->IssueCode(check->request, ann_, "203.0.113.5", "agent");
  ASSERT_TRUE(code);
  const TokenOutcome first = Exchange(*code);
  ASSERT_FALSE(first.error);
  EXPECT_EQ(first.scopes, std::vector<std::string>{"events:read"});
  auto wider = oauth_->Refresh(app_, first.refresh_token, std::string("events:read admin"));
  ASSERT_TRUE(wider);
  EXPECT_EQ(wider->error.error, "invalid_scope");
}

TEST_F(OAuthServerTest, AccessTokensExpireAndNeverOutliveTheirSession) {
  const TokenOutcome outcome = Exchange(Code(ann_));
  ASSERT_TRUE(Works(outcome.access_token));
  clock_.Advance(15 * 60'000);
  EXPECT_FALSE(Works(outcome.access_token));
  // The refresh token still works: the session was active a minute ago.
  auto refreshed = oauth_->Refresh(app_, outcome.refresh_token, std::nullopt);
  ASSERT_TRUE(refreshed);
  EXPECT_FALSE(refreshed->error) << refreshed->error.description;
  // Idle past the session's 30 minutes: everything of it ends.
  clock_.Advance(31 * 60'000);
  EXPECT_FALSE(Works(refreshed->access_token));
  auto late = oauth_->Refresh(app_, refreshed->refresh_token, std::nullopt);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->error.error, "invalid_grant");
}

TEST_F(OAuthServerTest, RevokingTheSessionRevokesItsTokens) {
  const TokenOutcome outcome = Exchange(Code(ann_));
  auto revoked = store_->Revoke(outcome.session_id, clock_.NowMillis(), "revoke");
  ASSERT_TRUE(revoked);
  EXPECT_TRUE(*revoked);
  EXPECT_FALSE(Works(outcome.access_token));
  auto access = store_->FindCredentialBySecret(SecretHash(outcome.access_token));
  ASSERT_TRUE(access);
  EXPECT_EQ(access->credential.revoked_reason, "revoke");
  auto refreshed = oauth_->Refresh(app_, outcome.refresh_token, std::nullopt);
  ASSERT_TRUE(refreshed);
  EXPECT_EQ(refreshed->error.error, "invalid_grant");
}

TEST_F(OAuthServerTest, ClientCredentialsActAsTheOwnerInTheClientTenant) {
  auto machine = oauth_->CreateClient(root_, NewClient{.name = "Machine",
                                                       .type = "confidential",
                                                       .tenant = "acme",
                                                       .redirect_uris = {},
                                                       .grant_types = {"client_credentials"},
                                                       .scopes = {"events:read"}});
  ASSERT_TRUE(machine) << machine.error().ToString();
  auto outcome = oauth_->ClientCredentialsGrant(machine->client, std::nullopt);
  ASSERT_TRUE(outcome);
  ASSERT_FALSE(outcome->error) << outcome->error.description;
  EXPECT_TRUE(outcome->refresh_token.empty());
  EXPECT_TRUE(outcome->session_id.empty());
  auto principal = identity_->Authenticate(outcome->access_token, "198.51.100.1", false);
  ASSERT_TRUE(principal);
  EXPECT_EQ(principal->tenant, "acme");
  EXPECT_TRUE(principal->Can(kEventsRead));
  EXPECT_FALSE(principal->Can(kEventsWrite));
  auto wider = oauth_->ClientCredentialsGrant(machine->client, std::string("admin"));
  ASSERT_TRUE(wider);
  EXPECT_EQ(wider->error.error, "invalid_scope");
  auto not_allowed = oauth_->ClientCredentialsGrant(app_, std::nullopt);
  ASSERT_TRUE(not_allowed);
  EXPECT_EQ(not_allowed->error.error, "unauthorized_client");
}

TEST_F(OAuthServerTest, ClientAuthentication) {
  storage::OAuthClientRecord found;
  const auto auth = [&](ClientCredentials credentials) {
    auto result = oauth_->AuthenticateClient(credentials, &found);
    EXPECT_TRUE(result);
    return result ? result->error : std::string("store error");
  };
  EXPECT_EQ(auth({.basic = true,
                  .basic_id = app_.id,
                  .basic_secret = app_secret_,
                  .body_id = {},
                  .body_secret = {}}),
            "");
  EXPECT_EQ(auth({.basic = false,
                  .basic_id = {},
                  .basic_secret = {},
                  .body_id = app_.id,
                  .body_secret = app_secret_}),
            "");
  EXPECT_EQ(auth({.basic = true,
                  .basic_id = app_.id,
                  .basic_secret = "ecs_wrong",
                  .body_id = {},
                  .body_secret = {}}),
            "invalid_client");
  EXPECT_EQ(auth({.basic = false,
                  .basic_id = {},
                  .basic_secret = {},
                  .body_id = app_.id,
                  .body_secret = {}}),
            "invalid_client");
  EXPECT_EQ(auth({.basic = true,
                  .basic_id = app_.id,
                  .basic_secret = app_secret_,
                  .body_id = app_.id,
                  .body_secret = app_secret_}),
            "invalid_request");
  EXPECT_EQ(auth({.basic = false,
                  .basic_id = {},
                  .basic_secret = {},
                  .body_id = "nobody",
                  .body_secret = "x"}),
            "invalid_client");
  EXPECT_EQ(auth({.basic = false,
                  .basic_id = {},
                  .basic_secret = {},
                  .body_id = std::string(kConsoleClientId),
                  .body_secret = {}}),
            "");
  EXPECT_EQ(auth({.basic = false,
                  .basic_id = {},
                  .basic_secret = {},
                  .body_id = std::string(kConsoleClientId),
                  .body_secret = "anything"}),
            "invalid_client");
}

TEST_F(OAuthServerTest, AuthorizeErrorsGoToAPageOrTheClientAsRfc6749Says) {
  const auto next = [&](Params params) {
    auto check = oauth_->CheckAuthorize(params, kIssuer);
    EXPECT_TRUE(check);
    return std::make_pair(check->next, check->error.error);
  };
  using Next = AuthorizeCheck::Next;
  Params unknown = AuthorizeParams("no-such-client");
  EXPECT_EQ(next(unknown), std::make_pair(Next::kErrorPage, std::string("invalid_client")));
  Params wrong_redirect = AuthorizeParams();
  wrong_redirect[2].second = "https://app.example.test/callback/extra";
  EXPECT_EQ(next(wrong_redirect), std::make_pair(Next::kErrorPage, std::string("invalid_request")));
  Params plain = AuthorizeParams();
  plain[5].second = "plain";
  EXPECT_EQ(next(plain), std::make_pair(Next::kRedirectError, std::string("invalid_request")));
  Params token = AuthorizeParams();
  token[0].second = "token";
  EXPECT_EQ(next(token),
            std::make_pair(Next::kRedirectError, std::string("unsupported_response_type")));
  Params scope = AuthorizeParams();
  scope.emplace_back("scope", "events:read everything");
  EXPECT_EQ(next(scope), std::make_pair(Next::kRedirectError, std::string("invalid_scope")));
  Params repeated = AuthorizeParams();
  repeated.emplace_back("state", "again");
  EXPECT_EQ(next(repeated), std::make_pair(Next::kRedirectError, std::string("invalid_request")));
  // The console's one redirect URI is the issuer's.
  Params console = AuthorizeParams(std::string(kConsoleClientId));
  console[2].second = std::string(kIssuer) + std::string(kConsoleRedirectPath);
  EXPECT_EQ(next(console), std::make_pair(Next::kProceed, std::string()));
}

TEST_F(OAuthServerTest, UsersOfAnotherTenantAreDenied) {
  const AuthorizeRequest request = Checked(AuthorizeParams());
  EXPECT_FALSE(oauth_->MayAuthorize(request, ann_));
  EXPECT_EQ(oauth_->MayAuthorize(request, gus_).error, "access_denied");
}

TEST_F(OAuthServerTest, FlowsAreForgottenAfterTenMinutes) {
  AuthorizeRequest request = Checked(AuthorizeParams());
  oauth_->RememberFlow(request);
  ASSERT_TRUE(oauth_->FindFlow(request.flow_id));
  clock_.Advance(10 * 60'000 - 1);
  EXPECT_TRUE(oauth_->FindFlow(request.flow_id));
  clock_.Advance(1);
  EXPECT_FALSE(oauth_->FindFlow(request.flow_id));
}

TEST_F(OAuthServerTest, RegistryValidatesClients) {
  const auto create = [&](NewClient client) {
    auto created = oauth_->CreateClient(root_, client);
    return created ? std::string("ok") : created.error().message();
  };
  NewClient base{.name = "C",
                 .type = "public",
                 .tenant = "acme",
                 .redirect_uris = {"http://127.0.0.1:7777/cb"},
                 .grant_types = {},
                 .scopes = {}};
  EXPECT_EQ(create(base), "ok");
  NewClient insecure = base;
  insecure.redirect_uris = {"http://app.example.test/cb"};
  EXPECT_NE(create(insecure).find("redirect_uris"), std::string::npos);
  NewClient fragment = base;
  fragment.redirect_uris = {"https://app.example.test/cb#x"};
  EXPECT_NE(create(fragment).find("fragment"), std::string::npos);
  NewClient machine = base;
  machine.grant_types = {"client_credentials"};
  machine.redirect_uris = {};
  EXPECT_NE(create(machine).find("confidential"), std::string::npos);
  NewClient scope = base;
  scope.scopes = {"root"};
  EXPECT_NE(create(scope).find("scopes"), std::string::npos);
  NewClient no_redirect = base;
  no_redirect.redirect_uris = {};
  EXPECT_NE(create(no_redirect).find("redirect_uris"), std::string::npos);
  // An admin registers for its own tenant only.
  const Principal ann = Login("ann@acme.test", kPassword);
  NewClient other = base;
  other.tenant = "globex";
  auto refused = oauth_->CreateClient(ann, other);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), util::ErrorCode::kForbidden);
}

TEST_F(OAuthServerTest, DisablingAClientRevokesItsTokens) {
  const TokenOutcome outcome = Exchange(Code(ann_));
  ASSERT_TRUE(Works(outcome.access_token));
  auto disabled = oauth_->DisableClient(root_, app_.id);
  ASSERT_TRUE(disabled) << disabled.error().ToString();
  EXPECT_EQ(disabled->first.status, "disabled");
  EXPECT_FALSE(Works(outcome.access_token));
  storage::OAuthClientRecord found;
  auto auth = oauth_->AuthenticateClient({.basic = true,
                                          .basic_id = app_.id,
                                          .basic_secret = app_secret_,
                                          .body_id = {},
                                          .body_secret = {}},
                                         &found);
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->error, "invalid_client");
}

TEST_F(OAuthServerTest, IntrospectionAndRevocation) {
  const TokenOutcome outcome = Exchange(Code(ann_));
  auto live = oauth_->Introspect(app_, outcome.access_token);
  ASSERT_TRUE(live);
  EXPECT_TRUE(live->active);
  EXPECT_EQ(live->username, "ann@acme.test");
  EXPECT_EQ(live->client_id, app_.id);
  EXPECT_EQ(live->token_type, "Bearer");
  auto refresh = oauth_->Introspect(app_, outcome.refresh_token);
  ASSERT_TRUE(refresh);
  EXPECT_TRUE(refresh->active);
  EXPECT_EQ(refresh->token_type, "refresh_token");
  auto unknown = oauth_->Introspect(app_, "eoa_nothing");
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(unknown->active);

  // Another client's revocation leaves the token alone.
  auto console = store_->GetClient(std::string(kConsoleClientId));
  ASSERT_TRUE(console);
  auto foreign = oauth_->Revoke(*console, outcome.refresh_token);
  ASSERT_TRUE(foreign);
  EXPECT_TRUE(foreign->revoked_id.empty());
  EXPECT_TRUE(Works(outcome.access_token));

  auto revoked = oauth_->Revoke(app_, outcome.refresh_token);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->revoked_id, outcome.session_id);
  EXPECT_FALSE(Works(outcome.access_token));
  auto after = oauth_->Introspect(app_, outcome.access_token);
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->active);
}

}  // namespace
}  // namespace evident::auth
