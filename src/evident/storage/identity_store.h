// The IdentityStore: tenants, users and credentials (API tokens and sessions), the state behind
// Evident's access control (docs/identity.md). Unlike events, these rows change: a session's last
// activity moves, a token is deactivated, a user is disabled. No row is ever deleted by hand;
// retention alone may remove old credentials.
//
// Secrets never reach the store: passwords arrive as argon2id strings and tokens as SHA-256
// hashes (auth/secrets.h). Roles, statuses, kinds and scopes are stored as the names the API
// uses; the auth module validates them before they get here.
//
// Backend: storage/sqlite (DATA/identity.db).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "evident/util/result.h"
#include "evident/util/time.h"

namespace evident::storage {

struct TenantRecord {
  std::string id;
  std::string name;
  util::UnixMillis created_at = 0;
  bool operator==(const TenantRecord&) const = default;
};

struct UserRecord {
  std::string id;     // UUIDv7
  std::string email;  // unique, compared case-insensitively (ASCII)
  std::string name;
  std::string role;           // super_admin | admin | viewer
  std::string tenant;         // empty for super admins
  std::string status;         // active | disabled
  std::string password_hash;  // argon2id encoded string; empty: no password login
  util::UnixMillis created_at = 0;
  util::UnixMillis updated_at = 0;
  bool operator==(const UserRecord&) const = default;
};

// An API token, a session token or (later) an OAuth token: one row of the tokens log.
struct CredentialRecord {
  std::string id;    // public identifier (UUIDv7); never the secret
  std::string kind;  // api | session | oauth
  std::string name;
  std::string user_id;
  std::string tenant;               // the tenant it is bound to; empty: all (super admins only)
  std::vector<std::string> scopes;  // api tokens; empty for sessions (the role decides)
  std::string secret_hash;          // SHA-256 of the secret, 32 raw bytes
  util::UnixMillis created_at = 0;
  util::UnixMillis expires_at = 0;    // 0: never
  util::UnixMillis revoked_at = 0;    // 0: not revoked (deactivated, revoked or logged out)
  std::string revoked_reason;         // logout | revoke | deactivate | user_disabled | ...
  util::UnixMillis last_used_at = 0;  // kept to the minute
  std::string last_used_ip;
  // Sessions only.
  int64_t idle_timeout_ms = 0;  // 0: no idle expiry
  std::string ip;               // where it was created
  std::string user_agent;
  std::string assumed_by;  // user id of the super admin acting as `user_id`
  std::string assume_reason;
  // OAuth: the client a session or access token was issued to, and the session an access token
  // belongs to (revoking the session revokes it).
  std::string client_id;
  std::string session_id;
  bool operator==(const CredentialRecord&) const = default;

  // revoked | expired | active at `now` (idle expiry counts from last_used_at, or created_at).
  std::string_view StatusAt(util::UnixMillis now) const {
    if (revoked_at != 0) return "revoked";
    if (expires_at != 0 && now >= expires_at) return "expired";
    if (idle_timeout_ms > 0 && now >= std::max(last_used_at, created_at) + idle_timeout_ms) {
      return "expired";
    }
    return "active";
  }
};

// A credential with its owner, as the tokens log and the sessions list show it.
struct CredentialWithUser {
  CredentialRecord credential;
  UserRecord user;
};

// Which credentials to list. Empty lists and strings mean "any".
struct CredentialQuery {
  std::vector<std::string> kinds;
  std::vector<std::string> statuses;  // active | expired | revoked, judged at `now`
  std::vector<std::string> tenants;   // credential's tenant or, unbound, its owner's
  std::string user;                   // owner's id, or email (case-insensitive)
  std::string assumed_by;             // only credentials of sessions assumed by this user id
  std::string q;                      // substring of name, id, owner's email or name, ip
  util::UnixMillis now = 0;
  // Keyset: strictly older than (created_at, id), newest first.
  std::optional<std::pair<util::UnixMillis, std::string>> after;
  size_t limit = 20;
};

struct CredentialPage {
  std::vector<CredentialWithUser> items;
  bool more = false;   // another page follows the last item
  uint64_t total = 0;  // every credential matching the query, all pages
};

struct UserQuery {
  std::string tenant;  // empty: every user
  std::string q;       // substring of email or name
  std::optional<std::pair<util::UnixMillis, std::string>> after;
  size_t limit = 20;
};

struct UserPage {
  std::vector<UserRecord> items;
  bool more = false;
  uint64_t total = 0;
};

// An OAuth client (docs/oauth.md). Lists are stored space-separated: none of their items may
// hold a space (the auth module validates them).
struct OAuthClientRecord {
  std::string id;
  std::string name;
  std::string type;         // public | confidential
  std::string secret_hash;  // confidential: SHA-256 of the secret; empty for public clients
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types;
  std::vector<std::string> scopes;
  std::string tenant;      // bound tenant; empty: every tenant (the built-in console client)
  std::string status;      // active | disabled
  std::string created_by;  // the owner's user id
  util::UnixMillis created_at = 0;
  util::UnixMillis updated_at = 0;
  bool operator==(const OAuthClientRecord&) const = default;
};

struct OAuthClientQuery {
  std::string tenant;  // empty: every client
  std::optional<std::pair<util::UnixMillis, std::string>> after;
  size_t limit = 20;
};

struct OAuthClientPage {
  std::vector<OAuthClientRecord> items;
  bool more = false;
  uint64_t total = 0;
};

// An authorization code, stored by the SHA-256 of the code.
struct OAuthCodeRecord {
  std::string code_hash;
  std::string client_id;
  std::string user_id;
  std::string tenant;  // the tenant the tokens will be bound to
  std::string redirect_uri;
  bool redirect_uri_given = false;  // the authorization request named it (RFC 6749 4.1.3)
  std::vector<std::string> scopes;
  std::string code_challenge;  // S256
  std::string flow_id;
  std::string ip, user_agent;  // of the browser that signed in
  util::UnixMillis created_at = 0;
  util::UnixMillis expires_at = 0;
  util::UnixMillis used_at = 0;  // 0: unused
  std::string session_id;        // the session its exchange created
  bool operator==(const OAuthCodeRecord&) const = default;
};

// A refresh token, one link of a session's rotation chain.
struct RefreshTokenRecord {
  std::string id;
  std::string secret_hash;
  std::string session_id;
  std::string client_id;
  std::vector<std::string> scopes;
  std::string flow_id;  // of the sign-in that began the session
  util::UnixMillis created_at = 0;
  util::UnixMillis expires_at = 0;
  util::UnixMillis used_at = 0;     // 0: not yet rotated
  util::UnixMillis revoked_at = 0;  // 0: not revoked
  bool operator==(const RefreshTokenRecord&) const = default;
};

// What one successful token request stores, in one transaction.
struct OAuthGrant {
  std::optional<CredentialRecord> session;  // a new OAuth session (code exchange)
  CredentialRecord access;                  // the access token
  std::optional<RefreshTokenRecord> refresh;
  std::string code_hash;      // the code exchanged: records the new session on it
  std::string spent_refresh;  // id of the refresh token this rotates: marked used
};

// Thread-safe: every method may be called from any thread.
class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  // Errors: Conflict when the id exists.
  virtual util::Status CreateTenant(const TenantRecord& tenant) = 0;
  // Creates the tenant unless it exists; true when it was created now.
  virtual util::Result<bool> EnsureTenant(const TenantRecord& tenant) = 0;
  // Errors: NotFound.
  virtual util::Result<TenantRecord> GetTenant(const std::string& id) = 0;
  // Every tenant, by id.
  virtual util::Result<std::vector<TenantRecord>> ListTenants() = 0;

  // Errors: Conflict when the email (case-insensitive) or id is taken.
  virtual util::Status CreateUser(const UserRecord& user) = 0;
  // Replaces the stored row with the same id. Errors: NotFound; Conflict on a taken email.
  virtual util::Status UpdateUser(const UserRecord& user) = 0;
  // Errors: NotFound.
  virtual util::Result<UserRecord> GetUser(const std::string& id) = 0;
  virtual util::Result<UserRecord> FindUserByEmail(const std::string& email) = 0;
  virtual util::Result<UserPage> ListUsers(const UserQuery& query) = 0;
  virtual util::Result<uint64_t> CountUsers() = 0;

  // Errors: Conflict when the id or secret hash exists.
  virtual util::Status CreateCredential(const CredentialRecord& credential) = 0;
  // The credential whose secret hashes to `secret_hash`, with its owner. Errors: NotFound.
  virtual util::Result<CredentialWithUser> FindCredentialBySecret(
      const std::string& secret_hash) = 0;
  // Errors: NotFound.
  virtual util::Result<CredentialWithUser> GetCredential(const std::string& id) = 0;
  // Records a use: last_used_at and last_used_ip. Errors: NotFound.
  virtual util::Status RecordUse(const std::string& id, util::UnixMillis at,
                                 const std::string& ip) = 0;
  // Revokes one credential unless already revoked; true when it was revoked now. Revoking a
  // session also revokes its access tokens and refresh tokens, in the same transaction.
  // Errors: NotFound.
  virtual util::Result<bool> Revoke(const std::string& id, util::UnixMillis at,
                                    const std::string& reason) = 0;
  // Which credentials RevokeAllOf ends.
  enum class RevokeScope {
    kEverything,      // every credential of the user, and the sessions it assumed as a super admin
    kActiveSessions,  // the user's own sessions still active at `at` (a new password ends them)
  };
  // Revokes the unrevoked credentials of `user_id` that `scope` names, with the access and refresh
  // tokens of the sessions among them, in one transaction; returns their ids.
  virtual util::Result<std::vector<std::string>> RevokeAllOf(const std::string& user_id,
                                                             util::UnixMillis at,
                                                             const std::string& reason,
                                                             RevokeScope scope) = 0;
  virtual util::Result<CredentialPage> ListCredentials(const CredentialQuery& query) = 0;

  // OAuth clients. Errors: Conflict when the id exists.
  virtual util::Status CreateClient(const OAuthClientRecord& client) = 0;
  // Errors: NotFound.
  virtual util::Result<OAuthClientRecord> GetClient(const std::string& id) = 0;
  virtual util::Result<OAuthClientPage> ListClients(const OAuthClientQuery& query) = 0;
  // Disables the client and revokes every credential and refresh token issued to it; returns the
  // ids of the credentials revoked now. Errors: NotFound.
  virtual util::Result<std::vector<std::string>> DisableClient(const std::string& id,
                                                               util::UnixMillis at) = 0;

  // Authorization codes. Errors: Conflict when the hash exists.
  virtual util::Status CreateCode(const OAuthCodeRecord& code) = 0;
  // Marks the code used at `at` if it was issued to `client_id`, and answers it as it was
  // before, so `used_at != 0` tells a reuse (another client's presentation spends nothing). Codes
  // older than a day are forgotten on the way. Errors: NotFound.
  virtual util::Result<OAuthCodeRecord> UseCode(const std::string& code_hash,
                                                const std::string& client_id,
                                                util::UnixMillis at) = 0;
  // Errors: NotFound.
  virtual util::Result<RefreshTokenRecord> FindRefreshToken(const std::string& secret_hash) = 0;
  // Stores a token response. Errors: Conflict, storing nothing, when `spent_refresh` was already
  // used (a concurrent rotation won).
  virtual util::Status StoreGrant(const OAuthGrant& grant) = 0;

  // Audit events recorded while the server was not running (e.g. `evident admin
  // reset-password`), as canonical event JSON; the server appends and then forgets them.
  virtual util::Status AddPendingEvent(const std::string& json) = 0;
  virtual util::Result<std::vector<std::pair<int64_t, std::string>>> PendingEvents() = 0;
  virtual util::Status ForgetPendingEvents(int64_t up_to_id) = 0;
};

}  // namespace evident::storage
