// Evident's OAuth 2.0 authorization server (docs/oauth.md): clients, the authorization code grant
// with PKCE S256, rotating refresh tokens, client credentials, revocation and introspection. It
// decides and keeps state; HTTP, pages and the authentication log are the api module's business.
//
// Protocol failures are not util errors: they come back as an OAuthError (an RFC 6749 error code
// and a description) inside a successful Result, because the caller answers each in the protocol's
// own way. util errors mean the store failed (answered as server_error).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "evident/auth/access.h"
#include "evident/auth/identity_service.h"
#include "evident/core/clock.h"
#include "evident/storage/identity_store.h"
#include "evident/util/result.h"

namespace evident::auth {

// The built-in public client of Evident's own console.
inline constexpr std::string_view kConsoleClientId = "evident-console";
// Its one redirect URI, relative to the issuer.
inline constexpr std::string_view kConsoleRedirectPath = "/console/callback";

inline constexpr std::string_view kClientSecretPrefix = "ecs_";
inline constexpr std::string_view kCodePrefix = "eoc_";
inline constexpr std::string_view kAccessTokenPrefix = "eoa_";
inline constexpr std::string_view kRefreshTokenPrefix = "eor_";

struct OAuthOptions {
  int64_t code_ttl_ms = 60'000;
  int64_t access_token_ttl_ms = 15LL * 60 * 1000;
  int64_t flow_ttl_ms = 10LL * 60 * 1000;  // how long the login page waits for its form
  size_t max_pending_flows = 10'000;       // oldest forgotten first
};

struct OAuthError {
  std::string error;  // RFC 6749 code; empty: no error
  std::string description;
  explicit operator bool() const { return !error.empty(); }
};

struct NewClient {
  std::string name, type, tenant;
  std::vector<std::string> redirect_uris, grant_types, scopes;
};

struct IssuedClient {
  storage::OAuthClientRecord client;
  std::string secret;  // confidential clients: shown once
};

// A validated authorization request, waiting for its user.
struct AuthorizeRequest {
  std::string flow_id;
  storage::OAuthClientRecord client;
  std::string redirect_uri;  // resolved against the issuer
  bool redirect_uri_given = false;
  std::string state;
  std::vector<std::string> scopes;
  std::string code_challenge;
  std::string prompt;  // "", "login" or "none"
  util::UnixMillis started_at = 0;
};

// What /oauth/authorize does with a request: show an error page (the client or redirect URI
// cannot be trusted), redirect an error to the client, or go on.
struct AuthorizeCheck {
  enum class Next { kErrorPage, kRedirectError, kProceed };
  Next next = Next::kErrorPage;
  OAuthError error;
  AuthorizeRequest request;  // client and redirect_uri set unless kErrorPage
};

// The client's credentials as a token, revocation or introspection request presents them.
struct ClientCredentials {
  bool basic = false;  // an Authorization: Basic header was present
  std::string basic_id, basic_secret;
  std::optional<std::string> body_id, body_secret;
};

// The outcome of one token request. On error, `error` is set and, for the audit trail, `reason`
// says more (e.g. "code_reuse") and `revoked_session` names the session the error revoked.
struct TokenOutcome {
  OAuthError error;
  std::string reason;
  std::string grant_type;
  std::string flow_id;
  std::optional<storage::UserRecord> user;
  std::string tenant;  // where its audit events go (empty: unknown)
  std::string session_id;
  std::string revoked_session;  // a reuse revoked this session
  // Success.
  std::string access_token_id, access_token, refresh_token;
  int64_t expires_in = 0;  // seconds
  std::vector<std::string> scopes;
};

struct Introspection {
  bool active = false;
  std::string token_type;  // Bearer | refresh_token
  std::string jti, client_id, username, sub, sid, tenant;
  std::vector<std::string> scopes;
  util::UnixMillis iat = 0, exp = 0;
};

struct Revocation {
  std::string revoked_id;  // the credential or refresh token revoked now; empty: nothing
  std::string kind;        // "access_token" | "refresh_token"
  std::string session_id;
  std::optional<storage::UserRecord> user;
  std::string tenant;
};

// Thread-safe. Holds references to `store`, `identity` and `clock`, which must outlive it.
class OAuthServer {
 public:
  OAuthServer(storage::IdentityStore& store, IdentityService& identity, const core::Clock& clock,
              OAuthOptions options);
  OAuthServer(const OAuthServer&) = delete;
  OAuthServer& operator=(const OAuthServer&) = delete;

  // On every start: registers the built-in console client, owned by `owner_id` (the super
  // admin), unless it exists.
  util::Status EnsureConsoleClient(const std::string& owner_id);

  // The client registry (admins of the client's tenant, super admins). Errors as
  // IdentityService's: InvalidArgument naming the field, Forbidden, NotFound.
  util::Result<IssuedClient> CreateClient(const Principal& principal, const NewClient& client);
  util::Result<storage::OAuthClientPage> ListClients(const Principal& principal,
                                                     storage::OAuthClientQuery query);
  util::Result<storage::OAuthClientRecord> GetClient(const Principal& principal,
                                                     const std::string& id);
  // Answers the client as it is now and the credentials revoked with it.
  util::Result<std::pair<storage::OAuthClientRecord, std::vector<std::string>>> DisableClient(
      const Principal& principal, const std::string& id);

  // Checks an authorization request's parameters (each at most once). `issuer` resolves the
  // built-in client's relative redirect URI.
  util::Result<AuthorizeCheck> CheckAuthorize(
      const std::vector<std::pair<std::string, std::string>>& params, const std::string& issuer);
  // Keeps a checked request for the login page; gives it its flow_id when it has none.
  void RememberFlow(AuthorizeRequest& request);
  // The request waiting under `flow_id`, unless it expired or was never made.
  std::optional<AuthorizeRequest> FindFlow(const std::string& flow_id);
  void ForgetFlow(const std::string& flow_id);

  // Whether `user` may sign in to the request's client: access_denied for a user of another
  // tenant than the client's.
  OAuthError MayAuthorize(const AuthorizeRequest& request, const storage::UserRecord& user) const;
  // A code for `user`, valid for code_ttl_ms.
  util::Result<std::string> IssueCode(const AuthorizeRequest& request,
                                      const storage::UserRecord& user, const std::string& ip,
                                      const std::string& user_agent);

  // The client the credentials name, authenticated: invalid_client (or invalid_request for two
  // methods at once) otherwise. `client` is set whenever the client is known.
  util::Result<OAuthError> AuthenticateClient(const ClientCredentials& credentials,
                                              storage::OAuthClientRecord* client);

  // The token endpoint's grants, for an authenticated client.
  util::Result<TokenOutcome> ExchangeCode(const storage::OAuthClientRecord& client,
                                          const std::string& code,
                                          const std::optional<std::string>& redirect_uri,
                                          const std::string& code_verifier);
  util::Result<TokenOutcome> Refresh(const storage::OAuthClientRecord& client,
                                     const std::string& refresh_token,
                                     const std::optional<std::string>& scope);
  util::Result<TokenOutcome> ClientCredentialsGrant(const storage::OAuthClientRecord& client,
                                                    const std::optional<std::string>& scope);

  // RFC 7009: revokes `token` if it was issued to `client`.
  util::Result<Revocation> Revoke(const storage::OAuthClientRecord& client,
                                  const std::string& token);
  // RFC 7662, for a confidential client.
  util::Result<Introspection> Introspect(const storage::OAuthClientRecord& client,
                                         const std::string& token);

  // A user by id, without access checks: for showing a client's owner or a session's user.
  util::Result<storage::UserRecord> User(const std::string& id) { return store_.GetUser(id); }

  const OAuthOptions& options() const { return options_; }

 private:
  // Makes an access token (and with `refresh_family`, a refresh token) for `user`.
  util::Result<TokenOutcome> Issue(const storage::OAuthClientRecord& client,
                                   const storage::UserRecord& user, const std::string& tenant,
                                   const std::vector<std::string>& scopes,
                                   storage::OAuthGrant grant, const std::string& flow_id,
                                   bool with_refresh, util::UnixMillis session_expires_at);
  // Revokes session `id` after a reuse; fills `outcome`.
  util::Status RevokeForReuse(const std::string& id, const std::string& reason,
                              TokenOutcome& outcome);
  // Whether `principal` administers clients of `tenant`.
  bool Administers(const Principal& principal, const std::string& tenant) const;

  storage::IdentityStore& store_;
  IdentityService& identity_;
  const core::Clock& clock_;
  const OAuthOptions options_;

  std::mutex flows_mu_;
  std::map<std::string, AuthorizeRequest> flows_;  // guarded by flows_mu_
};

// The redirect URIs of `client` as absolute URIs: the built-in client's are relative to the
// issuer.
std::vector<std::string> ResolvedRedirects(const storage::OAuthClientRecord& client,
                                           const std::string& issuer);

// base64url(SHA-256(verifier)) without padding: RFC 7636's S256.
std::string S256Challenge(std::string_view verifier);

}  // namespace evident::auth
