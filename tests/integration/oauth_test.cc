// Evident as an OAuth 2.0 authorization server, over real HTTP against `evident serve`
// (docs/oauth.md): RFC 8414 metadata, the client registry, /oauth/authorize and its login page,
// the token endpoint's three grants, revocation (RFC 7009) and introspection (RFC 7662), OAuth
// sessions in the sessions and tokens logs, and the authentication log every step writes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "evident/util/encoding.h"
#include "evident/util/strings.h"
#include "evident/util/time.h"
#include "integration/harness.h"
#include "integration/json_client.h"
#include "integration/json_fields.h"
#include "integration/suite_setup.h"

namespace evident::integration {
namespace {

using nlohmann::json;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using Params = std::vector<std::pair<std::string, std::string>>;

constexpr char kAuthorizePath[] = "/oauth/authorize";
constexpr char kTokenPath[] = "/oauth/token";
constexpr char kRevokePath[] = "/oauth/revoke";
constexpr char kIntrospectPath[] = "/oauth/introspect";
constexpr char kClientsPath[] = "/api/v1/oauth/clients";
constexpr char kConsoleClient[] = "evident-console";

std::vector<std::string> Strings(const json& value) {
  std::vector<std::string> items;
  if (!value.is_array()) return items;
  for (const json& item : value) items.push_back(item.is_string() ? item.get<std::string>() : "");
  return items;
}

// --- PKCE, forms, redirects and pages -----------------------------------------------------------

std::string Sha256(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(digest), size);
}

// RFC 7636's S256: base64url(SHA-256(verifier)) without padding.
std::string S256(std::string_view verifier) {
  return util::Base64Encode(Sha256(verifier), util::Base64Variant::kUrlNoPadding);
}

// Random text of `size` characters of RFC 7636's [A-Za-z0-9-._~].
std::string RandomText(size_t size) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
  static std::mt19937_64 generator{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::string text;
  for (size_t i = 0; i < size; ++i) text += kAlphabet[pick(generator)];
  return text;
}

struct Pkce {
  std::string verifier, challenge;
};

Pkce NewPkce() {
  Pkce pkce{.verifier = RandomText(64), .challenge = {}};
  pkce.challenge = S256(pkce.verifier);
  return pkce;
}

// application/x-www-form-urlencoded (every byte but RFC 3986's unreserved ones percent-encoded).
std::string FormEncode(const Params& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += cli::PercentEncode(name) + "=" + cli::PercentEncode(value);
  }
  return out;
}

std::string FormDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
      continue;
    }
    unsigned value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr ==
            text.data() + i + 3) {
      out += static_cast<char>(value);
      i += 2;
      continue;
    }
    out += text[i];
  }
  return out;
}

// A Location header taken apart: the URI before '?', and each query parameter's values.
struct Redirect {
  std::string base;
  std::map<std::string, std::vector<std::string>> query;

  std::string Get(const std::string& name) const {
    const auto it = query.find(name);
    return it == query.end() || it->second.empty() ? std::string() : it->second.front();
  }
  bool Has(const std::string& name) const { return query.count(name) != 0; }
};

Redirect ParseLocation(std::string_view location) {
  Redirect redirect;
  location = location.substr(0, location.find('#'));
  const size_t question = location.find('?');
  redirect.base = std::string(location.substr(0, question));
  if (question == std::string_view::npos) return redirect;
  std::string_view query = location.substr(question + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t equals = pair.find('=');
    redirect.query[FormDecode(pair.substr(0, equals))].push_back(
        equals == std::string_view::npos ? std::string() : FormDecode(pair.substr(equals + 1)));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return redirect;
}

Redirect LocationOf(const HttpResponse& response) {
  return ParseLocation(response.Header("location").value_or(""));
}

// The value of `attribute` in the tag of `html` that contains `marker`; empty when there is none.
std::string AttributeOfTag(const std::string& html, const std::string& marker,
                           const std::string& attribute) {
  const size_t at = html.find(marker);
  if (at == std::string::npos) return {};
  const size_t start = html.rfind('<', at);
  const size_t end = html.find('>', at);
  if (start == std::string::npos || end == std::string::npos) return {};
  const std::string tag = html.substr(start, end - start);
  const std::string key = " " + attribute + "=\"";
  const size_t key_at = tag.find(key);
  if (key_at == std::string::npos) return {};
  const size_t value_at = key_at + key.size();
  return tag.substr(value_at, tag.find('"', value_at) - value_at);
}

std::string FlowIdOf(const std::string& page) {
  return AttributeOfTag(page, "name=\"flow_id\"", "value");
}

// The values of every src= and href= attribute of `html`, quoted or not.
std::vector<std::string> AssetReferences(const std::string& html) {
  std::vector<std::string> references;
  for (const std::string attribute : {"src=", "href="}) {
    for (size_t at = html.find(attribute); at != std::string::npos;
         at = html.find(attribute, at + 1)) {
      size_t start = at + attribute.size();
      std::string end_chars = " >";
      if (start < html.size() && (html[start] == '"' || html[start] == '\'')) {
        end_chars = std::string(1, html[start]);
        ++start;
      }
      references.push_back(html.substr(start, html.find_first_of(end_chars, start) - start));
    }
  }
  return references;
}

// "evident_session=SECRET" from the answer's Set-Cookie headers, ready for a Cookie header.
std::string SessionCookieOf(const HttpResponse& response) {
  for (const HttpHeader& header : response.headers) {
    if (header.name == "set-cookie" && header.value.starts_with("evident_session=")) {
      return header.value.substr(0, header.value.find(';'));
    }
  }
  return {};
}

// Basic credentials as RFC 6749 section 2.3.1 builds them: each part form-encoded first.
HttpHeader BasicAuth(const std::string& id, const std::string& secret) {
  return {"Authorization",
          "Basic " + util::Base64Encode(cli::PercentEncode(id) + ":" + cli::PercentEncode(secret))};
}

// --- HTTP
// -----------------------------------------------------------------------------------------

// The JSON client plus the forms and redirects of OAuth.
class Http : public JsonClient {
 public:
  using JsonClient::JsonClient;

  HttpResponse PostForm(const std::string& path, const Params& form,
                        std::vector<HttpHeader> headers = {}) {
    headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    return Send("POST", path, FormEncode(form), std::move(headers));
  }

  HttpResponse Authorize(const Params& query, std::vector<HttpHeader> headers = {}) {
    return Send("GET", cli::BuildUrl("", kAuthorizePath, query), {}, std::move(headers));
  }

  HttpResponse SubmitLogin(const std::string& flow_id, const std::string& email,
                           const std::string& password) {
    return PostForm(kAuthorizePath,
                    {{"flow_id", flow_id}, {"email", email}, {"password", password}});
  }
};

// Whether `token` is accepted now: the status of GET `path` with it.
long StatusWith(const std::string& url, const std::string& token,  // NOLINT
                const std::string& path = "/api/v1/auth/session") {
  return Http(url, token).Call("GET", path).status;
}

std::vector<json> Events(Http& reader, const std::string& query) {
  return ListAt(reader.Expect(200, "GET", "/api/v1/events?limit=1000&" + query), "/events");
}

// The events in log order (by seq: one tenant's log).
std::vector<json> InLogOrder(std::vector<json> events) {
  std::sort(events.begin(), events.end(), [](const json& left, const json& right) {
    return Field(left, "/seq").get<int64_t>() < Field(right, "/seq").get<int64_t>();
  });
  return events;
}

// "action status" of each event, for comparing sequences.
std::vector<std::string> Steps(const std::vector<json>& events) {
  std::vector<std::string> steps;
  for (const json& event : events)
    steps.push_back(At(event, "/action") + " " + At(event, "/status"));
  return steps;
}

// --- Clients, sign-ins and tokens ---------------------------------------------------------------

struct OAuthClient {
  std::string id, secret;  // secret: confidential clients only
  std::vector<std::string> redirect_uris;

  // How the client authenticates at the token, revocation and introspection endpoints: HTTP Basic
  // when it has a secret, its client_id in the body otherwise.
  void Authenticate(Params& form, std::vector<HttpHeader>& headers) const {
    if (secret.empty()) {
      form.emplace_back("client_id", id);
    } else {
      headers.push_back(BasicAuth(id, secret));
    }
  }
};

// The client of a 201 answer: the registry returns it beside the one-time secret, or alone.
json ClientOf(const json& answer) {
  return answer.is_object() && answer.contains("client") ? answer["client"] : answer;
}

OAuthClient RegisterClient(Http& admin, const json& body) {
  const json answer = admin.Expect(201, "POST", kClientsPath, body);
  const json client = ClientOf(answer);
  return {.id = At(client, "/client_id"),
          .secret = At(answer, "/client_secret"),
          .redirect_uris = Strings(Field(client, "/redirect_uris"))};
}

Params AuthorizeQuery(const std::string& client_id, const std::string& redirect_uri,
                      const Pkce& pkce, const std::string& state) {
  Params query = {{"response_type", "code"}, {"client_id", client_id}};
  if (!redirect_uri.empty()) query.emplace_back("redirect_uri", redirect_uri);
  query.emplace_back("code_challenge", pkce.challenge);
  query.emplace_back("code_challenge_method", "S256");
  query.emplace_back("state", state);
  return query;
}

// One sign-in through the login page, from the authorization request to the redirect.
struct SignIn {
  Pkce pkce;
  std::string state, redirect_uri, flow_id;
  HttpResponse page;    // the login page
  HttpResponse answer;  // the form's answer
  Redirect to;          // where it redirects
  std::string code, cookie;
};

SignIn SignInThroughPage(const std::string& url, const OAuthClient& client,
                         const std::string& email, const std::string& password,
                         const Params& extra = {}, size_t redirect_index = 0) {
  SignIn sign_in;
  sign_in.pkce = NewPkce();
  sign_in.state = "st-" + RandomText(16);
  sign_in.redirect_uri =
      client.redirect_uris.size() > redirect_index ? client.redirect_uris[redirect_index] : "";
  Params query = AuthorizeQuery(client.id, sign_in.redirect_uri, sign_in.pkce, sign_in.state);
  query.insert(query.end(), extra.begin(), extra.end());
  Http browser(url, "");
  sign_in.page = browser.Authorize(query);
  EXPECT_EQ(sign_in.page.status, 200) << sign_in.page.body;
  sign_in.flow_id = FlowIdOf(sign_in.page.body);
  EXPECT_FALSE(sign_in.flow_id.empty()) << sign_in.page.body;
  sign_in.answer = browser.SubmitLogin(sign_in.flow_id, email, password);
  EXPECT_EQ(sign_in.answer.status, 302) << sign_in.answer.body;
  sign_in.to = LocationOf(sign_in.answer);
  sign_in.code = sign_in.to.Get("code");
  sign_in.cookie = SessionCookieOf(sign_in.answer);
  return sign_in;
}

HttpResponse TokenRequest(const std::string& url, const OAuthClient& client, Params form,
                          std::vector<HttpHeader> headers = {}) {
  client.Authenticate(form, headers);
  return Http(url, "").PostForm(kTokenPath, form, std::move(headers));
}

HttpResponse ExchangeCode(const std::string& url, const OAuthClient& client,
                          const std::string& code, const std::string& redirect_uri,
                          const std::string& verifier) {
  Params form = {{"grant_type", "authorization_code"}, {"code", code}};
  if (!redirect_uri.empty()) form.emplace_back("redirect_uri", redirect_uri);
  form.emplace_back("code_verifier", verifier);
  return TokenRequest(url, client, form);
}

HttpResponse RefreshRequest(const std::string& url, const OAuthClient& client,
                            const std::string& refresh_token, const std::string& scope = "") {
  Params form = {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}};
  if (!scope.empty()) form.emplace_back("scope", scope);
  return TokenRequest(url, client, form);
}

struct Tokens {
  std::string access, refresh;
  json answer;
};

// The tokens of a 200 answer of the token endpoint, checked for what every success carries.
Tokens ExpectTokens(const HttpResponse& response) {
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.Header("cache-control"), "no-store");
  EXPECT_EQ(response.Header("pragma"), "no-cache");
  const json answer = ParseJson(response);
  EXPECT_EQ(At(answer, "/token_type"), "Bearer") << response.body;
  const std::string access = At(answer, "/access_token");
  EXPECT_TRUE(access.starts_with("eoa_")) << response.body;
  EXPECT_EQ(access.size(), 4u + 43u) << response.body;
  const json expires_in = Field(answer, "/expires_in");
  EXPECT_TRUE(expires_in.is_number_integer()) << response.body;
  if (expires_in.is_number_integer()) {
    EXPECT_GT(expires_in.get<int64_t>(), 0);
    EXPECT_LE(expires_in.get<int64_t>(), 900) << "oauth_access_token_seconds defaults to 900";
  }
  EXPECT_TRUE(Field(answer, "/scope").is_string()) << response.body;
  return {.access = access, .refresh = At(answer, "/refresh_token"), .answer = answer};
}

Tokens SignInAndExchange(const std::string& url, const OAuthClient& client,
                         const std::string& email, SignIn* sign_in_out = nullptr) {
  SignIn sign_in = SignInThroughPage(url, client, email, PasswordFor(email));
  Tokens tokens = ExpectTokens(
      ExchangeCode(url, client, sign_in.code, sign_in.redirect_uri, sign_in.pkce.verifier));
  if (sign_in_out != nullptr) *sign_in_out = std::move(sign_in);
  return tokens;
}

// An RFC 6749 section 5.2 error answer: `status`, `error`, a description, never cached.
void ExpectTokenError(const HttpResponse& response, long status,  // NOLINT
                      const std::string& error, const std::string& what) {
  EXPECT_EQ(response.status, status) << what << ": " << response.body;
  const json body = ParseJson(response);
  EXPECT_EQ(At(body, "/error"), error) << what << ": " << response.body;
  EXPECT_TRUE(Field(body, "/error_description").is_string()) << what << ": " << response.body;
  EXPECT_THAT(response.Header("content-type").value_or(""), StartsWith("application/json")) << what;
  EXPECT_EQ(response.Header("cache-control"), "no-store") << what;
  EXPECT_EQ(response.Header("pragma"), "no-cache") << what;
}

// An authorization error sent back to the client (RFC 6749 section 4.1.2.1).
void ExpectRedirectError(const HttpResponse& response, const std::string& redirect_uri,
                         const std::string& state, const std::string& issuer,
                         const std::string& error, const std::string& what) {
  EXPECT_EQ(response.status, 302) << what << ": " << response.body;
  const Redirect to = LocationOf(response);
  EXPECT_EQ(to.base, redirect_uri) << what;
  EXPECT_EQ(to.Get("error"), error) << what << ": " << response.Header("location").value_or("");
  EXPECT_TRUE(to.Has("error_description")) << what;
  EXPECT_EQ(to.Get("state"), state) << what;
  EXPECT_EQ(to.Get("iss"), issuer) << what;
  EXPECT_FALSE(to.Has("code")) << what;
  EXPECT_EQ(SessionCookieOf(response), "") << what;
}

// An HTML error page (400) and no redirect: the client or its redirect URI cannot be trusted.
void ExpectErrorPage(const HttpResponse& response, const std::string& what) {
  EXPECT_EQ(response.status, 400) << what << ": " << response.body;
  EXPECT_THAT(response.Header("content-type").value_or(""), StartsWith("text/html")) << what;
  EXPECT_FALSE(response.Header("location").has_value()) << what;
  EXPECT_EQ(FlowIdOf(response.body), "") << what << ": no login form";
}

// --- The shared server --------------------------------------------------------------------------

struct World {
  std::string url;
  std::string acme_admin, acme_viewer, globex_admin;  // session secrets
  std::string acme_admin_email = "admin@acme.test";
  OAuthClient web;         // acme, public, two redirect URIs
  OAuthClient other_web;   // acme, public, one redirect URI
  OAuthClient backend;     // acme, confidential: authorization_code and refresh_token
  OAuthClient machine;     // acme, confidential: client_credentials only, events:read only
  OAuthClient globex_web;  // globex, public
  int users = 0;
};

class OAuthFlows : public ::testing::Test {
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
    Http root(w.url, kAdminToken);
    for (const char* tenant : {"acme", "globex"}) {
      root.Expect(201, "POST", "/api/v1/tenants", {{"id", tenant}});
    }
    w.acme_admin = Login(CreateUser("admin", "acme", w.acme_admin_email));
    w.acme_viewer = Login(CreateUser("viewer", "acme", "viewer@acme.test"));
    w.globex_admin = Login(CreateUser("admin", "globex", "admin@globex.test"));
    Http acme(w.url, w.acme_admin);
    w.web = RegisterClient(
        acme,
        {{"name", "Acme web"},
         {"type", "public"},
         {"redirect_uris", {"https://app.acme.test/callback", "http://127.0.0.1:8765/callback"}}});
    w.other_web = RegisterClient(acme, {{"name", "Acme other web"},
                                        {"type", "public"},
                                        {"redirect_uris", {"https://other.acme.test/cb"}}});
    w.backend = RegisterClient(acme, {{"name", "Acme backend"},
                                      {"type", "confidential"},
                                      {"redirect_uris", {"https://backend.acme.test/cb"}}});
    w.machine = RegisterClient(acme, {{"name", "Acme machine"},
                                      {"type", "confidential"},
                                      {"grant_types", {"client_credentials"}},
                                      {"scopes", {"events:read"}}});
    Http globex(w.url, w.globex_admin);
    w.globex_web = RegisterClient(globex, {{"name", "Globex web"},
                                           {"type", "public"},
                                           {"redirect_uris", {"https://globex.test/cb"}}});
    for (const OAuthClient* client :
         {&w.web, &w.other_web, &w.backend, &w.machine, &w.globex_web}) {
      ASSERT_FALSE(client->id.empty());
    }
    ASSERT_FALSE(w.backend.secret.empty());
    ASSERT_FALSE(w.machine.secret.empty());
    for (const char* tenant : {"acme", "globex"}) {
      root.Expect(201, "POST", "/api/v1/events",
                  {{"tenant", tenant}, {"action", "create"}, {"id", std::string(tenant) + "-1"}});
    }
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

  static const std::string& url() { return world_->url; }

  // Creates a user (password PasswordFor(email)) as the bootstrap super admin; `email` defaults to
  // a fresh one. Answers the email.
  static std::string CreateUser(const std::string& role, const std::string& tenant,
                                std::string email = "") {
    if (email.empty()) email = "user" + std::to_string(++world_->users) + "@" + tenant + ".test";
    Http root(world_->url, kAdminToken);
    root.Expect(201, "POST", "/api/v1/users",
                {{"email", email},
                 {"name", "Name of " + email},
                 {"role", role},
                 {"tenant", tenant},
                 {"password", PasswordFor(email)}});
    return email;
  }

  // A password login's session secret.
  static std::string Login(const std::string& email) {
    Http anonymous(world_->url, "");
    const json answer = anonymous.Expect(200, "POST", "/api/v1/auth/login",
                                         {{"email", email}, {"password", PasswordFor(email)}});
    return At(answer, "/token");
  }

  static ServerProcess* server_;
  static World* world_;
};

ServerProcess* OAuthFlows::server_ = nullptr;
World* OAuthFlows::world_ = nullptr;

TEST(OAuthHelpers, S256MatchesRfc7636AppendixB) {
  EXPECT_EQ(S256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  EXPECT_EQ(FormDecode("a%20b+c%2Fd%zz"), "a b c/d%zz");
  const Redirect to = ParseLocation("https://x.test/cb?code=eoc_1&state=a%26b&iss=http%3A%2F%2Fh");
  EXPECT_EQ(to.base, "https://x.test/cb");
  EXPECT_EQ(to.Get("state"), "a&b");
  EXPECT_EQ(to.Get("iss"), "http://h");
}

// --- Metadata -----------------------------------------------------------------------------------

TEST_F(OAuthFlows, MetadataListsEveryFieldWithEndpointsUnderTheIssuer) {
  Http anonymous(url(), "");
  const HttpResponse response = anonymous.Call("GET", "/.well-known/oauth-authorization-server");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(response.Header("content-type").value_or(""), StartsWith("application/json"));
  const json metadata = ParseJson(response);
  EXPECT_EQ(At(metadata, "/issuer"), url()) << "http:// + Host without public_url";
  EXPECT_EQ(At(metadata, "/authorization_endpoint"), url() + kAuthorizePath);
  EXPECT_EQ(At(metadata, "/token_endpoint"), url() + kTokenPath);
  EXPECT_EQ(At(metadata, "/revocation_endpoint"), url() + kRevokePath);
  EXPECT_EQ(At(metadata, "/introspection_endpoint"), url() + kIntrospectPath);
  EXPECT_EQ(Strings(Field(metadata, "/response_types_supported")),
            std::vector<std::string>{"code"});
  EXPECT_EQ(Strings(Field(metadata, "/response_modes_supported")),
            std::vector<std::string>{"query"});
  EXPECT_THAT(Strings(Field(metadata, "/grant_types_supported")),
              UnorderedElementsAre("authorization_code", "refresh_token", "client_credentials"));
  EXPECT_EQ(Strings(Field(metadata, "/code_challenge_methods_supported")),
            std::vector<std::string>{"S256"});
  EXPECT_THAT(Strings(Field(metadata, "/token_endpoint_auth_methods_supported")),
              UnorderedElementsAre("client_secret_basic", "client_secret_post", "none"));
  EXPECT_THAT(Strings(Field(metadata, "/revocation_endpoint_auth_methods_supported")),
              UnorderedElementsAre("client_secret_basic", "client_secret_post", "none"));
  // Public clients cannot introspect (401 invalid_client), so `none` is not offered there.
  const std::vector<std::string> introspection =
      Strings(Field(metadata, "/introspection_endpoint_auth_methods_supported"));
  EXPECT_THAT(introspection, ::testing::IsSupersetOf({"client_secret_basic", "client_secret_post"}))
      << metadata;
  EXPECT_THAT(Strings(Field(metadata, "/scopes_supported")),
              ::testing::IsSupersetOf({"events:read", "events:write", "admin"}));
  EXPECT_EQ(Field(metadata, "/authorization_response_iss_parameter_supported"), true) << metadata;
}

// --- The client registry ------------------------------------------------------------------------

TEST_F(OAuthFlows, RegistryShowsSecretsOnceAndKeepsTenantsApart) {
  const World& w = *world_;
  Http acme(url(), w.acme_admin);
  Http globex(url(), w.globex_admin);

  const json made_public = acme.Expect(201, "POST", kClientsPath,
                                       {{"name", "Registry public"},
                                        {"type", "public"},
                                        {"redirect_uris", {"https://r.acme.test/cb"}}});
  EXPECT_FALSE(made_public.contains("client_secret")) << made_public;
  const json pub = ClientOf(made_public);
  const std::string pub_id = At(pub, "/client_id");
  ASSERT_FALSE(pub_id.empty()) << made_public;
  EXPECT_EQ(At(pub, "/name"), "Registry public");
  EXPECT_EQ(At(pub, "/type"), "public");
  EXPECT_EQ(Strings(Field(pub, "/redirect_uris")),
            std::vector<std::string>{"https://r.acme.test/cb"});
  EXPECT_EQ(Strings(Field(pub, "/grant_types")),
            (std::vector<std::string>{"authorization_code", "refresh_token"}))
      << "the default grants";
  EXPECT_THAT(Strings(Field(pub, "/scopes")),
              UnorderedElementsAre("events:read", "events:write", "admin"))
      << "the default scopes";
  EXPECT_EQ(At(pub, "/tenant"), "acme") << "an admin's clients are bound to its tenant";
  EXPECT_EQ(At(pub, "/status"), "active");
  EXPECT_TRUE(Field(pub, "/created_at").is_string()) << pub;
  EXPECT_EQ(At(pub, "/created_by/email"), w.acme_admin_email) << pub;
  EXPECT_FALSE(At(pub, "/created_by/id").empty()) << pub;
  EXPECT_TRUE(Field(pub, "/created_by/name").is_string()) << pub;

  const json made_confidential = acme.Expect(201, "POST", kClientsPath,
                                             {{"name", "Registry confidential"},
                                              {"type", "confidential"},
                                              {"redirect_uris", {"https://c.acme.test/cb"}},
                                              {"scopes", {"events:read"}}});
  const std::string secret = At(made_confidential, "/client_secret");
  EXPECT_TRUE(secret.starts_with("ecs_")) << made_confidential;
  EXPECT_EQ(secret.size(), 4u + 43u) << secret;
  const json confidential = ClientOf(made_confidential);
  const std::string confidential_id = At(confidential, "/client_id");
  EXPECT_EQ(At(confidential, "/type"), "confidential");
  EXPECT_EQ(Strings(Field(confidential, "/scopes")), std::vector<std::string>{"events:read"});
  EXPECT_NE(confidential_id, pub_id);

  // Never again: not by id, not in the list.
  const json one = acme.Expect(200, "GET", std::string(kClientsPath) + "/" + confidential_id);
  EXPECT_EQ(At(one, "/client_id"), confidential_id);
  EXPECT_EQ(At(one, "/type"), "confidential");
  const json list = acme.Expect(200, "GET", kClientsPath);
  for (const json* shown : {&one, &list}) {
    EXPECT_EQ(shown->dump().find(secret), std::string::npos) << *shown;
    EXPECT_EQ(shown->dump().find("client_secret"), std::string::npos) << *shown;
    EXPECT_EQ(shown->dump().find("secret_hash"), std::string::npos) << *shown;
  }
  std::vector<std::string> listed;
  for (const json& item : Field(list, "/items")) listed.push_back(At(item, "/client_id"));
  EXPECT_THAT(listed, ::testing::IsSupersetOf(
                          {pub_id, confidential_id, w.web.id, std::string(kConsoleClient)}))
      << list;
  EXPECT_THAT(listed, ::testing::Not(::testing::Contains(w.globex_web.id))) << list;
  for (const json& item : Field(list, "/items")) {
    if (At(item, "/client_id") == kConsoleClient) continue;
    EXPECT_EQ(At(item, "/tenant"), "acme") << item;
  }

  // The built-in console client: public, every tenant's, one redirect URI under the issuer.
  const json console = acme.Expect(200, "GET", std::string(kClientsPath) + "/" + kConsoleClient);
  EXPECT_EQ(At(console, "/type"), "public");
  EXPECT_EQ(Strings(Field(console, "/redirect_uris")),
            std::vector<std::string>{url() + "/console/callback"});
  EXPECT_TRUE(Field(console, "/tenant").is_null()) << console;
  EXPECT_THAT(Strings(Field(console, "/grant_types")),
              UnorderedElementsAre("authorization_code", "refresh_token"));
  EXPECT_EQ(At(console, "/status"), "active");

  // Another tenant's admin: 404 for one client, 403 for naming the tenant, and nothing changes.
  globex.Expect(404, "GET", std::string(kClientsPath) + "/" + pub_id);
  globex.Expect(404, "POST", std::string(kClientsPath) + "/" + pub_id + "/disable");
  globex.Expect(403, "GET", std::string(kClientsPath) + "?tenant=acme");
  globex.Expect(403, "POST", kClientsPath,
                {{"name", "Planted"},
                 {"type", "public"},
                 {"redirect_uris", {"https://evil.test/cb"}},
                 {"tenant", "acme"}});
  const json globex_list = globex.Expect(200, "GET", kClientsPath);
  for (const json& item : Field(globex_list, "/items")) {
    EXPECT_NE(At(item, "/tenant"), "acme") << item;
    EXPECT_NE(At(item, "/name"), "Planted") << item;
  }
  EXPECT_EQ(At(acme.Expect(200, "GET", std::string(kClientsPath) + "/" + pub_id), "/status"),
            "active");

  // A viewer may do none of it.
  Http viewer(url(), w.acme_viewer);
  viewer.Expect(403, "GET", kClientsPath);
  viewer.Expect(403, "GET", std::string(kClientsPath) + "/" + pub_id);
  viewer.Expect(
      403, "POST", kClientsPath,
      {{"name", "Viewer's"}, {"type", "public"}, {"redirect_uris", {"https://v.test/cb"}}});
  viewer.Expect(403, "POST", std::string(kClientsPath) + "/" + pub_id + "/disable");
  const json after = acme.Expect(200, "GET", kClientsPath);
  EXPECT_EQ(Field(after, "/total"), Field(list, "/total")) << after;
  EXPECT_EQ(At(acme.Expect(200, "GET", std::string(kClientsPath) + "/" + pub_id), "/status"),
            "active");

  // A super admin names the tenant.
  Http root(url(), kAdminToken);
  const json for_globex = ClientOf(root.Expect(201, "POST", kClientsPath,
                                               {{"name", "Root's for globex"},
                                                {"type", "public"},
                                                {"redirect_uris", {"https://g.test/cb"}},
                                                {"tenant", "globex"}}));
  EXPECT_EQ(At(for_globex, "/tenant"), "globex");
  EXPECT_EQ(At(for_globex, "/created_by/email"), kAdminEmail);
}

TEST_F(OAuthFlows, RegistryRefusesInvalidClientsAndKeepsNothing) {
  Http acme(url(), world_->acme_admin);
  const json before = acme.Expect(200, "GET", kClientsPath);
  struct Invalid {
    const char* what;
    json body;
    const char* field;
  };
  const json uris = {"https://ok.acme.test/cb"};
  const std::vector<Invalid> invalid = {
      {"unknown grant",
       {{"type", "confidential"},
        {"grant_types", {"authorization_code", "password"}},
        {"redirect_uris", uris}},
       "grant_types"},
      {"client_credentials on a public client",
       {{"type", "public"}, {"grant_types", {"client_credentials"}}},
       "grant_types"},
      {"refresh_token without authorization_code",
       {{"type", "confidential"}, {"grant_types", {"client_credentials", "refresh_token"}}},
       "grant_types"},
      {"http on a host that is no loopback",
       {{"type", "public"}, {"redirect_uris", {"http://app.acme.test/cb"}}},
       "redirect_uris"},
      {"a relative redirect URI",
       {{"type", "public"}, {"redirect_uris", {"/cb"}}},
       "redirect_uris"},
      {"a fragment",
       {{"type", "public"}, {"redirect_uris", {"https://app.acme.test/cb#frag"}}},
       "redirect_uris"},
      {"an unknown scope",
       {{"type", "public"}, {"redirect_uris", uris}, {"scopes", {"events:read", "events:delete"}}},
       "scopes"},
      {"no redirect_uris with authorization_code (given)",
       {{"type", "public"}, {"grant_types", {"authorization_code"}}},
       "redirect_uris"},
      {"no redirect_uris with authorization_code (by default)",
       {{"type", "confidential"}},
       "redirect_uris"},
      {"an unknown type", {{"type", "secretive"}, {"redirect_uris", uris}}, "type"},
  };
  for (const Invalid& attempt : invalid) {
    json body = attempt.body;
    body["name"] = std::string("invalid: ") + attempt.what;
    const HttpResponse response = acme.Call("POST", kClientsPath, body);
    EXPECT_EQ(response.status, 400) << attempt.what << ": " << response.body;
    EXPECT_THAT(response.Header("content-type").value_or(""),
                StartsWith("application/problem+json"))
        << attempt.what;
    EXPECT_EQ(At(ParseJson(response), "/errors/0/field"), attempt.field)
        << attempt.what << ": " << response.body;
  }
  // Loopback hosts may use http (RFC 8252).
  for (const char* uri :
       {"http://127.0.0.1:4000/cb", "http://[::1]/cb", "http://localhost:8080/cb"}) {
    const HttpResponse response = acme.Call(
        "POST", kClientsPath,
        {{"name", std::string("loopback ") + uri}, {"type", "public"}, {"redirect_uris", {uri}}});
    EXPECT_EQ(response.status, 201) << uri << ": " << response.body;
  }
  const json after = acme.Expect(200, "GET", kClientsPath + std::string("?limit=1000"));
  EXPECT_EQ(Field(after, "/total").get<int64_t>(), Field(before, "/total").get<int64_t>() + 3)
      << after;
  for (const json& item : Field(after, "/items")) {
    EXPECT_FALSE(At(item, "/name").starts_with("invalid:")) << item;
  }
}

TEST_F(OAuthFlows, DisablingAClientRevokesEveryTokenItHas) {
  Http acme(url(), world_->acme_admin);
  const OAuthClient client = RegisterClient(
      acme, {{"name", "To be disabled"},
             {"type", "confidential"},
             {"redirect_uris", {"https://disabled.acme.test/cb"}},
             {"grant_types", {"authorization_code", "refresh_token", "client_credentials"}}});
  const std::string email = CreateUser("admin", "acme");
  const Tokens user_tokens = SignInAndExchange(url(), client, email);
  const Tokens machine_tokens =
      ExpectTokens(TokenRequest(url(), client, {{"grant_type", "client_credentials"}}));
  EXPECT_EQ(StatusWith(url(), user_tokens.access), 200);
  EXPECT_EQ(StatusWith(url(), machine_tokens.access, "/api/v1/events?limit=1"), 200);

  Http(url(), world_->acme_viewer)
      .Expect(403, "POST", std::string(kClientsPath) + "/" + client.id + "/disable");
  EXPECT_EQ(StatusWith(url(), user_tokens.access), 200) << "a refused disable changes nothing";

  const json disabled =
      acme.Expect(200, "POST", std::string(kClientsPath) + "/" + client.id + "/disable");
  EXPECT_EQ(At(disabled, "/status"), "disabled") << disabled;
  EXPECT_EQ(At(acme.Expect(200, "GET", std::string(kClientsPath) + "/" + client.id), "/status"),
            "disabled");
  EXPECT_EQ(StatusWith(url(), user_tokens.access), 401);
  EXPECT_EQ(StatusWith(url(), machine_tokens.access, "/api/v1/events?limit=1"), 401);
  ExpectTokenError(RefreshRequest(url(), client, user_tokens.refresh), 401, "invalid_client",
                   "refresh with a disabled client");
  ExpectTokenError(TokenRequest(url(), client, {{"grant_type", "client_credentials"}}), 401,
                   "invalid_client", "client credentials of a disabled client");
  const Pkce pkce = NewPkce();
  ExpectErrorPage(
      Http(url(), "").Authorize(AuthorizeQuery(client.id, client.redirect_uris[0], pkce, "s")),
      "authorize with a disabled client");
}

// --- The authorization endpoint -----------------------------------------------------------------

TEST_F(OAuthFlows, LoginPageSignsInRedirectsWithTheCodeAndRemembersTheBrowser) {
  const World& w = *world_;
  const std::string email = CreateUser("viewer", "acme");
  const Pkce pkce = NewPkce();
  const std::string state = "opaque state/with=chars&more";
  const std::string redirect_uri = w.web.redirect_uris[1];  // the loopback one
  const Params query = AuthorizeQuery(w.web.id, redirect_uri, pkce, state);
  Http browser(url(), "");

  const HttpResponse page = browser.Authorize(query);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_THAT(page.Header("content-type").value_or(""), StartsWith("text/html"));
  EXPECT_FALSE(page.Header("location").has_value());
  const std::string& html = page.body;
  EXPECT_NE(html.find("<form"), std::string::npos) << html;
  EXPECT_EQ(AttributeOfTag(html, "<form", "method"), "post") << html;
  EXPECT_EQ(AttributeOfTag(html, "<form", "action"), kAuthorizePath) << html;
  const std::string flow_id = FlowIdOf(html);
  EXPECT_EQ(flow_id.size(), 36u) << "a UUID: " << html;
  EXPECT_EQ(AttributeOfTag(html, "name=\"flow_id\"", "type"), "hidden");
  for (const char* field : {"email", "password"}) {
    const std::string marker = std::string("name=\"") + field + "\"";
    const std::string id = AttributeOfTag(html, marker, "id");
    EXPECT_FALSE(id.empty()) << field << ": " << html;
    EXPECT_NE(html.find("<label for=\"" + id + "\""), std::string::npos)
        << "a label for " << field << ": " << html;
    EXPECT_FALSE(AttributeOfTag(html, marker, "autocomplete").empty()) << field;
  }
  EXPECT_EQ(AttributeOfTag(html, "name=\"password\"", "type"), "password");
  EXPECT_EQ(html.find("role=\"alert\""), std::string::npos) << "no error yet";
  for (const std::string& reference : AssetReferences(html)) {
    EXPECT_FALSE(reference.starts_with("http") || reference.starts_with("//"))
        << "an external asset: " << reference;
  }
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find(pkce.challenge), std::string::npos) << "the flow is kept server-side";

  // A wrong password: the page again, with the error announced; no redirect, no cookie.
  const HttpResponse wrong = browser.SubmitLogin(flow_id, email, "not the password at all");
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_THAT(wrong.Header("content-type").value_or(""), StartsWith("text/html"));
  EXPECT_NE(wrong.body.find("role=\"alert\""), std::string::npos) << wrong.body;
  EXPECT_EQ(FlowIdOf(wrong.body), flow_id) << "the same flow goes on";
  EXPECT_FALSE(wrong.Header("location").has_value());
  EXPECT_EQ(SessionCookieOf(wrong), "");

  // The right one: a redirect to exactly the redirect URI with code, state and iss, and a cookie.
  const HttpResponse signed_in = browser.SubmitLogin(flow_id, email, PasswordFor(email));
  ASSERT_EQ(signed_in.status, 302) << signed_in.body;
  const std::string location = signed_in.Header("location").value_or("");
  EXPECT_THAT(location, StartsWith(redirect_uri + "?code=")) << location;
  const Redirect to = ParseLocation(location);
  EXPECT_EQ(to.base, redirect_uri);
  const std::string code = to.Get("code");
  EXPECT_TRUE(code.starts_with("eoc_")) << location;
  EXPECT_EQ(code.size(), 4u + 43u) << location;
  EXPECT_EQ(to.Get("state"), state) << "returned unchanged: " << location;
  EXPECT_EQ(to.Get("iss"), url()) << "RFC 9207: " << location;
  EXPECT_FALSE(to.Has("error")) << location;
  const std::string cookie = SessionCookieOf(signed_in);
  ASSERT_FALSE(cookie.empty());
  const std::string set_cookie = signed_in.Header("set-cookie").value_or("");
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos) << set_cookie;
  // The form cannot be posted again: its flow is over.
  ExpectErrorPage(browser.SubmitLogin(flow_id, email, PasswordFor(email)), "a finished flow");

  // The cookie alone signs the next authorization in: a new code at once, no page.
  const Pkce second_pkce = NewPkce();
  const HttpResponse again = browser.Authorize(
      AuthorizeQuery(w.web.id, redirect_uri, second_pkce, "second"), {{"Cookie", cookie}});
  ASSERT_EQ(again.status, 302) << again.body;
  const Redirect again_to = LocationOf(again);
  EXPECT_EQ(again_to.base, redirect_uri);
  EXPECT_TRUE(again_to.Get("code").starts_with("eoc_"));
  EXPECT_NE(again_to.Get("code"), code);
  EXPECT_EQ(again_to.Get("state"), "second");
  EXPECT_EQ(again_to.Get("iss"), url());
  // Both codes work, each with its own verifier.
  ExpectTokens(ExchangeCode(url(), w.web, code, redirect_uri, pkce.verifier));
  ExpectTokens(
      ExchangeCode(url(), w.web, again_to.Get("code"), redirect_uri, second_pkce.verifier));

  // prompt=login shows the page even with the cookie; prompt=none works with it alone.
  Params login = AuthorizeQuery(w.web.id, redirect_uri, NewPkce(), "login");
  login.emplace_back("prompt", "login");
  const HttpResponse forced = browser.Authorize(login, {{"Cookie", cookie}});
  EXPECT_EQ(forced.status, 200) << forced.body;
  EXPECT_FALSE(FlowIdOf(forced.body).empty());
  Params none = AuthorizeQuery(w.web.id, redirect_uri, NewPkce(), "none");
  none.emplace_back("prompt", "none");
  const HttpResponse silent = browser.Authorize(none, {{"Cookie", cookie}});
  EXPECT_EQ(silent.status, 302) << silent.body;
  EXPECT_TRUE(LocationOf(silent).Get("code").starts_with("eoc_"));
  // prompt=none without a session: login_required back to the client, never the page.
  ExpectRedirectError(browser.Authorize(none), redirect_uri, "none", url(), "login_required",
                      "prompt=none without a cookie");
  // redirect_uri may be left out only when the client has exactly one.
  const HttpResponse implied = browser.Authorize(
      AuthorizeQuery(w.other_web.id, "", NewPkce(), "implied"), {{"Cookie", cookie}});
  EXPECT_EQ(implied.status, 302) << implied.body;
  EXPECT_EQ(LocationOf(implied).base, w.other_web.redirect_uris[0]);
  ExpectErrorPage(browser.Authorize(AuthorizeQuery(w.web.id, "", NewPkce(), "two")),
                  "no redirect_uri with two registered");
}

TEST_F(OAuthFlows, PagesEscapeWhatTheyShow) {
  Http acme(url(), world_->acme_admin);
  const std::string script = "<script>alert(1)</script>";
  const OAuthClient client =
      RegisterClient(acme, {{"name", "Tricky " + script + " \"quoted\""},
                            {"type", "public"},
                            {"redirect_uris", {"https://tricky.acme.test/cb"}}});
  Http browser(url(), "");
  const HttpResponse page =
      browser.Authorize(AuthorizeQuery(client.id, client.redirect_uris[0], NewPkce(), "s"));
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.body.find("<script"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("&lt;script&gt;"), std::string::npos) << "the name is shown, escaped";
  const std::string email = "<script>@acme.test";
  const HttpResponse wrong = browser.SubmitLogin(FlowIdOf(page.body), email, "wrong password!");
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_EQ(wrong.body.find("<script"), std::string::npos) << wrong.body;
  const HttpResponse unknown =
      browser.Authorize(AuthorizeQuery(script, client.redirect_uris[0], NewPkce(), "s"));
  ExpectErrorPage(unknown, "an unknown client named like a script");
  EXPECT_EQ(unknown.body.find("<script"), std::string::npos) << unknown.body;
}

TEST_F(OAuthFlows, AuthorizeNeverRedirectsToAnUntrustedUri) {
  const World& w = *world_;
  Http browser(url(), "");
  const Pkce pkce = NewPkce();
  const std::string registered = w.web.redirect_uris[0];
  ExpectErrorPage(browser.Authorize(AuthorizeQuery("no-such-client", registered, pkce, "s")),
                  "an unknown client");
  ExpectErrorPage(browser.Authorize({{"response_type", "code"},
                                     {"redirect_uri", registered},
                                     {"code_challenge", pkce.challenge},
                                     {"code_challenge_method", "S256"}}),
                  "no client_id");
  for (const std::string& uri :
       {std::string("https://evil.test/callback"), registered + "/more", registered + "?x=1",
        std::string("https://app.acme.test/callback/"), std::string("https://app.acme.test/"),
        std::string("HTTPS://app.acme.test/callback")}) {
    ExpectErrorPage(browser.Authorize(AuthorizeQuery(w.web.id, uri, pkce, "s")),
                    "an unregistered redirect URI " + uri);
  }
  // Another client's redirect URI is not this client's.
  ExpectErrorPage(
      browser.Authorize(AuthorizeQuery(w.web.id, w.other_web.redirect_uris[0], pkce, "s")),
      "another client's redirect URI");
}

TEST_F(OAuthFlows, AuthorizeSendsOtherErrorsBackToTheClient) {
  const World& w = *world_;
  Http browser(url(), "");
  const std::string redirect_uri = w.web.redirect_uris[0];
  const Pkce pkce = NewPkce();
  auto with = [&](const std::string& name, const std::string& value) {
    Params query;
    bool replaced = false;
    for (const auto& [key, old] : AuthorizeQuery(w.web.id, redirect_uri, pkce, "st")) {
      if (key == name) {
        replaced = true;
        if (!value.empty()) query.emplace_back(key, value);
      } else {
        query.emplace_back(key, old);
      }
    }
    if (!replaced) query.emplace_back(name, value);
    return query;
  };
  struct Case {
    const char* what;
    Params query;
    const char* error;
  };
  Params repeated = with("state", "st");
  repeated.emplace_back("scope", "events:read");
  repeated.emplace_back("scope", "admin");
  const std::vector<Case> cases = {
      {"no code_challenge", with("code_challenge", ""), "invalid_request"},
      {"no code_challenge_method", with("code_challenge_method", ""), "invalid_request"},
      {"code_challenge_method=plain", with("code_challenge_method", "plain"), "invalid_request"},
      {"a challenge too short", with("code_challenge", "abc"), "invalid_request"},
      {"response_type=token", with("response_type", "token"), "unsupported_response_type"},
      {"no response_type", with("response_type", ""), "invalid_request"},
      {"a scope the client lacks", with("scope", "events:read events:delete"), "invalid_scope"},
      {"a repeated parameter", repeated, "invalid_request"},
  };
  for (const Case& attempt : cases) {
    ExpectRedirectError(browser.Authorize(attempt.query), redirect_uri, "st", url(), attempt.error,
                        attempt.what);
  }
  // A client that may not use the code grant (client_credentials only) has no redirect URI to
  // send an error to.
  ExpectErrorPage(browser.Authorize(AuthorizeQuery(w.machine.id, "", pkce, "st")),
                  "a client_credentials client");
}

TEST_F(OAuthFlows, UsersOfAnotherTenantAreDeniedATenantsClient) {
  const World& w = *world_;
  const std::string globex_user = CreateUser("admin", "globex");
  const SignIn sign_in = SignInThroughPage(url(), w.web, globex_user, PasswordFor(globex_user));
  EXPECT_EQ(sign_in.to.base, sign_in.redirect_uri);
  EXPECT_EQ(sign_in.to.Get("error"), "access_denied")
      << sign_in.answer.Header("location").value_or("");
  EXPECT_EQ(sign_in.to.Get("state"), sign_in.state);
  EXPECT_EQ(sign_in.to.Get("iss"), url());
  EXPECT_FALSE(sign_in.to.Has("code"));
  // Nor with a cookie from a sign-in to their own tenant's client.
  const SignIn own = SignInThroughPage(url(), w.globex_web, globex_user, PasswordFor(globex_user));
  EXPECT_TRUE(own.code.starts_with("eoc_")) << own.answer.Header("location").value_or("");
  ASSERT_FALSE(own.cookie.empty());
  const Pkce pkce = NewPkce();
  ExpectRedirectError(
      Http(url(), "").Authorize(AuthorizeQuery(w.web.id, w.web.redirect_uris[0], pkce, "c"),
                                {{"Cookie", own.cookie}}),
      w.web.redirect_uris[0], "c", url(), "access_denied", "a cookie of another tenant's user");
  // The built-in client serves every tenant's users.
  const Pkce console_pkce = NewPkce();
  const HttpResponse console = Http(url(), "").Authorize(
      AuthorizeQuery(kConsoleClient, "", console_pkce, "console"), {{"Cookie", own.cookie}});
  ASSERT_EQ(console.status, 302) << console.body;
  const Redirect to = LocationOf(console);
  EXPECT_EQ(to.base, url() + "/console/callback");
  const OAuthClient console_client{.id = kConsoleClient, .secret = {}, .redirect_uris = {}};
  const Tokens tokens =
      ExpectTokens(ExchangeCode(url(), console_client, to.Get("code"), "", console_pkce.verifier));
  EXPECT_FALSE(tokens.refresh.empty());
  const json session = Http(url(), tokens.access).Expect(200, "GET", "/api/v1/auth/session");
  EXPECT_EQ(At(session, "/user/email"), globex_user) << session;
}

// --- The token endpoint -------------------------------------------------------------------------

TEST_F(OAuthFlows, CodeExchangeIssuesTokensOnceAndAReplayRevokesThem) {
  const World& w = *world_;
  const std::string email = CreateUser("admin", "acme");
  const SignIn sign_in = SignInThroughPage(url(), w.web, email, PasswordFor(email));
  const HttpResponse exchanged =
      ExchangeCode(url(), w.web, sign_in.code, sign_in.redirect_uri, sign_in.pkce.verifier);
  const Tokens tokens = ExpectTokens(exchanged);
  EXPECT_TRUE(tokens.refresh.starts_with("eor_")) << exchanged.body;
  EXPECT_EQ(tokens.refresh.size(), 4u + 43u);
  EXPECT_THAT(util::SplitList(At(tokens.answer, "/scope"), ' '),
              UnorderedElementsAre("events:read", "events:write", "admin"));
  const json session = Http(url(), tokens.access).Expect(200, "GET", "/api/v1/auth/session");
  EXPECT_EQ(At(session, "/user/email"), email) << session;
  EXPECT_EQ(StatusWith(url(), tokens.access, "/api/v1/events?limit=1"), 200);

  // The same code again: invalid_grant, and what it gave stops working.
  ExpectTokenError(
      ExchangeCode(url(), w.web, sign_in.code, sign_in.redirect_uri, sign_in.pkce.verifier), 400,
      "invalid_grant", "a replayed code");
  EXPECT_EQ(StatusWith(url(), tokens.access), 401);
  EXPECT_EQ(StatusWith(url(), tokens.access, "/api/v1/events?limit=1"), 401);
  ExpectTokenError(RefreshRequest(url(), w.web, tokens.refresh), 400, "invalid_grant",
                   "the refresh token of a replayed code");

  // Audited: the reuse and the session it ended.
  Http root(url(), kAdminToken);
  const json listed = root.Expect(200, "GET", "/api/v1/sessions?limit=1000&user=" + email);
  const std::vector<json> sessions = Where(
      ListAt(listed, "/sessions"), [&](const json& s) { return At(s, "/client_id") == w.web.id; });
  ASSERT_EQ(sessions.size(), 1u);
  const std::string session_id = At(sessions[0], "/id");
  EXPECT_EQ(At(sessions[0], "/status"), "revoked") << sessions[0];
  const std::vector<json> acme = Events(root, "tenant=acme");
  const std::vector<json> reuse = Where(acme, [&](const json& e) {
    return At(e, "/action") == "oauth.token" && At(e, "/details/flow_id") == sign_in.flow_id &&
           At(e, "/details/grant_type") == "authorization_code" && At(e, "/status") == "failure";
  });
  ASSERT_EQ(reuse.size(), 1u) << json(acme).dump(1);
  EXPECT_EQ(At(reuse[0], "/details/error"), "invalid_grant");
  EXPECT_EQ(At(reuse[0], "/details/reason"), "code_reuse");
  const std::vector<json> revoked = Where(acme, [&](const json& e) {
    return At(e, "/type") == "session" && At(e, "/action") == "revoke" &&
           At(e, "/resource/id") == session_id;
  });
  ASSERT_EQ(revoked.size(), 1u) << json(acme).dump(1);
  EXPECT_GT(Field(revoked[0], "/seq").get<int64_t>(), Field(reuse[0], "/seq").get<int64_t>());
}

TEST_F(OAuthFlows, CodeExchangeChecksVerifierRedirectUriAndClient) {
  const World& w = *world_;
  const std::string email = CreateUser("viewer", "acme");

  // A wrong verifier: invalid_grant, and the code is used up.
  const SignIn pkce_mismatch = SignInThroughPage(url(), w.web, email, PasswordFor(email));
  ExpectTokenError(ExchangeCode(url(), w.web, pkce_mismatch.code, pkce_mismatch.redirect_uri,
                                NewPkce().verifier),
                   400, "invalid_grant", "a wrong verifier");
  ExpectTokenError(ExchangeCode(url(), w.web, pkce_mismatch.code, pkce_mismatch.redirect_uri,
                                pkce_mismatch.pkce.verifier),
                   400, "invalid_grant", "the right verifier after a wrong one");
  // The challenge itself is no verifier.
  const SignIn challenge = SignInThroughPage(url(), w.web, email, PasswordFor(email));
  ExpectTokenError(
      ExchangeCode(url(), w.web, challenge.code, challenge.redirect_uri, challenge.pkce.challenge),
      400, "invalid_grant", "the challenge as verifier");

  // The redirect URI must be the authorization request's.
  const SignIn other_uri = SignInThroughPage(url(), w.web, email, PasswordFor(email));
  ExpectTokenError(
      ExchangeCode(url(), w.web, other_uri.code, w.web.redirect_uris[1], other_uri.pkce.verifier),
      400, "invalid_grant", "another registered redirect URI");
  const SignIn no_uri = SignInThroughPage(url(), w.web, email, PasswordFor(email));
  ExpectTokenError(ExchangeCode(url(), w.web, no_uri.code, "", no_uri.pkce.verifier), 400,
                   "invalid_grant", "no redirect_uri when the request had one");

  // Another client's code: invalid_grant for client B.
  const SignIn of_a = SignInThroughPage(url(), w.web, email, PasswordFor(email));
  ExpectTokenError(
      ExchangeCode(url(), w.other_web, of_a.code, of_a.redirect_uri, of_a.pkce.verifier), 400,
      "invalid_grant", "client A's code redeemed by client B");
  ExpectTokenError(
      ExchangeCode(url(), w.other_web, of_a.code, w.other_web.redirect_uris[0], of_a.pkce.verifier),
      400, "invalid_grant", "client A's code with client B's redirect URI");

  // Unknown codes and missing parameters.
  ExpectTokenError(ExchangeCode(url(), w.web, "eoc_" + RandomText(43), w.web.redirect_uris[0],
                                NewPkce().verifier),
                   400, "invalid_grant", "an unknown code");
  ExpectTokenError(TokenRequest(url(), w.web,
                                {{"grant_type", "authorization_code"},
                                 {"redirect_uri", w.web.redirect_uris[0]},
                                 {"code_verifier", NewPkce().verifier}}),
                   400, "invalid_request", "no code");
  const SignIn no_verifier = SignInThroughPage(url(), w.web, email, PasswordFor(email));
  const HttpResponse missing = TokenRequest(url(), w.web,
                                            {{"grant_type", "authorization_code"},
                                             {"code", no_verifier.code},
                                             {"redirect_uri", no_verifier.redirect_uri}});
  EXPECT_EQ(missing.status, 400) << missing.body;
  EXPECT_THAT(At(ParseJson(missing), "/error"),
              ::testing::AnyOf("invalid_request", "invalid_grant"))
      << missing.body;

  // A viewer's token acts as a viewer whatever its scopes say.
  const Tokens viewer = SignInAndExchange(url(), w.web, email);
  EXPECT_EQ(StatusWith(url(), viewer.access), 200);
  EXPECT_EQ(StatusWith(url(), viewer.access, "/api/v1/events?limit=1"), 403);
}

TEST_F(OAuthFlows, RefreshTokensRotateAndAReuseRevokesTheFamily) {
  const World& w = *world_;
  const std::string email = CreateUser("admin", "acme");
  SignIn sign_in;
  const Tokens first = SignInAndExchange(url(), w.web, email, &sign_in);
  ASSERT_FALSE(first.refresh.empty());
  const Tokens second = ExpectTokens(RefreshRequest(url(), w.web, first.refresh));
  const Tokens third = ExpectTokens(RefreshRequest(url(), w.web, second.refresh));
  for (const Tokens* tokens : {&second, &third}) {
    EXPECT_TRUE(tokens->refresh.starts_with("eor_")) << tokens->answer;
  }
  EXPECT_NE(second.refresh, first.refresh);
  EXPECT_NE(third.refresh, second.refresh);
  EXPECT_NE(third.refresh, first.refresh);
  EXPECT_NE(second.access, first.access);
  EXPECT_NE(third.access, second.access);
  EXPECT_EQ(StatusWith(url(), third.access), 200);
  EXPECT_EQ(StatusWith(url(), first.access), 200) << "rotation alone does not revoke";

  // A narrower scope on refresh, never a wider one; a refused one spends nothing.
  ExpectTokenError(RefreshRequest(url(), w.web, third.refresh, "events:read events:delete"), 400,
                   "invalid_scope", "a scope never granted");
  const Tokens narrow = ExpectTokens(RefreshRequest(url(), w.web, third.refresh, "events:read"));
  EXPECT_EQ(At(narrow.answer, "/scope"), "events:read");
  EXPECT_EQ(StatusWith(url(), narrow.access, "/api/v1/events?limit=1"), 200);
  EXPECT_EQ(StatusWith(url(), narrow.access, "/api/v1/users"), 403) << "no admin scope";

  // Another client cannot use it.
  ExpectTokenError(RefreshRequest(url(), w.other_web, narrow.refresh), 400, "invalid_grant",
                   "another client's refresh token");
  EXPECT_EQ(StatusWith(url(), narrow.access), 200);

  // A spent refresh token again: invalid_grant, and the whole family goes.
  ExpectTokenError(RefreshRequest(url(), w.web, first.refresh), 400, "invalid_grant",
                   "a spent refresh token");
  ExpectTokenError(RefreshRequest(url(), w.web, narrow.refresh), 400, "invalid_grant",
                   "the newest refresh token after a reuse");
  for (const Tokens* tokens : {&first, &second, &third, &narrow}) {
    EXPECT_EQ(StatusWith(url(), tokens->access), 401) << tokens->answer;
  }

  Http root(url(), kAdminToken);
  const std::vector<json> acme = Events(root, "tenant=acme&type=authentication");
  const std::vector<json> refreshes = Where(acme, [&](const json& e) {
    return At(e, "/action") == "oauth.token" && At(e, "/details/grant_type") == "refresh_token" &&
           At(e, "/details/flow_id") == sign_in.flow_id;
  });
  // Refreshes carry the flow of the sign-in: three successful rotations, one reuse (and the
  // failures after it).
  const std::vector<json> reuse = Where(
      refreshes, [](const json& e) { return At(e, "/details/reason") == "refresh_token_reuse"; });
  ASSERT_EQ(reuse.size(), 1u) << json(refreshes).dump(1);
  EXPECT_EQ(At(reuse[0], "/details/error"), "invalid_grant");
  const std::string session_id = At(reuse[0], "/details/session_id");
  EXPECT_FALSE(session_id.empty()) << reuse[0];
  EXPECT_EQ(Where(refreshes, [](const json& e) { return At(e, "/status") == "success"; }).size(),
            3u)
      << json(refreshes).dump(1);
  for (const json& e : refreshes) {
    EXPECT_EQ(At(e, "/details/entrypoint"), "OAUTH_TOKEN") << e;
    EXPECT_EQ(At(e, "/details/client_id"), w.web.id) << e;
  }
  const std::vector<json> revoked =
      Where(Events(root, "tenant=acme&type=session&action=revoke"),
            [&](const json& e) { return At(e, "/resource/id") == session_id; });
  EXPECT_EQ(revoked.size(), 1u);
}

TEST_F(OAuthFlows, ClientAuthenticationFailuresChangeNothing) {
  const World& w = *world_;
  const std::string email = CreateUser("admin", "acme");
  const SignIn sign_in = SignInThroughPage(url(), w.backend, email, PasswordFor(email));
  const Params code_form = {{"grant_type", "authorization_code"},
                            {"code", sign_in.code},
                            {"redirect_uri", sign_in.redirect_uri},
                            {"code_verifier", sign_in.pkce.verifier}};
  Http anonymous(url(), "");
  auto post = [&](Params form, std::vector<HttpHeader> headers) {
    return anonymous.PostForm(kTokenPath, form, std::move(headers));
  };
  auto with = [&](const Params& extra) {
    Params form = code_form;
    form.insert(form.end(), extra.begin(), extra.end());
    return form;
  };

  const HttpResponse wrong_secret = post(code_form, {BasicAuth(w.backend.id, "ecs_wrong")});
  ExpectTokenError(wrong_secret, 401, "invalid_client", "a wrong secret via Basic");
  EXPECT_THAT(wrong_secret.Header("www-authenticate").value_or(""), StartsWith("Basic"));
  EXPECT_NE(wrong_secret.Header("www-authenticate").value_or("").find("realm=\"evident\""),
            std::string::npos);
  ExpectTokenError(post(with({{"client_id", w.backend.id}, {"client_secret", "ecs_wrong"}}), {}),
                   401, "invalid_client", "a wrong secret in the body");
  ExpectTokenError(post(with({{"client_id", w.backend.id}, {"client_secret", w.backend.secret}}),
                        {BasicAuth(w.backend.id, w.backend.secret)}),
                   400, "invalid_request", "Basic and client_secret_post together");
  const HttpResponse no_secret = post(with({{"client_id", w.backend.id}}), {});
  ExpectTokenError(no_secret, 401, "invalid_client", "a confidential client without its secret");
  EXPECT_TRUE(no_secret.Header("www-authenticate").has_value());
  ExpectTokenError(post(code_form, {BasicAuth(w.web.id + "x", w.backend.secret)}), 401,
                   "invalid_client", "an unknown client");
  ExpectTokenError(post(code_form, {BasicAuth(w.other_web.id, w.backend.secret)}), 401,
                   "invalid_client", "another client's secret");
  ExpectTokenError(post(code_form, {}), 401, "invalid_client", "no client at all");
  ExpectTokenError(post(code_form, {{"Authorization", "Basic !!!not base64"}}), 401,
                   "invalid_client", "a malformed Basic header");
  ExpectTokenError(post({{"grant_type", "password"}, {"username", email}, {"password", "x"}},
                        {BasicAuth(w.backend.id, w.backend.secret)}),
                   400, "unsupported_grant_type", "the password grant");
  ExpectTokenError(post({{"code", sign_in.code}}, {BasicAuth(w.backend.id, w.backend.secret)}), 400,
                   "invalid_request", "no grant_type");
  const json as_json = {{"grant_type", "authorization_code"},
                        {"code", sign_in.code},
                        {"redirect_uri", sign_in.redirect_uri},
                        {"code_verifier", sign_in.pkce.verifier}};
  const HttpResponse json_body = anonymous.Send(
      "POST", kTokenPath, as_json.dump(),
      {{"Content-Type", "application/json"}, BasicAuth(w.backend.id, w.backend.secret)});
  ExpectTokenError(json_body, 400, "invalid_request", "a JSON body");
  Params twice = code_form;
  twice.emplace_back("code", sign_in.code);
  ExpectTokenError(post(twice, {BasicAuth(w.backend.id, w.backend.secret)}), 400, "invalid_request",
                   "a repeated parameter");

  // None of it spent the code: the right credentials redeem it now, via client_secret_post.
  const Tokens tokens = ExpectTokens(
      post(with({{"client_id", w.backend.id}, {"client_secret", w.backend.secret}}), {}));
  EXPECT_EQ(StatusWith(url(), tokens.access), 200);

  // A public client may not use client credentials; the machine client may not use codes.
  ExpectTokenError(TokenRequest(url(), w.web, {{"grant_type", "client_credentials"}}), 400,
                   "unauthorized_client", "client_credentials for a public client");
  ExpectTokenError(TokenRequest(url(), w.backend, {{"grant_type", "client_credentials"}}), 400,
                   "unauthorized_client", "client_credentials for a client without that grant");
  ExpectTokenError(ExchangeCode(url(), w.machine, "eoc_" + RandomText(43),
                                "https://backend.acme.test/cb", NewPkce().verifier),
                   400, "unauthorized_client", "a code for a client_credentials-only client");
  // A public client has no secret to send.
  ExpectTokenError(TokenRequest(url(), w.web,
                                {{"grant_type", "refresh_token"},
                                 {"refresh_token", tokens.refresh},
                                 {"client_secret", "anything"}}),
                   401, "invalid_client", "a public client with a secret");
}

TEST_F(OAuthFlows, ClientCredentialsActInTheClientsTenantWithinItsScopes) {
  const World& w = *world_;
  const HttpResponse granted =
      TokenRequest(url(), w.machine, {{"grant_type", "client_credentials"}});
  const Tokens tokens = ExpectTokens(granted);
  EXPECT_FALSE(tokens.answer.contains("refresh_token")) << granted.body;
  EXPECT_EQ(At(tokens.answer, "/scope"), "events:read");

  Http machine(url(), tokens.access);
  const json page = machine.Expect(200, "GET", "/api/v1/events?limit=1000");
  ASSERT_TRUE(Field(page, "/events").is_array());
  EXPECT_FALSE(Field(page, "/events").empty()) << page;
  for (const json& event : Field(page, "/events")) EXPECT_EQ(At(event, "/tenant"), "acme") << event;
  machine.Expect(403, "GET", "/api/v1/events?tenant=globex");
  machine.Expect(404, "GET", "/api/v1/tenants/globex/events/globex-1");
  machine.Expect(200, "GET", "/api/v1/tenants/acme/events/acme-1");
  machine.Expect(403, "POST", "/api/v1/events", {{"tenant", "acme"}, {"action", "machine-write"}});
  machine.Expect(403, "GET", "/api/v1/users");
  Http root(url(), kAdminToken);
  EXPECT_TRUE(Events(root, "tenant=acme&action=machine-write").empty()) << "nothing was written";

  // Scopes beyond the client's are refused, and nothing is issued.
  ExpectTokenError(
      TokenRequest(url(), w.machine, {{"grant_type", "client_credentials"}, {"scope", "admin"}}),
      400, "invalid_scope", "a scope the client was not given");
  ExpectTokenError(
      TokenRequest(url(), w.machine,
                   {{"grant_type", "client_credentials"}, {"scope", "events:read events:write"}}),
      400, "invalid_scope", "one scope too many");
  // client_secret_post works as well as Basic, and an explicit scope within the client's.
  const Tokens posted =
      ExpectTokens(Http(url(), "").PostForm(kTokenPath, {{"grant_type", "client_credentials"},
                                                         {"scope", "events:read"},
                                                         {"client_id", w.machine.id},
                                                         {"client_secret", w.machine.secret}}));
  EXPECT_EQ(StatusWith(url(), posted.access, "/api/v1/events?limit=1"), 200);
  // In the tokens log, with its client.
  const json log = root.Expect(200, "GET", "/api/v1/tokens?kind=oauth&limit=1000");
  const std::vector<json> mine = Where(
      ListAt(log, "/tokens"), [&](const json& t) { return At(t, "/client_id") == w.machine.id; });
  EXPECT_GE(mine.size(), 2u) << log;
  for (const json& t : mine) {
    EXPECT_TRUE(Field(t, "/session_id").is_null()) << "client credentials have no session: " << t;
    EXPECT_EQ(At(t, "/tenant"), "acme") << t;
  }
  EXPECT_EQ(log.dump().find(tokens.access), std::string::npos);

  // Each client credentials request is a flow of one step.
  const std::vector<json> grants =
      Where(Events(root, "tenant=acme&type=authentication&action=oauth.token"), [&](const json& e) {
        return At(e, "/details/client_id") == w.machine.id && At(e, "/status") == "success";
      });
  EXPECT_GE(grants.size(), 2u);
  const std::vector<json> acme = Events(root, "tenant=acme");
  for (const json& grant : grants) {
    const std::string flow_id = At(grant, "/details/flow_id");
    EXPECT_FALSE(flow_id.empty()) << grant;
    EXPECT_EQ(At(grant, "/details/grant_type"), "client_credentials");
    EXPECT_EQ(At(grant, "/details/entrypoint"), "OAUTH_TOKEN");
    EXPECT_EQ(
        Where(acme, [&](const json& e) { return At(e, "/details/flow_id") == flow_id; }).size(), 1u)
        << flow_id;
  }
}

TEST_F(OAuthFlows, ATenantsClientActsInThatTenantWithinTheGrantedScopes) {
  const World& w = *world_;
  // A super admin may sign in to acme's client; the token still acts in acme only.
  const SignIn root_sign_in = SignInThroughPage(url(), w.web, kAdminEmail, kAdminPassword);
  const Tokens root_tokens = ExpectTokens(ExchangeCode(
      url(), w.web, root_sign_in.code, root_sign_in.redirect_uri, root_sign_in.pkce.verifier));
  Http as_root(url(), root_tokens.access);
  const json page = as_root.Expect(200, "GET", "/api/v1/events?limit=1000");
  EXPECT_FALSE(ListAt(page, "/events").empty()) << page;
  for (const json& event : ListAt(page, "/events"))
    EXPECT_EQ(At(event, "/tenant"), "acme") << event;
  as_root.Expect(403, "GET", "/api/v1/events?tenant=globex");
  as_root.Expect(404, "GET", "/api/v1/tenants/globex/events/globex-1");
  const HttpResponse written =
      as_root.Call("POST", "/api/v1/events", {{"tenant", "globex"}, {"action", "oauth-planted"}});
  EXPECT_TRUE(written.status == 400 || written.status == 403) << written.body;
  Http root(url(), kAdminToken);
  EXPECT_TRUE(Events(root, "tenant=globex&action=oauth-planted").empty());
  as_root.Expect(201, "POST", "/api/v1/events", {{"tenant", "acme"}, {"action", "oauth-written"}});

  // scope=events:read gives a token that reads and does nothing else.
  const std::string email = CreateUser("admin", "acme");
  const SignIn reader =
      SignInThroughPage(url(), w.web, email, PasswordFor(email), {{"scope", "events:read"}});
  const Tokens read_only = ExpectTokens(
      ExchangeCode(url(), w.web, reader.code, reader.redirect_uri, reader.pkce.verifier));
  EXPECT_EQ(At(read_only.answer, "/scope"), "events:read");
  Http as_reader(url(), read_only.access);
  as_reader.Expect(200, "GET", "/api/v1/events?limit=1");
  as_reader.Expect(403, "POST", "/api/v1/events", {{"tenant", "acme"}, {"action", "read-only"}});
  as_reader.Expect(403, "GET", "/api/v1/users");
  as_reader.Expect(403, "GET", kClientsPath);
  // Refreshing cannot widen it.
  ExpectTokenError(RefreshRequest(url(), w.web, read_only.refresh, "events:read admin"), 400,
                   "invalid_scope", "a wider scope on refresh");
}

TEST_F(OAuthFlows, TokensEndWithLogoutTheirDisabledUserAndTheirClientsDisabledOwner) {
  const World& w = *world_;
  Http root(url(), kAdminToken);
  auto user_id = [&](const std::string& token) {
    return At(Http(url(), token).Expect(200, "GET", "/api/v1/auth/session"), "/user/id");
  };

  // Logging out with an access token ends its OAuth session.
  const std::string leaving = CreateUser("viewer", "acme");
  const Tokens logged_out = SignInAndExchange(url(), w.web, leaving);
  const HttpResponse logout = Http(url(), logged_out.access).Call("POST", "/api/v1/auth/logout");
  EXPECT_EQ(logout.status, 204) << logout.body;
  EXPECT_EQ(StatusWith(url(), logged_out.access), 401);
  ExpectTokenError(RefreshRequest(url(), w.web, logged_out.refresh), 400, "invalid_grant",
                   "a refresh token after logout");

  // Disabling the user ends their OAuth sessions.
  const std::string disabled = CreateUser("viewer", "acme");
  const Tokens of_disabled = SignInAndExchange(url(), w.web, disabled);
  root.Expect(200, "PATCH", "/api/v1/users/" + user_id(of_disabled.access),
              {{"status", "disabled"}});
  EXPECT_EQ(StatusWith(url(), of_disabled.access), 401);
  ExpectTokenError(RefreshRequest(url(), w.web, of_disabled.refresh), 400, "invalid_grant",
                   "a refresh token of a disabled user");

  // Client credentials act as the client's owner: disabled, the tokens stop and none is issued.
  const std::string owner = CreateUser("admin", "acme");
  const std::string owner_session = Login(owner);
  const std::string owner_id = user_id(owner_session);
  Http as_owner(url(), owner_session);
  const OAuthClient owned = RegisterClient(as_owner, {{"name", "Owned by a leaver"},
                                                      {"type", "confidential"},
                                                      {"grant_types", {"client_credentials"}},
                                                      {"scopes", {"events:read"}}});
  const Tokens machine =
      ExpectTokens(TokenRequest(url(), owned, {{"grant_type", "client_credentials"}}));
  const json acting = Http(url(), machine.access).Expect(200, "GET", "/api/v1/auth/session");
  EXPECT_EQ(At(acting, "/user/email"), owner) << acting;
  root.Expect(200, "PATCH", "/api/v1/users/" + owner_id, {{"status", "disabled"}});
  EXPECT_EQ(StatusWith(url(), machine.access, "/api/v1/events?limit=1"), 401);
  const HttpResponse refused = TokenRequest(url(), owned, {{"grant_type", "client_credentials"}});
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_FALSE(Field(ParseJson(refused), "/error").is_null()) << refused.body;
  EXPECT_EQ(At(ParseJson(refused), "/access_token"), "") << refused.body;
}

// --- Revocation and introspection ---------------------------------------------------------------

TEST_F(OAuthFlows, RevocationAndIntrospection) {
  const World& w = *world_;
  const std::string email = CreateUser("admin", "acme");
  Http anonymous(url(), "");
  auto revoke = [&](const OAuthClient& client, const std::string& token) {
    Params form = {{"token", token}};
    std::vector<HttpHeader> headers;
    client.Authenticate(form, headers);
    return anonymous.PostForm(kRevokePath, form, std::move(headers));
  };
  auto introspect = [&](const OAuthClient& client, const std::string& token) {
    Params form = {{"token", token}};
    std::vector<HttpHeader> headers;
    client.Authenticate(form, headers);
    return anonymous.PostForm(kIntrospectPath, form, std::move(headers));
  };
  auto introspection = [&](const std::string& token) {
    const HttpResponse response = introspect(w.backend, token);
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.Header("cache-control"), "no-store");
    return ParseJson(response);
  };

  SignIn sign_in;
  const Tokens tokens = SignInAndExchange(url(), w.backend, email, &sign_in);
  const json session = Http(url(), tokens.access).Expect(200, "GET", "/api/v1/auth/session");

  const json active = introspection(tokens.access);
  EXPECT_EQ(Field(active, "/active"), true) << active;
  EXPECT_THAT(util::SplitList(At(active, "/scope"), ' '),
              UnorderedElementsAre("events:read", "events:write", "admin"));
  EXPECT_EQ(At(active, "/client_id"), w.backend.id);
  EXPECT_EQ(At(active, "/username"), email);
  EXPECT_EQ(At(active, "/sub"), At(session, "/user/id")) << session;
  EXPECT_EQ(At(active, "/token_type"), "Bearer");
  EXPECT_EQ(At(active, "/iss"), url());
  EXPECT_EQ(At(active, "/tenant"), "acme");
  EXPECT_FALSE(At(active, "/jti").empty());
  EXPECT_FALSE(At(active, "/sid").empty());
  ASSERT_TRUE(Field(active, "/exp").is_number_integer() &&
              Field(active, "/iat").is_number_integer())
      << active;
  const int64_t now_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  EXPECT_GT(Field(active, "/exp").get<int64_t>(), Field(active, "/iat").get<int64_t>());
  EXPECT_LE(Field(active, "/exp").get<int64_t>() - Field(active, "/iat").get<int64_t>(), 900);
  EXPECT_NEAR(Field(active, "/iat").get<double>(), static_cast<double>(now_seconds), 120.0);
  EXPECT_EQ(active.dump().find(tokens.access), std::string::npos);
  const json refresh = introspection(tokens.refresh);
  EXPECT_EQ(Field(refresh, "/active"), true) << refresh;
  EXPECT_EQ(At(refresh, "/token_type"), "refresh_token");
  EXPECT_EQ(At(refresh, "/sid"), At(active, "/sid"));
  for (const std::string& unknown :
       {std::string("eoa_") + RandomText(43), std::string("nonsense"), std::string(kAdminToken)}) {
    EXPECT_EQ(introspection(unknown), json({{"active", false}})) << unknown;
  }
  // Only confidential clients introspect.
  const HttpResponse by_public = introspect(w.web, tokens.access);
  ExpectTokenError(by_public, 401, "invalid_client", "introspection by a public client");
  ExpectTokenError(
      introspect(OAuthClient{.id = w.backend.id, .secret = "ecs_wrong", .redirect_uris = {}},
                 tokens.access),
      401, "invalid_client", "introspection with a wrong secret");
  // Another tenant's client learns nothing about acme's tokens.
  Http globex(url(), w.globex_admin);
  const OAuthClient globex_backend =
      RegisterClient(globex, {{"name", "Globex backend"},
                              {"type", "confidential"},
                              {"redirect_uris", {"https://backend.globex.test/cb"}}});
  const HttpResponse foreign = introspect(globex_backend, tokens.access);
  EXPECT_EQ(foreign.status, 200) << foreign.body;
  EXPECT_EQ(ParseJson(foreign), json({{"active", false}})) << foreign.body;

  // RFC 7009: 200 whether or not the token is known; a wrong secret is still refused.
  for (const std::string& unknown :
       {std::string("eor_") + RandomText(43), std::string("eoa_") + RandomText(43),
        std::string("nonsense")}) {
    const HttpResponse response = revoke(w.backend, unknown);
    EXPECT_EQ(response.status, 200) << unknown << ": " << response.body;
    EXPECT_EQ(response.body, "") << unknown;
  }
  ExpectTokenError(
      revoke(OAuthClient{.id = w.backend.id, .secret = "ecs_wrong", .redirect_uris = {}},
             tokens.access),
      401, "invalid_client", "revocation with a wrong secret");
  // Another client's token is left alone.
  EXPECT_EQ(revoke(w.web, tokens.access).status, 200);
  EXPECT_EQ(revoke(w.web, tokens.refresh).status, 200);
  EXPECT_EQ(StatusWith(url(), tokens.access), 200);
  EXPECT_EQ(Field(introspection(tokens.refresh), "/active"), true);

  // Revoking an access token ends that token only.
  const HttpResponse revoked_access = revoke(w.backend, tokens.access);
  EXPECT_EQ(revoked_access.status, 200) << revoked_access.body;
  EXPECT_EQ(revoked_access.body, "");
  EXPECT_EQ(StatusWith(url(), tokens.access), 401);
  EXPECT_EQ(introspection(tokens.access), json({{"active", false}}));
  const Tokens refreshed = ExpectTokens(RefreshRequest(url(), w.backend, tokens.refresh));
  EXPECT_EQ(StatusWith(url(), refreshed.access), 200);

  // Revoking a refresh token ends its session: its access tokens too.
  EXPECT_EQ(revoke(w.backend, refreshed.refresh).status, 200);
  EXPECT_EQ(StatusWith(url(), refreshed.access), 401);
  EXPECT_EQ(introspection(refreshed.refresh), json({{"active", false}}));
  EXPECT_EQ(introspection(refreshed.access), json({{"active", false}}));
  ExpectTokenError(RefreshRequest(url(), w.backend, refreshed.refresh), 400, "invalid_grant",
                   "a revoked refresh token");
  // Twice is as good as once.
  EXPECT_EQ(revoke(w.backend, refreshed.refresh).status, 200);

  Http root(url(), kAdminToken);
  const std::vector<json> revocations =
      Where(Events(root, "tenant=acme&type=authentication&action=oauth.revoke"),
            [&](const json& e) { return At(e, "/details/client_id") == w.backend.id; });
  EXPECT_GE(revocations.size(), 2u);
  for (const json& e : revocations) {
    EXPECT_EQ(At(e, "/status"), "success") << e;
    EXPECT_EQ(At(e, "/details/entrypoint"), "OAUTH_TOKEN") << e;
  }
}

// --- Sessions and the tokens log ----------------------------------------------------------------

TEST_F(OAuthFlows, OAuthSessionsAreListedAndRevokedLikeAnyOther) {
  const World& w = *world_;
  const std::string email = CreateUser("viewer", "acme");
  const Tokens tokens = SignInAndExchange(url(), w.web, email);
  Http root(url(), kAdminToken);
  Http acme(url(), w.acme_admin);

  const json sessions = acme.Expect(200, "GET", "/api/v1/sessions?limit=1000&user=" + email);
  std::vector<json> oauth_sessions;
  for (const json& s : Field(sessions, "/sessions")) {
    if (At(s, "/client_id") == w.web.id) oauth_sessions.push_back(s);
  }
  ASSERT_EQ(oauth_sessions.size(), 1u) << sessions;
  const json& session = oauth_sessions[0];
  const std::string session_id = At(session, "/id");
  EXPECT_EQ(At(session, "/status"), "active");
  EXPECT_EQ(At(session, "/user/email"), email);
  EXPECT_EQ(At(session, "/tenant"), "acme");
  EXPECT_EQ(sessions.dump().find(tokens.access), std::string::npos);
  EXPECT_EQ(sessions.dump().find(tokens.refresh), std::string::npos);

  const json log = acme.Expect(200, "GET", "/api/v1/tokens?kind=oauth&limit=1000&user=" + email);
  const std::vector<json> items = ListAt(log, "/tokens");
  ASSERT_EQ(items.size(), 1u) << log;
  EXPECT_EQ(At(items[0], "/kind"), "oauth");
  EXPECT_EQ(At(items[0], "/client_id"), w.web.id);
  EXPECT_EQ(At(items[0], "/session_id"), session_id);
  EXPECT_EQ(Field(items[0], "/active"), true);
  EXPECT_EQ(log.dump().find(tokens.access), std::string::npos);
  EXPECT_EQ(log.dump().find(tokens.refresh), std::string::npos);

  EXPECT_EQ(StatusWith(url(), tokens.access), 200);
  const json revoked = acme.Expect(200, "POST", "/api/v1/sessions/" + session_id + "/revoke");
  EXPECT_EQ(At(revoked, "/status"), "revoked") << revoked;
  EXPECT_EQ(StatusWith(url(), tokens.access), 401);
  ExpectTokenError(RefreshRequest(url(), w.web, tokens.refresh), 400, "invalid_grant",
                   "the refresh token of a revoked session");
  const json after = acme.Expect(200, "GET", "/api/v1/tokens/" + At(items[0], "/id"));
  EXPECT_EQ(Field(after, "/active"), false) << after;
  // Another tenant's admin sees none of it.
  Http(url(), w.globex_admin).Expect(404, "POST", "/api/v1/sessions/" + session_id + "/revoke");
}

// --- The authentication log ---------------------------------------------------------------------

TEST_F(OAuthFlows, EveryStepIsInTheAuthenticationLogWithoutASecret) {
  const World& w = *world_;
  const std::string email = CreateUser("admin", "acme");
  Http root(url(), kAdminToken);
  const std::string since =
      util::FormatRfc3339Millis(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count() -
                                24LL * 60 * 60 * 1000);

  // One full sign-in, with the confidential client.
  SignIn sign_in;
  const Tokens tokens = SignInAndExchange(url(), w.backend, email, &sign_in);
  // One abandoned at the login page.
  const HttpResponse abandoned = Http(url(), "").Authorize(
      AuthorizeQuery(w.backend.id, w.backend.redirect_uris[0], NewPkce(), "gone"));
  ASSERT_EQ(abandoned.status, 200);
  const std::string abandoned_flow = FlowIdOf(abandoned.body);
  // One failing at the token endpoint: a wrong verifier.
  const SignIn failed = SignInThroughPage(url(), w.backend, email, PasswordFor(email));
  const std::string wrong_verifier = NewPkce().verifier;
  ExpectTokenError(ExchangeCode(url(), w.backend, failed.code, failed.redirect_uri, wrong_verifier),
                   400, "invalid_grant", "a wrong verifier");
  // A failed client authentication, a wrong password and an invalid authorization request.
  const std::string wrong_secret = "ecs_" + RandomText(43);
  ExpectTokenError(
      TokenRequest(url(),
                   OAuthClient{.id = w.backend.id, .secret = wrong_secret, .redirect_uris = {}},
                   {{"grant_type", "refresh_token"}, {"refresh_token", tokens.refresh}}),
      401, "invalid_client", "a wrong secret");
  const HttpResponse retried = Http(url(), "").Authorize(
      AuthorizeQuery(w.backend.id, w.backend.redirect_uris[0], NewPkce(), "retried"));
  ASSERT_EQ(retried.status, 200);
  const std::string wrong_flow = FlowIdOf(retried.body);
  const std::string wrong_password = "a wrong password 0xBADC0DE";
  const HttpResponse wrong_page = Http(url(), "").SubmitLogin(wrong_flow, email, wrong_password);
  EXPECT_EQ(wrong_page.status, 401);
  Params bad_scope = AuthorizeQuery(w.backend.id, w.backend.redirect_uris[0], NewPkce(), "bad");
  bad_scope.emplace_back("scope", "events:read everything");
  ExpectRedirectError(Http(url(), "").Authorize(bad_scope), w.backend.redirect_uris[0], "bad",
                      url(), "invalid_scope", "an unknown scope");

  const std::vector<json> acme = Events(root, "tenant=acme&type=authentication");
  auto flow = [&](const std::string& flow_id) {
    return InLogOrder(
        Where(acme, [&](const json& e) { return At(e, "/details/flow_id") == flow_id; }));
  };
  const std::vector<json> full = flow(sign_in.flow_id);
  EXPECT_EQ(Steps(full),
            (std::vector<std::string>{"oauth.authorize initiated", "login success",
                                      "oauth.authorize pending", "oauth.token success"}))
      << json(full).dump(1);
  const std::vector<std::string> entrypoints = {"OAUTH_AUTHORIZE", "OAUTH_AUTHORIZE",
                                                "OAUTH_AUTHORIZE", "OAUTH_TOKEN"};
  for (size_t i = 0; i < full.size() && i < entrypoints.size(); ++i) {
    const json& e = full[i];
    EXPECT_EQ(At(e, "/type"), "authentication") << e;
    EXPECT_EQ(At(e, "/tenant"), "acme") << e;
    EXPECT_EQ(At(e, "/details/client_id"), w.backend.id) << e;
    EXPECT_EQ(At(e, "/details/entrypoint"), entrypoints[i]) << e;
    EXPECT_FALSE(Field(e, "/details").contains("error")) << e;
  }
  if (full.size() == 4) {
    EXPECT_EQ(At(full[1], "/actor/email"), email);
    EXPECT_EQ(At(full[2], "/actor/email"), email);
    EXPECT_EQ(At(full[3], "/actor/email"), email);
    EXPECT_EQ(At(full[3], "/details/grant_type"), "authorization_code");
    EXPECT_FALSE(At(full[3], "/details/session_id").empty()) << full[3];
  }
  const std::vector<json> left = flow(abandoned_flow);
  EXPECT_EQ(Steps(left), std::vector<std::string>{"oauth.authorize initiated"})
      << "an abandoned flow stays initiated: " << json(left).dump(1);
  const std::vector<json> wrong = flow(wrong_flow);
  ASSERT_EQ(Steps(wrong), (std::vector<std::string>{"oauth.authorize initiated", "login failure"}))
      << json(wrong).dump(1);
  EXPECT_EQ(At(wrong[1], "/actor/email"), email);
  EXPECT_EQ(At(wrong[1], "/details/entrypoint"), "OAUTH_AUTHORIZE");
  EXPECT_EQ(At(wrong[1], "/details/client_id"), w.backend.id);
  const std::vector<json> failing = flow(failed.flow_id);
  ASSERT_EQ(Steps(failing),
            (std::vector<std::string>{"oauth.authorize initiated", "login success",
                                      "oauth.authorize pending", "oauth.token failure"}))
      << json(failing).dump(1);
  EXPECT_EQ(At(failing[3], "/details/error"), "invalid_grant");
  EXPECT_FALSE(At(failing[3], "/details/error_description").empty()) << failing[3];
  EXPECT_EQ(At(failing[3], "/details/grant_type"), "authorization_code");

  const std::vector<json> client_failures = Where(acme, [&](const json& e) {
    return At(e, "/action") == "oauth.token" && At(e, "/status") == "failure" &&
           At(e, "/details/error") == "invalid_client" &&
           At(e, "/details/client_id") == w.backend.id;
  });
  EXPECT_GE(client_failures.size(), 1u) << json(acme).dump(1);
  const std::vector<json> scope_failures = Where(acme, [&](const json& e) {
    return At(e, "/action") == "oauth.authorize" && At(e, "/status") == "failure" &&
           At(e, "/details/error") == "invalid_scope" &&
           At(e, "/details/client_id") == w.backend.id;
  });
  EXPECT_EQ(scope_failures.size(), 1u) << json(acme).dump(1);
  // Every failure of an OAuth step names an RFC 6749 error (docs/oauth.md, "The authentication
  // log": details hold, on failure, `error`), the login page's wrong password included.
  std::vector<json> failures = {wrong[1], failing[3]};
  failures.insert(failures.end(), client_failures.begin(), client_failures.end());
  failures.insert(failures.end(), scope_failures.begin(), scope_failures.end());
  for (const json& e : failures) {
    EXPECT_EQ(At(e, "/status"), "failure") << e;
    EXPECT_THAT(At(e, "/details/error"),
                ::testing::AnyOf("invalid_request", "invalid_client", "invalid_grant",
                                 "unauthorized_client", "unsupported_grant_type", "invalid_scope",
                                 "access_denied", "unsupported_response_type", "login_required",
                                 "server_error", "temporarily_unavailable"))
        << At(e, "/action") << " failure without an RFC 6749 error: " << e;
  }

  // No secret anywhere in Evident's own events.
  const std::vector<std::string> secrets = {
      sign_in.code,   sign_in.pkce.verifier, failed.code,    failed.pkce.verifier,
      wrong_verifier, tokens.access,         tokens.refresh, w.backend.secret,
      wrong_secret,   PasswordFor(email),    wrong_password};
  std::string everything;
  for (const char* tenant : {"acme", "system", "globex"}) {
    for (const json& e : Events(root, std::string("tenant=") + tenant)) everything += e.dump();
  }
  EXPECT_NE(everything.find(sign_in.flow_id), std::string::npos) << "a positive control";
  for (const std::string& secret : secrets) {
    ASSERT_FALSE(secret.empty());
    EXPECT_EQ(everything.find(secret), std::string::npos) << "an event holds " << secret;
  }

  // Seed 002's questions.
  const std::vector<json> successes =
      Events(root, "type=authentication&status=success&from=" + cli::PercentEncode(since));
  EXPECT_EQ(Where(successes,
                  [&](const json& e) {
                    return At(e, "/action") == "oauth.token" &&
                           At(e, "/details/flow_id") == sign_in.flow_id;
                  })
                .size(),
            1u);
  const std::vector<json> token_steps = Events(root, "type=authentication&action=oauth.token");
  EXPECT_EQ(Where(token_steps,
                  [&](const json& e) {
                    return At(e, "/details/flow_id") == sign_in.flow_id ||
                           At(e, "/details/flow_id") == failed.flow_id;
                  })
                .size(),
            2u);
  const HttpResponse logs = Http(url(), kAdminToken)
                                .Call("GET",
                                      "/api/v1/administration/logs?company=acme"
                                      "&type=authentication&user=" +
                                          cli::PercentEncode(email));
  ASSERT_EQ(logs.status, 200) << logs.body;
  const json listed = ParseJson(logs);
  ASSERT_TRUE(listed.is_array()) << logs.body;
  const json success = {{"user", email}, {"status", "SUCCESS"}, {"entrypoint", "OAUTH_TOKEN"}};
  EXPECT_EQ(std::count_if(listed.begin(), listed.end(),
                          [&](const json& log) { return Field(log, "/details") == success; }),
            1)
      << logs.body;
}

// --- A server with a public URL and a short lockout ---------------------------------------------

class OAuthConfigured : public ::testing::Test {
 protected:
  static constexpr char kPublicUrl[] = "https://audit.example.test";

  // The shared set-up's failures are kept for each test to report (suite_setup.h).
  static void SetUpTestSuite() { setup_failures_ = CaptureFailures(SetUpSuite); }
  inline static std::string setup_failures_;
  static void SetUpSuite() {
    ServerOptions options;
    options.env = {{"EVIDENT_PUBLIC_URL", kPublicUrl}, {"EVIDENT_LOCKOUT_MAX_FAILURES", "3"}};
    server_ = new ServerProcess(options);
    ASSERT_TRUE(server_->Start()) << server_->Output();
    Http root(server_->url(), kAdminToken);
    root.Expect(201, "POST", "/api/v1/tenants", {{"id", "acme"}});
  }
  void SetUp() override {
    ASSERT_EQ(setup_failures_, "") << "the suite's set-up failed";
    ASSERT_TRUE(server_ != nullptr && server_->running());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static ServerProcess* server_;
};

ServerProcess* OAuthConfigured::server_ = nullptr;

TEST_F(OAuthConfigured, IssuerIsThePublicUrl) {
  const std::string url = server_->url();
  const json metadata = Http(url, "").Expect(200, "GET", "/.well-known/oauth-authorization-server");
  EXPECT_EQ(At(metadata, "/issuer"), kPublicUrl);
  EXPECT_EQ(At(metadata, "/authorization_endpoint"), std::string(kPublicUrl) + kAuthorizePath);
  EXPECT_EQ(At(metadata, "/token_endpoint"), std::string(kPublicUrl) + kTokenPath);
  EXPECT_EQ(At(metadata, "/revocation_endpoint"), std::string(kPublicUrl) + kRevokePath);
  EXPECT_EQ(At(metadata, "/introspection_endpoint"), std::string(kPublicUrl) + kIntrospectPath);
  // The built-in client's redirect URI and every authorization response's iss follow it.
  Params none = AuthorizeQuery(kConsoleClient, "", NewPkce(), "st");
  none.emplace_back("prompt", "none");
  ExpectRedirectError(Http(url, "").Authorize(none), std::string(kPublicUrl) + "/console/callback",
                      "st", kPublicUrl, "login_required", "prompt=none");
}

TEST_F(OAuthConfigured, LoginPageLockoutRefusesEvenTheRightPassword) {
  const std::string url = server_->url();
  const std::string email = "locked@acme.test";
  Http root(url, kAdminToken);
  root.Expect(
      201, "POST", "/api/v1/users",
      {{"email", email}, {"role", "admin"}, {"tenant", "acme"}, {"password", PasswordFor(email)}});
  Http browser(url, "");
  const HttpResponse page = browser.Authorize(AuthorizeQuery(kConsoleClient, "", NewPkce(), "l"));
  ASSERT_EQ(page.status, 200) << page.body;
  const std::string flow_id = FlowIdOf(page.body);
  ASSERT_FALSE(flow_id.empty());
  for (int i = 0; i < 3; ++i) {
    const HttpResponse wrong =
        browser.SubmitLogin(flow_id, email, "wrong guess number " + std::to_string(i));
    EXPECT_EQ(wrong.status, 401) << i << ": " << wrong.body;
    EXPECT_NE(wrong.body.find("role=\"alert\""), std::string::npos) << i;
  }
  for (const std::string& password : {std::string("wrong guess 4"), PasswordFor(email)}) {
    const HttpResponse locked = browser.SubmitLogin(flow_id, email, password);
    EXPECT_EQ(locked.status, 429) << locked.body;
    EXPECT_THAT(locked.Header("content-type").value_or(""), StartsWith("text/html"));
    EXPECT_NE(locked.body.find("role=\"alert\""), std::string::npos) << locked.body;
    const std::string retry_after = locked.Header("retry-after").value_or("");
    ASSERT_FALSE(retry_after.empty());
    EXPECT_GE(std::stoll(retry_after), 1);
    EXPECT_LE(std::stoll(retry_after), 15 * 60);
    EXPECT_FALSE(locked.Header("location").has_value());
    EXPECT_EQ(SessionCookieOf(locked), "");
  }
  // The same lockout as the password login's.
  const HttpResponse api_login = browser.Call("POST", "/api/v1/auth/login",
                                              {{"email", email}, {"password", PasswordFor(email)}});
  EXPECT_EQ(api_login.status, 429) << api_login.body;

  // The built-in client has no tenant: the flow starts in `system` (no user is known yet), and
  // the sign-in attempts are in the user's tenant.
  auto of_flow = [&](const std::string& tenant) {
    return InLogOrder(Where(Events(root, "type=authentication&tenant=" + tenant),
                            [&](const json& e) { return At(e, "/details/flow_id") == flow_id; }));
  };
  const std::vector<json> started = of_flow("system");
  EXPECT_EQ(Steps(started), std::vector<std::string>{"oauth.authorize initiated"})
      << json(started).dump(1);
  const std::vector<json> attempts = of_flow("acme");
  // Three failures, the lockout they caused, and two attempts refused during it.
  EXPECT_EQ(Steps(attempts),
            (std::vector<std::string>{"login failure", "login failure", "login failure",
                                      "login blocked", "login blocked", "login blocked"}))
      << json(attempts).dump(1);
  std::vector<json> events = started;
  events.insert(events.end(), attempts.begin(), attempts.end());
  for (const json& e : events) {
    EXPECT_EQ(At(e, "/details/entrypoint"), "OAUTH_AUTHORIZE") << e;
    EXPECT_EQ(At(e, "/details/client_id"), kConsoleClient) << e;
    if (At(e, "/action") == "login") {
      EXPECT_EQ(At(e, "/actor/email"), email) << e;
    }
  }
}

}  // namespace
}  // namespace evident::integration
