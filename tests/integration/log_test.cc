// The tamper-evidence log end to end: the log API, `evident verify` offline and online, and
// `evident key show`, against the real server and data directories edited behind its back.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "evident/ledger/note.h"
#include "evident/merkle/merkle.h"
#include "evident/storage/sqlite/body_codec.h"
#include "evident/storage/sqlite/log_block.h"
#include "evident/util/encoding.h"
#include "integration/harness.h"

namespace evident::integration {
namespace {

using nlohmann::json;

json Events(const std::string& tenant, int first, int count) {
  json events = json::array();
  for (int i = first; i < first + count; ++i) {
    events.push_back({{"tenant", tenant},
                      {"id", tenant + "-" + std::to_string(i)},
                      {"action", "action-" + std::to_string(i)},
                      {"actor", {{"email", "user" + std::to_string(i % 5) + "@acme.test"}}}});
  }
  return events;
}

void Post(ApiClient& api, const json& events) {
  auto response = api.PostEvents(events);
  ASSERT_TRUE(response.has_value());
  ASSERT_EQ(response->status, 201) << response->body;
}

merkle::Hash Base64Hash(const json& value) {
  auto bytes = util::Base64Decode(value.get<std::string>());
  EXPECT_TRUE(bytes.has_value() && bytes->size() == merkle::kHashSize);
  merkle::Hash hash{};
  if (bytes && bytes->size() == hash.size()) std::copy(bytes->begin(), bytes->end(), hash.begin());
  return hash;
}

std::vector<merkle::Hash> Hashes(const json& answer) {
  std::vector<merkle::Hash> hashes;
  for (const json& hash : answer["hashes"]) hashes.push_back(Base64Hash(hash));
  return hashes;
}

std::string VerifierKey(ApiClient& api) {
  auto key = api.Get("/api/v1/log/key");
  EXPECT_TRUE(key.has_value() && key->status == 200);
  return key ? ParseJson(*key)["verifier_key"].get<std::string>() : "";
}

// The latest checkpoint of `tenant`, its signature checked with `key`.
ledger::Checkpoint Checkpoint(ApiClient& api, const std::string& tenant, const std::string& key,
                              std::string* note = nullptr) {
  auto response = api.Get("/api/v1/tenants/" + tenant + "/log/checkpoint");
  EXPECT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->Header("content-type").value_or("").rfind("text/plain", 0), 0u);
  auto text = ledger::NoteVerifier::Parse(key)->Open(response->body);
  EXPECT_TRUE(text.has_value()) << response->body;
  if (note != nullptr) *note = response->body;
  if (!text) return {};
  auto body = ledger::ParseCheckpoint(*text);
  EXPECT_TRUE(body.has_value());
  return body ? *body : ledger::Checkpoint{};
}

TEST(LogApi, ServesSignedCheckpointsEntriesAndProofsThatVerify) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  ApiClient api(server.url());
  Post(api, Events("acme", 0, 150));
  Post(api, Events("globex", 0, 3));
  const std::string key = VerifierKey(api);
  // The key printed at start-up, by `key show` and by the API agree.
  EXPECT_NE(server.Output().find("log verifier key: " + key + "\n"), std::string::npos);
  ASSERT_TRUE(server.Terminate().has_value());
  CommandResult shown = RunEvident({"key", "show", "--data", server.data_dir().string()});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out, key + "\n");
  ASSERT_TRUE(server.Start()) << server.Output();
  ApiClient again(server.url());

  const ledger::Checkpoint checkpoint = Checkpoint(again, "acme", key);
  EXPECT_EQ(checkpoint.origin, key.substr(0, key.find('+')) + "/acme");
  EXPECT_EQ(checkpoint.size, 150u);

  // Every event's proof verifies against the checkpoint, with the event as GET returns it.
  for (int i : {0, 1, 63, 64, 100, 149}) {
    const std::string id = "acme-" + std::to_string(i);
    auto event = again.Get("/api/v1/tenants/acme/events/" + id);
    ASSERT_EQ(event->status, 200);
    auto proof = again.Get("/api/v1/tenants/acme/events/" + id + "/proof");
    ASSERT_EQ(proof->status, 200) << proof->body;
    json answer = ParseJson(*proof);
    EXPECT_EQ(answer["leaf_index"], ParseJson(*event)["seq"]);
    EXPECT_EQ(answer["tree_size"], 150);
    auto text = ledger::NoteVerifier::Parse(key)->Open(answer["checkpoint"].get<std::string>());
    ASSERT_TRUE(text.has_value());
    EXPECT_EQ(ledger::ParseCheckpoint(*text)->root, checkpoint.root);
    EXPECT_TRUE(merkle::VerifyInclusion(answer["leaf_index"], 150, merkle::HashLeaf(event->body),
                                        Hashes(answer), checkpoint.root))
        << id;
  }
  // Entries are the events' bytes; all of them hash to the signed root.
  auto entries = again.Get("/api/v1/tenants/acme/log/entries?start=0&end=150");
  ASSERT_EQ(entries->status, 200);
  merkle::Frontier frontier;
  const json served = ParseJson(*entries);
  for (const json& entry : served["entries"]) {
    frontier.Append(merkle::HashLeaf(*util::Base64Decode(entry.get<std::string>())));
  }
  EXPECT_EQ(frontier.size(), 150u);
  EXPECT_EQ(frontier.Root(), checkpoint.root);
  auto inclusion = again.Get("/api/v1/tenants/acme/log/proof/inclusion?index=7&size=100");
  ASSERT_EQ(inclusion->status, 200);
  EXPECT_EQ(ParseJson(*inclusion)["tree_size"], 100);

  // The log grows; the new checkpoint is provably consistent with the old one.
  Post(again, Events("acme", 150, 20));
  const ledger::Checkpoint later = [&] {
    for (;;) {  // the signer runs every 500 ms; the proof endpoint signs on demand
      auto proof = again.Get("/api/v1/tenants/acme/events/acme-169/proof");
      if (proof && proof->status == 200) return Checkpoint(again, "acme", key);
    }
  }();
  ASSERT_EQ(later.size, 170u);
  auto consistency = again.Get("/api/v1/tenants/acme/log/proof/consistency?from=150&to=170");
  ASSERT_EQ(consistency->status, 200) << consistency->body;
  EXPECT_TRUE(merkle::VerifyConsistency(150, 170, Hashes(ParseJson(*consistency)), checkpoint.root,
                                        later.root));
  auto listed = again.Get("/api/v1/tenants/acme/log/checkpoints?limit=1");
  ASSERT_EQ(listed->status, 200);
  json page = ParseJson(*listed);
  ASSERT_EQ(page["checkpoints"].size(), 1u);
  EXPECT_EQ(page["checkpoints"][0]["size"], 170);
  auto older = again.Get("/api/v1/tenants/acme/log/checkpoints?before=" +
                         std::to_string(page["next_before"].get<uint64_t>()));
  ASSERT_EQ(older->status, 200);
  EXPECT_EQ(ParseJson(*older)["checkpoints"][0]["size"], 150);

  // Out-of-range and malformed requests: 400 with a message; unknown tenants 404.
  for (const std::string bad :
       {"/log/proof/inclusion?index=170&size=170", "/log/proof/inclusion?index=0&size=171",
        "/log/proof/inclusion?index=0&size=0", "/log/proof/inclusion?size=5",
        "/log/proof/inclusion?index=-1", "/log/proof/inclusion?index=1&color=red",
        "/log/proof/consistency?from=0&to=5", "/log/proof/consistency?from=6&to=5",
        "/log/proof/consistency?from=1&to=171", "/log/entries?start=5&end=5",
        "/log/entries?start=0&end=171", "/log/entries?start=x&end=2", "/log/checkpoints?limit=0"}) {
    auto response = again.Get("/api/v1/tenants/acme" + bad);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 400) << bad << " " << response->body;
    EXPECT_FALSE(ParseJson(*response)["detail"].get<std::string>().empty());
  }
  for (const std::string unknown : {"/api/v1/tenants/nobody/log/checkpoint",
                                    "/api/v1/tenants/nobody/log/proof/inclusion?index=0",
                                    "/api/v1/tenants/nobody/log/entries?start=0&end=1",
                                    "/api/v1/tenants/acme/events/nothing/proof"}) {
    EXPECT_EQ(again.Get(unknown)->status, 404) << unknown;
  }
  ApiClient anonymous(server.url(), "");
  EXPECT_EQ(anonymous.Get("/api/v1/tenants/acme/log/checkpoint")->status, 401);
}

// Decompresses the block starting at `first` in log.db, lets `edit` change its events' JSON, and
// writes it back as the server would have: what someone with the file could do.
void EditBlock(const std::filesystem::path& data_dir, int64_t first,
               const std::function<void(std::vector<std::string>&)>& edit) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data_dir / "log.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* select = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT body FROM blocks WHERE first_position = ?", -1, &select,
                               nullptr),
            SQLITE_OK);
  sqlite3_bind_int64(select, 1, first);
  ASSERT_EQ(sqlite3_step(select), SQLITE_ROW);
  auto block = storage::sqlite::LogBlock::Decode(
      first, std::string_view(static_cast<const char*>(sqlite3_column_blob(select, 0)),
                              static_cast<size_t>(sqlite3_column_bytes(select, 0))));
  sqlite3_finalize(select);
  ASSERT_TRUE(block.has_value());
  std::vector<std::string> events;
  for (int64_t p = first; p <= (*block)->last_position(); ++p) {
    events.emplace_back((*block)->Event(p));
  }
  edit(events);
  std::string payload, body;
  for (const std::string& event : events) storage::sqlite::AppendToBlock(event, payload);
  storage::sqlite::CompressBody(payload, body);
  sqlite3_stmt* update = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE blocks SET body = ? WHERE first_position = ?", -1,
                               &update, nullptr),
            SQLITE_OK);
  sqlite3_bind_blob(update, 1, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(update, 2, first);
  ASSERT_EQ(sqlite3_step(update), SQLITE_DONE);
  sqlite3_finalize(update);
  sqlite3_close(db);
}

void ExecOnLog(const std::filesystem::path& data_dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data_dir / "log.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

class VerifyData : public ::testing::Test {
 protected:
  // A stopped server's data directory: the first start's audit event (tenant system, block 1),
  // 150 events of acme (blocks 2-65, 66-129, 130-151) and 10 of globex, all signed.
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.Output();
    ApiClient api(server_.url());
    Post(api, Events("acme", 0, 150));
    Post(api, Events("globex", 0, 10));
    key_ = VerifierKey(api);
    auto stopped = server_.Terminate();
    ASSERT_TRUE(stopped.has_value() && *stopped == 0) << server_.Output();
  }
  // A copy of the data directory to damage.
  std::filesystem::path Copy(const std::string& name) {
    const std::filesystem::path copy = server_.data_dir().string() + "-" + name;
    std::filesystem::remove_all(copy);
    std::filesystem::copy(server_.data_dir(), copy, std::filesystem::copy_options::recursive);
    copies_.push_back(copy);
    return copy;
  }
  CommandResult Verify(const std::filesystem::path& data_dir) {
    return RunEvident({"verify", "--data", data_dir.string(), "--key", key_});
  }
  void TearDown() override {
    for (const auto& copy : copies_) std::filesystem::remove_all(copy);
  }

  ServerProcess server_;
  std::string key_;
  std::vector<std::filesystem::path> copies_;
};

TEST_F(VerifyData, AnIntactLogVerifies) {
  CommandResult result = Verify(server_.data_dir());
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("tenant acme: 150 events, tree size 150, 1 checkpoints"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("verified:"), std::string::npos);
}

TEST_F(VerifyData, AnEditedEventIsNamed) {
  const auto dir = Copy("edited");
  EditBlock(dir, 2, [](std::vector<std::string>& events) {
    const size_t at = events[4].find("action-4");
    ASSERT_NE(at, std::string::npos);
    events[4].replace(at, 8, "action-X");
  });
  CommandResult result = Verify(dir);
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("tenant acme seq 4: the stored event does not match its leaf hash"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("tenant acme checkpoint 150: the events no longer hash to the signed "
                            "root"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(result.out.find("FAILED: tenant globex"), std::string::npos) << result.out;
}

TEST_F(VerifyData, DeletedEventsAreNamed) {
  const auto dir = Copy("deleted");
  ExecOnLog(dir, "DELETE FROM blocks WHERE first_position = 66");
  EditBlock(dir, 2, [](std::vector<std::string>& events) { events.pop_back(); });
  ExecOnLog(dir, "UPDATE blocks SET last_position = 64 WHERE first_position = 2");
  CommandResult result = Verify(dir);
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("log positions 65 to 129 are missing"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("tenant acme seq 63: missing leaf, no stored event (the tree puts it "
                            "at log position 65)"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("tenant acme seq 100: missing leaf"), std::string::npos);
}

TEST_F(VerifyData, ReorderedEventsAreNamed) {
  const auto dir = Copy("reordered");
  EditBlock(dir, 2, [](std::vector<std::string>& events) { std::swap(events[2], events[3]); });
  CommandResult result = Verify(dir);
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("tenant acme seq 3: stored at log position 4, the tree records 5"),
            std::string::npos)
      << result.out;
}

TEST_F(VerifyData, ARewrittenTreeAndAForgedSignatureAreNamed) {
  const auto dir = Copy("rewritten");
  ExecOnLog(dir,
            "UPDATE tiles SET hashes = zeroblob(32) || substr(hashes, 33) WHERE level = 0 AND "
            "tenant_id = (SELECT tenant_id FROM tenants WHERE name = 'globex');"
            "UPDATE checkpoints SET note = replace(note, 'globex', 'globez');");
  CommandResult result = Verify(dir);
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("tenant globex seq 0: the stored event does not match its leaf hash"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("tenant globex checkpoint 10: signed note: the signature"),
            std::string::npos)
      << result.out;
  // A key other than the log's: nothing it did not sign verifies.
  auto other = *ledger::NoteSigner::Generate(key_.substr(0, key_.find('+')));
  CommandResult wrong_key =
      RunEvident({"verify", "--data", server_.data_dir().string(), "--key", other.VerifierKey()});
  EXPECT_EQ(wrong_key.exit_code, 1) << wrong_key.out;
}

// A crash in the middle of ingestion leaves tree and rows in agreement.
TEST(LogDurability, TreeAndRowsAgreeAfterKill9) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&, c] {
      ApiClient api(server.url());
      for (int i = 0; !stop; ++i) {
        auto response = api.PostEvents(Events("tenant" + std::to_string(c), i * 50, 50));
        if (!response) return;  // the server is gone
      }
    });
  }
  {
    ApiClient api(server.url());
    for (;;) {  // until a good number of commits happened
      auto total = api.Get("/api/v1/events?limit=1");
      if (total && ParseJson(*total)["total"].get<uint64_t>() >= 2000) break;
    }
  }
  ASSERT_TRUE(server.Kill9().has_value());
  stop = true;
  for (auto& client : clients) client.join();
  ASSERT_TRUE(server.Start()) << server.Output();
  auto stopped = server.Terminate();  // signs what the restart found unsigned
  ASSERT_TRUE(stopped.has_value() && *stopped == 0) << (stopped ? *stopped : -1) << server.Output();
  CommandResult result = RunEvident({"verify", "--data", server.data_dir().string()});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out.find("not yet signed"), std::string::npos) << result.out;
}

TEST(VerifyOnline, ProvesGrowthAndCatchesARewrittenHistory) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.Output();
  ApiClient api(server.url());
  Post(api, Events("acme", 0, 30));
  const std::string key = VerifierKey(api);
  std::string old_note;
  Checkpoint(api, "acme", key, &old_note);
  const std::filesystem::path saved = server.data_dir().string() + "-checkpoint";
  std::ofstream(saved) << old_note;
  Post(api, Events("acme", 30, 12));
  ASSERT_EQ(api.Get("/api/v1/tenants/acme/events/acme-41/proof")->status, 200);  // signed now

  const std::filesystem::path next = server.data_dir().string() + "-next";
  CommandResult result = RunEvident(
      {"verify", "--url", server.url(), "--token", std::string(kAdminToken), "--tenant", "acme",
       "--checkpoint", saved.string(), "--key", key, "--full", "--save", next.string()});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("proven: the log of size 42 extends the saved one of size 30"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("proven: all 42 entries served hash to the signed root"),
            std::string::npos);

  // Another server holding the same key but a different history (as if the operator rewrote
  // the log and re-signed it): the saved checkpoint exposes it.
  const std::filesystem::path key_file = server.data_dir() / "log-signing.key";
  ServerOptions options;
  options.env = {{"EVIDENT_SIGNING_KEY_FILE", key_file.string()}};
  ServerProcess forger(options);
  ASSERT_TRUE(forger.Start()) << forger.Output();
  ApiClient forged(forger.url());
  json history = Events("acme", 0, 42);
  history[5]["action"] = "rewritten";
  Post(forged, history);
  ASSERT_EQ(forged.Get("/api/v1/tenants/acme/events/acme-41/proof")->status, 200);
  CommandResult caught =
      RunEvident({"verify", "--url", forger.url(), "--token", std::string(kAdminToken), "--tenant",
                  "acme", "--checkpoint", saved.string(), "--key", key});
  EXPECT_EQ(caught.exit_code, 1) << caught.out << caught.err;
  EXPECT_NE(caught.out.find("not consistent with the saved one"), std::string::npos) << caught.out;
  std::filesystem::remove(saved);
  std::filesystem::remove(next);
}

}  // namespace
}  // namespace evident::integration
