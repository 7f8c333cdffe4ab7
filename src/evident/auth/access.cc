#include "evident/auth/access.h"

namespace evident::auth {

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kSuperAdmin:
      return "super_admin";
    case Role::kAdmin:
      return "admin";
    case Role::kViewer:
      return "viewer";
  }
  return "viewer";
}

util::Result<Role> ParseRole(std::string_view text) {
  if (text == "super_admin") return Role::kSuperAdmin;
  if (text == "admin") return Role::kAdmin;
  if (text == "viewer") return Role::kViewer;
  return util::Error::InvalidArgument("role must be one of super_admin, admin, viewer; not '" +
                                      std::string(text) + "'");
}

util::Result<Scopes> ParseScopes(const std::vector<std::string>& names) {
  Scopes scopes = 0;
  for (const std::string& name : names) {
    if (name == "events:write") {
      scopes |= kEventsWrite;
    } else if (name == "events:read") {
      scopes |= kEventsRead;
    } else if (name == "admin") {
      scopes |= kAdminScope;
    } else {
      return util::Error::InvalidArgument(
          "scope must be one of events:write, events:read, admin; not '" + name + "'");
    }
  }
  return scopes;
}

std::vector<std::string> ScopeNames(Scopes scopes) {
  std::vector<std::string> names;
  if ((scopes & kEventsWrite) != 0) names.emplace_back("events:write");
  if ((scopes & kEventsRead) != 0) names.emplace_back("events:read");
  if ((scopes & kAdminScope) != 0) names.emplace_back("admin");
  return names;
}

Scopes RoleScopes(Role role) { return role == Role::kViewer ? Scopes{0} : kAllScopes; }

}  // namespace evident::auth
