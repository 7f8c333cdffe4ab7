// The rules of Evident's access control (docs/identity.md): logins and lockout, sessions, API
// tokens, users, tenants and assumed identities, each checked against the calling Principal.
// HTTP and auditing are the api module's business; this one decides and keeps state.
//
// Errors, throughout: Unauthorized for a credential that is missing, unknown, expired or revoked;
// Forbidden for a principal that may not do this at all; NotFound for something that does not
// exist or that the principal may not see (another tenant's user or session); InvalidArgument
// naming the field; Conflict for a taken email or tenant id.
#pragma once

#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "evident/auth/access.h"
#include "evident/auth/login_guard.h"
#include "evident/core/clock.h"
#include "evident/storage/identity_store.h"
#include "evident/util/result.h"

namespace evident::auth {

struct IdentityOptions {
  int64_t session_ttl_ms = 12LL * 60 * 60 * 1000;  // absolute
  int64_t session_idle_ms = 30LL * 60 * 1000;      // since the last request
  LockoutPolicy lockout;
};

struct LoginResult {
  enum class Outcome { kSuccess, kFailure, kBlocked };
  Outcome outcome = Outcome::kFailure;
  // The account the email names, when there is one (for the audit trail; never tells the
  // caller whether it exists).
  std::optional<storage::UserRecord> user;
  // kSuccess: the new session and its secrets, shown once.
  storage::CredentialRecord session;
  std::string secret, csrf_token;
  // kFailure: why, for the audit trail only ("unknown_email", "wrong_password",
  // "user_disabled"), and whether this failure locked the email or IP out.
  std::string reason;
  bool locked_now = false;
  // kBlocked: milliseconds until another attempt is allowed.
  int64_t retry_after_ms = 0;
};

// A token or session just made: its row and its secret, shown once.
struct IssuedCredential {
  storage::CredentialWithUser record;
  std::string secret;
  std::string csrf_token;  // sessions only
};

struct NewUser {
  std::string email, name, role, tenant, password;
  std::string status = "active";
};

// Fields a PATCH may change; nullopt leaves one as it is.
struct UserPatch {
  std::optional<std::string> email, name, role, status, password;
};

struct UserChange {
  storage::UserRecord before, after;
  std::vector<std::string> revoked_credentials;  // when the change disabled the user
};

struct Bootstrapped {
  storage::UserRecord admin;
  bool created = false;            // the super admin was made now
  std::string generated_password;  // made now and shown once (no password configured)
  std::string generated_token;     // a first API token made now (none configured)
  bool token_replaced = false;     // a configured token replaced an earlier bootstrap token
};

// An audit event Evident records about `subject` without a request (first start, offline
// recovery), as stored event JSON for IdentityService::AddPendingAudit. The actor is Evident
// itself (`actor_name`), the tenant the subject's (or kSystemTenant).
std::string OfflineAuditEvent(const storage::UserRecord& subject, std::string_view action,
                              std::string_view actor_name,
                              const std::vector<std::pair<std::string, std::string>>& details,
                              util::UnixMillis now);

// Thread-safe. Holds references to `store` and `clock`, which must outlive it.
class IdentityService {
 public:
  IdentityService(storage::IdentityStore& store, const core::Clock& clock, IdentityOptions options);
  IdentityService(const IdentityService&) = delete;
  IdentityService& operator=(const IdentityService&) = delete;

  // On every start: the first start creates the super admin (`email`, with `password` or a random
  // one). A non-empty `admin_token` is that user's API token with every scope (it replaces an
  // earlier bootstrap token that differs); on the first start without one, a random token is
  // made. Errors: InvalidArgument for a password that breaks the policy or an email taken by
  // a user who is not a super admin.
  util::Result<Bootstrapped> Bootstrap(const std::string& email, const std::string& password,
                                       const std::string& admin_token);

  // A password login from `ip`. Wrong passwords and unknown emails fail alike and take the same
  // time; a locked-out email or IP is kBlocked without the password being checked.
  LoginResult Login(const std::string& email, const std::string& password, const std::string& ip,
                    const std::string& user_agent);

  // The principal behind `secret` (a session or API token), recording its use from `ip` at most
  // once a minute. Errors: Unauthorized.
  util::Result<Principal> Authenticate(std::string_view secret, const std::string& ip,
                                       bool via_cookie);

  // Ends the principal's session. Errors: InvalidArgument when the credential is no session.
  util::Result<storage::CredentialWithUser> Logout(const Principal& principal);

  // Tenants.
  util::Result<storage::TenantRecord> CreateTenant(const Principal& principal,
                                                   const std::string& id, const std::string& name);
  util::Result<std::vector<storage::TenantRecord>> ListTenants(const Principal& principal);
  // Registers a tenant that events were written for; true when it is new. Cheap when known.
  util::Result<bool> EnsureTenant(const std::string& id);
  util::Result<bool> TenantExists(const std::string& id);

  // Users.
  util::Result<storage::UserRecord> CreateUser(const Principal& principal, const NewUser& user);
  util::Result<storage::UserPage> ListUsers(const Principal& principal, storage::UserQuery query);
  util::Result<storage::UserRecord> GetUser(const Principal& principal, const std::string& id);
  util::Result<UserChange> UpdateUser(const Principal& principal, const std::string& id,
                                      const UserPatch& patch);

  // API tokens, sessions and the tokens log.
  util::Result<IssuedCredential> CreateToken(const Principal& principal, const std::string& name,
                                             const std::vector<std::string>& scopes,
                                             const std::string& tenant,
                                             util::UnixMillis expires_at);
  // Lists what the principal may see: everything (unbound super admins), its tenant's
  // credentials (admins), or its own (everyone else). Errors: Forbidden when `query.tenants`
  // names another tenant.
  util::Result<storage::CredentialPage> ListCredentials(const Principal& principal,
                                                        storage::CredentialQuery query);
  util::Result<storage::CredentialWithUser> GetCredential(const Principal& principal,
                                                          const std::string& id);
  // Revokes a credential the principal may see, of kind `only_kind` unless that is empty (another
  // kind is NotFound); `reason` is "deactivate" or "revoke". Answers the row as it is now;
  // `changed` tells whether it was active before.
  util::Result<storage::CredentialWithUser> RevokeCredential(const Principal& principal,
                                                             const std::string& id,
                                                             const std::string& reason,
                                                             bool* changed,
                                                             std::string_view only_kind = {});

  // A session acting as user `id`, for an unbound super admin. Errors: Forbidden for anyone
  // else, or from an assumed session; InvalidArgument without a reason, or for a super admin or
  // disabled user as the target.
  util::Result<IssuedCredential> Assume(const Principal& principal, const std::string& id,
                                        const std::string& reason, const std::string& ip,
                                        const std::string& user_agent);

  // Offline recovery (`evident admin reset-password`): sets the password and revokes the user's
  // sessions and tokens. Errors: NotFound, InvalidArgument (policy).
  util::Result<UserChange> ResetPassword(const std::string& email, const std::string& password);

  // The email of user `id`, or empty: for showing who assumed a session.
  std::string EmailOf(const std::string& id);
  // The kind of credential `id` ("session", "api", ...), or empty: for auditing revocations.
  std::string KindOf(const std::string& id);

  // Audit events recorded offline (IdentityStore::AddPendingEvent), as stored event JSON.
  util::Status AddPendingAudit(const std::string& json) { return store_.AddPendingEvent(json); }
  util::Result<std::vector<std::pair<int64_t, std::string>>> PendingAudit() {
    return store_.PendingEvents();
  }
  util::Status ForgetPendingAudit(int64_t up_to_id) { return store_.ForgetPendingEvents(up_to_id); }

  const IdentityOptions& options() const { return options_; }

 private:
  util::Result<IssuedCredential> StartSession(const storage::UserRecord& user,
                                              const std::string& ip, const std::string& user_agent,
                                              const Principal* assumer, const std::string& reason);
  // Whether `principal` administers `user` (same tenant, or an unbound super admin).
  bool Administers(const Principal& principal, const storage::UserRecord& user) const;
  bool MaySee(const Principal& principal, const storage::CredentialWithUser& credential) const;

  storage::IdentityStore& store_;
  const core::Clock& clock_;
  const IdentityOptions options_;
  LoginGuard guard_;

  std::mutex tenants_mu_;
  std::set<std::string, std::less<>> known_tenants_;  // guarded by tenants_mu_
};

}  // namespace evident::auth
