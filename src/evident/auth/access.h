// Who a request comes from and what it may do (docs/identity.md, "Who sees what").
//
// A user has a role; a session acts with its user's role; an API token acts with the scopes it
// was given, never beyond its user's role. Every credential is bound to its user's tenant; a
// super admin's credential is unbound (all tenants) unless it was bound to one tenant, and then
// it acts as an admin of that tenant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "evident/util/result.h"

namespace evident::auth {

enum class Role { kSuperAdmin, kAdmin, kViewer };

std::string_view ToString(Role role);
// Errors: InvalidArgument naming the roles.
util::Result<Role> ParseRole(std::string_view text);

// Bit set of scopes.
enum Scope : uint8_t {
  kEventsWrite = 1,  // "events:write"
  kEventsRead = 2,   // "events:read"
  kAdminScope = 4,   // "admin": users, tenants, sessions and the tokens log
};
using Scopes = uint8_t;
inline constexpr Scopes kAllScopes = kEventsWrite | kEventsRead | kAdminScope;

// Errors: InvalidArgument naming an unknown scope.
util::Result<Scopes> ParseScopes(const std::vector<std::string>& names);
std::vector<std::string> ScopeNames(Scopes scopes);
// What a role's sessions may do: everything for admins and super admins, nothing for viewers
// (who still see and end their own sessions and tokens).
Scopes RoleScopes(Role role);

// The tenant reserved for events about Evident itself that belong to no tenant.
inline constexpr std::string_view kSystemTenant = "system";

struct Principal {
  std::string credential_id;  // the session or token in use (public id)
  std::string kind;           // session | api | oauth
  std::string user_id, email, name;
  Role role = Role::kViewer;
  std::string tenant;  // bound tenant; empty: every tenant (a super admin's unbound credential)
  Scopes scopes = 0;   // what this credential may do
  // Set on a session a super admin assumed: who, and why.
  std::string assumed_by_id, assumed_by_email, assume_reason;
  bool via_cookie = false;  // authenticated by the session cookie (CSRF rules apply)

  bool Can(Scope scope) const { return (scopes & scope) != 0; }
  // A super admin acting for every tenant.
  bool Unbound() const { return tenant.empty(); }
  bool MayAccessTenant(std::string_view other) const { return tenant.empty() || tenant == other; }
};

}  // namespace evident::auth
