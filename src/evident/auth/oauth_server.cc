#include "evident/auth/oauth_server.h"

#include <algorithm>

#include "evident/auth/secrets.h"
#include "evident/util/encoding.h"
#include "evident/util/strings.h"
#include "evident/util/uuid.h"

namespace evident::auth {

namespace {

using storage::OAuthClientRecord;
using storage::UserRecord;
using util::Error;
using util::Result;
using util::Status;

constexpr std::string_view kAuthorizationCode = "authorization_code";
constexpr std::string_view kRefreshToken = "refresh_token";
constexpr std::string_view kClientCredentials = "client_credentials";
constexpr size_t kMaxClientText = 200;
constexpr size_t kMaxRedirectUris = 20;
constexpr size_t kMaxUriLength = 2000;

bool Contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// RFC 7636 section 4.1: 43 to 128 characters of [A-Za-z0-9-._~]; a challenge has the same form.
bool IsPkceText(std::string_view text) {
  if (text.size() < 43 || text.size() > 128) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
  });
}

// A redirect URI a client may register: absolute https, or http on a loopback host (RFC 8252
// section 7.3), no fragment, no user info, nothing a space-separated list could not hold.
std::optional<std::string> RedirectUriProblem(std::string_view uri) {
  if (uri.empty() || uri.size() > kMaxUriLength) return "must be 1 to 2000 characters";
  for (const char c : uri) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return "must not contain spaces, control or non-ASCII characters";
    }
  }
  if (uri.find('#') != std::string_view::npos) return "must not contain a fragment";
  std::string_view rest;
  bool https = false;
  if (uri.starts_with("https://")) {
    https = true;
    rest = uri.substr(8);
  } else if (uri.starts_with("http://")) {
    rest = uri.substr(7);
  } else {
    return "must be an absolute https URI, or http on a loopback host";
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.empty()) return "has no host";
  if (authority.find('@') != std::string_view::npos) return "must not contain user information";
  if (!https) {
    std::string_view host = authority;
    if (host.starts_with("[")) {
      host = host.substr(0, host.find(']') + 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    if (host != "127.0.0.1" && host != "[::1]" && host != "localhost") {
      return "must use https unless its host is 127.0.0.1, [::1] or localhost";
    }
  }
  return std::nullopt;
}

// The value of a scope parameter as a list; empty text: the client's scopes. Empty result with
// `bad` set: a scope the client may not have.
std::vector<std::string> RequestedScopes(const std::optional<std::string>& text,
                                         const std::vector<std::string>& allowed,
                                         std::string* bad) {
  if (!text || util::Trim(*text).empty()) return allowed;
  std::vector<std::string> scopes;
  for (const std::string& scope : util::SplitList(*text, ' ')) {
    if (!Contains(allowed, scope)) {
      *bad = scope;
      return {};
    }
    if (!Contains(scopes, scope)) scopes.push_back(scope);
  }
  return scopes;
}

OAuthError Fail(std::string error, std::string description) {
  return OAuthError{.error = std::move(error), .description = std::move(description)};
}

}  // namespace

std::vector<std::string> ResolvedRedirects(const OAuthClientRecord& client,
                                           const std::string& issuer) {
  std::vector<std::string> uris;
  for (const std::string& uri : client.redirect_uris) {
    uris.push_back(uri.starts_with("/") ? issuer + uri : uri);
  }
  return uris;
}

std::string S256Challenge(std::string_view verifier) {
  return util::Base64Encode(SecretHash(verifier), util::Base64Variant::kUrlNoPadding);
}

OAuthServer::OAuthServer(storage::IdentityStore& store, IdentityService& identity,
                         const core::Clock& clock, OAuthOptions options)
    : store_(store), identity_(identity), clock_(clock), options_(options) {}

Status OAuthServer::EnsureConsoleClient(const std::string& owner_id) {
  auto existing = store_.GetClient(std::string(kConsoleClientId));
  if (existing) return {};
  if (existing.error().code() != util::ErrorCode::kNotFound) return existing.error();
  const util::UnixMillis now = clock_.NowMillis();
  Status created = store_.CreateClient(OAuthClientRecord{
      .id = std::string(kConsoleClientId),
      .name = "Evident console",
      .type = "public",
      .secret_hash = {},
      .redirect_uris = {std::string(kConsoleRedirectPath)},
      .grant_types = {std::string(kAuthorizationCode), std::string(kRefreshToken)},
      .scopes = ScopeNames(kAllScopes),
      .tenant = {},
      .status = "active",
      .created_by = owner_id,
      .created_at = now,
      .updated_at = now});
  if (!created && created.error().code() == util::ErrorCode::kConflict) return {};
  return created;
}

bool OAuthServer::Administers(const Principal& principal, const std::string& tenant) const {
  if (!principal.Can(kAdminScope) || !principal.assumed_by_id.empty()) return false;
  if (principal.role == Role::kViewer) return false;
  return principal.Unbound() || principal.tenant == tenant;
}

Result<IssuedClient> OAuthServer::CreateClient(const Principal& principal, const NewClient& in) {
  if (!principal.Can(kAdminScope) || principal.role == Role::kViewer) {
    return Error(util::ErrorCode::kForbidden,
                 "registering OAuth clients needs an admin role or the admin scope");
  }
  if (!principal.assumed_by_id.empty()) {
    return Error(util::ErrorCode::kForbidden, "an assumed identity cannot register OAuth clients");
  }
  std::string tenant = in.tenant;
  if (tenant.empty()) tenant = principal.tenant;
  if (tenant.empty()) return Error::InvalidArgument("tenant: is required for a super admin");
  if (!principal.MayAccessTenant(tenant)) {
    return Error(util::ErrorCode::kForbidden,
                 "you may not register clients for tenant '" + tenant + "'");
  }
  EVIDENT_ASSIGN_OR_RETURN(bool exists, identity_.TenantExists(tenant));
  if (!exists) return Error::InvalidArgument("tenant: no tenant '" + tenant + "'");
  const std::string name(util::Trim(in.name));
  if (name.empty() || name.size() > kMaxClientText || !util::IsValidUtf8(name)) {
    return Error::InvalidArgument("name: is required, at most 200 bytes of UTF-8");
  }
  if (in.type != "public" && in.type != "confidential") {
    return Error::InvalidArgument("type: must be 'public' or 'confidential'");
  }
  std::vector<std::string> grants = in.grant_types;
  if (grants.empty()) grants = {std::string(kAuthorizationCode), std::string(kRefreshToken)};
  std::vector<std::string> unique_grants;
  for (const std::string& grant : grants) {
    if (grant != kAuthorizationCode && grant != kRefreshToken && grant != kClientCredentials) {
      return Error::InvalidArgument("grant_types: unknown grant '" + grant +
                                    "'; use authorization_code, refresh_token, "
                                    "client_credentials");
    }
    if (!Contains(unique_grants, grant)) unique_grants.push_back(grant);
  }
  const bool code_grant = Contains(unique_grants, kAuthorizationCode);
  if (Contains(unique_grants, kClientCredentials) && in.type != "confidential") {
    return Error::InvalidArgument("grant_types: client_credentials needs a confidential client");
  }
  if (Contains(unique_grants, kRefreshToken) && !code_grant) {
    return Error::InvalidArgument("grant_types: refresh_token needs authorization_code");
  }
  if (code_grant && in.redirect_uris.empty()) {
    return Error::InvalidArgument("redirect_uris: authorization_code needs at least one");
  }
  if (!code_grant && !in.redirect_uris.empty()) {
    return Error::InvalidArgument("redirect_uris: only for the authorization_code grant");
  }
  if (in.redirect_uris.size() > kMaxRedirectUris) {
    return Error::InvalidArgument("redirect_uris: at most 20");
  }
  std::vector<std::string> uris;
  for (const std::string& uri : in.redirect_uris) {
    if (auto problem = RedirectUriProblem(uri)) {
      return Error::InvalidArgument("redirect_uris: '" + uri + "' " + *problem);
    }
    if (!Contains(uris, uri)) uris.push_back(uri);
  }
  std::vector<std::string> scopes = in.scopes;
  if (scopes.empty()) scopes = ScopeNames(kAllScopes);
  {
    auto parsed = ParseScopes(scopes);
    if (!parsed) return Error::InvalidArgument("scopes: " + parsed.error().message());
    scopes = ScopeNames(*parsed);
  }

  const util::UnixMillis now = clock_.NowMillis();
  IssuedClient issued;
  issued.client = OAuthClientRecord{.id = util::NewUuidV7(now),
                                    .name = name,
                                    .type = in.type,
                                    .secret_hash = {},
                                    .redirect_uris = std::move(uris),
                                    .grant_types = std::move(unique_grants),
                                    .scopes = std::move(scopes),
                                    .tenant = tenant,
                                    .status = "active",
                                    .created_by = principal.user_id,
                                    .created_at = now,
                                    .updated_at = now};
  if (in.type == "confidential") {
    NewSecret secret = MakeSecret(kClientSecretPrefix);
    issued.client.secret_hash = std::move(secret.hash);
    issued.secret = std::move(secret.secret);
  }
  EVIDENT_RETURN_IF_ERROR(store_.CreateClient(issued.client));
  return issued;
}

Result<storage::OAuthClientPage> OAuthServer::ListClients(const Principal& principal,
                                                          storage::OAuthClientQuery query) {
  if (!principal.Can(kAdminScope) || principal.role == Role::kViewer) {
    return Error(util::ErrorCode::kForbidden,
                 "listing OAuth clients needs an admin role or the admin scope");
  }
  if (!principal.Unbound()) {
    if (!query.tenant.empty() && query.tenant != principal.tenant) {
      return Error(util::ErrorCode::kForbidden,
                   "you may not list clients of tenant '" + query.tenant + "'");
    }
    query.tenant = principal.tenant;
  }
  EVIDENT_ASSIGN_OR_RETURN(storage::OAuthClientPage page, store_.ListClients(query));
  // A tenant's admins see the built-in client too: their users sign in with it.
  if (!principal.Unbound() && !query.after) {
    auto console = store_.GetClient(std::string(kConsoleClientId));
    if (console) {
      page.items.insert(page.items.begin(), *console);
      ++page.total;
    }
  }
  return page;
}

Result<OAuthClientRecord> OAuthServer::GetClient(const Principal& principal,
                                                 const std::string& id) {
  if (!principal.Can(kAdminScope) || principal.role == Role::kViewer) {
    return Error(util::ErrorCode::kForbidden,
                 "reading OAuth clients needs an admin role or the admin scope");
  }
  auto client = store_.GetClient(id);
  if (!client) return client.error();
  if (!client->tenant.empty() && !principal.MayAccessTenant(client->tenant)) {
    return Error::NotFound("no client '" + id + "'");
  }
  return client;
}

Result<std::pair<OAuthClientRecord, std::vector<std::string>>> OAuthServer::DisableClient(
    const Principal& principal, const std::string& id) {
  EVIDENT_ASSIGN_OR_RETURN(OAuthClientRecord client, GetClient(principal, id));
  if (client.tenant.empty() ? !principal.Unbound() : !Administers(principal, client.tenant)) {
    return Error(util::ErrorCode::kForbidden, "you may not disable client '" + id + "'");
  }
  EVIDENT_ASSIGN_OR_RETURN(std::vector<std::string> revoked,
                           store_.DisableClient(id, clock_.NowMillis()));
  EVIDENT_ASSIGN_OR_RETURN(client, store_.GetClient(id));
  return std::make_pair(std::move(client), std::move(revoked));
}

Result<AuthorizeCheck> OAuthServer::CheckAuthorize(
    const std::vector<std::pair<std::string, std::string>>& params, const std::string& issuer) {
  AuthorizeCheck check;
  std::map<std::string, std::string, std::less<>> values;
  std::string repeated;
  for (const auto& [key, value] : params) {
    if (!values.emplace(key, value).second && repeated.empty()) repeated = key;
  }
  const auto get = [&](std::string_view key) -> std::string {
    const auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
  };
  // First what decides whether a redirect can be trusted (RFC 6749 section 4.1.2.1).
  const std::string client_id = get("client_id");
  if (repeated == "client_id" || repeated == "redirect_uri") {
    check.error = Fail("invalid_request", "the parameter " + repeated + " is repeated");
    return check;
  }
  if (client_id.empty()) {
    check.error = Fail("invalid_request", "client_id is missing");
    return check;
  }
  auto client = store_.GetClient(client_id);
  if (!client) {
    if (client.error().code() != util::ErrorCode::kNotFound) return client.error();
    check.error = Fail("invalid_client", "no client '" + client_id + "' is registered");
    return check;
  }
  if (client->status != "active") {
    check.error = Fail("invalid_client", "the client '" + client_id + "' is disabled");
    check.request.client = *client;
    return check;
  }
  check.request.client = *client;
  const std::vector<std::string> allowed = ResolvedRedirects(*client, issuer);
  const std::string redirect_uri = get("redirect_uri");
  if (redirect_uri.empty()) {
    if (allowed.size() != 1) {
      check.error = Fail("invalid_request",
                         "redirect_uri is missing and the client has more than one registered");
      return check;
    }
    check.request.redirect_uri = allowed.front();
  } else if (!Contains(allowed, redirect_uri)) {
    check.error = Fail("invalid_request",
                       "redirect_uri is not registered for this client (exact match required)");
    return check;
  } else {
    check.request.redirect_uri = redirect_uri;
    check.request.redirect_uri_given = true;
  }

  // From here errors go back to the client.
  check.next = AuthorizeCheck::Next::kRedirectError;
  check.request.state = get("state");
  const auto fail = [&](std::string error, std::string description) {
    check.error = Fail(std::move(error), std::move(description));
    return check;
  };
  if (!repeated.empty())
    return fail("invalid_request", "the parameter " + repeated + " is repeated");
  const std::string response_type = get("response_type");
  if (response_type.empty()) return fail("invalid_request", "response_type is missing");
  if (response_type != "code") {
    return fail("unsupported_response_type", "only response_type=code is supported");
  }
  if (!Contains(client->grant_types, kAuthorizationCode)) {
    return fail("unauthorized_client", "this client may not use the authorization code grant");
  }
  const std::string challenge = get("code_challenge");
  if (challenge.empty()) return fail("invalid_request", "code_challenge is required (PKCE)");
  const std::string method = get("code_challenge_method");
  if (method != "S256") {
    return fail("invalid_request", "code_challenge_method must be S256");
  }
  if (!IsPkceText(challenge)) {
    return fail("invalid_request",
                "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]");
  }
  std::string bad;
  const auto scope_it = values.find("scope");
  check.request.scopes = RequestedScopes(
      scope_it == values.end() ? std::nullopt : std::optional<std::string>(scope_it->second),
      client->scopes, &bad);
  if (!bad.empty()) return fail("invalid_scope", "the scope '" + bad + "' is not allowed");
  const std::string prompt = get("prompt");
  if (!prompt.empty() && prompt != "login" && prompt != "none") {
    return fail("invalid_request", "prompt must be 'login' or 'none'");
  }
  check.request.prompt = prompt;
  check.request.code_challenge = challenge;
  check.request.started_at = clock_.NowMillis();
  check.request.flow_id = util::NewUuidV7(check.request.started_at);
  check.error = {};
  check.next = AuthorizeCheck::Next::kProceed;
  return check;
}

void OAuthServer::RememberFlow(AuthorizeRequest& request) {
  if (request.flow_id.empty()) request.flow_id = util::NewUuidV7(clock_.NowMillis());
  const util::UnixMillis now = clock_.NowMillis();
  std::lock_guard lock(flows_mu_);
  // Flow ids are UUIDv7: the map's order is their age, so the oldest go first.
  while (!flows_.empty() && (flows_.size() >= options_.max_pending_flows ||
                             flows_.begin()->second.started_at + options_.flow_ttl_ms <= now)) {
    flows_.erase(flows_.begin());
  }
  flows_[request.flow_id] = request;
}

std::optional<AuthorizeRequest> OAuthServer::FindFlow(const std::string& flow_id) {
  std::lock_guard lock(flows_mu_);
  const auto it = flows_.find(flow_id);
  if (it == flows_.end()) return std::nullopt;
  if (it->second.started_at + options_.flow_ttl_ms <= clock_.NowMillis()) {
    flows_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void OAuthServer::ForgetFlow(const std::string& flow_id) {
  std::lock_guard lock(flows_mu_);
  flows_.erase(flow_id);
}

OAuthError OAuthServer::MayAuthorize(const AuthorizeRequest& request,
                                     const UserRecord& user) const {
  if (user.status != "active") return Fail("access_denied", "the user is disabled");
  const std::string& tenant = request.client.tenant;
  if (tenant.empty() || user.role == ToString(Role::kSuperAdmin) || user.tenant == tenant) {
    return {};
  }
  return Fail("access_denied", "this client belongs to another tenant");
}

Result<std::string> OAuthServer::IssueCode(const AuthorizeRequest& request, const UserRecord& user,
                                           const std::string& ip, const std::string& user_agent) {
  const util::UnixMillis now = clock_.NowMillis();
  NewSecret code = MakeSecret(kCodePrefix);
  EVIDENT_RETURN_IF_ERROR(store_.CreateCode(storage::OAuthCodeRecord{
      .code_hash = code.hash,
      .client_id = request.client.id,
      .user_id = user.id,
      .tenant = request.client.tenant.empty() ? user.tenant : request.client.tenant,
      .redirect_uri = request.redirect_uri,
      .redirect_uri_given = request.redirect_uri_given,
      .scopes = request.scopes,
      .code_challenge = request.code_challenge,
      .flow_id = request.flow_id,
      .ip = ip,
      .user_agent = user_agent.substr(0, 1024),
      .created_at = now,
      .expires_at = now + options_.code_ttl_ms,
      .used_at = 0,
      .session_id = {}}));
  return code.secret;
}

Result<OAuthError> OAuthServer::AuthenticateClient(const ClientCredentials& credentials,
                                                   OAuthClientRecord* client) {
  if (credentials.basic && credentials.body_secret) {
    return Fail("invalid_request", "use one client authentication method, not two");
  }
  std::string id;
  std::optional<std::string> secret;
  if (credentials.basic) {
    id = credentials.basic_id;
    secret = credentials.basic_secret;
    if (credentials.body_id && *credentials.body_id != id) {
      return Fail("invalid_request", "client_id differs from the authenticated client");
    }
  } else {
    if (!credentials.body_id || credentials.body_id->empty()) {
      return Fail("invalid_client", "client authentication is required");
    }
    id = *credentials.body_id;
    secret = credentials.body_secret;
  }
  auto found = store_.GetClient(id);
  if (!found) {
    if (found.error().code() != util::ErrorCode::kNotFound) return found.error();
    // The same work as a wrong secret, so that client ids cannot be told apart by timing.
    (void)SameHash(SecretHash(secret.value_or("")), std::string(32, '\0'));
    return Fail("invalid_client", "client authentication failed");
  }
  *client = *found;
  if (found->type == "confidential") {
    if (!secret || !SameHash(SecretHash(*secret), found->secret_hash)) {
      return Fail("invalid_client", "client authentication failed");
    }
  } else if (secret) {
    return Fail("invalid_client", "a public client has no secret");
  }
  if (found->status != "active") return Fail("invalid_client", "the client is disabled");
  return OAuthError{};
}

Result<TokenOutcome> OAuthServer::Issue(const OAuthClientRecord& client, const UserRecord& user,
                                        const std::string& tenant,
                                        const std::vector<std::string>& scopes,
                                        storage::OAuthGrant grant, const std::string& flow_id,
                                        bool with_refresh, util::UnixMillis session_expires_at) {
  const util::UnixMillis now = clock_.NowMillis();
  TokenOutcome outcome;
  outcome.flow_id = flow_id;
  outcome.user = user;
  outcome.tenant = tenant;
  outcome.scopes = scopes;
  const std::string session_id = grant.session ? grant.session->id : grant.access.session_id;
  outcome.session_id = session_id;
  util::UnixMillis expires_at = now + options_.access_token_ttl_ms;
  if (session_expires_at != 0) expires_at = std::min(expires_at, session_expires_at);
  NewSecret access = MakeSecret(kAccessTokenPrefix);
  grant.access = storage::CredentialRecord{.id = util::NewUuidV7(now),
                                           .kind = "oauth",
                                           .name = client.name,
                                           .user_id = user.id,
                                           .tenant = tenant,
                                           .scopes = scopes,
                                           .secret_hash = access.hash,
                                           .created_at = now,
                                           .expires_at = expires_at,
                                           .revoked_at = 0,
                                           .revoked_reason = {},
                                           .last_used_at = 0,
                                           .last_used_ip = {},
                                           .idle_timeout_ms = 0,
                                           .ip = {},
                                           .user_agent = {},
                                           .assumed_by = {},
                                           .assume_reason = {},
                                           .client_id = client.id,
                                           .session_id = session_id};
  NewSecret refresh;
  if (with_refresh) {
    refresh = MakeSecret(kRefreshTokenPrefix);
    grant.refresh = storage::RefreshTokenRecord{.id = util::NewUuidV7(now),
                                                .secret_hash = refresh.hash,
                                                .session_id = session_id,
                                                .client_id = client.id,
                                                .scopes = scopes,
                                                .flow_id = flow_id,
                                                .created_at = now,
                                                .expires_at = session_expires_at,
                                                .used_at = 0,
                                                .revoked_at = 0};
  }
  outcome.access_token_id = grant.access.id;
  EVIDENT_RETURN_IF_ERROR(store_.StoreGrant(grant));
  outcome.access_token = std::move(access.secret);
  outcome.refresh_token = std::move(refresh.secret);
  outcome.expires_in = (expires_at - now) / 1000;
  return outcome;
}

Status OAuthServer::RevokeForReuse(const std::string& id, const std::string& reason,
                                   TokenOutcome& outcome) {
  outcome.reason = reason;
  if (id.empty()) return {};
  EVIDENT_ASSIGN_OR_RETURN(bool revoked, store_.Revoke(id, clock_.NowMillis(), reason));
  if (revoked) outcome.revoked_session = id;
  return {};
}

Result<TokenOutcome> OAuthServer::ExchangeCode(const OAuthClientRecord& client,
                                               const std::string& code,
                                               const std::optional<std::string>& redirect_uri,
                                               const std::string& code_verifier) {
  TokenOutcome outcome;
  outcome.grant_type = kAuthorizationCode;
  outcome.tenant = client.tenant;
  const auto fail = [&](std::string error, std::string description) {
    outcome.error = Fail(std::move(error), std::move(description));
    return outcome;
  };
  if (!Contains(client.grant_types, kAuthorizationCode)) {
    return fail("unauthorized_client", "this client may not use the authorization code grant");
  }
  if (code.empty()) return fail("invalid_request", "code is missing");
  if (code_verifier.empty()) return fail("invalid_request", "code_verifier is missing (PKCE)");
  const util::UnixMillis now = clock_.NowMillis();
  auto found = store_.UseCode(SecretHash(code), client.id, now);
  if (!found) {
    if (found.error().code() != util::ErrorCode::kNotFound) return found.error();
    return fail("invalid_grant", "the code is not valid");
  }
  outcome.flow_id = found->flow_id;
  if (!found->tenant.empty()) outcome.tenant = found->tenant;
  auto user = store_.GetUser(found->user_id);
  if (user) outcome.user = *user;
  if (found->client_id != client.id) {
    // Another client's code: not this client's to spend (UseCode left it alone), nor to revoke.
    return fail("invalid_grant", "the code was issued to another client");
  }
  if (found->used_at != 0) {
    // A replayed code may mean a stolen one: what it gave stops working (RFC 6749 4.1.2).
    EVIDENT_RETURN_IF_ERROR(RevokeForReuse(found->session_id, "code_reuse", outcome));
    return fail("invalid_grant", "the code was already used");
  }
  if (now >= found->expires_at) return fail("invalid_grant", "the code has expired");
  if (found->redirect_uri_given ? redirect_uri != found->redirect_uri
                                : (redirect_uri && *redirect_uri != found->redirect_uri)) {
    return fail("invalid_grant", "redirect_uri differs from the authorization request's");
  }
  if (!IsPkceText(code_verifier) ||
      !SameHash(S256Challenge(code_verifier), found->code_challenge)) {
    return fail("invalid_grant", "the code_verifier does not match the code_challenge");
  }
  if (!user) {
    if (user.error().code() != util::ErrorCode::kNotFound) return user.error();
    return fail("invalid_grant", "the user no longer exists");
  }
  if (user->status != "active") return fail("invalid_grant", "the user is disabled");

  const IdentityOptions& identity = identity_.options();
  storage::OAuthGrant grant;
  grant.code_hash = found->code_hash;
  grant.session = storage::CredentialRecord{
      .id = util::NewUuidV7(now),
      .kind = "session",
      .name = "OAuth: " + client.name,
      .user_id = user->id,
      .tenant = found->tenant,
      .scopes = {},
      // Nobody holds this session's own secret: it is used through its tokens only.
      .secret_hash = MakeSecret(kSessionTokenPrefix).hash,
      .created_at = now,
      .expires_at = now + identity.session_ttl_ms,
      .revoked_at = 0,
      .revoked_reason = {},
      .last_used_at = now,
      .last_used_ip = found->ip,
      .idle_timeout_ms = identity.session_idle_ms,
      .ip = found->ip,
      .user_agent = found->user_agent,
      .assumed_by = {},
      .assume_reason = {},
      .client_id = client.id,
      .session_id = {}};
  const util::UnixMillis session_expires = grant.session->expires_at;
  EVIDENT_ASSIGN_OR_RETURN(
      TokenOutcome issued,
      Issue(client, *user, found->tenant, found->scopes, std::move(grant), found->flow_id,
            Contains(client.grant_types, kRefreshToken), session_expires));
  issued.grant_type = kAuthorizationCode;
  return issued;
}

Result<TokenOutcome> OAuthServer::Refresh(const OAuthClientRecord& client,
                                          const std::string& refresh_token,
                                          const std::optional<std::string>& scope) {
  TokenOutcome outcome;
  outcome.grant_type = kRefreshToken;
  outcome.tenant = client.tenant;
  const auto fail = [&](std::string error, std::string description) {
    outcome.error = Fail(std::move(error), std::move(description));
    return outcome;
  };
  if (!Contains(client.grant_types, kRefreshToken)) {
    return fail("unauthorized_client", "this client may not use refresh tokens");
  }
  if (refresh_token.empty()) return fail("invalid_request", "refresh_token is missing");
  auto found = store_.FindRefreshToken(SecretHash(refresh_token));
  if (!found) {
    if (found.error().code() != util::ErrorCode::kNotFound) return found.error();
    return fail("invalid_grant", "the refresh token is not valid");
  }
  if (found->client_id != client.id) {
    return fail("invalid_grant", "the refresh token was issued to another client");
  }
  outcome.flow_id = found->flow_id;
  outcome.session_id = found->session_id;
  auto session = store_.GetCredential(found->session_id);
  if (!session) {
    if (session.error().code() != util::ErrorCode::kNotFound) return session.error();
    return fail("invalid_grant", "the refresh token's session is gone");
  }
  outcome.user = session->user;
  outcome.tenant = session->credential.tenant;
  if (found->used_at != 0) {
    // A spent refresh token presented again: one of its two holders is not its owner
    // (OAuth 2.0 Security BCP, section 4.14.2). The whole family goes.
    EVIDENT_RETURN_IF_ERROR(RevokeForReuse(found->session_id, "refresh_token_reuse", outcome));
    return fail("invalid_grant", "the refresh token was already used");
  }
  const util::UnixMillis now = clock_.NowMillis();
  if (found->revoked_at != 0) return fail("invalid_grant", "the refresh token was revoked");
  if (session->credential.StatusAt(now) != "active") {
    return fail("invalid_grant", "the session has ended");
  }
  if (session->user.status != "active") return fail("invalid_grant", "the user is disabled");
  std::string bad;
  std::vector<std::string> scopes = RequestedScopes(scope, found->scopes, &bad);
  if (!bad.empty()) {
    return fail("invalid_scope", "the scope '" + bad + "' was not granted originally");
  }
  EVIDENT_RETURN_IF_ERROR(store_.RecordUse(found->session_id, now, session->credential.ip));
  storage::OAuthGrant grant;
  grant.spent_refresh = found->id;
  grant.access.session_id = found->session_id;
  auto issued = Issue(client, session->user, session->credential.tenant, scopes, std::move(grant),
                      found->flow_id, true, session->credential.expires_at);
  if (!issued && issued.error().code() == util::ErrorCode::kConflict) {
    // A concurrent request rotated it first: this one is the replay.
    EVIDENT_RETURN_IF_ERROR(RevokeForReuse(found->session_id, "refresh_token_reuse", outcome));
    return fail("invalid_grant", "the refresh token was already used");
  }
  if (!issued) return issued.error();
  issued->grant_type = kRefreshToken;
  return issued;
}

Result<TokenOutcome> OAuthServer::ClientCredentialsGrant(const OAuthClientRecord& client,
                                                         const std::optional<std::string>& scope) {
  TokenOutcome outcome;
  outcome.grant_type = kClientCredentials;
  outcome.tenant = client.tenant;
  outcome.flow_id = util::NewUuidV7(clock_.NowMillis());
  const auto fail = [&](std::string error, std::string description) {
    outcome.error = Fail(std::move(error), std::move(description));
    return outcome;
  };
  if (client.type != "confidential" || !Contains(client.grant_types, kClientCredentials)) {
    return fail("unauthorized_client", "this client may not use the client credentials grant");
  }
  std::string bad;
  std::vector<std::string> scopes = RequestedScopes(scope, client.scopes, &bad);
  if (!bad.empty()) return fail("invalid_scope", "the scope '" + bad + "' is not allowed");
  auto owner = store_.GetUser(client.created_by);
  if (!owner) {
    if (owner.error().code() != util::ErrorCode::kNotFound) return owner.error();
    return fail("invalid_grant", "the client's owner no longer exists");
  }
  outcome.user = *owner;
  if (owner->status != "active") return fail("invalid_grant", "the client's owner is disabled");
  EVIDENT_ASSIGN_OR_RETURN(TokenOutcome issued,
                           Issue(client, *owner, client.tenant, scopes, storage::OAuthGrant{},
                                 outcome.flow_id, false, 0));
  issued.grant_type = kClientCredentials;
  return issued;
}

Result<Revocation> OAuthServer::Revoke(const OAuthClientRecord& client, const std::string& token) {
  Revocation revocation;
  revocation.tenant = client.tenant;
  const util::UnixMillis now = clock_.NowMillis();
  const std::string hash = SecretHash(token);
  auto refresh = store_.FindRefreshToken(hash);
  if (refresh) {
    if (refresh->client_id != client.id) return revocation;
    revocation.kind = "refresh_token";
    revocation.session_id = refresh->session_id;
    auto session = store_.GetCredential(refresh->session_id);
    if (session) {
      revocation.user = session->user;
      revocation.tenant = session->credential.tenant;
    }
    // RFC 7009 section 2.1: revoking a refresh token ends its grant, access tokens included
    // (revoking the session revokes every token issued in it).
    EVIDENT_ASSIGN_OR_RETURN(bool revoked, store_.Revoke(refresh->session_id, now, "revoke"));
    if (revoked) revocation.revoked_id = refresh->session_id;
    return revocation;
  }
  if (refresh.error().code() != util::ErrorCode::kNotFound) return refresh.error();
  auto access = store_.FindCredentialBySecret(hash);
  if (!access) {
    if (access.error().code() != util::ErrorCode::kNotFound) return access.error();
    return revocation;
  }
  if (access->credential.kind != "oauth" || access->credential.client_id != client.id) {
    return revocation;
  }
  revocation.kind = "access_token";
  revocation.session_id = access->credential.session_id;
  revocation.user = access->user;
  revocation.tenant = access->credential.tenant;
  EVIDENT_ASSIGN_OR_RETURN(bool revoked, store_.Revoke(access->credential.id, now, "revoke"));
  if (revoked) revocation.revoked_id = access->credential.id;
  return revocation;
}

Result<Introspection> OAuthServer::Introspect(const OAuthClientRecord& client,
                                              const std::string& token) {
  Introspection answer;
  const util::UnixMillis now = clock_.NowMillis();
  const std::string hash = SecretHash(token);
  // Whether the client may learn about a token of `tenant` owned by `user`.
  const auto in_reach = [&](const std::string& tenant, const UserRecord& user) {
    if (client.tenant.empty()) return true;
    return (tenant.empty() ? user.tenant : tenant) == client.tenant;
  };
  const auto session_active = [&](const std::string& id) -> Result<bool> {
    if (id.empty()) return true;
    auto session = store_.GetCredential(id);
    if (!session) {
      if (session.error().code() == util::ErrorCode::kNotFound) return false;
      return session.error();
    }
    return session->credential.StatusAt(now) == "active";
  };
  auto refresh = store_.FindRefreshToken(hash);
  if (refresh) {
    auto session = store_.GetCredential(refresh->session_id);
    if (!session) {
      if (session.error().code() != util::ErrorCode::kNotFound) return session.error();
      return answer;
    }
    if (refresh->used_at != 0 || refresh->revoked_at != 0 ||
        (refresh->expires_at != 0 && now >= refresh->expires_at) ||
        session->credential.StatusAt(now) != "active" || session->user.status != "active" ||
        !in_reach(session->credential.tenant, session->user)) {
      return answer;
    }
    answer = Introspection{.active = true,
                           .token_type = "refresh_token",
                           .jti = refresh->id,
                           .client_id = refresh->client_id,
                           .username = session->user.email,
                           .sub = session->user.id,
                           .sid = refresh->session_id,
                           .tenant = session->credential.tenant,
                           .scopes = refresh->scopes,
                           .iat = refresh->created_at,
                           .exp = refresh->expires_at};
    return answer;
  }
  if (refresh.error().code() != util::ErrorCode::kNotFound) return refresh.error();
  auto access = store_.FindCredentialBySecret(hash);
  if (!access) {
    if (access.error().code() != util::ErrorCode::kNotFound) return access.error();
    return answer;
  }
  const storage::CredentialRecord& c = access->credential;
  if (c.kind != "oauth" || c.StatusAt(now) != "active" || access->user.status != "active" ||
      !in_reach(c.tenant, access->user)) {
    return answer;
  }
  EVIDENT_ASSIGN_OR_RETURN(bool live, session_active(c.session_id));
  if (!live) return answer;
  answer = Introspection{.active = true,
                         .token_type = "Bearer",
                         .jti = c.id,
                         .client_id = c.client_id,
                         .username = access->user.email,
                         .sub = access->user.id,
                         .sid = c.session_id,
                         .tenant = c.tenant,
                         .scopes = c.scopes,
                         .iat = c.created_at,
                         .exp = c.expires_at};
  return answer;
}

}  // namespace evident::auth
