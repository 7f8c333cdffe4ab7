// Identity and access over HTTP (docs/identity.md): login and logout, tenants, users, sessions,
// the tokens log and assumed identities. Every state change is audited before it is answered.

#include <cmath>
#include <map>

#include "evident/api/api.h"
#include "evident/api/json_body.h"
#include "evident/api/json_writer.h"
#include "evident/api/problem.h"
#include "evident/api/query_string.h"
#include "evident/auth/secrets.h"
#include "evident/util/encoding.h"
#include "evident/util/strings.h"
#include "evident/util/time.h"

namespace evident::api {

namespace {

using core::EventStatus;
using core::EventType;
using detail::JsonBody;
using detail::JsonWriter;
using detail::StringOutput;
using detail::WriteKey;
using detail::WriteString;
using storage::CredentialWithUser;
using storage::UserRecord;

constexpr size_t kDefaultLimit = 20;
constexpr size_t kMaxLimit = 1000;

void WriteTime(JsonWriter& writer, util::UnixMillis millis) {
  if (millis == 0) {
    writer.Null();
  } else {
    WriteString(writer, util::FormatRfc3339Millis(millis));
  }
}

void WriteOptional(JsonWriter& writer, std::string_view text) {
  if (text.empty()) {
    writer.Null();
  } else {
    WriteString(writer, text);
  }
}

void WriteUser(JsonWriter& writer, const UserRecord& user) {
  writer.StartObject();
  WriteKey(writer, "id");
  WriteString(writer, user.id);
  WriteKey(writer, "email");
  WriteString(writer, user.email);
  WriteKey(writer, "name");
  WriteString(writer, user.name);
  WriteKey(writer, "role");
  WriteString(writer, user.role);
  WriteKey(writer, "tenant");
  WriteOptional(writer, user.tenant);
  WriteKey(writer, "status");
  WriteString(writer, user.status);
  WriteKey(writer, "created_at");
  WriteTime(writer, user.created_at);
  WriteKey(writer, "updated_at");
  WriteTime(writer, user.updated_at);
  writer.EndObject();
}

void WriteOwner(JsonWriter& writer, const UserRecord& user) {
  writer.StartObject();
  WriteKey(writer, "id");
  WriteString(writer, user.id);
  WriteKey(writer, "email");
  WriteString(writer, user.email);
  WriteKey(writer, "name");
  WriteString(writer, user.name);
  writer.EndObject();
}

std::string UserJson(const UserRecord& user) {
  std::string body;
  StringOutput output(body);
  JsonWriter writer(output);
  WriteUser(writer, user);
  return body;
}

// Keyset cursors of identity lists: base64url("<created_at>:<id>"), opaque to clients.
std::string EncodeListCursor(util::UnixMillis created_at, std::string_view id) {
  return util::Base64Encode(std::to_string(created_at) + ":" + std::string(id),
                            util::Base64Variant::kUrlNoPadding);
}

util::Result<std::pair<util::UnixMillis, std::string>> DecodeListCursor(std::string_view text) {
  auto decoded = util::Base64Decode(text, util::Base64Variant::kUrlNoPadding);
  const util::Error malformed = util::Error::InvalidArgument("cursor: malformed");
  if (!decoded) return malformed;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == decoded->size()) return malformed;
  util::UnixMillis at = 0;
  for (size_t i = 0; i < colon; ++i) {
    const char c = (*decoded)[i];
    if (c < '0' || c > '9' || at > (INT64_MAX - 9) / 10) return malformed;
    at = at * 10 + (c - '0');
  }
  return std::make_pair(at, decoded->substr(colon + 1));
}

util::Result<size_t> ParseLimit(std::string_view text) {
  size_t limit = 0;
  for (const char c : text) {
    if (c < '0' || c > '9' || limit > kMaxLimit) {
      return util::Error::InvalidArgument("limit must be an integer from 1 to 1000");
    }
    limit = limit * 10 + static_cast<size_t>(c - '0');
  }
  if (text.empty() || limit == 0 || limit > kMaxLimit) {
    return util::Error::InvalidArgument("limit must be an integer from 1 to 1000");
  }
  return limit;
}

template <typename Item>
void WritePageEnd(JsonWriter& writer, bool more, const std::vector<Item>& items, uint64_t total) {
  WriteKey(writer, "next_cursor");
  if (more && !items.empty()) {
    const auto& last = items.back();
    if constexpr (std::is_same_v<Item, CredentialWithUser>) {
      WriteString(writer, EncodeListCursor(last.credential.created_at, last.credential.id));
    } else {
      WriteString(writer, EncodeListCursor(last.created_at, last.id));
    }
  } else {
    writer.Null();
  }
  WriteKey(writer, "total");
  writer.Uint64(total);
}

std::string SetCookie(std::string_view value, int64_t max_age_seconds, bool secure) {
  std::string cookie =
      std::string(kSessionCookie) + "=" + std::string(value) +
      "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age_seconds);
  if (secure) cookie += "; Secure";
  return cookie;
}

std::string TenantOf(const UserRecord& user) {
  return user.tenant.empty() ? std::string(auth::kSystemTenant) : user.tenant;
}

core::Resource UserResource(const UserRecord& user) {
  return core::Resource{.type = "user", .id = user.id, .name = user.email};
}

// Sessions and the tokens log, as JSON: the session shape or the tokens-log shape.
struct CredentialJson {
  const core::UserAgentParser* agents;
  util::UnixMillis now;
  bool session_shape;
};

void WriteCredential(JsonWriter& writer, const CredentialJson& how, const CredentialWithUser& item,
                     const std::string& assumed_by_email) {
  const storage::CredentialRecord& c = item.credential;
  writer.StartObject();
  WriteKey(writer, "id");
  WriteString(writer, c.id);
  if (!how.session_shape) {
    WriteKey(writer, "kind");
    WriteString(writer, c.kind);
    WriteKey(writer, "name");
    WriteString(writer, c.name);
  }
  WriteKey(writer, "user");
  WriteOwner(writer, item.user);
  WriteKey(writer, "tenant");
  WriteOptional(writer, c.tenant);
  if (how.session_shape) {
    WriteKey(writer, "ip");
    WriteOptional(writer, c.ip);
    WriteKey(writer, "user_agent");
    WriteOptional(writer, c.user_agent);
    WriteKey(writer, "agent");
    const core::Agent agent = how.agents != nullptr && !c.user_agent.empty()
                                  ? how.agents->Parse(c.user_agent)
                                  : core::Agent{.os = "Other", .browser = "Other"};
    writer.StartObject();
    WriteKey(writer, "os");
    WriteString(writer, agent.os);
    WriteKey(writer, "browser");
    WriteString(writer, agent.browser);
    writer.EndObject();
    WriteKey(writer, "created_at");
    WriteTime(writer, c.created_at);
    WriteKey(writer, "last_activity_at");
    WriteTime(writer, std::max(c.last_used_at, c.created_at));
    WriteKey(writer, "expires_at");
    WriteTime(writer, c.expires_at);
    WriteKey(writer, "status");
    WriteString(writer, c.StatusAt(how.now));
    WriteKey(writer, "assumed_by");
    WriteOptional(writer, assumed_by_email);
    WriteKey(writer, "client_id");
    WriteOptional(writer, c.client_id);
  } else {
    WriteKey(writer, "client_id");
    WriteOptional(writer, c.client_id);
    WriteKey(writer, "session_id");
    WriteOptional(writer, c.session_id);
    WriteKey(writer, "scopes");
    writer.StartArray();
    std::vector<std::string> scopes = c.scopes;
    if (c.kind == "session") {
      const auto role = auth::ParseRole(item.user.role);
      scopes = auth::ScopeNames(role ? auth::RoleScopes(*role) : auth::Scopes{0});
    }
    for (const std::string& scope : scopes) WriteString(writer, scope);
    writer.EndArray();
    WriteKey(writer, "created_at");
    WriteTime(writer, c.created_at);
    WriteKey(writer, "expires_at");
    WriteTime(writer, c.expires_at);
    WriteKey(writer, "last_used_at");
    WriteTime(writer, c.last_used_at);
    WriteKey(writer, "last_used_ip");
    WriteOptional(writer, c.last_used_ip);
    WriteKey(writer, "active");
    writer.Bool(c.StatusAt(how.now) == "active");
    WriteKey(writer, "status");
    WriteString(writer, c.StatusAt(how.now));
  }
  writer.EndObject();
}

// {token, csrf_token, session, user}: a session just started, its secrets shown this once.
std::string NewSessionJson(const CredentialJson& how, const CredentialWithUser& session,
                           std::string_view secret, std::string_view csrf_token,
                           const std::string& assumed_by_email) {
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "token");
  WriteString(writer, secret);
  WriteKey(writer, "csrf_token");
  WriteString(writer, csrf_token);
  WriteKey(writer, "session");
  WriteCredential(writer, how, session, assumed_by_email);
  WriteKey(writer, "user");
  WriteUser(writer, session.user);
  writer.EndObject();
  return json;
}

// Applies a list's `limit` or `cursor` parameter; false when `key` is neither.
util::Result<bool> PagingParameter(std::string_view key, const std::string& value, size_t& limit,
                                   std::optional<std::pair<util::UnixMillis, std::string>>& after) {
  if (key == "limit") {
    EVIDENT_ASSIGN_OR_RETURN(limit, ParseLimit(value));
    return true;
  }
  if (key == "cursor") {
    EVIDENT_ASSIGN_OR_RETURN(after, DecodeListCursor(value));
    return true;
  }
  return false;
}

void WriteStrings(JsonWriter& writer, const std::vector<std::string>& items) {
  writer.StartArray();
  for (const std::string& item : items) WriteString(writer, item);
  writer.EndArray();
}

// An OAuth client as the registry shows it; `issuer` resolves the built-in client's relative
// redirect URI. Never its secret or hash.
void WriteClient(JsonWriter& writer, const storage::OAuthClientRecord& client,
                 const std::optional<UserRecord>& owner, const std::string& issuer) {
  writer.StartObject();
  WriteKey(writer, "client_id");
  WriteString(writer, client.id);
  WriteKey(writer, "name");
  WriteString(writer, client.name);
  WriteKey(writer, "type");
  WriteString(writer, client.type);
  WriteKey(writer, "redirect_uris");
  WriteStrings(writer, auth::ResolvedRedirects(client, issuer));
  WriteKey(writer, "grant_types");
  WriteStrings(writer, client.grant_types);
  WriteKey(writer, "scopes");
  WriteStrings(writer, client.scopes);
  WriteKey(writer, "tenant");
  WriteOptional(writer, client.tenant);
  WriteKey(writer, "status");
  WriteString(writer, client.status);
  WriteKey(writer, "created_at");
  WriteTime(writer, client.created_at);
  WriteKey(writer, "created_by");
  if (owner) {
    WriteOwner(writer, *owner);
  } else {
    writer.Null();
  }
  writer.EndObject();
}

core::Resource ClientResource(const storage::OAuthClientRecord& client) {
  return core::Resource{.type = "oauth_client", .id = client.id, .name = client.name};
}

}  // namespace

std::vector<AuditRecord> Api::LoginAudit(const auth::LoginResult& result, std::string_view email,
                                         std::string_view entrypoint, const std::string& tenant,
                                         std::vector<std::pair<std::string, std::string>> details) {
  details.insert(details.begin(), {"entrypoint", std::string(entrypoint)});
  AuditRecord record{.tenant = !tenant.empty() ? tenant
                               : result.user   ? TenantOf(*result.user)
                                               : std::string(auth::kSystemTenant),
                     .type = EventType::kAuthentication,
                     .action = "login",
                     .status = EventStatus::kSuccess,
                     .resource = {},
                     .details = std::move(details),
                     .actor = result.user ? ActorOf(*result.user)
                                          : core::Actor{.id = {},
                                                        .email = std::string(util::Trim(email)),
                                                        .name = {},
                                                        .role = {},
                                                        .assumed_by = {}}};
  std::vector<AuditRecord> records;
  switch (result.outcome) {
    case auth::LoginResult::Outcome::kBlocked:
      record.status = EventStatus::kBlocked;
      record.details.emplace_back("reason", "locked_out");
      records.push_back(std::move(record));
      break;
    case auth::LoginResult::Outcome::kFailure:
      record.status = EventStatus::kFailure;
      record.details.emplace_back("reason", result.reason);
      records.push_back(record);
      if (result.locked_now) {
        // The failure that crossed the limit also records the lockout itself.
        record.status = EventStatus::kBlocked;
        record.details.back().second = "too_many_failures";
        records.push_back(std::move(record));
      }
      break;
    case auth::LoginResult::Outcome::kSuccess:
      record.details.emplace_back("session_id", result.session.id);
      record.resource = {.type = "session", .id = result.session.id, .name = {}};
      records.push_back(std::move(record));
      break;
  }
  return records;
}

std::string Api::SessionCookie(const Call& call, std::string_view secret) const {
  return SetCookie(secret, identity_.options().session_ttl_ms / 1000, call.request.secure);
}

void Api::Login(const Call& call, Responder respond) {
  auto body = JsonBody::Parse(call.request.body, {"email", "password"});
  if (!body) return respond(ProblemResponse(body.error()));
  auto email = body->String("email");
  auto password = body->String("password");
  if (!email || !password)
    return respond(ProblemResponse(!email ? email.error() : password.error()));
  if (!*email || (*email)->empty()) {
    return respond(ProblemResponse(detail::FieldProblem("email", "is required")));
  }
  if (!*password || (*password)->empty()) {
    return respond(ProblemResponse(detail::FieldProblem("password", "is required")));
  }
  if ((*password)->size() > auth::kMaxPasswordBytes) {
    return respond(ProblemResponse(detail::FieldProblem("password", "is too long")));
  }
  auth::LoginResult result =
      identity_.Login(**email, **password, call.request.remote_ip, call.request.user_agent);
  std::vector<AuditRecord> records = LoginAudit(result, **email, "PASSWORD", {}, {});
  HttpResponse response;
  switch (result.outcome) {
    case auth::LoginResult::Outcome::kBlocked: {
      const int64_t seconds = (result.retry_after_ms + 999) / 1000;
      response = ProblemResponse(
          429, "too many failed logins; try again in " + std::to_string(seconds) + " s");
      response.headers.emplace_back("Retry-After", std::to_string(seconds));
      break;
    }
    case auth::LoginResult::Outcome::kFailure:
      response = ProblemResponse(401, "the email or password is wrong");
      break;
    case auth::LoginResult::Outcome::kSuccess:
      response = JsonResponse(200, NewSessionJson({agents_, clock_.NowMillis(), true},
                                                  CredentialWithUser{result.session, *result.user},
                                                  result.secret, result.csrf_token, ""));
      response.headers.emplace_back("Set-Cookie", SessionCookie(call, result.secret));
      response.headers.emplace_back("Cache-Control", "no-store");
      break;
  }
  Audit(call, nullptr, std::move(records), std::move(response), std::move(respond));
}

void Api::Logout(const Call& call, const Principal& principal, Responder respond) {
  auto ended = identity_.Logout(principal);
  if (!ended) return respond(ProblemResponse(ended.error()));
  HttpResponse response;
  response.status = 204;
  response.content_type = std::string(kJsonType);
  response.headers.emplace_back("Set-Cookie", SetCookie("", 0, call.request.secure));
  AuditRecord record{.tenant = principal.tenant,
                     .type = EventType::kSession,
                     .action = "logout",
                     .status = EventStatus::kSuccess,
                     .resource = {.type = "session", .id = principal.credential_id, .name = {}},
                     .details = {{"entrypoint", "PASSWORD"}},
                     .actor = {}};
  Audit(call, &principal, {std::move(record)}, std::move(response), std::move(respond));
}

HttpResponse Api::CurrentSession(const Principal& principal) {
  auto user = identity_.GetUser(principal, principal.user_id);
  if (!user) return ProblemResponse(user.error());
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "user");
  WriteUser(writer, *user);
  WriteKey(writer, "credential");
  writer.StartObject();
  WriteKey(writer, "id");
  WriteString(writer, principal.credential_id);
  WriteKey(writer, "kind");
  WriteString(writer, principal.kind);
  WriteKey(writer, "tenant");
  WriteOptional(writer, principal.tenant);
  WriteKey(writer, "scopes");
  writer.StartArray();
  for (const std::string& scope : auth::ScopeNames(principal.scopes)) WriteString(writer, scope);
  writer.EndArray();
  WriteKey(writer, "assumed_by");
  WriteOptional(writer, principal.assumed_by_email);
  writer.EndObject();
  writer.EndObject();
  return JsonResponse(200, std::move(json));
}

void Api::CreateTenant(const Call& call, const Principal& principal, Responder respond) {
  auto body = JsonBody::Parse(call.request.body, {"id", "name"});
  if (!body) return respond(ProblemResponse(body.error()));
  auto id = body->String("id");
  auto name = body->String("name");
  if (!id || !name) return respond(ProblemResponse(!id ? id.error() : name.error()));
  if (!*id) return respond(ProblemResponse(detail::FieldProblem("id", "is required")));
  auto tenant = identity_.CreateTenant(principal, **id, name->value_or(""));
  if (!tenant) return respond(ProblemResponse(tenant.error()));
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "id");
  WriteString(writer, tenant->id);
  WriteKey(writer, "name");
  WriteString(writer, tenant->name);
  WriteKey(writer, "created_at");
  WriteTime(writer, tenant->created_at);
  writer.EndObject();
  AuditRecord record{.tenant = tenant->id,
                     .type = EventType::kActivity,
                     .action = "create",
                     .status = EventStatus::kSuccess,
                     .resource = {.type = "tenant", .id = tenant->id, .name = tenant->name},
                     .details = {},
                     .actor = {}};
  Audit(call, &principal, {std::move(record)}, JsonResponse(201, std::move(json)),
        std::move(respond));
}

HttpResponse Api::ListTenants(const Principal& principal) {
  auto tenants = identity_.ListTenants(principal);
  if (!tenants) return ProblemResponse(tenants.error());
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "tenants");
  writer.StartArray();
  for (const storage::TenantRecord& tenant : *tenants) {
    writer.StartObject();
    WriteKey(writer, "id");
    WriteString(writer, tenant.id);
    WriteKey(writer, "name");
    WriteString(writer, tenant.name);
    WriteKey(writer, "created_at");
    WriteTime(writer, tenant.created_at);
    writer.EndObject();
  }
  writer.EndArray();
  WriteKey(writer, "total");
  writer.Uint64(tenants->size());
  writer.EndObject();
  return JsonResponse(200, std::move(json));
}

void Api::CreateUser(const Call& call, const Principal& principal, Responder respond) {
  auto body =
      JsonBody::Parse(call.request.body, {"email", "name", "role", "tenant", "password", "status"});
  if (!body) return respond(ProblemResponse(body.error()));
  auth::NewUser input;
  for (const auto& [field, target] :
       std::initializer_list<std::pair<std::string_view, std::string*>>{
           {"email", &input.email},
           {"name", &input.name},
           {"role", &input.role},
           {"tenant", &input.tenant},
           {"password", &input.password},
           {"status", &input.status}}) {
    auto value = body->String(field);
    if (!value) return respond(ProblemResponse(value.error()));
    if (*value) *target = std::move(**value);
  }
  if (input.email.empty())
    return respond(ProblemResponse(detail::FieldProblem("email", "is required")));
  if (input.role.empty())
    return respond(ProblemResponse(detail::FieldProblem("role", "is required")));
  if (input.password.empty()) {
    return respond(ProblemResponse(detail::FieldProblem("password", "is required")));
  }
  auto user = identity_.CreateUser(principal, input);
  if (!user) return respond(ProblemResponse(user.error()));
  std::vector<AuditRecord> records;
  records.push_back({.tenant = TenantOf(*user),
                     .type = EventType::kActivity,
                     .action = "create",
                     .status = EventStatus::kSuccess,
                     .resource = UserResource(*user),
                     .details = {{"role", user->role}, {"status", user->status}},
                     .actor = {}});
  records.push_back({.tenant = TenantOf(*user),
                     .type = EventType::kActivity,
                     .action = "assign",
                     .status = EventStatus::kSuccess,
                     .resource = {.type = "role", .id = user->role, .name = user->role},
                     .details = {{"user_id", user->id}, {"user_email", user->email}},
                     .actor = {}});
  Audit(call, &principal, std::move(records), JsonResponse(201, UserJson(*user)),
        std::move(respond));
}

HttpResponse Api::ListUsers(std::string_view query, const Principal& principal) {
  auto params = ParseQueryString(query);
  if (!params) return ProblemResponse(params.error());
  storage::UserQuery request;
  request.limit = kDefaultLimit;
  for (const auto& [key, value] : *params) {
    if (key == "tenant") {
      request.tenant = value;
    } else if (key == "q") {
      request.q = value;
    } else {
      auto paging = PagingParameter(key, value, request.limit, request.after);
      if (!paging) return ProblemResponse(paging.error());
      if (!*paging) {
        return ProblemResponse(util::Error::InvalidArgument("unknown parameter '" + key + "'"));
      }
    }
  }
  auto page = identity_.ListUsers(principal, request);
  if (!page) return ProblemResponse(page.error());
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "users");
  writer.StartArray();
  for (const UserRecord& user : page->items) WriteUser(writer, user);
  writer.EndArray();
  WritePageEnd(writer, page->more, page->items, page->total);
  writer.EndObject();
  return JsonResponse(200, std::move(json));
}

HttpResponse Api::GetUser(std::string_view raw_id, const Principal& principal) {
  auto id = PercentDecode(raw_id);
  if (!id) return ProblemResponse(404, "no such user");
  auto user = identity_.GetUser(principal, *id);
  if (!user) return ProblemResponse(user.error());
  return JsonResponse(200, UserJson(*user));
}

void Api::UpdateUser(const Call& call, std::string_view raw_id, const Principal& principal,
                     Responder respond) {
  auto id = PercentDecode(raw_id);
  if (!id) return respond(ProblemResponse(404, "no such user"));
  auto body = JsonBody::Parse(call.request.body, {"email", "name", "role", "status", "password"});
  if (!body) return respond(ProblemResponse(body.error()));
  auth::UserPatch patch;
  for (const auto& [field, target] :
       std::initializer_list<std::pair<std::string_view, std::optional<std::string>*>>{
           {"email", &patch.email},
           {"name", &patch.name},
           {"role", &patch.role},
           {"status", &patch.status},
           {"password", &patch.password}}) {
    auto value = body->String(field);
    if (!value) return respond(ProblemResponse(value.error()));
    *target = std::move(*value);
  }
  auto change = identity_.UpdateUser(principal, *id, patch);
  if (!change) return respond(ProblemResponse(change.error()));
  const UserRecord& before = change->before;
  const UserRecord& after = change->after;
  std::vector<AuditRecord> records;
  const std::string tenant = TenantOf(after);
  std::vector<std::pair<std::string, std::string>> changed;
  if (before.email != after.email) changed.emplace_back("email", after.email);
  if (before.name != after.name) changed.emplace_back("name", after.name);
  if (patch.password) changed.emplace_back("password_changed", "true");
  if (!changed.empty()) {
    changed.emplace_back("previous_email", before.email);
    records.push_back({.tenant = tenant,
                       .type = EventType::kActivity,
                       .action = "update",
                       .status = EventStatus::kSuccess,
                       .resource = UserResource(after),
                       .details = std::move(changed),
                       .actor = {}});
  }
  if (before.role != after.role) {
    for (const auto& [action, role] :
         {std::pair<const char*, std::string>{"unassign", before.role}, {"assign", after.role}}) {
      records.push_back({.tenant = tenant,
                         .type = EventType::kActivity,
                         .action = action,
                         .status = EventStatus::kSuccess,
                         .resource = {.type = "role", .id = role, .name = role},
                         .details = {{"user_id", after.id}, {"user_email", after.email}},
                         .actor = {}});
    }
  }
  if (before.status != after.status) {
    std::vector<std::pair<std::string, std::string>> details = {{"status", after.status}};
    if (!change->revoked_credentials.empty()) {
      details.emplace_back("revoked_credentials",
                           std::to_string(change->revoked_credentials.size()));
    }
    records.push_back({.tenant = tenant,
                       .type = EventType::kActivity,
                       .action = after.status == "disabled" ? "disable" : "enable",
                       .status = EventStatus::kSuccess,
                       .resource = UserResource(after),
                       .details = std::move(details),
                       .actor = {}});
  }
  for (const std::string& revoked : change->revoked_credentials) {
    const bool session = identity_.KindOf(revoked) == "session";
    records.push_back(
        {.tenant = tenant,
         .type = session ? EventType::kSession : EventType::kToken,
         .action = session ? "revoke" : "deactivate",
         .status = EventStatus::kSuccess,
         .resource = {.type = session ? "session" : "token", .id = revoked, .name = {}},
         .details = {{"reason", after.status == "disabled" ? "user_disabled" : "password_changed"},
                     {"owner_id", after.id},
                     {"owner_email", after.email}},
         .actor = {}});
  }
  HttpResponse response = JsonResponse(200, UserJson(after));
  if (records.empty()) return respond(std::move(response));
  Audit(call, &principal, std::move(records), std::move(response), std::move(respond));
}

void Api::AssumeUser(const Call& call, std::string_view raw_id, const Principal& principal,
                     Responder respond) {
  auto id = PercentDecode(raw_id);
  if (!id) return respond(ProblemResponse(404, "no such user"));
  auto body = JsonBody::Parse(call.request.body, {"reason"});
  if (!body) return respond(ProblemResponse(body.error()));
  auto reason = body->String("reason");
  if (!reason) return respond(ProblemResponse(reason.error()));
  auto issued = identity_.Assume(principal, *id, reason->value_or(""), call.request.remote_ip,
                                 call.request.user_agent);
  if (!issued) return respond(ProblemResponse(issued.error()));
  const UserRecord& user = issued->record.user;
  HttpResponse response =
      JsonResponse(201, NewSessionJson({agents_, clock_.NowMillis(), true}, issued->record,
                                       issued->secret, issued->csrf_token, principal.email));
  response.headers.emplace_back("Cache-Control", "no-store");
  // Recorded in the assumed user's tenant, where its admins look, with the super admin as actor.
  AuditRecord record{.tenant = TenantOf(user),
                     .type = EventType::kSession,
                     .action = "assume",
                     .status = EventStatus::kSuccess,
                     .resource = UserResource(user),
                     .details = {{"session_id", issued->record.credential.id},
                                 {"reason", reason->value_or("")},
                                 {"assumed_user", user.email}},
                     .actor = {}};
  Audit(call, &principal, {std::move(record)}, std::move(response), std::move(respond));
}

HttpResponse Api::ListCredentials(std::string_view query, const Principal& principal,
                                  bool sessions) {
  auto params = ParseQueryString(query);
  if (!params) return ProblemResponse(params.error());
  storage::CredentialQuery request;
  request.limit = kDefaultLimit;
  if (sessions) request.kinds = {"session"};
  for (const auto& [key, value] : *params) {
    if (key == "status") {
      for (const std::string& status : util::SplitList(value)) {
        if (status != "active" && status != "expired" && status != "revoked") {
          return ProblemResponse(util::Error::InvalidArgument(
              "status must be active, expired or revoked, not '" + status + "'"));
        }
        request.statuses.push_back(status);
      }
    } else if (key == "kind" && !sessions) {
      for (const std::string& kind : util::SplitList(value)) {
        if (kind != "api" && kind != "session" && kind != "oauth") {
          return ProblemResponse(util::Error::InvalidArgument(
              "kind must be api, session or oauth, not '" + kind + "'"));
        }
        request.kinds.push_back(kind);
      }
    } else if (key == "tenant") {
      request.tenants = util::SplitList(value);
    } else if (key == "user") {
      request.user = value;
    } else if (key == "q") {
      request.q = value;
    } else {
      auto paging = PagingParameter(key, value, request.limit, request.after);
      if (!paging) return ProblemResponse(paging.error());
      if (!*paging) {
        return ProblemResponse(util::Error::InvalidArgument("unknown parameter '" + key + "'"));
      }
    }
  }
  auto page = identity_.ListCredentials(principal, request);
  if (!page) return ProblemResponse(page.error());
  const CredentialJson how{agents_, clock_.NowMillis(), sessions};
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, sessions ? "sessions" : "tokens");
  writer.StartArray();
  std::unordered_map<std::string, std::string> assumers;
  for (const CredentialWithUser& item : page->items) {
    std::string assumer;
    if (!item.credential.assumed_by.empty()) {
      auto [it, inserted] = assumers.try_emplace(item.credential.assumed_by);
      if (inserted) it->second = identity_.EmailOf(item.credential.assumed_by);
      assumer = it->second;
    }
    WriteCredential(writer, how, item, assumer);
  }
  writer.EndArray();
  WritePageEnd(writer, page->more, page->items, page->total);
  writer.EndObject();
  return JsonResponse(200, std::move(json));
}

HttpResponse Api::GetCredential(std::string_view raw_id, const Principal& principal) {
  auto id = PercentDecode(raw_id);
  if (!id) return ProblemResponse(404, "no such token or session");
  auto item = identity_.GetCredential(principal, *id);
  if (!item) return ProblemResponse(item.error());
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  WriteCredential(writer, {agents_, clock_.NowMillis(), false}, *item, "");
  return JsonResponse(200, std::move(json));
}

void Api::CreateToken(const Call& call, const Principal& principal, Responder respond) {
  auto body = JsonBody::Parse(call.request.body, {"name", "scopes", "tenant", "expires_at"});
  if (!body) return respond(ProblemResponse(body.error()));
  auto name = body->String("name");
  if (!name) return respond(ProblemResponse(name.error()));
  auto scopes = body->StringArray("scopes");
  if (!scopes) return respond(ProblemResponse(scopes.error()));
  auto tenant = body->String("tenant");
  if (!tenant) return respond(ProblemResponse(tenant.error()));
  auto expires_at = body->Timestamp("expires_at");
  if (!expires_at) return respond(ProblemResponse(expires_at.error()));
  if (!*name) return respond(ProblemResponse(detail::FieldProblem("name", "is required")));
  if (!*scopes || (*scopes)->empty()) {
    return respond(ProblemResponse(detail::FieldProblem("scopes", "give at least one scope")));
  }
  auto issued = identity_.CreateToken(principal, **name, **scopes, tenant->value_or(""),
                                      expires_at->value_or(0));
  if (!issued) return respond(ProblemResponse(issued.error()));
  const storage::CredentialRecord& token = issued->record.credential;
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "secret");
  WriteString(writer, issued->secret);
  WriteKey(writer, "token");
  WriteCredential(writer, {agents_, clock_.NowMillis(), false}, issued->record, "");
  writer.EndObject();
  HttpResponse response = JsonResponse(201, std::move(json));
  response.headers.emplace_back("Cache-Control", "no-store");
  std::string scope_list;
  for (const std::string& scope : token.scopes) {
    scope_list += scope_list.empty() ? scope : "," + scope;
  }
  AuditRecord record{.tenant = token.tenant.empty() ? TenantOf(issued->record.user) : token.tenant,
                     .type = EventType::kToken,
                     .action = "create",
                     .status = EventStatus::kSuccess,
                     .resource = {.type = "token", .id = token.id, .name = token.name},
                     .details = {{"scopes", scope_list},
                                 {"expires_at", token.expires_at == 0
                                                    ? std::string("never")
                                                    : util::FormatRfc3339Millis(token.expires_at)}},
                     .actor = {}};
  Audit(call, &principal, {std::move(record)}, std::move(response), std::move(respond));
}

void Api::RevokeCredential(const Call& call, std::string_view raw_id, const Principal& principal,
                           bool session, Responder respond) {
  auto id = PercentDecode(raw_id);
  const std::string_view what = session ? "session" : "token";
  if (!id) return respond(ProblemResponse(404, "no such " + std::string(what)));
  bool changed = false;
  auto item = identity_.RevokeCredential(principal, *id, session ? "revoke" : "deactivate",
                                         &changed, session ? "session" : "");
  if (!item) return respond(ProblemResponse(item.error()));
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  WriteCredential(writer, {agents_, clock_.NowMillis(), session}, *item,
                  identity_.EmailOf(item->credential.assumed_by));
  HttpResponse response = JsonResponse(200, std::move(json));
  if (!changed) return respond(std::move(response));  // already ended: nothing changed
  const storage::CredentialRecord& c = item->credential;
  AuditRecord record{
      .tenant = c.tenant.empty() ? TenantOf(item->user) : c.tenant,
      .type = session || c.kind == "session" ? EventType::kSession : EventType::kToken,
      .action = session ? "revoke" : "deactivate",
      .status = EventStatus::kSuccess,
      .resource = {.type = session ? "session" : "token", .id = c.id, .name = c.name},
      .details = {{"owner_id", item->user.id}, {"owner_email", item->user.email}},
      .actor = {}};
  Audit(call, &principal, {std::move(record)}, std::move(response), std::move(respond));
}

// The OAuth client registry (docs/oauth.md, "Clients").

namespace {
// The registry needs the OAuth server; without one it does not exist.
HttpResponse NoOAuth() { return ProblemResponse(404, "no such resource"); }
}  // namespace

void Api::CreateOAuthClient(const Call& call, const Principal& principal, Responder respond) {
  if (options_.oauth == nullptr) return respond(NoOAuth());
  auto body = JsonBody::Parse(call.request.body,
                              {"name", "type", "redirect_uris", "grant_types", "scopes", "tenant"});
  if (!body) return respond(ProblemResponse(body.error()));
  auth::NewClient client;
  for (const auto& [field, target] :
       {std::pair<std::string_view, std::string*>{"name", &client.name},
        {"type", &client.type},
        {"tenant", &client.tenant}}) {
    auto value = body->String(field);
    if (!value) return respond(ProblemResponse(value.error()));
    *target = value->value_or("");
  }
  for (const auto& [field, target] : {std::pair<std::string_view, std::vector<std::string>*>{
                                          "redirect_uris", &client.redirect_uris},
                                      {"grant_types", &client.grant_types},
                                      {"scopes", &client.scopes}}) {
    auto value = body->StringArray(field);
    if (!value) return respond(ProblemResponse(value.error()));
    *target = value->value_or(std::vector<std::string>{});
  }
  if (client.name.empty())
    return respond(ProblemResponse(detail::FieldProblem("name", "is required")));
  if (client.type.empty())
    return respond(ProblemResponse(detail::FieldProblem("type", "is required")));
  auto issued = options_.oauth->CreateClient(principal, client);
  if (!issued) {
    const util::Error& error = issued.error();
    if (error.code() == util::ErrorCode::kInvalidArgument) {
      // "field: message" from the auth module names the field.
      const std::string& message = error.message();
      const size_t colon = message.find(": ");
      if (colon != std::string::npos && colon < 20) {
        return respond(ProblemResponse(
            detail::FieldProblem(message.substr(0, colon), message.substr(colon + 2))));
      }
    }
    return respond(ProblemResponse(error));
  }
  const storage::OAuthClientRecord& record = issued->client;
  auto owner = options_.oauth->User(principal.user_id);
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  if (!issued->secret.empty()) {
    WriteKey(writer, "client_secret");
    WriteString(writer, issued->secret);
  }
  WriteKey(writer, "client");
  WriteClient(writer, record, owner ? std::optional<UserRecord>(*owner) : std::nullopt,
              Issuer(call.request));
  writer.EndObject();
  HttpResponse response = JsonResponse(201, std::move(json));
  response.headers.emplace_back("Cache-Control", "no-store");
  std::string grants, scopes;
  for (const std::string& grant : record.grant_types) grants += (grants.empty() ? "" : ",") + grant;
  for (const std::string& scope : record.scopes) scopes += (scopes.empty() ? "" : ",") + scope;
  AuditRecord audit{
      .tenant = record.tenant,
      .type = EventType::kActivity,
      .action = "create",
      .status = EventStatus::kSuccess,
      .resource = ClientResource(record),
      .details = {{"client_type", record.type}, {"grant_types", grants}, {"scopes", scopes}},
      .actor = {}};
  Audit(call, &principal, {std::move(audit)}, std::move(response), std::move(respond));
}

HttpResponse Api::ListOAuthClients(const Call& call, const Principal& principal) {
  if (options_.oauth == nullptr) return NoOAuth();
  auto params = ParseQueryString(call.query);
  if (!params) return ProblemResponse(params.error());
  storage::OAuthClientQuery list;
  for (const auto& [key, value] : *params) {
    if (key == "tenant") {
      list.tenant = value;
      continue;
    }
    auto paging = PagingParameter(key, value, list.limit, list.after);
    if (!paging) return ProblemResponse(paging.error());
    if (!*paging) {
      return ProblemResponse(util::Error::InvalidArgument("unknown parameter '" + key + "'"));
    }
  }
  auto page = options_.oauth->ListClients(principal, list);
  if (!page) return ProblemResponse(page.error());
  const std::string issuer = Issuer(call.request);
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "items");
  writer.StartArray();
  // Clients of a page mostly share a few owners: each is read once.
  std::map<std::string, std::optional<UserRecord>> owners;
  for (const storage::OAuthClientRecord& client : page->items) {
    auto [it, added] = owners.try_emplace(client.created_by);
    if (added) {
      auto owner = options_.oauth->User(client.created_by);
      if (owner) it->second = std::move(*owner);
    }
    WriteClient(writer, client, it->second, issuer);
  }
  writer.EndArray();
  WritePageEnd(writer, page->more, page->items, page->total);
  writer.EndObject();
  return JsonResponse(200, std::move(json));
}

HttpResponse Api::GetOAuthClient(const Call& call, std::string_view id,
                                 const Principal& principal) {
  if (options_.oauth == nullptr) return NoOAuth();
  auto client = options_.oauth->GetClient(principal, std::string(id));
  if (!client) return ProblemResponse(client.error());
  auto owner = options_.oauth->User(client->created_by);
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  WriteClient(writer, *client, owner ? std::optional<UserRecord>(*owner) : std::nullopt,
              Issuer(call.request));
  return JsonResponse(200, std::move(json));
}

void Api::DisableOAuthClient(const Call& call, std::string_view id, const Principal& principal,
                             Responder respond) {
  if (options_.oauth == nullptr) return respond(NoOAuth());
  auto disabled = options_.oauth->DisableClient(principal, std::string(id));
  if (!disabled) return respond(ProblemResponse(disabled.error()));
  const auto& [client, revoked] = *disabled;
  auto owner = options_.oauth->User(client.created_by);
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  WriteClient(writer, client, owner ? std::optional<UserRecord>(*owner) : std::nullopt,
              Issuer(call.request));
  HttpResponse response = JsonResponse(200, std::move(json));
  const std::string tenant =
      client.tenant.empty() ? std::string(auth::kSystemTenant) : client.tenant;
  std::vector<AuditRecord> records;
  records.push_back(
      AuditRecord{.tenant = tenant,
                  .type = EventType::kActivity,
                  .action = "disable",
                  .status = EventStatus::kSuccess,
                  .resource = ClientResource(client),
                  .details = {{"revoked_credentials", std::to_string(revoked.size())}},
                  .actor = {}});
  for (const std::string& credential : revoked) {
    records.push_back(
        AuditRecord{.tenant = tenant,
                    .type = EventType::kToken,
                    .action = "revoke",
                    .status = EventStatus::kSuccess,
                    .resource = {.type = "token", .id = credential, .name = {}},
                    .details = {{"reason", "client_disabled"}, {"client_id", client.id}},
                    .actor = {}});
  }
  Audit(call, &principal, std::move(records), std::move(response), std::move(respond));
}

}  // namespace evident::api
