#include "evident/storage/sqlite/sqlite_identity_store.h"

#include <filesystem>
#include <mutex>

#include "evident/storage/sqlite/db.h"
#include "evident/util/strings.h"

namespace evident::storage::sqlite {

namespace {

using util::Error;
using util::Result;
using util::Status;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tenants(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users(
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  email_key TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  tenant TEXT NOT NULL,
  status TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS users_by_tenant ON users(tenant, created_at, id);
CREATE TABLE IF NOT EXISTS credentials(
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users(id),
  tenant TEXT NOT NULL,
  scopes TEXT NOT NULL,
  secret_hash BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL,
  revoked_reason TEXT NOT NULL,
  last_used_at INTEGER NOT NULL,
  last_used_ip TEXT NOT NULL,
  idle_timeout_ms INTEGER NOT NULL,
  ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  assumed_by TEXT NOT NULL,
  assume_reason TEXT NOT NULL,
  client_id TEXT NOT NULL DEFAULT '',
  session_id TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS credentials_by_time ON credentials(created_at, id);
CREATE INDEX IF NOT EXISTS credentials_by_user ON credentials(user_id);
CREATE INDEX IF NOT EXISTS credentials_by_assumer ON credentials(assumed_by) WHERE assumed_by != '';
CREATE TABLE IF NOT EXISTS pending_events(
  id INTEGER PRIMARY KEY,
  json TEXT NOT NULL);
)sql";

// Format 2 (OAuth): what format 1 lacks. Applied to new files and to format-1 files alike, after
// kSchema, in the same transaction.
constexpr std::string_view kOAuthSchema = R"sql(
CREATE INDEX IF NOT EXISTS credentials_by_session ON credentials(session_id)
  WHERE session_id != '';
CREATE INDEX IF NOT EXISTS credentials_by_client ON credentials(client_id) WHERE client_id != '';
CREATE TABLE IF NOT EXISTS oauth_clients(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  secret_hash BLOB NOT NULL,
  redirect_uris TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  scopes TEXT NOT NULL,
  tenant TEXT NOT NULL,
  status TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS oauth_clients_by_tenant ON oauth_clients(tenant, created_at, id);
CREATE TABLE IF NOT EXISTS oauth_codes(
  code_hash BLOB PRIMARY KEY,
  client_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  tenant TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  redirect_uri_given INTEGER NOT NULL,
  scopes TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL,
  session_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS oauth_codes_by_time ON oauth_codes(created_at);
CREATE TABLE IF NOT EXISTS oauth_refresh_tokens(
  id TEXT PRIMARY KEY,
  secret_hash BLOB NOT NULL UNIQUE,
  session_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scopes TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_session ON oauth_refresh_tokens(session_id);
)sql";

// Codes are kept a day after their 60 s life, so that a late replay is still recognised.
constexpr int64_t kCodeRetentionMs = 24LL * 60 * 60 * 1000;

constexpr std::string_view kUserColumns =
    "u.id, u.email, u.name, u.role, u.tenant, u.status, u.password_hash, u.created_at, "
    "u.updated_at";
constexpr std::string_view kCredentialColumns =
    "c.id, c.kind, c.name, c.user_id, c.tenant, c.scopes, c.secret_hash, c.created_at, "
    "c.expires_at, c.revoked_at, c.revoked_reason, c.last_used_at, c.last_used_ip, "
    "c.idle_timeout_ms, c.ip, c.user_agent, c.assumed_by, c.assume_reason, c.client_id, "
    "c.session_id";
constexpr std::string_view kClientColumns =
    "id, name, type, secret_hash, redirect_uris, grant_types, scopes, tenant, status, created_by, "
    "created_at, updated_at";
constexpr std::string_view kCodeColumns =
    "code_hash, client_id, user_id, tenant, redirect_uri, redirect_uri_given, scopes, "
    "code_challenge, flow_id, ip, user_agent, created_at, expires_at, used_at, session_id";
constexpr std::string_view kRefreshColumns =
    "id, secret_hash, session_id, client_id, scopes, flow_id, created_at, expires_at, used_at, "
    "revoked_at";

UserRecord ReadUser(const Statement& row, int first) {
  UserRecord user;
  user.id = row.ColumnText(first);
  user.email = row.ColumnText(first + 1);
  user.name = row.ColumnText(first + 2);
  user.role = row.ColumnText(first + 3);
  user.tenant = row.ColumnText(first + 4);
  user.status = row.ColumnText(first + 5);
  user.password_hash = row.ColumnText(first + 6);
  user.created_at = row.ColumnInt(first + 7);
  user.updated_at = row.ColumnInt(first + 8);
  return user;
}

CredentialRecord ReadCredential(const Statement& row, int first) {
  CredentialRecord credential;
  credential.id = row.ColumnText(first);
  credential.kind = row.ColumnText(first + 1);
  credential.name = row.ColumnText(first + 2);
  credential.user_id = row.ColumnText(first + 3);
  credential.tenant = row.ColumnText(first + 4);
  credential.scopes = util::SplitList(row.ColumnText(first + 5), ' ');
  credential.secret_hash = row.ColumnBlob(first + 6);
  credential.created_at = row.ColumnInt(first + 7);
  credential.expires_at = row.ColumnInt(first + 8);
  credential.revoked_at = row.ColumnInt(first + 9);
  credential.revoked_reason = row.ColumnText(first + 10);
  credential.last_used_at = row.ColumnInt(first + 11);
  credential.last_used_ip = row.ColumnText(first + 12);
  credential.idle_timeout_ms = row.ColumnInt(first + 13);
  credential.ip = row.ColumnText(first + 14);
  credential.user_agent = row.ColumnText(first + 15);
  credential.assumed_by = row.ColumnText(first + 16);
  credential.assume_reason = row.ColumnText(first + 17);
  credential.client_id = row.ColumnText(first + 18);
  credential.session_id = row.ColumnText(first + 19);
  return credential;
}

OAuthClientRecord ReadClient(const Statement& row) {
  OAuthClientRecord client;
  client.id = row.ColumnText(0);
  client.name = row.ColumnText(1);
  client.type = row.ColumnText(2);
  client.secret_hash = row.ColumnBlob(3);
  client.redirect_uris = util::SplitList(row.ColumnText(4), ' ');
  client.grant_types = util::SplitList(row.ColumnText(5), ' ');
  client.scopes = util::SplitList(row.ColumnText(6), ' ');
  client.tenant = row.ColumnText(7);
  client.status = row.ColumnText(8);
  client.created_by = row.ColumnText(9);
  client.created_at = row.ColumnInt(10);
  client.updated_at = row.ColumnInt(11);
  return client;
}

OAuthCodeRecord ReadCode(const Statement& row) {
  OAuthCodeRecord code;
  code.code_hash = row.ColumnBlob(0);
  code.client_id = row.ColumnText(1);
  code.user_id = row.ColumnText(2);
  code.tenant = row.ColumnText(3);
  code.redirect_uri = row.ColumnText(4);
  code.redirect_uri_given = row.ColumnInt(5) != 0;
  code.scopes = util::SplitList(row.ColumnText(6), ' ');
  code.code_challenge = row.ColumnText(7);
  code.flow_id = row.ColumnText(8);
  code.ip = row.ColumnText(9);
  code.user_agent = row.ColumnText(10);
  code.created_at = row.ColumnInt(11);
  code.expires_at = row.ColumnInt(12);
  code.used_at = row.ColumnInt(13);
  code.session_id = row.ColumnText(14);
  return code;
}

RefreshTokenRecord ReadRefresh(const Statement& row) {
  RefreshTokenRecord refresh;
  refresh.id = row.ColumnText(0);
  refresh.secret_hash = row.ColumnBlob(1);
  refresh.session_id = row.ColumnText(2);
  refresh.client_id = row.ColumnText(3);
  refresh.scopes = util::SplitList(row.ColumnText(4), ' ');
  refresh.flow_id = row.ColumnText(5);
  refresh.created_at = row.ColumnInt(6);
  refresh.expires_at = row.ColumnInt(7);
  refresh.used_at = row.ColumnInt(8);
  refresh.revoked_at = row.ColumnInt(9);
  return refresh;
}

// "c.id, c.kind" as "id, kind", for INSERT column lists.
std::string Unqualified(std::string_view columns) {
  std::string out(columns);
  for (size_t at = out.find("c."); at != std::string::npos; at = out.find("c.", at)) {
    out.erase(at, 2);
  }
  return out;
}

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string joined;
  for (const std::string& scope : scopes) {
    if (!joined.empty()) joined += ' ';
    joined += scope;
  }
  return joined;
}

// A LIKE pattern matching `text` anywhere, with '\' as the escape character.
std::string ContainsPattern(std::string_view text) {
  std::string pattern = "%";
  for (const char c : text) {
    if (c == '%' || c == '_' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += '%';
  return pattern;
}

// SQL built per query from fixed fragments; every value is a bound parameter.
class QueryBuilder {
 public:
  void Where(std::string clause) { clauses_.push_back(std::move(clause)); }
  int Param(std::string value) {
    text_params_.emplace_back(static_cast<int>(params_count_ + 1), std::move(value));
    return ++params_count_;
  }
  int Param(int64_t value) {
    int_params_.emplace_back(static_cast<int>(params_count_ + 1), value);
    return ++params_count_;
  }
  std::string WhereClause() const {
    std::string sql;
    for (const std::string& clause : clauses_) {
      sql += sql.empty() ? " WHERE " : " AND ";
      sql += "(" + clause + ")";
    }
    return sql;
  }
  void BindTo(Statement& statement) const {
    for (const auto& [index, value] : text_params_) statement.Bind(index, value);
    for (const auto& [index, value] : int_params_) statement.Bind(index, value);
  }

 private:
  std::vector<std::string> clauses_;
  std::vector<std::pair<int, std::string>> text_params_;
  std::vector<std::pair<int, int64_t>> int_params_;
  int params_count_ = 0;
};

std::string InList(QueryBuilder& builder, const std::vector<std::string>& values) {
  std::string list;
  for (const std::string& value : values) {
    if (!list.empty()) list += ", ";
    list += "?" + std::to_string(builder.Param(value));
  }
  return "(" + list + ")";
}

// SQL true for an unrevoked credential of alias `c` that has expired by `now` (a parameter):
// CredentialRecord::StatusAt in SQL, for filters.
std::string ExpiredSql(const std::string& now) {
  return "((c.expires_at > 0 AND c.expires_at <= " + now +
         ") OR (c.idle_timeout_ms > 0 AND max(c.last_used_at, c.created_at) + c.idle_timeout_ms "
         "<= " +
         now + "))";
}

// The keyset condition of a list newest first: strictly older than `after` on (created_at, id)
// of `alias`.
void WhereOlderThan(QueryBuilder& builder, std::string_view alias,
                    const std::optional<std::pair<util::UnixMillis, std::string>>& after) {
  if (!after) return;
  const std::string at = "?" + std::to_string(builder.Param(after->first));
  const std::string id = "?" + std::to_string(builder.Param(after->second));
  const std::string a(alias);
  builder.Where(a + ".created_at < " + at + " OR (" + a + ".created_at = " + at + " AND " + a +
                ".id < " + id + ")");
}

class SqliteIdentityStore final : public IdentityStore {
 public:
  explicit SqliteIdentityStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  Status CreateTenant(const TenantRecord& tenant) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * insert,
                             db_->Prepare("INSERT INTO tenants VALUES (?1, ?2, ?3)"));
    Status inserted =
        insert->Bind(1, tenant.id).Bind(2, tenant.name).Bind(3, tenant.created_at).Run();
    if (!inserted && inserted.error().code() == util::ErrorCode::kConflict) {
      return Error::Conflict("tenant '" + tenant.id + "' exists");
    }
    return inserted;
  }

  Result<bool> EnsureTenant(const TenantRecord& tenant) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * insert,
                             db_->Prepare("INSERT OR IGNORE INTO tenants VALUES (?1, ?2, ?3)"));
    EVIDENT_RETURN_IF_ERROR(
        insert->Bind(1, tenant.id).Bind(2, tenant.name).Bind(3, tenant.created_at).Run());
    return db_->Changes() > 0;
  }

  Result<TenantRecord> GetTenant(const std::string& id) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * select, db_->Prepare("SELECT id, name, created_at FROM tenants WHERE id = ?1"));
    select->Bind(1, id);
    EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
    if (!found) return Error::NotFound("no tenant '" + id + "'");
    TenantRecord tenant{.id = std::string(select->ColumnText(0)),
                        .name = std::string(select->ColumnText(1)),
                        .created_at = select->ColumnInt(2)};
    select->Reset();
    return tenant;
  }

  Result<std::vector<TenantRecord>> ListTenants() override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                             db_->Prepare("SELECT id, name, created_at FROM tenants ORDER BY id"));
    std::vector<TenantRecord> tenants;
    EVIDENT_RETURN_IF_ERROR(select->ForEachRow([&]() -> Result<bool> {
      tenants.push_back({.id = std::string(select->ColumnText(0)),
                         .name = std::string(select->ColumnText(1)),
                         .created_at = select->ColumnInt(2)});
      return true;
    }));
    return tenants;
  }

  Status CreateUser(const UserRecord& user) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * insert,
        db_->Prepare("INSERT INTO users VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
    BindUser(*insert, user);
    Status inserted = insert->Run();
    if (!inserted && inserted.error().code() == util::ErrorCode::kConflict) {
      return Error::Conflict("a user with the email '" + user.email + "' exists");
    }
    return inserted;
  }

  Status UpdateUser(const UserRecord& user) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * update,
        db_->Prepare("UPDATE users SET email = ?2, email_key = ?3, name = ?4, role = ?5, "
                     "tenant = ?6, status = ?7, password_hash = ?8, created_at = ?9, "
                     "updated_at = ?10 WHERE id = ?1"));
    BindUser(*update, user);
    Status updated = update->Run();
    if (!updated && updated.error().code() == util::ErrorCode::kConflict) {
      return Error::Conflict("a user with the email '" + user.email + "' exists");
    }
    EVIDENT_RETURN_IF_ERROR(updated);
    if (db_->Changes() == 0) return Error::NotFound("no user '" + user.id + "'");
    return {};
  }

  Result<UserRecord> GetUser(const std::string& id) override {
    std::lock_guard lock(mu_);
    return FindUser("u.id = ?1", id);
  }

  Result<UserRecord> FindUserByEmail(const std::string& email) override {
    std::lock_guard lock(mu_);
    return FindUser("u.email_key = ?1", util::AsciiLower(email));
  }

  Result<UserPage> ListUsers(const UserQuery& query) override {
    std::lock_guard lock(mu_);
    QueryBuilder builder;
    if (!query.tenant.empty()) {
      builder.Where("u.tenant = ?" + std::to_string(builder.Param(query.tenant)));
    }
    if (!query.q.empty()) {
      const int pattern = builder.Param(ContainsPattern(util::AsciiLower(query.q)));
      builder.Where("u.email_key LIKE ?" + std::to_string(pattern) +
                    " ESCAPE '\\' OR lower(u.name) LIKE ?" + std::to_string(pattern) +
                    " ESCAPE '\\'");
    }
    UserPage page;
    EVIDENT_ASSIGN_OR_RETURN(page.total, Count("users u", builder));
    WhereOlderThan(builder, "u", query.after);
    const std::string sql =
        "SELECT " + std::string(kUserColumns) + " FROM users u" + builder.WhereClause() +
        " ORDER BY u.created_at DESC, u.id DESC LIMIT " + std::to_string(query.limit + 1);
    EVIDENT_ASSIGN_OR_RETURN(auto select, db_->PrepareOnce(sql));
    builder.BindTo(*select);
    EVIDENT_RETURN_IF_ERROR(select->ForEachRow([&]() -> Result<bool> {
      if (page.items.size() == query.limit) {
        page.more = true;
        return false;
      }
      page.items.push_back(ReadUser(*select, 0));
      return true;
    }));
    return page;
  }

  Result<uint64_t> CountUsers() override {
    std::lock_guard lock(mu_);
    return Count("users u", QueryBuilder());
  }

  Status CreateCredential(const CredentialRecord& c) override {
    std::lock_guard lock(mu_);
    return InsertCredentialLocked(c);
  }

  Result<CredentialWithUser> FindCredentialBySecret(const std::string& secret_hash) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * select, PrepareCredentialLookup("c.secret_hash = ?1"));
    select->BindBlob(1, secret_hash);
    return ReadOneCredential(*select, "no such credential");
  }

  Result<CredentialWithUser> GetCredential(const std::string& id) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * select, PrepareCredentialLookup("c.id = ?1"));
    select->Bind(1, id);
    return ReadOneCredential(*select, "no credential '" + id + "'");
  }

  Status RecordUse(const std::string& id, util::UnixMillis at, const std::string& ip) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * update,
        db_->Prepare("UPDATE credentials SET last_used_at = ?2, last_used_ip = ?3 WHERE id = ?1"));
    EVIDENT_RETURN_IF_ERROR(update->Bind(1, id).Bind(2, at).Bind(3, ip).Run());
    if (db_->Changes() == 0) return Error::NotFound("no credential '" + id + "'");
    return {};
  }

  Result<bool> Revoke(const std::string& id, util::UnixMillis at,
                      const std::string& reason) override {
    std::lock_guard lock(mu_);
    Transaction transaction(*db_);
    EVIDENT_RETURN_IF_ERROR(transaction.Begin());
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * update,
        db_->Prepare("UPDATE credentials SET revoked_at = ?2, revoked_reason = ?3 "
                     "WHERE id = ?1 AND revoked_at = 0"));
    EVIDENT_RETURN_IF_ERROR(update->Bind(1, id).Bind(2, at).Bind(3, reason).Run());
    const bool revoked = db_->Changes() > 0;
    if (!revoked) {
      EVIDENT_ASSIGN_OR_RETURN(Statement * exists,
                               db_->Prepare("SELECT 1 FROM credentials WHERE id = ?1"));
      exists->Bind(1, id);
      EVIDENT_ASSIGN_OR_RETURN(bool found, exists->Step());
      exists->Reset();
      if (!found) return Error::NotFound("no credential '" + id + "'");
    }
    // Also when the session was revoked before: what it issued since cannot outlive it.
    EVIDENT_RETURN_IF_ERROR(RevokeIssuedInLocked(id, at, reason));
    EVIDENT_RETURN_IF_ERROR(transaction.Commit());
    return revoked;
  }

  Result<std::vector<std::string>> RevokeAllOf(const std::string& user_id, util::UnixMillis at,
                                               const std::string& reason,
                                               RevokeScope scope) override {
    std::lock_guard lock(mu_);
    static const std::string kActiveSessions =
        "c.user_id = ?1 AND c.kind = 'session' AND NOT " + ExpiredSql("?2");
    Transaction transaction(*db_);
    EVIDENT_RETURN_IF_ERROR(transaction.Begin());
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * update,
        db_->Prepare("UPDATE credentials AS c SET revoked_at = ?2, revoked_reason = ?3 WHERE " +
                     (scope == RevokeScope::kEverything
                          ? std::string("(c.user_id = ?1 OR c.assumed_by = ?1)")
                          : kActiveSessions) +
                     " AND c.revoked_at = 0 RETURNING id, kind"));
    update->Bind(1, user_id).Bind(2, at).Bind(3, reason);
    std::vector<std::string> ids, sessions;
    EVIDENT_RETURN_IF_ERROR(update->ForEachRow([&]() -> Result<bool> {
      ids.emplace_back(update->ColumnText(0));
      if (update->ColumnText(1) == "session") sessions.push_back(ids.back());
      return true;
    }));
    for (const std::string& session : sessions) {
      EVIDENT_RETURN_IF_ERROR(RevokeIssuedInLocked(session, at, reason, &ids));
    }
    EVIDENT_RETURN_IF_ERROR(transaction.Commit());
    return ids;
  }

  Result<CredentialPage> ListCredentials(const CredentialQuery& query) override {
    std::lock_guard lock(mu_);
    QueryBuilder builder;
    if (!query.kinds.empty()) builder.Where("c.kind IN " + InList(builder, query.kinds));
    if (!query.tenants.empty()) {
      // An unbound credential counts as its owner's tenant's.
      const std::string tenants = InList(builder, query.tenants);
      builder.Where("c.tenant IN " + tenants + " OR (c.tenant = '' AND u.tenant IN " + tenants +
                    ")");
    }
    if (!query.user.empty()) {
      const int user = builder.Param(query.user);
      const int email = builder.Param(util::AsciiLower(query.user));
      builder.Where("c.user_id = ?" + std::to_string(user) + " OR u.email_key = ?" +
                    std::to_string(email));
    }
    if (!query.assumed_by.empty()) {
      builder.Where("c.assumed_by = ?" + std::to_string(builder.Param(query.assumed_by)));
    }
    if (!query.statuses.empty()) {
      const std::string expired = ExpiredSql("?" + std::to_string(builder.Param(query.now)));
      std::string any;
      for (const std::string& status : query.statuses) {
        if (!any.empty()) any += " OR ";
        if (status == "revoked") {
          any += "c.revoked_at > 0";
        } else if (status == "expired") {
          any += "(c.revoked_at = 0 AND " + expired + ")";
        } else if (status == "active") {
          any += "(c.revoked_at = 0 AND NOT " + expired + ")";
        } else {
          return Error::InvalidArgument("unknown credential status '" + status + "'");
        }
      }
      builder.Where(any);
    }
    if (!query.q.empty()) {
      const std::string pattern =
          "?" + std::to_string(builder.Param(ContainsPattern(util::AsciiLower(query.q))));
      std::string any;
      for (const char* column :
           {"lower(c.name)", "c.id", "u.email_key", "lower(u.name)", "c.ip", "c.last_used_ip"}) {
        if (!any.empty()) any += " OR ";
        any += std::string(column) + " LIKE " + pattern + " ESCAPE '\\'";
      }
      builder.Where(any);
    }
    constexpr std::string_view kFrom = "credentials c JOIN users u ON u.id = c.user_id";
    CredentialPage page;
    EVIDENT_ASSIGN_OR_RETURN(page.total, Count(kFrom, builder));
    WhereOlderThan(builder, "c", query.after);
    const std::string sql =
        "SELECT " + std::string(kCredentialColumns) + ", " + std::string(kUserColumns) + " FROM " +
        std::string(kFrom) + builder.WhereClause() +
        " ORDER BY c.created_at DESC, c.id DESC LIMIT " + std::to_string(query.limit + 1);
    EVIDENT_ASSIGN_OR_RETURN(auto select, db_->PrepareOnce(sql));
    builder.BindTo(*select);
    EVIDENT_RETURN_IF_ERROR(select->ForEachRow([&]() -> Result<bool> {
      if (page.items.size() == query.limit) {
        page.more = true;
        return false;
      }
      page.items.push_back({ReadCredential(*select, 0), ReadUser(*select, kCredentialCount)});
      return true;
    }));
    return page;
  }

  Status CreateClient(const OAuthClientRecord& client) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * insert,
        db_->Prepare("INSERT INTO oauth_clients (" + std::string(kClientColumns) +
                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
    insert->Bind(1, client.id)
        .Bind(2, client.name)
        .Bind(3, client.type)
        .BindBlob(4, client.secret_hash)
        .Bind(5, JoinScopes(client.redirect_uris))
        .Bind(6, JoinScopes(client.grant_types))
        .Bind(7, JoinScopes(client.scopes))
        .Bind(8, client.tenant)
        .Bind(9, client.status)
        .Bind(10, client.created_by)
        .Bind(11, client.created_at)
        .Bind(12, client.updated_at);
    Status inserted = insert->Run();
    if (!inserted && inserted.error().code() == util::ErrorCode::kConflict) {
      return Error::Conflict("a client '" + client.id + "' exists");
    }
    return inserted;
  }

  Result<OAuthClientRecord> GetClient(const std::string& id) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                             db_->Prepare("SELECT " + std::string(kClientColumns) +
                                          " FROM oauth_clients WHERE id = ?1"));
    select->Bind(1, id);
    EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
    if (!found) return Error::NotFound("no client '" + id + "'");
    OAuthClientRecord client = ReadClient(*select);
    select->Reset();
    return client;
  }

  Result<OAuthClientPage> ListClients(const OAuthClientQuery& query) override {
    std::lock_guard lock(mu_);
    QueryBuilder builder;
    if (!query.tenant.empty()) {
      builder.Where("o.tenant = ?" + std::to_string(builder.Param(query.tenant)));
    }
    OAuthClientPage page;
    EVIDENT_ASSIGN_OR_RETURN(page.total, Count("oauth_clients o", builder));
    WhereOlderThan(builder, "o", query.after);
    std::string columns;
    for (const std::string& column : util::SplitList(kClientColumns)) {
      if (!columns.empty()) columns += ", ";
      columns += "o." + std::string(util::Trim(column));
    }
    const std::string sql = "SELECT " + columns + " FROM oauth_clients o" + builder.WhereClause() +
                            " ORDER BY o.created_at DESC, o.id DESC LIMIT " +
                            std::to_string(query.limit + 1);
    EVIDENT_ASSIGN_OR_RETURN(auto select, db_->PrepareOnce(sql));
    builder.BindTo(*select);
    EVIDENT_RETURN_IF_ERROR(select->ForEachRow([&]() -> Result<bool> {
      if (page.items.size() == query.limit) {
        page.more = true;
        return false;
      }
      page.items.push_back(ReadClient(*select));
      return true;
    }));
    return page;
  }

  Result<std::vector<std::string>> DisableClient(const std::string& id,
                                                 util::UnixMillis at) override {
    std::lock_guard lock(mu_);
    Transaction transaction(*db_);
    EVIDENT_RETURN_IF_ERROR(transaction.Begin());
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * update,
        db_->Prepare(
            "UPDATE oauth_clients SET status = 'disabled', updated_at = ?2 WHERE id = ?1"));
    EVIDENT_RETURN_IF_ERROR(update->Bind(1, id).Bind(2, at).Run());
    if (db_->Changes() == 0) return Error::NotFound("no client '" + id + "'");
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * revoke,
        db_->Prepare("UPDATE credentials SET revoked_at = ?2, revoked_reason = 'client_disabled' "
                     "WHERE client_id = ?1 AND revoked_at = 0 RETURNING id"));
    revoke->Bind(1, id).Bind(2, at);
    std::vector<std::string> ids;
    EVIDENT_RETURN_IF_ERROR(revoke->ForEachRow([&]() -> Result<bool> {
      ids.emplace_back(revoke->ColumnText(0));
      return true;
    }));
    EVIDENT_ASSIGN_OR_RETURN(Statement * refresh,
                             db_->Prepare("UPDATE oauth_refresh_tokens SET revoked_at = ?2 "
                                          "WHERE client_id = ?1 AND revoked_at = 0"));
    EVIDENT_RETURN_IF_ERROR(refresh->Bind(1, id).Bind(2, at).Run());
    EVIDENT_RETURN_IF_ERROR(transaction.Commit());
    return ids;
  }

  Status CreateCode(const OAuthCodeRecord& code) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * insert,
                             db_->Prepare("INSERT INTO oauth_codes (" + std::string(kCodeColumns) +
                                          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                          "?11, ?12, ?13, ?14, ?15)"));
    insert->BindBlob(1, code.code_hash)
        .Bind(2, code.client_id)
        .Bind(3, code.user_id)
        .Bind(4, code.tenant)
        .Bind(5, code.redirect_uri)
        .Bind(6, int64_t{code.redirect_uri_given ? 1 : 0})
        .Bind(7, JoinScopes(code.scopes))
        .Bind(8, code.code_challenge)
        .Bind(9, code.flow_id)
        .Bind(10, code.ip)
        .Bind(11, code.user_agent)
        .Bind(12, code.created_at)
        .Bind(13, code.expires_at)
        .Bind(14, code.used_at)
        .Bind(15, code.session_id);
    return insert->Run();
  }

  Result<OAuthCodeRecord> UseCode(const std::string& code_hash, const std::string& client_id,
                                  util::UnixMillis at) override {
    std::lock_guard lock(mu_);
    Transaction transaction(*db_);
    EVIDENT_RETURN_IF_ERROR(transaction.Begin());
    EVIDENT_ASSIGN_OR_RETURN(Statement * forget,
                             db_->Prepare("DELETE FROM oauth_codes WHERE created_at < ?1"));
    EVIDENT_RETURN_IF_ERROR(forget->Bind(1, at - kCodeRetentionMs).Run());
    EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                             db_->Prepare("SELECT " + std::string(kCodeColumns) +
                                          " FROM oauth_codes WHERE code_hash = ?1"));
    select->BindBlob(1, code_hash);
    EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
    if (!found) {
      EVIDENT_RETURN_IF_ERROR(transaction.Commit());
      return Error::NotFound("no such code");
    }
    OAuthCodeRecord code = ReadCode(*select);
    select->Reset();
    if (code.used_at == 0 && code.client_id == client_id) {
      EVIDENT_ASSIGN_OR_RETURN(
          Statement * use,
          db_->Prepare("UPDATE oauth_codes SET used_at = ?2 WHERE code_hash = ?1"));
      EVIDENT_RETURN_IF_ERROR(use->BindBlob(1, code_hash).Bind(2, at).Run());
    }
    EVIDENT_RETURN_IF_ERROR(transaction.Commit());
    return code;
  }

  Result<RefreshTokenRecord> FindRefreshToken(const std::string& secret_hash) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                             db_->Prepare("SELECT " + std::string(kRefreshColumns) +
                                          " FROM oauth_refresh_tokens WHERE secret_hash = ?1"));
    select->BindBlob(1, secret_hash);
    EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
    if (!found) return Error::NotFound("no such refresh token");
    RefreshTokenRecord refresh = ReadRefresh(*select);
    select->Reset();
    return refresh;
  }

  Status StoreGrant(const OAuthGrant& grant) override {
    std::lock_guard lock(mu_);
    Transaction transaction(*db_);
    EVIDENT_RETURN_IF_ERROR(transaction.Begin());
    if (!grant.spent_refresh.empty()) {
      EVIDENT_ASSIGN_OR_RETURN(Statement * spend,
                               db_->Prepare("UPDATE oauth_refresh_tokens SET used_at = ?2 "
                                            "WHERE id = ?1 AND used_at = 0 AND revoked_at = 0"));
      EVIDENT_RETURN_IF_ERROR(
          spend->Bind(1, grant.spent_refresh).Bind(2, grant.access.created_at).Run());
      if (db_->Changes() == 0) return Error::Conflict("the refresh token was already used");
    }
    if (grant.session) EVIDENT_RETURN_IF_ERROR(InsertCredentialLocked(*grant.session));
    EVIDENT_RETURN_IF_ERROR(InsertCredentialLocked(grant.access));
    if (grant.refresh) {
      const RefreshTokenRecord& r = *grant.refresh;
      EVIDENT_ASSIGN_OR_RETURN(
          Statement * insert,
          db_->Prepare("INSERT INTO oauth_refresh_tokens (" + std::string(kRefreshColumns) +
                       ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
      insert->Bind(1, r.id)
          .BindBlob(2, r.secret_hash)
          .Bind(3, r.session_id)
          .Bind(4, r.client_id)
          .Bind(5, JoinScopes(r.scopes))
          .Bind(6, r.flow_id)
          .Bind(7, r.created_at)
          .Bind(8, r.expires_at)
          .Bind(9, r.used_at)
          .Bind(10, r.revoked_at);
      EVIDENT_RETURN_IF_ERROR(insert->Run());
    }
    if (!grant.code_hash.empty() && grant.session) {
      EVIDENT_ASSIGN_OR_RETURN(
          Statement * link,
          db_->Prepare("UPDATE oauth_codes SET session_id = ?2 WHERE code_hash = ?1"));
      EVIDENT_RETURN_IF_ERROR(link->BindBlob(1, grant.code_hash).Bind(2, grant.session->id).Run());
    }
    return transaction.Commit();
  }

  Status AddPendingEvent(const std::string& json) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * insert,
                             db_->Prepare("INSERT INTO pending_events(json) VALUES (?1)"));
    return insert->Bind(1, json).Run();
  }

  Result<std::vector<std::pair<int64_t, std::string>>> PendingEvents() override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                             db_->Prepare("SELECT id, json FROM pending_events ORDER BY id"));
    std::vector<std::pair<int64_t, std::string>> pending;
    EVIDENT_RETURN_IF_ERROR(select->ForEachRow([&]() -> Result<bool> {
      pending.emplace_back(select->ColumnInt(0), select->ColumnText(1));
      return true;
    }));
    return pending;
  }

  Status ForgetPendingEvents(int64_t up_to_id) override {
    std::lock_guard lock(mu_);
    EVIDENT_ASSIGN_OR_RETURN(Statement * remove,
                             db_->Prepare("DELETE FROM pending_events WHERE id <= ?1"));
    return remove->Bind(1, up_to_id).Run();
  }

 private:
  static constexpr int kCredentialCount = 20;

  // A transaction on db_ that rolls back unless committed. Callers hold mu_.
  class Transaction {
   public:
    explicit Transaction(Db& db) : db_(db) {}
    ~Transaction() {
      if (open_) (void)db_.Exec("ROLLBACK");
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    Status Begin() {
      EVIDENT_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
      open_ = true;
      return {};
    }
    Status Commit() {
      EVIDENT_RETURN_IF_ERROR(db_.Exec("COMMIT"));
      open_ = false;
      return {};
    }

   private:
    Db& db_;
    bool open_ = false;
  };

  // Callers hold mu_.
  Status InsertCredentialLocked(const CredentialRecord& c) {
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * insert,
        db_->Prepare("INSERT INTO credentials (" + Unqualified(kCredentialColumns) +
                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                     "?15, ?16, ?17, ?18, ?19, ?20)"));
    insert->Bind(1, c.id)
        .Bind(2, c.kind)
        .Bind(3, c.name)
        .Bind(4, c.user_id)
        .Bind(5, c.tenant)
        .Bind(6, JoinScopes(c.scopes))
        .BindBlob(7, c.secret_hash)
        .Bind(8, c.created_at)
        .Bind(9, c.expires_at)
        .Bind(10, c.revoked_at)
        .Bind(11, c.revoked_reason)
        .Bind(12, c.last_used_at)
        .Bind(13, c.last_used_ip)
        .Bind(14, c.idle_timeout_ms)
        .Bind(15, c.ip)
        .Bind(16, c.user_agent)
        .Bind(17, c.assumed_by)
        .Bind(18, c.assume_reason)
        .Bind(19, c.client_id)
        .Bind(20, c.session_id);
    return insert->Run();
  }

  // Revokes the access tokens and refresh tokens issued in session `session_id`, adding the ids
  // of the access tokens revoked now to `ids` when given. Callers hold mu_, in a transaction.
  Status RevokeIssuedInLocked(const std::string& session_id, util::UnixMillis at,
                              const std::string& reason, std::vector<std::string>* ids = nullptr) {
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * tokens,
        db_->Prepare("UPDATE credentials SET revoked_at = ?2, revoked_reason = ?3 "
                     "WHERE session_id = ?1 AND revoked_at = 0 RETURNING id"));
    tokens->Bind(1, session_id).Bind(2, at).Bind(3, reason);
    EVIDENT_RETURN_IF_ERROR(tokens->ForEachRow([&]() -> Result<bool> {
      if (ids != nullptr) ids->emplace_back(tokens->ColumnText(0));
      return true;
    }));
    EVIDENT_ASSIGN_OR_RETURN(Statement * refresh,
                             db_->Prepare("UPDATE oauth_refresh_tokens SET revoked_at = ?2 "
                                          "WHERE session_id = ?1 AND revoked_at = 0"));
    return refresh->Bind(1, session_id).Bind(2, at).Run();
  }

  static void BindUser(Statement& statement, const UserRecord& user) {
    statement.Bind(1, user.id)
        .Bind(2, user.email)
        .Bind(3, util::AsciiLower(user.email))
        .Bind(4, user.name)
        .Bind(5, user.role)
        .Bind(6, user.tenant)
        .Bind(7, user.status)
        .Bind(8, user.password_hash)
        .Bind(9, user.created_at)
        .Bind(10, user.updated_at);
  }

  // Callers hold mu_.
  Result<UserRecord> FindUser(std::string_view where, const std::string& value) {
    EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                             db_->Prepare("SELECT " + std::string(kUserColumns) +
                                          " FROM users u WHERE " + std::string(where)));
    select->Bind(1, value);
    EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
    if (!found) return Error::NotFound("no such user");
    UserRecord user = ReadUser(*select, 0);
    select->Reset();
    return user;
  }

  Result<Statement*> PrepareCredentialLookup(std::string_view where) {
    return db_->Prepare(
        "SELECT " + std::string(kCredentialColumns) + ", " + std::string(kUserColumns) +
        " FROM credentials c JOIN users u ON u.id = c.user_id WHERE " + std::string(where));
  }

  static Result<CredentialWithUser> ReadOneCredential(Statement& select, std::string not_found) {
    EVIDENT_ASSIGN_OR_RETURN(bool found, select.Step());
    if (!found) return Error::NotFound(std::move(not_found));
    CredentialWithUser result{ReadCredential(select, 0), ReadUser(select, kCredentialCount)};
    select.Reset();
    return result;
  }

  Result<uint64_t> Count(std::string_view from, const QueryBuilder& builder) {
    EVIDENT_ASSIGN_OR_RETURN(
        auto count,
        db_->PrepareOnce("SELECT count(*) FROM " + std::string(from) + builder.WhereClause()));
    builder.BindTo(*count);
    EVIDENT_ASSIGN_OR_RETURN(bool row, count->Step());
    if (!row) return Error::Internal("count returned no row");
    return static_cast<uint64_t>(count->ColumnInt(0));
  }

  std::mutex mu_;
  std::unique_ptr<Db> db_;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<IdentityStore>> OpenSqliteIdentityStore(const std::string& path) {
  EVIDENT_ASSIGN_OR_RETURN(auto db, Db::Open(path, OpenMode::kReadWrite));
  EVIDENT_RETURN_IF_ERROR(db->Exec("PRAGMA busy_timeout=5000;"));
  // The format is checked before anything (mode, journal) changes, so that a file of another
  // format is left untouched.
  EVIDENT_ASSIGN_OR_RETURN(auto version, db->PrepareOnce("PRAGMA user_version"));
  EVIDENT_ASSIGN_OR_RETURN(bool row, version->Step());
  const int64_t format = row ? version->ColumnInt(0) : 0;
  version.reset();
  if (format != 0 && format != 1 && format != kIdentityFormat) {
    return Error::InvalidArgument(path + " has identity format " + std::to_string(format) +
                                  "; this Evident reads format " + std::to_string(kIdentityFormat));
  }
  // Password and token hashes: readable by the owner alone (SQLite gives its -wal and -shm files
  // the same mode).
  std::error_code mode_error;
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      std::filesystem::perm_options::replace, mode_error);
  if (mode_error) return Error::IOError("cannot restrict " + path + ": " + mode_error.message());
  EVIDENT_RETURN_IF_ERROR(
      db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  EVIDENT_RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
  Status created = db->Exec(kSchema);
  if (created && format == 1) {
    // Format 1 had no OAuth: its credentials gain the two columns format 2 adds.
    created = db->Exec(
        "ALTER TABLE credentials ADD COLUMN client_id TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE credentials ADD COLUMN session_id TEXT NOT NULL DEFAULT '';");
  }
  if (created) created = db->Exec(kOAuthSchema);
  if (created) {
    created = db->Exec("PRAGMA user_version=" + std::to_string(kIdentityFormat));
  }
  if (!created) {
    (void)db->Exec("ROLLBACK");
    return created.error();
  }
  EVIDENT_RETURN_IF_ERROR(db->Exec("COMMIT"));
  return std::unique_ptr<IdentityStore>(std::make_unique<SqliteIdentityStore>(std::move(db)));
}

}  // namespace evident::storage::sqlite
