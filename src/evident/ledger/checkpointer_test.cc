#include "evident/ledger/checkpointer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "evident/storage/memory/memory_event_store.h"
#include "evident/storage/sqlite/sqlite_event_store.h"

namespace evident::ledger {
namespace {

constexpr util::UnixMillis kNow = 1'750'000'000'000;

std::vector<core::Event> Events(const std::string& tenant, int first, int count) {
  std::vector<core::Event> events;
  for (int i = first; i < first + count; ++i) {
    core::Event event;
    event.id = tenant + "-" + std::to_string(i);
    event.id_from_client = true;
    event.tenant = tenant;
    event.action = "update";
    event.occurred_at = kNow - 1000 + i;
    event.occurred_at_from_client = true;
    event.received_at = kNow;
    events.push_back(event);
  }
  return events;
}

void Append(storage::EventStore& store, const std::string& tenant, int first, int count) {
  std::vector<std::vector<core::Event>> batches = {Events(tenant, first, count)};
  auto results = store.Append(batches);
  ASSERT_TRUE(results[0].has_value()) << results[0].error().ToString();
}

TEST(Checkpointer, SignsEachGrownTreeOnceWithAVerifiableNote) {
  auto store = storage::memory::NewMemoryEventStore();
  core::FakeClock clock(kNow);
  Checkpointer checkpointer(*store, *NoteSigner::Generate("evident/test"), {"evident/test"}, clock);
  const auto verifier = *NoteVerifier::Parse(checkpointer.signer().VerifierKey());
  Append(*store, "acme", 0, 10);
  Append(*store, "globex", 0, 3);
  ASSERT_TRUE(checkpointer.SignGrownTrees());
  for (const auto& [tenant, size] : {std::pair<std::string, uint64_t>{"acme", 10}, {"globex", 3}}) {
    auto checkpoints = store->Checkpoints(tenant, std::nullopt, 10);
    ASSERT_TRUE(checkpoints.has_value());
    ASSERT_EQ(checkpoints->size(), 1u);
    const storage::StoredCheckpoint& latest = (*checkpoints)[0];
    EXPECT_EQ(latest.size, size);
    EXPECT_EQ(latest.signed_at, kNow);
    auto text = verifier.Open(latest.note);
    ASSERT_TRUE(text.has_value()) << text.error().ToString();
    auto body = ParseCheckpoint(*text);
    ASSERT_TRUE(body.has_value());
    EXPECT_EQ(body->origin, "evident/test/" + tenant);
    EXPECT_EQ(body->size, size);
    auto tree = store->OpenTree(tenant);
    EXPECT_EQ(body->root, *merkle::RootHash(size, tree->nodes));
    EXPECT_EQ(body->root, latest.root);
  }
  // Nothing grew: nothing new is signed. Then acme grows: only acme gets a checkpoint.
  ASSERT_TRUE(checkpointer.SignGrownTrees());
  EXPECT_EQ(store->Checkpoints("acme", std::nullopt, 10)->size(), 1u);
  Append(*store, "acme", 10, 5);
  clock.Advance(1000);
  ASSERT_TRUE(checkpointer.SignGrownTrees());
  auto acme = *store->Checkpoints("acme", std::nullopt, 10);
  ASSERT_EQ(acme.size(), 2u);
  EXPECT_EQ(acme[0].size, 15u);
  EXPECT_EQ(acme[0].signed_at, kNow + 1000);
  EXPECT_EQ(store->Checkpoints("globex", std::nullopt, 10)->size(), 1u);
  // The two are consistent, provably.
  auto tree = *store->OpenTree("acme");
  auto proof = *merkle::ConsistencyProof(10, 15, tree.nodes);
  EXPECT_TRUE(merkle::VerifyConsistency(10, 15, proof, acme[1].root, acme[0].root));
}

TEST(Checkpointer, TheBackgroundThreadSignsAndStopSignsTheRest) {
  auto store = storage::memory::NewMemoryEventStore();
  core::FakeClock clock(kNow);
  Checkpointer checkpointer(*store, *NoteSigner::Generate("evident/test"), {"evident/test", 5},
                            clock);
  checkpointer.Start();
  Append(*store, "acme", 0, 4);
  checkpointer.Stop();  // signs what grew before it returns
  auto checkpoints = store->Checkpoints("acme", std::nullopt, 10);
  ASSERT_TRUE(checkpoints.has_value());
  ASSERT_FALSE(checkpoints->empty());
  EXPECT_EQ((*checkpoints)[0].size, 4u);
}

// A tree rewritten behind the log's back (here: one stored leaf hash changed in the SQLite file)
// is not consistent with what was signed before, and is never signed.
TEST(Checkpointer, RefusesToSignATreeInconsistentWithItsLastCheckpoint) {
  const std::string dir =
      (std::filesystem::path(::testing::TempDir()) / "evident_checkpointer_rewrite").string();
  std::filesystem::remove_all(dir);
  storage::sqlite::SqliteOptions options;
  options.data_dir = dir;
  core::FakeClock clock(kNow);
  auto signer = *NoteSigner::Generate("evident/test");
  const std::string private_key = signer.PrivateKey();
  {
    auto store = *storage::sqlite::OpenSqliteEventStore(options);
    Checkpointer checkpointer(*store, std::move(signer), {"evident/test"}, clock);
    Append(*store, "acme", 0, 20);
    ASSERT_TRUE(checkpointer.SignGrownTrees());
    store->Close();
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/log.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "UPDATE tiles SET hashes = zeroblob(32) || substr(hashes, 33) "
                           "WHERE level = 0",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = *storage::sqlite::OpenSqliteEventStore(options);
  Checkpointer checkpointer(*store, *NoteSigner::FromPrivateKey(private_key), {"evident/test"},
                            clock);
  Append(*store, "acme", 20, 5);
  auto signed_all = checkpointer.SignGrownTrees();
  ASSERT_FALSE(signed_all.has_value());
  EXPECT_EQ(signed_all.error().code(), util::ErrorCode::kCorruption);
  EXPECT_NE(signed_all.error().message().find("not consistent"), std::string::npos);
  EXPECT_EQ(store->Checkpoints("acme", std::nullopt, 10)->size(), 1u);
  store->Close();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace evident::ledger
