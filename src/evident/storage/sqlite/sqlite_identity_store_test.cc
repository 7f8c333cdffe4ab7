// The SQLite IdentityStore: tenants, users, credentials and pending events, on a real file.
#include "evident/storage/sqlite/sqlite_identity_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace evident::storage::sqlite {
namespace {

constexpr util::UnixMillis kBase = 1'746'000'000'000;

TenantRecord Tenant(const std::string& id, const std::string& name, util::UnixMillis at) {
  TenantRecord tenant;
  tenant.id = id;
  tenant.name = name;
  tenant.created_at = at;
  return tenant;
}

UserRecord User(const std::string& id, const std::string& email, const std::string& tenant,
                util::UnixMillis at) {
  UserRecord user;
  user.id = id;
  user.email = email;
  user.name = "Name of " + id;
  user.role = tenant.empty() ? "super_admin" : "viewer";
  user.tenant = tenant;
  user.status = "active";
  user.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  user.created_at = at;
  user.updated_at = at;
  return user;
}

// A distinct 32-byte hash per `seed`, with a NUL and high bytes to check the blob round trip.
std::string Hash(int seed) {
  std::string hash(32, '\0');
  for (size_t i = 0; i < hash.size(); ++i) {
    hash[i] = static_cast<char>((seed * 31 + static_cast<int>(i) * 7 + 0x80) & 0xff);
  }
  hash[5] = '\0';
  return hash;
}

CredentialRecord Credential(const std::string& id, const std::string& kind,
                            const std::string& user_id, const std::string& tenant,
                            util::UnixMillis created_at, int seed) {
  CredentialRecord credential;
  credential.id = id;
  credential.kind = kind;
  credential.name = "credential " + id;
  credential.user_id = user_id;
  credential.tenant = tenant;
  if (kind == "api") credential.scopes = {"events:write", "events:read"};
  credential.secret_hash = Hash(seed);
  credential.created_at = created_at;
  return credential;
}

std::vector<std::string> Ids(const CredentialPage& page) {
  std::vector<std::string> ids;
  for (const CredentialWithUser& item : page.items) ids.push_back(item.credential.id);
  return ids;
}

std::vector<std::string> Sorted(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 0777;
}

class SqliteIdentityStore : public ::testing::Test {
 protected:
  void SetUp() override {
    // The process id keeps runs from other build directories apart.
    dir_ = (std::filesystem::path(::testing::TempDir()) /
            (std::string("evident_identity_") +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
             std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (std::filesystem::path(dir_) / kIdentityDbFile).string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<IdentityStore> Open() {
    auto store = OpenSqliteIdentityStore(path_);
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store ? std::move(store).value() : nullptr;
  }

  // Credentials of several kinds, tenants, owners and states, judged at kNow:
  //   c1 api     acme    alice  "deploy 100% ready"  active
  //   c2 api     acme    alice  expires_at == kNow   expired
  //   c3 session globex  bob    idle, used lately    active
  //   c4 session globex  bob    idle, never used     expired
  //   c5 api     acme    carol  "a_b"                revoked
  //   c6 api     (none)  root   "deploy 1000 ready"  active
  //   c7 api     (none)  dave of acme                active (tenant: its owner's)
  //   c8 session globex  bob    assumed by root      active
  static constexpr util::UnixMillis kNow = kBase + 100'000;
  void AddCredentialFixture(IdentityStore& store) {
    ASSERT_TRUE(store.CreateUser(User("u-alice", "Alice@Acme.test", "acme", kBase)));
    ASSERT_TRUE(store.CreateUser(User("u-bob", "bob@globex.test", "globex", kBase)));
    ASSERT_TRUE(store.CreateUser(User("u-carol", "carol@acme.test", "acme", kBase)));
    ASSERT_TRUE(store.CreateUser(User("u-dave", "dave@acme.test", "acme", kBase)));
    ASSERT_TRUE(store.CreateUser(User("u-root", "root@example.test", "", kBase)));

    CredentialRecord c1 = Credential("c1", "api", "u-alice", "acme", kBase + 1, 1);
    c1.name = "deploy 100% ready";
    CredentialRecord c2 = Credential("c2", "api", "u-alice", "acme", kBase + 2, 2);
    c2.expires_at = kNow;
    CredentialRecord c3 = Credential("c3", "session", "u-bob", "globex", kBase + 3, 3);
    c3.idle_timeout_ms = 10'000;
    c3.last_used_at = kNow - 5'000;
    c3.ip = "10.1.2.3";
    CredentialRecord c4 = Credential("c4", "session", "u-bob", "globex", kBase + 4, 4);
    c4.idle_timeout_ms = 10'000;
    c4.ip = "192.168.7.7";
    CredentialRecord c5 = Credential("c5", "api", "u-carol", "acme", kBase + 5, 5);
    c5.name = "a_b";
    c5.revoked_at = kBase + 50;
    c5.revoked_reason = "revoke";
    CredentialRecord c6 = Credential("c6", "api", "u-root", "", kBase + 6, 6);
    c6.name = "deploy 1000 ready";
    CredentialRecord c7 = Credential("c7", "api", "u-dave", "", kBase + 7, 7);
    c7.name = "axb";
    CredentialRecord c8 = Credential("c8", "session", "u-bob", "globex", kBase + 8, 8);
    c8.assumed_by = "u-root";
    c8.assume_reason = "support ticket 42";
    for (const CredentialRecord& credential : {c1, c2, c3, c4, c5, c6, c7, c8}) {
      auto created = store.CreateCredential(credential);
      ASSERT_TRUE(created) << credential.id << ": " << created.error().ToString();
    }
  }

  static CredentialQuery AtNow() {
    CredentialQuery query;
    query.now = kNow;
    query.limit = 100;
    return query;
  }

  static std::vector<std::string> List(IdentityStore& store, const CredentialQuery& query) {
    auto page = store.ListCredentials(query);
    EXPECT_TRUE(page.has_value()) << page.error().ToString();
    if (!page) return {};
    EXPECT_EQ(page->total, page->items.size());
    EXPECT_FALSE(page->more);
    return Sorted(Ids(*page));
  }

  std::string dir_;
  std::string path_;
};

using IdList = std::vector<std::string>;

TEST_F(SqliteIdentityStore, CreatesGetsAndListsTenants) {
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->CreateTenant(Tenant("globex", "Globex Corp", kBase)));
  EXPECT_TRUE(store->CreateTenant(Tenant("acme", "Acme Inc", kBase + 1)));

  auto duplicate = store->CreateTenant(Tenant("acme", "Another Acme", kBase + 2));
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), util::ErrorCode::kConflict);

  auto acme = store->GetTenant("acme");
  ASSERT_TRUE(acme) << acme.error().ToString();
  EXPECT_EQ(*acme, Tenant("acme", "Acme Inc", kBase + 1));  // the duplicate changed nothing

  auto missing = store->GetTenant("initech");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), util::ErrorCode::kNotFound);

  auto tenants = store->ListTenants();
  ASSERT_TRUE(tenants);
  EXPECT_EQ(*tenants, (std::vector<TenantRecord>{Tenant("acme", "Acme Inc", kBase + 1),
                                                 Tenant("globex", "Globex Corp", kBase)}));
}

TEST_F(SqliteIdentityStore, EnsureTenantCreatesOnlyOnce) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto first = store->EnsureTenant(Tenant("acme", "acme", kBase));
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_TRUE(*first);
  auto second = store->EnsureTenant(Tenant("acme", "renamed", kBase + 5));
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_FALSE(*second);
  EXPECT_EQ(store->GetTenant("acme")->name, "acme");  // the second call left the row alone
  EXPECT_EQ(store->GetTenant("acme")->created_at, kBase);
  EXPECT_EQ(store->ListTenants()->size(), 1u);
}

TEST_F(SqliteIdentityStore, UsersHaveUniqueCaseInsensitiveEmails) {
  auto store = Open();
  ASSERT_TRUE(store);
  const UserRecord ann = User("u1", "Ann@Example.test", "acme", kBase);
  ASSERT_TRUE(store->CreateUser(ann));

  auto same_email = store->CreateUser(User("u2", "ann@EXAMPLE.TEST", "globex", kBase));
  ASSERT_FALSE(same_email);
  EXPECT_EQ(same_email.error().code(), util::ErrorCode::kConflict);

  auto same_id = store->CreateUser(User("u1", "other@example.test", "acme", kBase));
  ASSERT_FALSE(same_id);
  EXPECT_EQ(same_id.error().code(), util::ErrorCode::kConflict);

  auto by_id = store->GetUser("u1");
  ASSERT_TRUE(by_id);
  EXPECT_EQ(*by_id, ann);

  auto by_email = store->FindUserByEmail("ANN@example.Test");
  ASSERT_TRUE(by_email) << by_email.error().ToString();
  EXPECT_EQ(*by_email, ann);
  EXPECT_EQ(by_email->email, "Ann@Example.test");  // stored as given

  EXPECT_EQ(store->GetUser("u2").error().code(), util::ErrorCode::kNotFound);
  EXPECT_EQ(store->FindUserByEmail("nobody@example.test").error().code(),
            util::ErrorCode::kNotFound);
  EXPECT_EQ(*store->CountUsers(), 1u);
}

TEST_F(SqliteIdentityStore, UpdateUserReplacesTheRow) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateUser(User("u1", "ann@example.test", "acme", kBase)));
  ASSERT_TRUE(store->CreateUser(User("u2", "ben@example.test", "acme", kBase)));

  UserRecord changed = User("u1", "Anna@Example.test", "acme", kBase);
  changed.name = "Anna";
  changed.role = "admin";
  changed.status = "disabled";
  changed.password_hash = "";
  changed.updated_at = kBase + 10;
  ASSERT_TRUE(store->UpdateUser(changed));
  EXPECT_EQ(*store->GetUser("u1"), changed);
  EXPECT_EQ(*store->FindUserByEmail("anna@example.test"), changed);
  EXPECT_EQ(store->FindUserByEmail("ann@example.test").error().code(), util::ErrorCode::kNotFound);

  auto unknown = store->UpdateUser(User("u9", "new@example.test", "acme", kBase));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), util::ErrorCode::kNotFound);
  EXPECT_EQ(store->GetUser("u9").error().code(), util::ErrorCode::kNotFound);

  UserRecord taken = User("u2", "ANNA@example.test", "acme", kBase);
  auto conflict = store->UpdateUser(taken);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code(), util::ErrorCode::kConflict);
  EXPECT_EQ(store->GetUser("u2")->email, "ben@example.test");

  // Changing only the case of one's own email is no conflict.
  UserRecord recased = changed;
  recased.email = "ANNA@example.test";
  EXPECT_TRUE(store->UpdateUser(recased));
  EXPECT_EQ(store->GetUser("u1")->email, "ANNA@example.test");
}

TEST_F(SqliteIdentityStore, ListUsersFiltersAndPages) {
  auto store = Open();
  ASSERT_TRUE(store);
  // 23 users; several share a created_at, so that paging must break ties by id.
  std::set<std::string> acme_ids;
  for (int i = 0; i < 23; ++i) {
    const std::string id = "u" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    const std::string tenant = i % 3 == 0 ? "globex" : "acme";
    UserRecord user =
        User(id, "person" + std::to_string(i) + "@example.test", tenant, kBase + (i / 4) * 1000);
    if (i == 7) user.name = "Zoë Special";
    if (i == 8) user.email = "SPECIAL.agent@example.test";
    ASSERT_TRUE(store->CreateUser(user));
    if (tenant == "acme") acme_ids.insert(id);
  }

  UserQuery acme;
  acme.tenant = "acme";
  acme.limit = 4;
  std::vector<std::string> seen;
  std::vector<UserRecord> previous_page;
  for (int pages = 0; pages < 20; ++pages) {
    auto page = store->ListUsers(acme);
    ASSERT_TRUE(page) << page.error().ToString();
    EXPECT_EQ(page->total, acme_ids.size());
    for (const UserRecord& user : page->items) {
      EXPECT_EQ(user.tenant, "acme");
      seen.push_back(user.id);
    }
    if (!page->more) break;
    ASSERT_EQ(page->items.size(), 4u);
    acme.after = std::make_pair(page->items.back().created_at, page->items.back().id);
  }
  // Newest first, every acme user exactly once.
  EXPECT_EQ(seen.size(), acme_ids.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), acme_ids);
  std::vector<std::string> expected(acme_ids.begin(), acme_ids.end());
  std::sort(expected.begin(), expected.end(), [](const std::string& a, const std::string& b) {
    const auto at = [](const std::string& id) { return std::stoi(id.substr(1)) / 4; };
    return std::make_pair(at(a), a) > std::make_pair(at(b), b);
  });
  EXPECT_EQ(seen, expected);

  UserQuery everyone;
  everyone.limit = 100;
  auto all = store->ListUsers(everyone);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->total, 23u);
  EXPECT_EQ(all->items.size(), 23u);
  EXPECT_FALSE(all->more);

  UserQuery exact;
  exact.limit = 23;
  EXPECT_FALSE(store->ListUsers(exact)->more);
  exact.limit = 22;
  EXPECT_TRUE(store->ListUsers(exact)->more);

  // q: a substring of the email or the name, case-insensitive.
  UserQuery special;
  special.q = "SPECIAL";
  auto found = store->ListUsers(special);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->total, 2u);
  std::vector<std::string> found_ids;
  for (const UserRecord& user : found->items) found_ids.push_back(user.id);
  EXPECT_EQ(Sorted(found_ids), (IdList{"u07", "u08"}));

  special.tenant = "globex";  // u07 and u08 are both acme
  EXPECT_EQ(store->ListUsers(special)->total, 0u);

  UserQuery percent;
  percent.q = "%";
  EXPECT_EQ(store->ListUsers(percent)->total, 0u);
}

TEST_F(SqliteIdentityStore, FindsCredentialsBySecretAndRecordsUse) {
  auto store = Open();
  ASSERT_TRUE(store);
  const UserRecord alice = User("u-alice", "alice@acme.test", "acme", kBase);
  ASSERT_TRUE(store->CreateUser(alice));
  CredentialRecord token = Credential("c1", "api", "u-alice", "acme", kBase + 1, 1);
  token.expires_at = kBase + 1'000'000;
  CredentialRecord session = Credential("c2", "session", "u-alice", "acme", kBase + 2, 2);
  session.idle_timeout_ms = 60'000;
  session.ip = "10.0.0.1";
  session.user_agent = "curl/8";
  ASSERT_TRUE(store->CreateCredential(token));
  ASSERT_TRUE(store->CreateCredential(session));

  auto found = store->FindCredentialBySecret(Hash(1));
  ASSERT_TRUE(found) << found.error().ToString();
  EXPECT_EQ(found->credential, token);
  EXPECT_EQ(found->user, alice);
  EXPECT_EQ(store->FindCredentialBySecret(Hash(2))->credential, session);
  EXPECT_TRUE(store->FindCredentialBySecret(Hash(2))->credential.scopes.empty());
  EXPECT_EQ(store->FindCredentialBySecret(Hash(3)).error().code(), util::ErrorCode::kNotFound);
  EXPECT_EQ(store->GetCredential("c2")->credential, session);
  EXPECT_EQ(store->GetCredential("c3").error().code(), util::ErrorCode::kNotFound);

  CredentialRecord same_secret = Credential("c3", "api", "u-alice", "acme", kBase + 3, 1);
  EXPECT_EQ(store->CreateCredential(same_secret).error().code(), util::ErrorCode::kConflict);
  CredentialRecord same_id = Credential("c1", "api", "u-alice", "acme", kBase + 3, 9);
  EXPECT_EQ(store->CreateCredential(same_id).error().code(), util::ErrorCode::kConflict);

  ASSERT_TRUE(store->RecordUse("c1", kBase + 60'000, "203.0.113.9"));
  auto used = store->GetCredential("c1");
  ASSERT_TRUE(used);
  EXPECT_EQ(used->credential.last_used_at, kBase + 60'000);
  EXPECT_EQ(used->credential.last_used_ip, "203.0.113.9");
  EXPECT_EQ(store->GetCredential("c2")->credential.last_used_at, 0);  // only c1 changed
  EXPECT_EQ(store->RecordUse("c9", kBase, "").error().code(), util::ErrorCode::kNotFound);
}

TEST_F(SqliteIdentityStore, RevokesOnce) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateUser(User("u-alice", "alice@acme.test", "acme", kBase)));
  ASSERT_TRUE(store->CreateCredential(Credential("c1", "api", "u-alice", "acme", kBase, 1)));

  auto first = store->Revoke("c1", kBase + 10, "revoke");
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_TRUE(*first);
  auto second = store->Revoke("c1", kBase + 20, "deactivate");
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_FALSE(*second);
  const CredentialRecord revoked = store->GetCredential("c1")->credential;
  EXPECT_EQ(revoked.revoked_at, kBase + 10);  // the first revocation stands
  EXPECT_EQ(revoked.revoked_reason, "revoke");
  EXPECT_EQ(revoked.StatusAt(kBase + 11), "revoked");

  auto unknown = store->Revoke("c9", kBase, "revoke");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), util::ErrorCode::kNotFound);
}

TEST_F(SqliteIdentityStore, RevokeAllOfCoversAssumedSessions) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateUser(User("u-root", "root@example.test", "", kBase)));
  ASSERT_TRUE(store->CreateUser(User("u-bob", "bob@globex.test", "globex", kBase)));
  ASSERT_TRUE(store->CreateCredential(Credential("root-token", "api", "u-root", "", kBase, 1)));
  ASSERT_TRUE(
      store->CreateCredential(Credential("root-session", "session", "u-root", "", kBase, 2)));
  CredentialRecord old = Credential("root-old", "api", "u-root", "", kBase, 3);
  old.revoked_at = kBase + 1;
  old.revoked_reason = "revoke";
  ASSERT_TRUE(store->CreateCredential(old));
  CredentialRecord assumed = Credential("bob-assumed", "session", "u-bob", "globex", kBase, 4);
  assumed.assumed_by = "u-root";
  assumed.assume_reason = "ticket";
  ASSERT_TRUE(store->CreateCredential(assumed));
  ASSERT_TRUE(
      store->CreateCredential(Credential("bob-own", "session", "u-bob", "globex", kBase, 5)));

  auto revoked = store->RevokeAllOf("u-root", kBase + 100, "user_disabled",
                                    IdentityStore::RevokeScope::kEverything);
  ASSERT_TRUE(revoked) << revoked.error().ToString();
  EXPECT_EQ(Sorted(*revoked), (IdList{"bob-assumed", "root-session", "root-token"}));
  for (const char* id : {"bob-assumed", "root-session", "root-token"}) {
    const CredentialRecord credential = store->GetCredential(id)->credential;
    EXPECT_EQ(credential.revoked_at, kBase + 100) << id;
    EXPECT_EQ(credential.revoked_reason, "user_disabled") << id;
  }
  EXPECT_EQ(store->GetCredential("root-old")->credential.revoked_at, kBase + 1);
  EXPECT_EQ(store->GetCredential("root-old")->credential.revoked_reason, "revoke");
  EXPECT_EQ(store->GetCredential("bob-own")->credential.revoked_at, 0);

  auto again = store->RevokeAllOf("u-root", kBase + 200, "user_disabled",
                                  IdentityStore::RevokeScope::kEverything);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
}

TEST_F(SqliteIdentityStore, RevokeAllOfActiveSessionsLeavesTokensAndEndedSessions) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateUser(User("u-root", "root@example.test", "", kBase)));
  ASSERT_TRUE(store->CreateUser(User("u-bob", "bob@globex.test", "globex", kBase)));
  ASSERT_TRUE(store->CreateCredential(Credential("bob-token", "api", "u-bob", "globex", kBase, 1)));
  ASSERT_TRUE(
      store->CreateCredential(Credential("bob-session", "session", "u-bob", "globex", kBase, 2)));
  CredentialRecord idle = Credential("bob-idle", "session", "u-bob", "globex", kBase, 3);
  idle.idle_timeout_ms = 10;
  ASSERT_TRUE(store->CreateCredential(idle));
  CredentialRecord assumed = Credential("root-as-bob", "session", "u-bob", "globex", kBase, 4);
  assumed.assumed_by = "u-root";
  ASSERT_TRUE(store->CreateCredential(assumed));
  ASSERT_TRUE(
      store->CreateCredential(Credential("root-session", "session", "u-root", "", kBase, 5)));

  // Bob's sessions still active end, the one assumed as Bob included; his token, his idle
  // session and root's session stay as they were.
  auto revoked = store->RevokeAllOf("u-bob", kBase + 100, "password_changed",
                                    IdentityStore::RevokeScope::kActiveSessions);
  ASSERT_TRUE(revoked) << revoked.error().ToString();
  EXPECT_EQ(Sorted(*revoked), (IdList{"bob-session", "root-as-bob"}));
  EXPECT_EQ(store->GetCredential("bob-session")->credential.revoked_reason, "password_changed");
  for (const char* id : {"bob-token", "bob-idle", "root-session"}) {
    EXPECT_EQ(store->GetCredential(id)->credential.revoked_at, 0) << id;
  }
}

TEST_F(SqliteIdentityStore, ListCredentialsFiltersByKindStatusTenantAndUser) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_NO_FATAL_FAILURE(AddCredentialFixture(*store));

  EXPECT_EQ(List(*store, AtNow()), (IdList{"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"}));

  CredentialQuery sessions = AtNow();
  sessions.kinds = {"session"};
  EXPECT_EQ(List(*store, sessions), (IdList{"c3", "c4", "c8"}));
  sessions.kinds = {"session", "api"};
  EXPECT_EQ(List(*store, sessions).size(), 8u);
  sessions.kinds = {"oauth"};
  EXPECT_TRUE(List(*store, sessions).empty());

  CredentialQuery active = AtNow();
  active.statuses = {"active"};
  EXPECT_EQ(List(*store, active), (IdList{"c1", "c3", "c6", "c7", "c8"}));
  CredentialQuery expired = AtNow();
  expired.statuses = {"expired"};
  EXPECT_EQ(List(*store, expired), (IdList{"c2", "c4"}));
  CredentialQuery revoked = AtNow();
  revoked.statuses = {"revoked"};
  EXPECT_EQ(List(*store, revoked), (IdList{"c5"}));
  CredentialQuery either = AtNow();
  either.statuses = {"revoked", "expired"};
  EXPECT_EQ(List(*store, either), (IdList{"c2", "c4", "c5"}));

  // The list judges statuses exactly as StatusAt does.
  for (const std::string status : {"active", "expired", "revoked"}) {
    CredentialQuery query = AtNow();
    query.statuses = {status};
    auto page = store->ListCredentials(query);
    ASSERT_TRUE(page) << page.error().ToString();
    for (const CredentialWithUser& item : page->items) {
      EXPECT_EQ(item.credential.StatusAt(kNow), status) << item.credential.id;
    }
  }

  // Status is judged at query.now: a millisecond earlier c2 has not expired, and c3's idle
  // timeout runs out later.
  CredentialQuery earlier = AtNow();
  earlier.now = kNow - 1;
  earlier.statuses = {"expired"};
  EXPECT_EQ(List(*store, earlier), (IdList{"c4"}));
  CredentialQuery later = AtNow();
  later.now = kNow + 5'000;  // c3 was last used 5 s before kNow and times out after 10 s idle
  later.statuses = {"expired"};
  EXPECT_EQ(List(*store, later), (IdList{"c2", "c3", "c4"}));

  CredentialQuery bad_status = AtNow();
  bad_status.statuses = {"sleeping"};
  auto bad = store->ListCredentials(bad_status);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), util::ErrorCode::kInvalidArgument);

  // Tenants: the credential's own or, when unbound, its owner's.
  CredentialQuery acme = AtNow();
  acme.tenants = {"acme"};
  EXPECT_EQ(List(*store, acme), (IdList{"c1", "c2", "c5", "c7"}));
  CredentialQuery globex = AtNow();
  globex.tenants = {"globex"};
  EXPECT_EQ(List(*store, globex), (IdList{"c3", "c4", "c8"}));
  CredentialQuery both = AtNow();
  both.tenants = {"globex", "acme"};
  EXPECT_EQ(List(*store, both), (IdList{"c1", "c2", "c3", "c4", "c5", "c7", "c8"}));
  CredentialQuery active_acme = acme;
  active_acme.statuses = {"active"};
  EXPECT_EQ(List(*store, active_acme), (IdList{"c1", "c7"}));

  CredentialQuery by_id = AtNow();
  by_id.user = "u-alice";
  EXPECT_EQ(List(*store, by_id), (IdList{"c1", "c2"}));
  CredentialQuery by_email = AtNow();
  by_email.user = "ALICE@acme.TEST";
  EXPECT_EQ(List(*store, by_email), (IdList{"c1", "c2"}));
  CredentialQuery nobody = AtNow();
  nobody.user = "nobody@acme.test";
  EXPECT_TRUE(List(*store, nobody).empty());

  CredentialQuery assumed = AtNow();
  assumed.assumed_by = "u-root";
  EXPECT_EQ(List(*store, assumed), (IdList{"c8"}));

  // Owners come with their credentials.
  CredentialQuery bob = AtNow();
  bob.user = "u-bob";
  auto bobs = store->ListCredentials(bob);
  ASSERT_TRUE(bobs) << bobs.error().ToString();
  ASSERT_EQ(bobs->items.size(), 3u);
  for (const CredentialWithUser& item : bobs->items) {
    EXPECT_EQ(item.user, *store->GetUser("u-bob"));
  }
}

TEST_F(SqliteIdentityStore, ListCredentialsSearchesLiterally) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_NO_FATAL_FAILURE(AddCredentialFixture(*store));

  const auto search = [&](const std::string& q) {
    CredentialQuery query = AtNow();
    query.q = q;
    return List(*store, query);
  };
  EXPECT_EQ(search("DEPLOY"), (IdList{"c1", "c6"}));  // name, case-insensitive
  EXPECT_EQ(search("0%"), (IdList{"c1"}));            // not "1000 ready"
  EXPECT_EQ(search("a_b"), (IdList{"c5"}));           // not "axb"
  EXPECT_EQ(search("%"), (IdList{"c1"}));
  EXPECT_EQ(search("_"), (IdList{"c5"}));
  EXPECT_EQ(search("c4"), (IdList{"c4"}));                      // id
  EXPECT_EQ(search("BOB@GLOBEX"), (IdList{"c3", "c4", "c8"}));  // owner's email
  EXPECT_EQ(search("name of u-carol"), (IdList{"c5"}));         // owner's name
  EXPECT_EQ(search("10.1.2"), (IdList{"c3"}));                  // ip
  EXPECT_TRUE(search("no such thing").empty());

  CredentialQuery combined = AtNow();
  combined.q = "deploy";
  combined.tenants = {"acme"};
  EXPECT_EQ(List(*store, combined), (IdList{"c1"}));
}

TEST_F(SqliteIdentityStore, ListCredentialsPagesWithoutGapsOrDuplicates) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateUser(User("u-alice", "alice@acme.test", "acme", kBase)));
  ASSERT_TRUE(store->CreateUser(User("u-bob", "bob@acme.test", "acme", kBase)));
  std::vector<std::string> alice_ids;
  for (int i = 0; i < 17; ++i) {
    // Three credentials per millisecond: ties broken by id.
    const std::string id = "k" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    const std::string owner = i % 4 == 3 ? "u-bob" : "u-alice";
    ASSERT_TRUE(store->CreateCredential(
        Credential(id, i % 2 == 0 ? "api" : "session", owner, "acme", kBase + i / 3, 100 + i)));
    if (owner == "u-alice") alice_ids.push_back(id);
  }
  // Newest first: created_at descending, then id descending.
  std::vector<std::string> expected = alice_ids;
  std::sort(expected.begin(), expected.end(), [](const std::string& a, const std::string& b) {
    const auto at = [](const std::string& id) { return std::stoi(id.substr(1)) / 3; };
    return std::make_pair(at(a), a) > std::make_pair(at(b), b);
  });

  CredentialQuery query = AtNow();
  query.user = "u-alice";
  query.limit = 5;
  std::vector<std::string> seen;
  int pages = 0;
  while (pages++ < 20) {
    auto page = store->ListCredentials(query);
    ASSERT_TRUE(page) << page.error().ToString();
    EXPECT_EQ(page->total, alice_ids.size());
    for (const std::string& id : Ids(*page)) seen.push_back(id);
    if (!page->more) break;
    ASSERT_EQ(page->items.size(), 5u);
    const CredentialRecord& last = page->items.back().credential;
    query.after = std::make_pair(last.created_at, last.id);
  }
  EXPECT_EQ(pages, 3);  // 13 credentials: 5 + 5 + 3
  EXPECT_EQ(seen, expected);
}

TEST_F(SqliteIdentityStore, PendingEventsAreListedAndForgotten) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto none = store->PendingEvents();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());

  for (const char* json : {R"({"n":1})", R"({"n":2})", R"({"n":3})"}) {
    ASSERT_TRUE(store->AddPendingEvent(json));
  }
  auto pending = store->PendingEvents();
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].second, R"({"n":1})");
  EXPECT_EQ((*pending)[1].second, R"({"n":2})");
  EXPECT_EQ((*pending)[2].second, R"({"n":3})");
  EXPECT_LT((*pending)[0].first, (*pending)[1].first);
  EXPECT_LT((*pending)[1].first, (*pending)[2].first);

  ASSERT_TRUE(store->ForgetPendingEvents((*pending)[1].first));
  auto rest = store->PendingEvents();
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(rest->front(), (*pending)[2]);

  ASSERT_TRUE(store->AddPendingEvent(R"({"n":4})"));
  auto added = store->PendingEvents();
  ASSERT_EQ(added->size(), 2u);
  EXPECT_GT(added->back().first, (*pending)[2].first);  // ids are never reused
}

TEST_F(SqliteIdentityStore, ReopeningKeepsEverything) {
  UserRecord alice = User("u-alice", "alice@acme.test", "acme", kBase);
  CredentialRecord session = Credential("c1", "session", "u-alice", "acme", kBase, 1);
  session.idle_timeout_ms = 1000;
  session.ip = "10.0.0.1";
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CreateTenant(Tenant("acme", "Acme", kBase)));
    ASSERT_TRUE(store->CreateUser(alice));
    ASSERT_TRUE(store->CreateCredential(session));
    ASSERT_TRUE(store->RecordUse("c1", kBase + 5, "10.0.0.2"));
    ASSERT_TRUE(store->Revoke("c1", kBase + 6, "logout"));
    ASSERT_TRUE(store->AddPendingEvent("{}"));
  }
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->GetTenant("acme"), Tenant("acme", "Acme", kBase));
  EXPECT_EQ(*store->GetUser("u-alice"), alice);
  EXPECT_EQ(*store->CountUsers(), 1u);
  session.last_used_at = kBase + 5;
  session.last_used_ip = "10.0.0.2";
  session.revoked_at = kBase + 6;
  session.revoked_reason = "logout";
  EXPECT_EQ(store->FindCredentialBySecret(Hash(1))->credential, session);
  ASSERT_EQ(store->PendingEvents()->size(), 1u);
  EXPECT_EQ(store->PendingEvents()->front().second, "{}");
}

TEST_F(SqliteIdentityStore, FileIsReadableByTheOwnerAlone) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateTenant(Tenant("acme", "Acme", kBase)));
  EXPECT_EQ(ModeOf(path_), 0600u);
  if (std::filesystem::exists(path_ + "-wal")) {
    EXPECT_EQ(ModeOf(path_ + "-wal"), 0600u);
  }
}

TEST_F(SqliteIdentityStore, RefusesAnotherFormatAndLeavesItUntouched) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "PRAGMA user_version=7; CREATE TABLE things(x); "
                           "INSERT INTO things VALUES (42);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  const std::string before = ReadBytes(path_);
  ASSERT_FALSE(before.empty());

  auto store = OpenSqliteIdentityStore(path_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), util::ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message().find('7'), std::string::npos) << store.error().message();

  EXPECT_EQ(ReadBytes(path_), before);
  EXPECT_EQ(ModeOf(path_), 0644u);
  EXPECT_FALSE(std::filesystem::exists(path_ + "-wal"));
}

TEST_F(SqliteIdentityStore, MigratesFormatOneInPlace) {
  {
    // A format-1 file as Evident before OAuth wrote it: credentials without client_id and
    // session_id, no OAuth tables.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(
                  db,
                  "CREATE TABLE tenants(id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at "
                  "INTEGER NOT NULL) WITHOUT ROWID;"
                  "CREATE TABLE users(id TEXT PRIMARY KEY, email TEXT NOT NULL, email_key TEXT "
                  "NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL, tenant TEXT NOT NULL, "
                  "status TEXT NOT NULL, password_hash TEXT NOT NULL, created_at INTEGER NOT "
                  "NULL, updated_at INTEGER NOT NULL);"
                  "CREATE TABLE credentials(id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT "
                  "NOT NULL, user_id TEXT NOT NULL REFERENCES users(id), tenant TEXT NOT NULL, "
                  "scopes TEXT NOT NULL, secret_hash BLOB NOT NULL UNIQUE, created_at INTEGER "
                  "NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL, "
                  "revoked_reason TEXT NOT NULL, last_used_at INTEGER NOT NULL, last_used_ip "
                  "TEXT NOT NULL, idle_timeout_ms INTEGER NOT NULL, ip TEXT NOT NULL, user_agent "
                  "TEXT NOT NULL, assumed_by TEXT NOT NULL, assume_reason TEXT NOT NULL);"
                  "CREATE TABLE pending_events(id INTEGER PRIMARY KEY, json TEXT NOT NULL);"
                  "INSERT INTO users VALUES ('u1', 'a@x.test', 'a@x.test', 'A', 'admin', 'acme', "
                  "'active', '', 1, 1);"
                  "INSERT INTO credentials VALUES ('c1', 'api', 'ci', 'u1', 'acme', "
                  "'events:read', x'01', 1, 0, 0, '', 0, '', 0, '', '', '', '');"
                  "PRAGMA user_version=1;",
                  nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = Open();
  ASSERT_TRUE(store);
  auto old = store->GetCredential("c1");
  ASSERT_TRUE(old) << old.error().ToString();
  EXPECT_EQ(old->credential.scopes, std::vector<std::string>{"events:read"});
  EXPECT_EQ(old->credential.client_id, "");
  EXPECT_EQ(old->credential.session_id, "");
  OAuthClientRecord client{.id = "app",
                           .name = "App",
                           .type = "public",
                           .secret_hash = {},
                           .redirect_uris = {"https://app.test/cb"},
                           .grant_types = {"authorization_code"},
                           .scopes = {"events:read"},
                           .tenant = "acme",
                           .status = "active",
                           .created_by = "u1",
                           .created_at = 2,
                           .updated_at = 2};
  ASSERT_TRUE(store->CreateClient(client));
  EXPECT_EQ(*store->GetClient("app"), client);
  store.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* version = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &version, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(version), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(version, 0), kIdentityFormat);
  sqlite3_finalize(version);
  sqlite3_close(db);
}

}  // namespace
}  // namespace evident::storage::sqlite
