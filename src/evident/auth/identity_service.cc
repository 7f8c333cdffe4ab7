#include "evident/auth/identity_service.h"

#include <sodium.h>

#include <algorithm>

#include "evident/auth/secrets.h"
#include "evident/core/canonical_json.h"
#include "evident/core/decode.h"
#include "evident/core/event.h"
#include "evident/util/strings.h"
#include "evident/util/uuid.h"

namespace evident::auth {

namespace {

using storage::CredentialRecord;
using storage::CredentialWithUser;
using storage::UserRecord;
using util::Error;
using util::Result;

constexpr int64_t kUseRecordingMs = 60'000;  // last_used_at is kept to the minute
constexpr size_t kMaxNameBytes = 200;

Error NotFoundUser() { return Error::NotFound("no such user"); }

// A deliberately plain check: one '@' with text on both sides, no spaces or control characters.
// Deliverability is not Evident's concern; a stable, comparable identifier is.
util::Status CheckEmail(std::string_view email) {
  const size_t at = email.find('@');
  bool plain = !email.empty() && email.size() <= 254 && at != std::string_view::npos && at > 0 &&
               at + 1 < email.size() && email.find('@', at + 1) == std::string_view::npos;
  for (const char c : email) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) plain = false;
  }
  if (!plain || !util::IsValidUtf8(email)) {
    return Error::InvalidArgument("email must look like name@domain, not '" + std::string(email) +
                                  "'");
  }
  return {};
}

util::Status CheckName(std::string_view field, std::string_view name, bool required) {
  if (required && util::Trim(name).empty()) {
    return Error::InvalidArgument(std::string(field) + " is required");
  }
  if (name.size() > kMaxNameBytes || !util::IsValidUtf8(name)) {
    return Error::InvalidArgument(std::string(field) + " must be UTF-8 of at most " +
                                  std::to_string(kMaxNameBytes) + " bytes");
  }
  return {};
}

util::Status CheckStatus(std::string_view status) {
  if (status == "active" || status == "disabled") return {};
  return Error::InvalidArgument("status must be active or disabled, not '" + std::string(status) +
                                "'");
}

// A new API token's row.
CredentialRecord ApiToken(std::string name, std::string user_id, std::string tenant, Scopes scopes,
                          std::string secret_hash, util::UnixMillis now,
                          util::UnixMillis expires_at) {
  CredentialRecord token;
  token.id = util::NewUuidV7(now);
  token.kind = "api";
  token.name = std::move(name);
  token.user_id = std::move(user_id);
  token.tenant = std::move(tenant);
  token.scopes = ScopeNames(scopes);
  token.secret_hash = std::move(secret_hash);
  token.created_at = now;
  token.expires_at = expires_at;
  return token;
}

std::string RandomPassword() {
  // 24 base64url characters: 144 random bits.
  return MakeSecret("").secret.substr(0, 24);
}

}  // namespace

std::string OfflineAuditEvent(const storage::UserRecord& subject, std::string_view action,
                              std::string_view actor_name,
                              const std::vector<std::pair<std::string, std::string>>& details,
                              util::UnixMillis now) {
  core::Event event;
  event.id = util::NewUuidV7(now);
  event.tenant = subject.tenant.empty() ? std::string(kSystemTenant) : subject.tenant;
  event.type = core::EventType::kActivity;
  event.action = std::string(action);
  event.status = core::EventStatus::kSuccess;
  event.occurred_at = now;
  event.received_at = now;
  event.actor.name = std::string(actor_name);
  event.resource = core::Resource{.type = "user", .id = subject.id, .name = subject.email};
  event.details = core::CanonicalStringObject(details);
  return core::EncodeEvent(event, core::EncodeMode::kStored);
}

IdentityService::IdentityService(storage::IdentityStore& store, const core::Clock& clock,
                                 IdentityOptions options)
    : store_(store), clock_(clock), options_(options), guard_(options.lockout, clock) {}

Result<Bootstrapped> IdentityService::Bootstrap(const std::string& email,
                                                const std::string& password,
                                                const std::string& admin_token) {
  Bootstrapped result;
  auto existing = store_.FindUserByEmail(email);
  if (existing) {
    if (existing->role != ToString(Role::kSuperAdmin)) {
      return Error::InvalidArgument("the admin email '" + email +
                                    "' belongs to a user who is not a super admin");
    }
    result.admin = *existing;
  } else if (existing.error().code() != util::ErrorCode::kNotFound) {
    return existing.error();
  } else {
    EVIDENT_ASSIGN_OR_RETURN(uint64_t users, store_.CountUsers());
    if (users > 0) {
      // The super admin changed their email, or it is another instance's admin: nothing to make.
      return Error::InvalidArgument("no user has the admin email '" + email +
                                    "', and users exist; set EVIDENT_ADMIN_EMAIL to a super "
                                    "admin's email");
    }
    EVIDENT_RETURN_IF_ERROR(CheckEmail(email));
    std::string chosen = password;
    if (chosen.empty()) {
      chosen = RandomPassword();
      result.generated_password = chosen;
    }
    EVIDENT_RETURN_IF_ERROR(CheckPasswordPolicy(chosen));
    EVIDENT_ASSIGN_OR_RETURN(std::string hash, HashPassword(chosen));
    const util::UnixMillis now = clock_.NowMillis();
    result.admin = UserRecord{.id = util::NewUuidV7(now),
                              .email = email,
                              .name = "Administrator",
                              .role = std::string(ToString(Role::kSuperAdmin)),
                              .tenant = "",
                              .status = "active",
                              .password_hash = std::move(hash),
                              .created_at = now,
                              .updated_at = now};
    EVIDENT_RETURN_IF_ERROR(store_.CreateUser(result.admin));
    result.created = true;
  }

  constexpr std::string_view kBootstrapName = "bootstrap token";
  std::string token = admin_token;
  if (token.empty()) {
    if (!result.created) return result;
    token = MakeSecret(kApiTokenPrefix).secret;
    result.generated_token = token;
  }
  const std::string hash = SecretHash(token);
  auto found = store_.FindCredentialBySecret(hash);
  if (found) {
    if (found->credential.user_id != result.admin.id) {
      return Error::InvalidArgument("EVIDENT_ADMIN_TOKEN is another user's token");
    }
    return result;
  }
  if (found.error().code() != util::ErrorCode::kNotFound) return found.error();
  const util::UnixMillis now = clock_.NowMillis();
  // A different configured token replaces the earlier bootstrap token.
  storage::CredentialQuery earlier{.kinds = {"api"},
                                   .statuses = {"active"},
                                   .tenants = {},
                                   .user = result.admin.id,
                                   .assumed_by = {},
                                   .q = {},
                                   .now = now,
                                   .after = std::nullopt,
                                   .limit = 1000};
  EVIDENT_ASSIGN_OR_RETURN(storage::CredentialPage page, store_.ListCredentials(earlier));
  for (const CredentialWithUser& item : page.items) {
    if (item.credential.name != kBootstrapName) continue;
    EVIDENT_RETURN_IF_ERROR(store_.Revoke(item.credential.id, now, "replaced"));
    result.token_replaced = true;
  }
  const CredentialRecord credential = ApiToken(std::string(kBootstrapName), result.admin.id, "",
                                               kAllScopes, hash, now, /*expires_at=*/0);
  EVIDENT_RETURN_IF_ERROR(store_.CreateCredential(credential));
  return result;
}

LoginResult IdentityService::Login(const std::string& raw_email, const std::string& password,
                                   const std::string& ip, const std::string& user_agent) {
  LoginResult result;
  const std::string email(util::Trim(raw_email));
  auto user = store_.FindUserByEmail(email);
  if (user) result.user = *user;
  if (const auto wait = guard_.LockedFor(email, ip)) {
    result.outcome = LoginResult::Outcome::kBlocked;
    result.retry_after_ms = *wait;
    return result;
  }
  // The password is checked even for an unknown email (against a decoy), so both take as long.
  const bool match = VerifyPassword(user ? user->password_hash : std::string(), password);
  if (!user || !match || user->status != "active") {
    result.outcome = LoginResult::Outcome::kFailure;
    result.reason = !user ? "unknown_email" : !match ? "wrong_password" : "user_disabled";
    result.locked_now = guard_.RecordFailure(email, ip);
    return result;
  }
  guard_.RecordSuccess(email);
  auto session = StartSession(*user, ip, user_agent, nullptr, "");
  if (!session) {
    result.outcome = LoginResult::Outcome::kFailure;
    result.reason = "session_not_stored: " + session.error().message();
    return result;
  }
  result.outcome = LoginResult::Outcome::kSuccess;
  result.session = session->record.credential;
  result.secret = std::move(session->secret);
  result.csrf_token = std::move(session->csrf_token);
  return result;
}

Result<IssuedCredential> IdentityService::StartSession(const UserRecord& user,
                                                       const std::string& ip,
                                                       const std::string& user_agent,
                                                       const Principal* assumer,
                                                       const std::string& reason) {
  const util::UnixMillis now = clock_.NowMillis();
  NewSecret secret = MakeSecret(kSessionTokenPrefix);
  CredentialRecord session{
      .id = util::NewUuidV7(now),
      .kind = "session",
      .name = assumer != nullptr ? "assumed by " + assumer->email : std::string("password login"),
      .user_id = user.id,
      .tenant = user.tenant,
      .scopes = {},
      .secret_hash = secret.hash,
      .created_at = now,
      .expires_at = now + options_.session_ttl_ms,
      .revoked_reason = {},
      .last_used_ip = {},
      .idle_timeout_ms = options_.session_idle_ms,
      .ip = ip,
      .user_agent = user_agent.substr(0, 1024),
      .assumed_by = assumer != nullptr ? assumer->user_id : std::string(),
      .assume_reason = reason,
      .client_id = {},
      .session_id = {}};
  EVIDENT_RETURN_IF_ERROR(store_.CreateCredential(session));
  IssuedCredential issued{
      .record = {std::move(session), user}, .secret = std::move(secret.secret), .csrf_token = {}};
  issued.csrf_token = CsrfTokenFor(issued.secret);
  return issued;
}

Result<Principal> IdentityService::Authenticate(std::string_view secret, const std::string& ip,
                                                bool via_cookie) {
  // No prefix check: a configured bootstrap token (EVIDENT_ADMIN_TOKEN) may be any string.
  if (secret.empty()) return Error::Unauthorized("the bearer token is not valid");
  auto found = store_.FindCredentialBySecret(SecretHash(secret));
  if (!found) {
    if (found.error().code() == util::ErrorCode::kNotFound) {
      return Error::Unauthorized("the bearer token is not valid");
    }
    return found.error();
  }
  const CredentialRecord& credential = found->credential;
  const UserRecord& user = found->user;
  if (via_cookie && credential.kind != "session") {
    return Error::Unauthorized("the session cookie is not valid");
  }
  const util::UnixMillis now = clock_.NowMillis();
  const std::string_view status = credential.StatusAt(now);
  if (status != "active") {
    return Error::Unauthorized(
        credential.kind == "session"
            ? "the session has " + std::string(status == "revoked" ? "ended" : "expired")
            : "the token is " + std::string(status == "revoked" ? "deactivated" : "expired"));
  }
  if (user.status != "active") return Error::Unauthorized("the user is disabled");
  EVIDENT_ASSIGN_OR_RETURN(Role role, ParseRole(user.role));

  Principal principal{.credential_id = credential.id,
                      .kind = credential.kind,
                      .user_id = user.id,
                      .email = user.email,
                      .name = user.name,
                      .role = role,
                      .tenant = credential.tenant,
                      .scopes = RoleScopes(role),
                      .assumed_by_id = {},
                      .assumed_by_email = {},
                      .assume_reason = {},
                      .via_cookie = via_cookie};
  if (credential.kind != "session") {
    auto scopes = ParseScopes(credential.scopes);
    if (!scopes) return Error::Unauthorized("the token has unknown scopes");
    principal.scopes &= *scopes;
  }
  if (!credential.assumed_by.empty()) {
    // The assumer must still be an active super admin for the session to act.
    auto assumer = store_.GetUser(credential.assumed_by);
    if (!assumer || assumer->status != "active" || assumer->role != ToString(Role::kSuperAdmin)) {
      return Error::Unauthorized("the session has ended");
    }
    principal.assumed_by_id = assumer->id;
    principal.assumed_by_email = assumer->email;
    principal.assume_reason = credential.assume_reason;
  }
  if (!credential.session_id.empty()) {
    // An OAuth access token lives as long as its session, and using it is the session's activity.
    auto session = store_.GetCredential(credential.session_id);
    if (!session) {
      if (session.error().code() == util::ErrorCode::kNotFound) {
        return Error::Unauthorized("the token is not valid");
      }
      return session.error();
    }
    const std::string_view session_status = session->credential.StatusAt(now);
    if (session_status != "active") {
      return Error::Unauthorized("the token's session has " +
                                 std::string(session_status == "revoked" ? "ended" : "expired"));
    }
    if (now - session->credential.last_used_at >= kUseRecordingMs ||
        ip != session->credential.last_used_ip) {
      EVIDENT_RETURN_IF_ERROR(store_.RecordUse(session->credential.id, now, ip));
    }
  }
  if (now - credential.last_used_at >= kUseRecordingMs || ip != credential.last_used_ip) {
    EVIDENT_RETURN_IF_ERROR(store_.RecordUse(credential.id, now, ip));
  }
  return principal;
}

Result<CredentialWithUser> IdentityService::Logout(const Principal& principal) {
  if (principal.kind == "oauth") {
    // An OAuth access token logs out of the session it belongs to (client credentials: none).
    EVIDENT_ASSIGN_OR_RETURN(CredentialWithUser own, store_.GetCredential(principal.credential_id));
    if (own.credential.session_id.empty()) {
      return Error::InvalidArgument("this token belongs to no session; revoke it instead");
    }
    EVIDENT_RETURN_IF_ERROR(store_.Revoke(own.credential.session_id, clock_.NowMillis(), "logout"));
    return store_.GetCredential(own.credential.session_id);
  }
  if (principal.kind != "session") {
    return Error::InvalidArgument("only a session can log out; deactivate an API token instead");
  }
  EVIDENT_RETURN_IF_ERROR(store_.Revoke(principal.credential_id, clock_.NowMillis(), "logout"));
  return store_.GetCredential(principal.credential_id);
}

Result<storage::TenantRecord> IdentityService::CreateTenant(const Principal& principal,
                                                            const std::string& id,
                                                            const std::string& name) {
  if (!principal.Can(kAdminScope) || !principal.Unbound()) {
    return Error(util::ErrorCode::kForbidden, "only super admins create tenants");
  }
  if (!core::IsValidTenantId(id)) {
    return Error::InvalidArgument("id must match [a-z0-9][a-z0-9_-]{0,62}, not '" + id + "'");
  }
  if (id == kSystemTenant) {
    return Error::InvalidArgument("the tenant id 'system' is reserved for Evident's own events");
  }
  EVIDENT_RETURN_IF_ERROR(CheckName("name", name, false));
  storage::TenantRecord tenant{
      .id = id, .name = name.empty() ? id : name, .created_at = clock_.NowMillis()};
  EVIDENT_RETURN_IF_ERROR(store_.CreateTenant(tenant));
  std::lock_guard lock(tenants_mu_);
  known_tenants_.insert(id);
  return tenant;
}

Result<std::vector<storage::TenantRecord>> IdentityService::ListTenants(
    const Principal& principal) {
  if (!principal.Can(kAdminScope)) {
    return Error(util::ErrorCode::kForbidden, "listing tenants needs the admin role or scope");
  }
  EVIDENT_ASSIGN_OR_RETURN(std::vector<storage::TenantRecord> tenants, store_.ListTenants());
  if (!principal.Unbound()) {
    std::erase_if(tenants, [&](const auto& tenant) { return tenant.id != principal.tenant; });
  }
  return tenants;
}

Result<bool> IdentityService::EnsureTenant(const std::string& id) {
  {
    std::lock_guard lock(tenants_mu_);
    if (known_tenants_.contains(id)) return false;
  }
  EVIDENT_ASSIGN_OR_RETURN(bool created,
                           store_.EnsureTenant(storage::TenantRecord{
                               .id = id, .name = id, .created_at = clock_.NowMillis()}));
  std::lock_guard lock(tenants_mu_);
  known_tenants_.insert(id);
  return created;
}

Result<bool> IdentityService::TenantExists(const std::string& id) {
  {
    std::lock_guard lock(tenants_mu_);
    if (known_tenants_.contains(id)) return true;
  }
  auto tenant = store_.GetTenant(id);
  if (tenant) {
    std::lock_guard lock(tenants_mu_);
    known_tenants_.insert(id);
    return true;
  }
  if (tenant.error().code() == util::ErrorCode::kNotFound) return false;
  return tenant.error();
}

bool IdentityService::Administers(const Principal& principal, const UserRecord& user) const {
  if (!principal.Can(kAdminScope)) return false;
  if (principal.Unbound()) return true;
  return user.tenant == principal.tenant && user.role != ToString(Role::kSuperAdmin);
}

Result<UserRecord> IdentityService::CreateUser(const Principal& principal, const NewUser& input) {
  if (!principal.Can(kAdminScope)) {
    return Error(util::ErrorCode::kForbidden, "managing users needs the admin role or scope");
  }
  EVIDENT_RETURN_IF_ERROR(CheckEmail(input.email));
  EVIDENT_RETURN_IF_ERROR(CheckName("name", input.name, false));
  EVIDENT_ASSIGN_OR_RETURN(Role role, ParseRole(input.role));
  EVIDENT_RETURN_IF_ERROR(CheckStatus(input.status));
  std::string tenant = input.tenant;
  if (role == Role::kSuperAdmin) {
    if (!principal.Unbound() || principal.role != Role::kSuperAdmin) {
      return Error(util::ErrorCode::kForbidden, "only super admins create super admins");
    }
    if (!tenant.empty()) return Error::InvalidArgument("a super admin belongs to no tenant");
  } else {
    if (tenant.empty()) tenant = principal.tenant;
    if (tenant.empty()) return Error::InvalidArgument("tenant is required for this role");
    if (!principal.MayAccessTenant(tenant)) {
      return Error(util::ErrorCode::kForbidden,
                   "this credential manages only tenant '" + principal.tenant + "'");
    }
    EVIDENT_ASSIGN_OR_RETURN(bool exists, TenantExists(tenant));
    if (!exists || tenant == kSystemTenant) {
      return Error::InvalidArgument("no tenant '" + tenant + "'; create it first");
    }
  }
  EVIDENT_RETURN_IF_ERROR(CheckPasswordPolicy(input.password));
  EVIDENT_ASSIGN_OR_RETURN(std::string hash, HashPassword(input.password));
  const util::UnixMillis now = clock_.NowMillis();
  UserRecord user{.id = util::NewUuidV7(now),
                  .email = std::string(util::Trim(input.email)),
                  .name = input.name,
                  .role = std::string(ToString(role)),
                  .tenant = tenant,
                  .status = input.status,
                  .password_hash = std::move(hash),
                  .created_at = now,
                  .updated_at = now};
  EVIDENT_RETURN_IF_ERROR(store_.CreateUser(user));
  return user;
}

Result<storage::UserPage> IdentityService::ListUsers(const Principal& principal,
                                                     storage::UserQuery query) {
  if (!principal.Can(kAdminScope)) {
    return Error(util::ErrorCode::kForbidden, "listing users needs the admin role or scope");
  }
  if (!principal.Unbound()) {
    if (!query.tenant.empty() && query.tenant != principal.tenant) {
      return Error(util::ErrorCode::kForbidden,
                   "this credential sees only tenant '" + principal.tenant + "'");
    }
    query.tenant = principal.tenant;
  }
  return store_.ListUsers(query);
}

Result<UserRecord> IdentityService::GetUser(const Principal& principal, const std::string& id) {
  if (!principal.Can(kAdminScope) && id != principal.user_id) {
    return Error(util::ErrorCode::kForbidden, "reading users needs the admin role or scope");
  }
  auto user = store_.GetUser(id);
  if (!user) {
    if (user.error().code() == util::ErrorCode::kNotFound) return NotFoundUser();
    return user.error();
  }
  if (id != principal.user_id && !Administers(principal, *user)) return NotFoundUser();
  return user;
}

Result<UserChange> IdentityService::UpdateUser(const Principal& principal, const std::string& id,
                                               const UserPatch& patch) {
  if (!principal.Can(kAdminScope)) {
    return Error(util::ErrorCode::kForbidden, "managing users needs the admin role or scope");
  }
  auto found = store_.GetUser(id);
  if (!found) {
    if (found.error().code() == util::ErrorCode::kNotFound) return NotFoundUser();
    return found.error();
  }
  if (!Administers(principal, *found)) return NotFoundUser();
  UserChange change{.before = *found, .after = *found, .revoked_credentials = {}};
  UserRecord& after = change.after;
  if (patch.email) {
    EVIDENT_RETURN_IF_ERROR(CheckEmail(*patch.email));
    after.email = std::string(util::Trim(*patch.email));
  }
  if (patch.name) {
    EVIDENT_RETURN_IF_ERROR(CheckName("name", *patch.name, false));
    after.name = *patch.name;
  }
  if (patch.role) {
    EVIDENT_ASSIGN_OR_RETURN(Role role, ParseRole(*patch.role));
    if (role == Role::kSuperAdmin || after.role == ToString(Role::kSuperAdmin)) {
      if (role != Role::kSuperAdmin || after.role != ToString(Role::kSuperAdmin)) {
        // A super admin has no tenant and a tenant user has one: make a new user instead.
        return Error::InvalidArgument(
            "a user cannot move between super admin and a tenant role; create a new user");
      }
    }
    after.role = std::string(ToString(role));
  }
  if (patch.status) {
    EVIDENT_RETURN_IF_ERROR(CheckStatus(*patch.status));
    after.status = *patch.status;
  }
  if (patch.password) {
    EVIDENT_RETURN_IF_ERROR(CheckPasswordPolicy(*patch.password));
    EVIDENT_ASSIGN_OR_RETURN(after.password_hash, HashPassword(*patch.password));
  }
  if (id == principal.user_id && (after.role != found->role || after.status != found->status)) {
    return Error::InvalidArgument("you cannot change your own role or status");
  }
  const util::UnixMillis now = clock_.NowMillis();
  after.updated_at = now;
  EVIDENT_RETURN_IF_ERROR(store_.UpdateUser(after));
  if (after.status == "disabled" && found->status != "disabled") {
    EVIDENT_ASSIGN_OR_RETURN(change.revoked_credentials,
                             store_.RevokeAllOf(id, now, "user_disabled",
                                                storage::IdentityStore::RevokeScope::kEverything));
  } else if (patch.password) {
    // A new password ends every session that the old one opened.
    EVIDENT_ASSIGN_OR_RETURN(
        change.revoked_credentials,
        store_.RevokeAllOf(id, now, "password_changed",
                           storage::IdentityStore::RevokeScope::kActiveSessions));
  }
  return change;
}

Result<IssuedCredential> IdentityService::CreateToken(const Principal& principal,
                                                      const std::string& name,
                                                      const std::vector<std::string>& scopes,
                                                      const std::string& tenant,
                                                      util::UnixMillis expires_at) {
  if (!principal.assumed_by_id.empty()) {
    return Error(util::ErrorCode::kForbidden,
                 "an assumed identity cannot create tokens for the user it acts as");
  }
  if (principal.kind != "session" && !principal.Can(kAdminScope)) {
    return Error(util::ErrorCode::kForbidden, "creating tokens with a token needs the admin scope");
  }
  EVIDENT_RETURN_IF_ERROR(CheckName("name", name, true));
  if (scopes.empty()) return Error::InvalidArgument("scopes: give at least one scope");
  EVIDENT_ASSIGN_OR_RETURN(Scopes wanted, ParseScopes(scopes));
  if ((wanted & ~principal.scopes) != 0) {
    return Error(util::ErrorCode::kForbidden,
                 "a token cannot have more power than its user: this credential may not grant " +
                     ScopeNames(wanted & ~principal.scopes).front());
  }
  std::string bound = principal.tenant;
  if (!tenant.empty()) {
    if (!principal.MayAccessTenant(tenant)) {
      return Error(util::ErrorCode::kForbidden,
                   "this credential is bound to tenant '" + principal.tenant + "'");
    }
    if (!core::IsValidTenantId(tenant) || tenant == kSystemTenant) {
      return Error::InvalidArgument("tenant '" + tenant + "' cannot be bound to a token");
    }
    bound = tenant;
  }
  const util::UnixMillis now = clock_.NowMillis();
  if (expires_at != 0 && expires_at <= now) {
    return Error::InvalidArgument("expires_at must be in the future");
  }
  EVIDENT_ASSIGN_OR_RETURN(UserRecord user, store_.GetUser(principal.user_id));
  NewSecret secret = MakeSecret(kApiTokenPrefix);
  CredentialRecord token =
      ApiToken(name, principal.user_id, bound, wanted, secret.hash, now, expires_at);
  EVIDENT_RETURN_IF_ERROR(store_.CreateCredential(token));
  return IssuedCredential{.record = {std::move(token), std::move(user)},
                          .secret = std::move(secret.secret),
                          .csrf_token = {}};
}

bool IdentityService::MaySee(const Principal& principal, const CredentialWithUser& item) const {
  // A credential bound to a tenant sees nothing outside it, not even its owner's other
  // credentials (a super admin's token bound to one tenant acts as that tenant's admin only).
  if (!principal.Unbound() && item.credential.tenant != principal.tenant) return false;
  if (item.credential.user_id == principal.user_id) return true;
  // Admins see whatever can act in their tenant, a super admin's token bound to it included.
  return principal.Can(kAdminScope);
}

Result<storage::CredentialPage> IdentityService::ListCredentials(const Principal& principal,
                                                                 storage::CredentialQuery query) {
  query.now = clock_.NowMillis();
  if (!principal.Can(kAdminScope)) {
    if (principal.kind != "session") {
      return Error(util::ErrorCode::kForbidden,
                   "listing sessions and tokens with a token needs the admin scope");
    }
    // Everyone sees their own sessions and tokens.
    for (const std::string& tenant : query.tenants) {
      if (tenant != principal.tenant) {
        return Error(util::ErrorCode::kForbidden,
                     "this role sees only its own sessions and tokens");
      }
    }
    if (!query.user.empty() && query.user != principal.user_id &&
        !util::EqualsIgnoreCase(query.user, principal.email)) {
      return Error(util::ErrorCode::kForbidden, "this role sees only its own sessions and tokens");
    }
    query.user = principal.user_id;
    return store_.ListCredentials(query);
  }
  if (!principal.Unbound()) {
    for (const std::string& tenant : query.tenants) {
      if (tenant != principal.tenant) {
        return Error(util::ErrorCode::kForbidden,
                     "this credential sees only tenant '" + principal.tenant + "'");
      }
    }
    query.tenants = {principal.tenant};
  }
  return store_.ListCredentials(query);
}

Result<CredentialWithUser> IdentityService::GetCredential(const Principal& principal,
                                                          const std::string& id) {
  auto item = store_.GetCredential(id);
  if (!item) {
    if (item.error().code() == util::ErrorCode::kNotFound) {
      return Error::NotFound("no such token or session");
    }
    return item.error();
  }
  if (!MaySee(principal, *item)) return Error::NotFound("no such token or session");
  if (principal.kind != "session" && !principal.Can(kAdminScope)) {
    return Error(util::ErrorCode::kForbidden, "this token needs the admin scope");
  }
  return item;
}

Result<CredentialWithUser> IdentityService::RevokeCredential(const Principal& principal,
                                                             const std::string& id,
                                                             const std::string& reason,
                                                             bool* changed,
                                                             std::string_view only_kind) {
  EVIDENT_ASSIGN_OR_RETURN(CredentialWithUser item, GetCredential(principal, id));
  if (!only_kind.empty() && item.credential.kind != only_kind) {
    return Error::NotFound("no such " + std::string(only_kind));
  }
  const util::UnixMillis now = clock_.NowMillis();
  EVIDENT_ASSIGN_OR_RETURN(bool revoked, store_.Revoke(id, now, reason));
  if (changed != nullptr) *changed = revoked;
  if (revoked) {
    item.credential.revoked_at = now;
    item.credential.revoked_reason = reason;
  }
  return item;
}

Result<IssuedCredential> IdentityService::Assume(const Principal& principal, const std::string& id,
                                                 const std::string& reason, const std::string& ip,
                                                 const std::string& user_agent) {
  if (principal.role != Role::kSuperAdmin || !principal.Unbound() || !principal.Can(kAdminScope)) {
    return Error(util::ErrorCode::kForbidden, "only super admins assume identities");
  }
  if (!principal.assumed_by_id.empty()) {
    return Error(util::ErrorCode::kForbidden, "an assumed identity cannot assume another");
  }
  if (util::Trim(reason).empty()) {
    return Error::InvalidArgument("reason is required: say why you act as this user");
  }
  EVIDENT_RETURN_IF_ERROR(CheckName("reason", reason, true));
  auto user = store_.GetUser(id);
  if (!user) {
    if (user.error().code() == util::ErrorCode::kNotFound) return NotFoundUser();
    return user.error();
  }
  if (user->role == ToString(Role::kSuperAdmin)) {
    return Error::InvalidArgument("a super admin's identity cannot be assumed");
  }
  if (user->status != "active") return Error::InvalidArgument("the user is disabled");
  return StartSession(*user, ip, user_agent, &principal, reason);
}

std::string IdentityService::EmailOf(const std::string& id) {
  if (id.empty()) return {};
  auto user = store_.GetUser(id);
  return user ? user->email : std::string();
}

std::string IdentityService::KindOf(const std::string& id) {
  auto credential = store_.GetCredential(id);
  return credential ? credential->credential.kind : std::string();
}

Result<UserChange> IdentityService::ResetPassword(const std::string& email,
                                                  const std::string& password) {
  EVIDENT_ASSIGN_OR_RETURN(UserRecord user, store_.FindUserByEmail(email));
  EVIDENT_RETURN_IF_ERROR(CheckPasswordPolicy(password));
  UserChange change{.before = user, .after = user, .revoked_credentials = {}};
  EVIDENT_ASSIGN_OR_RETURN(change.after.password_hash, HashPassword(password));
  const util::UnixMillis now = clock_.NowMillis();
  change.after.updated_at = now;
  EVIDENT_RETURN_IF_ERROR(store_.UpdateUser(change.after));
  EVIDENT_ASSIGN_OR_RETURN(change.revoked_credentials,
                           store_.RevokeAllOf(user.id, now, "password_reset",
                                              storage::IdentityStore::RevokeScope::kEverything));
  return change;
}

}  // namespace evident::auth
