// SQLite-only behaviour; the shared semantics are in ../conformance_test.cc.
#include "evident/storage/sqlite/sqlite_event_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "evident/storage/sqlite/audit_log.h"
#include "evident/storage/sqlite/body_codec.h"
#include "evident/storage/sqlite/fault_vfs.h"
#include "evident/storage/sqlite/log_block.h"
#include "evident/storage/sqlite/search_text.h"
#include "evident/util/encoding.h"
#include "evident/util/uuid.h"

namespace evident::storage::sqlite {
namespace {

constexpr util::UnixMillis kBase = 1'746'000'000'000;
constexpr int64_t kDay = 86'400'000;

core::Event MakeEvent(int number) {
  core::Event event;
  event.id = "e-" + std::to_string(number);
  event.id_from_client = true;
  event.tenant = number % 3 == 0 ? "acme" : "globex";
  event.action = number % 4 == 0 ? "login" : "update";
  event.status = number % 5 == 0 ? core::EventStatus::kFailure : core::EventStatus::kSuccess;
  // Spread over 90 days, so that several partitions (weeks) exist.
  event.occurred_at = kBase + (number * 7919LL % 90) * kDay + number;
  event.occurred_at_from_client = true;
  event.received_at = kBase + 100 * kDay;
  event.actor.email = "User" + std::to_string(number % 7) + "@Example.test";
  event.actor.id = "u" + std::to_string(number % 7);
  event.request.ip = "10.0.0." + std::to_string(number % 9);
  event.details = "{\"note\":\"word" + std::to_string(number % 11) + " shared\"}";
  return event;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::path(::testing::TempDir()) /
            (std::string("evident_sqlite_") +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<EventStore> Open(IndexerMode mode = IndexerMode::kBackground) {
    SqliteOptions options;
    options.data_dir = dir_;
    options.indexer = mode;
    options.index_batch_events = index_batch_events_;
    options.word_count_terms = word_count_terms_;
    options.index_checkpoint_frames = index_checkpoint_frames_;
    options.index_retry_max_ms = index_retry_max_ms_;
    options.max_tail_events = max_tail_events_;
    options.max_tail_bytes = max_tail_bytes_;
    options.shared_ip_lookup_entries = shared_ip_lookup_entries_;
    auto store = OpenSqliteEventStore(options);
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store ? std::move(store).value() : nullptr;
  }

  static void AppendRange(EventStore& store, int first, int count) {
    std::vector<std::vector<core::Event>> batches(1);
    for (int number = first; number < first + count; ++number) {
      batches[0].push_back(MakeEvent(number));
    }
    auto results = store.Append(batches);
    ASSERT_TRUE(results[0].has_value()) << results[0].error().ToString();
  }

  // Stores event `number` of `tenant` at `at`, its details holding `note`.
  static void AppendNote(EventStore& store, int number, util::UnixMillis at,
                         const std::string& tenant, const std::string& note) {
    core::Event event = MakeEvent(number);
    event.tenant = tenant;
    event.occurred_at = at;
    event.details = "{\"note\":\"" + note + "\"}";
    std::vector<std::vector<core::Event>> batches = {{event}};
    ASSERT_TRUE(store.Append(batches)[0].has_value());
  }

  // Stores and indexes 1,200 events, closes the store, and returns Answers() from before closing.
  std::string IndexedAnswersThenClose() {
    auto store = Open();
    AppendRange(*store, 0, 1200);
    store->WaitUntilIndexed();
    std::string answers = Answers(*store);
    store->Close();
    return answers;
  }

  // Checks the store's answers, closes it, and checks them again after reopening it.
  void ExpectAnswersBeforeAndAfterReopening(EventStore& store, const std::string& expected) {
    EXPECT_EQ(Answers(store), expected);
    store.Close();
    auto reopened = Open();
    ASSERT_NE(reopened, nullptr);
    EXPECT_EQ(Answers(*reopened), expected);
    reopened->Close();
  }

  // Everything a few queries answer, as one comparable string.
  static std::string Answers(EventStore& store) {
    std::string answers;
    std::vector<core::Filter> filters(5);
    filters[1].tenants = {"acme"};
    filters[2].users = {"user3@example.TEST"};
    filters[2].statuses = {core::EventStatus::kFailure};
    filters[3].search = *core::ParseSearch("word4 shared");
    filters[4].from = kBase + 20 * kDay;
    filters[4].to = kBase + 50 * kDay;
    for (const core::Filter& filter : filters) {
      std::optional<core::Cursor> cursor;
      for (;;) {
        auto page = store.Query(filter, cursor, 100);
        EXPECT_TRUE(page.has_value());
        if (!page) break;
        answers += "total " + std::to_string(page->total) + "\n";
        for (const StoredEvent& event : page->events) {
          answers += std::to_string(event.position) + " " + event.json + "\n";
        }
        if (!page->next) break;
        cursor = page->next;
      }
      auto histogram = store.CountOverTime(filter, 13);
      EXPECT_TRUE(histogram.has_value());
      if (!histogram) continue;
      for (const HistogramBucket& bucket : histogram->buckets) {
        answers += std::to_string(bucket.start) + ":" + std::to_string(bucket.count) + " ";
      }
      answers += "\n";
    }
    return answers;
  }

  // Everything a store holds that one can compare: the answers of Answers(), and each tenant's tree
  // (size and root).
  static std::string AnswersAndTrees(EventStore& store) {
    std::string held = Answers(store);
    auto heads = store.TreeHeads();
    EXPECT_TRUE(heads.has_value());
    if (!heads) return held;
    for (const TreeHead& head : *heads) {
      auto tree = store.OpenTree(head.tenant);
      EXPECT_TRUE(tree.has_value());
      if (!tree) continue;
      auto root = merkle::RootHash(tree->size, tree->nodes);
      EXPECT_TRUE(root.has_value());
      if (!root) continue;
      held += head.tenant + " " + std::to_string(head.size) + " " +
              util::HexEncode(
                  std::string_view(reinterpret_cast<const char*>(root->data()), root->size())) +
              "\n";
    }
    return held;
  }

  std::string dir_;
  size_t word_count_terms_ = 100'000;
  size_t index_batch_events_ = 700;
  int index_checkpoint_frames_ = 20'000;
  int index_retry_max_ms_ = 10'000;
  size_t max_tail_events_ = 100'000;
  size_t max_tail_bytes_ = SqliteOptions().max_tail_bytes;
  uint64_t shared_ip_lookup_entries_ = SqliteOptions().shared_ip_lookup_entries;
};

// Waits for the store to index everything appended, for a minute at most: a test of an indexer
// that might never get there fails instead of hanging. Closes the store when it gives up.
bool IndexedWithinAMinute(EventStore& store) {
  auto indexed = std::async(std::launch::async, [&] { store.WaitUntilIndexed(); });
  if (indexed.wait_for(std::chrono::minutes(1)) == std::future_status::ready) return true;
  store.Close();  // wakes the wait
  return false;
}

// The indexer checkpoints a week's files after a commit leaves their WAL long (not SQLite in the
// commit, which held the lock queries wait for): 30 batches into one week, checkpointed past 4
// pages, leave WALs of about one batch; never checkpointed, of all 30. The answers are the same.
TEST_F(SqliteStoreTest, TheIndexerCheckpointsLongWalsAndNoAnswerChanges) {
  auto ingest = [&](int checkpoint_frames, uintmax_t& wal_bytes, std::string& answers) {
    std::filesystem::remove_all(dir_);
    index_checkpoint_frames_ = checkpoint_frames;
    auto store = Open();
    ASSERT_NE(store, nullptr);
    for (int batch = 0; batch < 30; ++batch) {
      std::vector<std::vector<core::Event>> batches(1);
      for (int number = batch * 100; number < (batch + 1) * 100; ++number) {
        core::Event event = MakeEvent(number);
        event.occurred_at = kBase + number * 1000LL;  // 50 minutes in all: one week
        batches[0].push_back(std::move(event));
      }
      ASSERT_TRUE(store->Append(batches)[0].has_value());
      store->WaitUntilIndexed();  // one batch, one commit
    }
    wal_bytes = 0;
    int weeks = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/index")) {
      const std::string name = entry.path().filename().string();
      if (name.ends_with(".words.db")) ++weeks;
      if (name.ends_with(".db-wal") && name != "state.db-wal") wal_bytes += entry.file_size();
    }
    EXPECT_EQ(weeks, 1);
    answers = Answers(*store);
    store->Close();
  };
  uintmax_t checkpointed = 0, never = 0;
  std::string checkpointed_answers, never_answers;
  ingest(4, checkpointed, checkpointed_answers);
  ingest(1 << 30, never, never_answers);
  EXPECT_GT(checkpointed, 0u);
  EXPECT_LT(checkpointed * 5, never) << checkpointed << " against " << never;
  EXPECT_EQ(checkpointed_answers, never_answers);
  EXPECT_NE(checkpointed_answers.find("total 3000"), std::string::npos);
}

// The unindexed tail is scanned by tenant for a filter naming tenants: each named tenant's events
// once, however often it is named, and none of another's.
TEST_F(SqliteStoreTest, TheTailsEventsOfTheNamedTenantsAreFoundOnce) {
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  AppendRange(*store, 0, 300);  // stays in the tail: nobody waits
  ASSERT_EQ(store->Stats().indexed_position, 0);
  auto answer = [&](std::vector<std::string> tenants) {
    core::Filter filter;
    filter.tenants = std::move(tenants);
    auto page = store->Query(filter, std::nullopt, 1000);
    EXPECT_TRUE(page.has_value());
    std::string positions = page ? "total " + std::to_string(page->total) + ":" : "";
    for (const StoredEvent& event : page ? page->events : std::vector<StoredEvent>()) {
      positions += " " + std::to_string(event.position);
    }
    auto histogram = store->CountOverTime(filter, 7);
    EXPECT_TRUE(histogram.has_value());
    uint64_t counted = 0;
    for (const HistogramBucket& bucket :
         histogram ? histogram->buckets : std::vector<HistogramBucket>()) {
      counted += bucket.count;
    }
    return positions + " histogram " + std::to_string(counted);
  };
  const std::string acme = answer({"acme"});
  EXPECT_EQ(acme.substr(0, acme.find(':')), "total 100");  // MakeEvent: every third event
  EXPECT_NE(acme.find("histogram 100"), std::string::npos);
  EXPECT_EQ(answer({"acme", "acme"}), acme);
  EXPECT_EQ(answer({"acme", "nobody"}), acme);
  const std::string both = answer({"globex", "acme"});
  EXPECT_EQ(both.substr(0, both.find(':')), "total 300");
  EXPECT_EQ(answer({"acme", "globex", "acme"}), both);
  EXPECT_EQ(answer({}), both);
}

TEST_F(SqliteStoreTest, ReopenFindsEverythingIndexedOrNot) {
  std::string before;
  {
    auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
    AppendRange(*store, 0, 1500);
    store->WaitUntilIndexed();
    AppendRange(*store, 1500, 500);  // stays in the tail: nobody waits
    EXPECT_EQ(store->Stats().indexed_position, 1500);
    before = Answers(*store);
    store->Close();
  }
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  EXPECT_EQ(store->Stats().log_position, 2000);
  EXPECT_EQ(store->Stats().indexed_position, 1500);
  EXPECT_EQ(Answers(*store), before);
  store->WaitUntilIndexed();
  EXPECT_EQ(store->Stats().indexed_position, 2000);
  EXPECT_EQ(Answers(*store), before);
  // Sequence numbers continue after the restart.
  std::vector<std::vector<core::Event>> batches = {{MakeEvent(3000)}};
  auto results = store->Append(batches);
  ASSERT_TRUE(results[0].has_value());
  EXPECT_EQ((*results[0])[0].seq, 667u);  // acme had numbers 0, 3, ..., 1998: 667 events
}

TEST_F(SqliteStoreTest, RebuildIndexGivesIdenticalAnswers) {
  std::string before;
  {
    auto store = Open();
    AppendRange(*store, 0, 2500);
    store->WaitUntilIndexed();
    before = Answers(*store);
    store->Close();
  }
  ASSERT_TRUE(RebuildIndex(dir_).has_value());
  auto store = Open();
  EXPECT_EQ(store->Stats().indexed_position, 2500);
  EXPECT_EQ(Answers(*store), before);
}

TEST_F(SqliteStoreTest, IndexAheadOfItsRecordedWatermarkIsNotIndexedTwice) {
  std::string before;
  {
    auto store = Open();
    AppendRange(*store, 0, 2100);
    store->WaitUntilIndexed();
    before = Answers(*store);
    store->Close();
  }
  // As if the process died after the partitions committed but before the watermark was saved.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/index/state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE state SET value = 700", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = Open();
  store->WaitUntilIndexed();
  EXPECT_EQ(Answers(*store), before);
}

// Runs `sql` on the SQLite file at `path`, as someone with the file (not the store) would.
void ExecOn(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
      << (message ? message : "");
  sqlite3_free(message);
  sqlite3_close(db);
}

void ExecOnLog(const std::string& dir, const std::string& sql) { ExecOn(dir + "/log.db", sql); }

// The integer `sql` answers on the SQLite file at `path` (its first column of its first row).
int64_t QueryInt(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW) << sql;
  const int64_t value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

// The partitions' rows files of `dir`'s index (YYYY-MM-DD.db: not state.db, nor the words
// files), or with `words` their full-text files (YYYY-MM-DD.words.db); sorted.
std::vector<std::string> PartitionFiles(const std::string& dir, bool words = false) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/index")) {
    const std::string name = entry.path().filename().string();
    if (name == "state.db" || entry.path().extension() != ".db") continue;
    if (name.ends_with(".words.db") == words) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string WordsFileOf(std::string rows_file) { return rows_file.insert(10, ".words"); }

// Runs `sql` on every index partition (not state.db); returns how many there were.
int ExecOnPartitions(const std::string& dir, const std::string& sql) {
  const std::vector<std::string> files = PartitionFiles(dir);
  for (const std::string& file : files) ExecOn(dir + "/index/" + file, sql);
  return static_cast<int>(files.size());
}

TEST_F(SqliteStoreTest, DamagedIndexIsRebuiltOnOpen) {
  const std::string before = IndexedAnswersThenClose();
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/index")) {
    if (entry.path().filename() != "state.db") {
      std::filesystem::resize_file(entry.path(), 100);  // garbage: not a database any more
    }
  }
  auto store = Open();
  store->WaitUntilIndexed();
  EXPECT_EQ(Answers(*store), before);
}

TEST_F(SqliteStoreTest, IndexOfAnotherFormatIsRebuiltOnOpen) {
  const std::string before = IndexedAnswersThenClose();
  // As an index written before hour_counts existed would look: format 1, no counts.
  ASSERT_GT(ExecOnPartitions(dir_,
                             "UPDATE meta SET value = 1 WHERE key = 'format'; "
                             "DELETE FROM hour_counts; DELETE FROM hour_totals;"),
            0);
  auto store = Open();
  store->WaitUntilIndexed();
  EXPECT_EQ(Answers(*store), before);
}

TEST_F(SqliteStoreTest, IndexWithATermOfUnknownKindIsRebuiltOnOpen) {
  const std::string before = IndexedAnswersThenClose();
  // A damaged terms table: every term moved to a kind this build does not know, so that no
  // filter value would be found if the partition were kept.
  ASSERT_GT(ExecOnPartitions(dir_, "UPDATE terms SET kind = kind + 100;"), 0);
  auto store = Open();
  store->WaitUntilIndexed();
  EXPECT_EQ(Answers(*store), before);
}

// "YYYY-MM-DD.db" of the Monday (UTC) of the week of `millis`, through std::chrono's calendar.
std::string MondayFileOf(util::UnixMillis millis) {
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_time<milliseconds>(milliseconds(millis)));
  const year_month_day monday(day - (weekday(day) - Monday));
  char name[32];
  std::snprintf(name, sizeof name, "%04d-%02u-%02u.db", static_cast<int>(monday.year()),
                static_cast<unsigned>(monday.month()), static_cast<unsigned>(monday.day()));
  return name;
}

TEST_F(SqliteStoreTest, PartitionsAreUtcWeeksNamedByTheirMonday) {
  std::set<std::string> expected;
  for (int number = 0; number < 1200; ++number) {
    expected.insert(MondayFileOf(MakeEvent(number).occurred_at));
  }
  // The edges of a week: Sunday 23:59:59.999 and Monday 00:00 UTC (2025-05-04 and -05).
  const util::UnixMillis monday = 1'746'403'200'000;
  std::vector<std::vector<core::Event>> edges(1);
  for (const util::UnixMillis at : {monday - 1, monday}) {
    core::Event event = MakeEvent(5000 + static_cast<int>(edges[0].size()));
    event.occurred_at = at;
    edges[0].push_back(event);
    expected.insert(MondayFileOf(at));
  }
  ASSERT_TRUE(expected.count("2025-04-28.db") && expected.count("2025-05-05.db"));
  {
    auto store = Open();
    AppendRange(*store, 0, 1200);
    ASSERT_TRUE(store->Append(edges)[0].has_value());
    store->WaitUntilIndexed();
    core::Filter first_instant;
    first_instant.from = monday;
    first_instant.to = monday + 1;
    EXPECT_EQ(store->Query(first_instant, std::nullopt, 10)->total, 1u);
    store->Close();
  }
  EXPECT_GE(expected.size(), 13u);  // 90 days
  EXPECT_EQ(PartitionFiles(dir_), std::vector<std::string>(expected.begin(), expected.end()));
  std::vector<std::string> words;
  for (const std::string& file : expected) words.push_back(WordsFileOf(file));
  EXPECT_EQ(PartitionFiles(dir_, true), words);
  // Each edge is in its own week's file.
  auto edge = [&](const std::string& file, const char* which) {
    return QueryInt(dir_ + "/index/" + file,
                    std::string("SELECT ") + which + "(occurred_at) FROM events");
  };
  EXPECT_EQ(edge("2025-04-28.db", "max"), monday - 1);
  EXPECT_EQ(edge("2025-05-05.db", "min"), monday);
  EXPECT_LT(edge("2025-05-05.db", "max"), monday + 7 * kDay);
}

// A week's two files go together: one without the other makes Open rebuild the index.
TEST_F(SqliteStoreTest, AWeekMissingOneOfItsFilesIsRebuilt) {
  for (const bool words : {true, false}) {
    std::filesystem::remove_all(dir_);
    const std::string before = IndexedAnswersThenClose();
    const std::vector<std::string> rows = PartitionFiles(dir_);
    ASSERT_GE(rows.size(), 2u);
    std::filesystem::remove(dir_ + "/index/" + (words ? WordsFileOf(rows.front()) : rows.front()));
    ASSERT_GT(ExecOnPartitions(dir_, "DELETE FROM hour_counts; DELETE FROM hour_totals;"),
              0);  // only a rebuild mends
    auto store = Open();
    store->WaitUntilIndexed();
    EXPECT_EQ(Answers(*store), before) << (words ? "without words" : "without rows");
    store->Close();
    EXPECT_EQ(PartitionFiles(dir_), rows);
    EXPECT_EQ(PartitionFiles(dir_, true).size(), rows.size());
  }
}

// A full-text file of another format: the week is rebuilt, and `q` finds what it found.
TEST_F(SqliteStoreTest, AWordsFileOfAnotherFormatIsRebuilt) {
  const std::string before = IndexedAnswersThenClose();
  for (const std::string& file : PartitionFiles(dir_, true)) {
    ExecOn(dir_ + "/index/" + file, "UPDATE meta SET value = 1 WHERE key = 'format';");
  }
  ASSERT_GT(ExecOnPartitions(dir_, "DELETE FROM hour_counts; DELETE FROM hour_totals;"), 0);
  auto store = Open();
  store->WaitUntilIndexed();
  EXPECT_EQ(Answers(*store), before);
}

TEST_F(SqliteStoreTest, AnIndexWhoseStateHasAnotherFormatIsRebuiltWhole) {
  const std::string before = IndexedAnswersThenClose();
  // As format 5 left state.db: no format. The partitions lose their counts, which only a rebuild
  // gives back.
  ExecOn(dir_ + "/index/state.db", "DELETE FROM state WHERE key = 'format';");
  ASSERT_GT(ExecOnPartitions(dir_, "DELETE FROM hour_counts; DELETE FROM hour_totals;"), 0);
  auto store = Open();
  store->WaitUntilIndexed();
  EXPECT_EQ(Answers(*store), before);
}

TEST_F(SqliteStoreTest, AnIndexLaidOutInMonthsIsRebuiltInWeeks) {
  const std::string before = IndexedAnswersThenClose();
  // As format 5 left the directory: state.db without a format, one file per month.
  ExecOn(dir_ + "/index/state.db", "DELETE FROM state WHERE key = 'format';");
  for (const std::string& file : PartitionFiles(dir_)) {
    std::filesystem::remove(dir_ + "/index/" + file);
  }
  for (const char* month : {"2025-04.db", "2025-05.db", "2025-06.db", "2025-07.db"}) {
    ExecOn(dir_ + "/index/" + month, "CREATE TABLE meta(key TEXT PRIMARY KEY, value);");
  }
  auto store = Open();
  store->WaitUntilIndexed();
  EXPECT_EQ(Answers(*store), before);
  store->Close();
  const std::vector<std::string> files = PartitionFiles(dir_);
  EXPECT_GE(files.size(), 13u);
  EXPECT_EQ(std::count(files.begin(), files.end(), "2025-05.db"), 0);
}

TEST_F(SqliteStoreTest, AStrayFileInTheIndexRebuildsIt) {
  const std::string before = IndexedAnswersThenClose();
  ASSERT_GT(ExecOnPartitions(dir_, "DELETE FROM hour_counts; DELETE FROM hour_totals;"), 0);
  // A date that is not a Monday is not a partition's name.
  std::filesystem::copy_file(dir_ + "/index/" + PartitionFiles(dir_).front(),
                             dir_ + "/index/2025-05-06.db");
  auto store = Open();
  store->WaitUntilIndexed();
  EXPECT_EQ(Answers(*store), before);
  store->Close();
  const std::vector<std::string> files = PartitionFiles(dir_);
  EXPECT_EQ(std::count(files.begin(), files.end(), "2025-05-06.db"), 0);
}

// The totals across tenants are each week's per-tenant counts summed over the tenant, batch after
// batch, weeks written again (events backfilled into them) included.
TEST_F(SqliteStoreTest, TotalsAcrossTenantsAreTheTenantsCountsSummed) {
  auto store = Open();
  AppendRange(*store, 0, 1500);
  store->WaitUntilIndexed();
  AppendRange(*store, 1500, 900);  // the same weeks again, in batches of 700
  store->WaitUntilIndexed();
  const std::vector<std::string> files = PartitionFiles(dir_);
  ASSERT_GE(files.size(), 10u);
  // (tenant-less key, count) rows of one statement, as text.
  auto rows = [&](const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    std::string text;
    while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        text += std::to_string(sqlite3_column_int64(stmt, i)) + " ";
      }
      text += "\n";
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return text;
  };
  int64_t events = 0;
  for (const std::string& file : files) {
    const std::string path = dir_ + "/index/" + file;
    events += QueryInt(path, "SELECT coalesce(sum(count), 0) FROM hour_totals");
    EXPECT_EQ(rows(path, "SELECT hour, count FROM hour_totals ORDER BY 1"),
              rows(path, "SELECT hour, sum(count) FROM hour_counts GROUP BY 1 ORDER BY 1"))
        << file;
    EXPECT_EQ(rows(path, "SELECT type, status, hour, count FROM hour_type_totals ORDER BY 1, 2, 3"),
              rows(path,
                   "SELECT type, status, hour, sum(count) FROM hour_type_counts "
                   "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"))
        << file;
    EXPECT_EQ(rows(path,
                   "SELECT type, action, status, day, count FROM day_totals "
                   "ORDER BY 1, 2, 3, 4"),
              rows(path,
                   "SELECT type, action, status, day, sum(count) FROM day_counts "
                   "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"))
        << file;
  }
  EXPECT_EQ(events, 2400);
}

TEST_F(SqliteStoreTest, AWeekWrittenAgainAfterItWasIdleFindsItsTerms) {
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  auto append = [&](int number, util::UnixMillis at, const std::string& user) {
    core::Event event = MakeEvent(number);
    event.occurred_at = at;
    event.actor.email = user + "@example.test";
    std::vector<std::vector<core::Event>> batches = {{event}};
    ASSERT_TRUE(store->Append(batches)[0].has_value());
    store->WaitUntilIndexed();
  };
  append(1, kBase, "alice");
  append(2, kBase + 14 * kDay, "bob");  // another week: kBase's gives its terms back
  append(3, kBase + 1, "alice");        // a term the week already has
  append(4, kBase + 2, "carol");        // and one it has not
  EXPECT_EQ(store->Stats().indexed_position, 4);
  for (const auto& [user, events] : {std::pair{"alice", 2u}, {"bob", 1u}, {"carol", 1u}}) {
    core::Filter filter;
    filter.users = {std::string(user) + "@example.test"};
    auto page = store->Query(filter, std::nullopt, 10);
    ASSERT_TRUE(page.has_value());
    EXPECT_EQ(page->total, events) << user;
  }
  store->Close();
  // Reopening checks every partition: nothing was written twice or damaged.
  auto reopened = Open();
  EXPECT_EQ(reopened->Stats().indexed_position, 4);
  EXPECT_EQ(PartitionFiles(dir_).size(), 2u);
}

// An index batch that fails to be written (here the full-text files' WAL cannot grow: a full
// disk) is rolled back and tried again until it succeeds: first while it creates its weeks'
// files, then while it writes to them. Meanwhile its events stay in the tail, so every answer is
// exact, Append does not wait for the indexer, and the retry writes the terms the rolled-back
// batch had added again.
TEST_F(SqliteStoreTest, AnIndexBatchThatFailsIsTriedAgainAndEveryAnswerStaysExact) {
  const std::string expected = IndexedAnswersThenClose();
  std::filesystem::remove_all(dir_);
  index_retry_max_ms_ = 5;
  max_tail_events_ = 300;
  FaultVfs vfs;
  auto store = Open();
  ASSERT_NE(store, nullptr);
  vfs.Arm(".words.db-wal", FaultVfs::Fail::kEveryWrite);
  AppendRange(*store, 0, 200);  // one event a day at least: every week's files
  ASSERT_TRUE(vfs.WaitForFailures(3, std::chrono::seconds(60)));  // the first try and two more
  EXPECT_EQ(store->Stats().indexed_position, 0);
  vfs.Disarm();
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  ASSERT_EQ(store->Stats().indexed_position, 200);
  const uint64_t failed_before = vfs.failures();
  vfs.Arm(".words.db-wal", FaultVfs::Fail::kEveryWrite);
  AppendRange(*store, 200, 500);
  ASSERT_TRUE(vfs.WaitForFailures(failed_before + 3, std::chrono::seconds(60)));
  EXPECT_TRUE(store->Stats().index_retrying);
  // The tail holds more than max_tail_events: Append would wait for the indexer, were it not
  // retrying.
  auto appended = std::async(std::launch::async, [&] { AppendRange(*store, 700, 500); });
  if (appended.wait_for(std::chrono::minutes(1)) != std::future_status::ready) {
    vfs.Disarm();  // lets the indexer, then Append, go on
    FAIL() << "Append waited for an indexer that was retrying";
  }
  EXPECT_EQ(store->Stats().indexed_position, 200);
  EXPECT_EQ(Answers(*store), expected);
  vfs.Disarm();
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.indexed_position, 1200);
  EXPECT_GE(stats.index_failures, 2u);  // in each part
  EXPECT_FALSE(stats.index_retrying);
  ExpectAnswersBeforeAndAfterReopening(*store, expected);
}

// Back-pressure: while the events not indexed yet take max_tail_bytes, an Append waits for the
// indexer (here stalled on a disk that does not answer) and writes nothing; once the indexer has
// made room it goes on. And a store opened on a log whose unindexed events would take more than
// that indexes the oldest of them first.
TEST_F(SqliteStoreTest, AppendWaitsWhileTheUnindexedEventsTakeTheirBoundInMemory) {
  FaultVfs vfs;
  auto measured = Open();
  ASSERT_NE(measured, nullptr);
  vfs.Arm(".words.db-wal", FaultVfs::Fail::kStall);
  AppendRange(*measured, 0, 10);
  ASSERT_TRUE(vfs.WaitForFailures(1, std::chrono::seconds(60)));  // the indexer took them
  const StoreStats ten = measured->Stats();
  EXPECT_EQ(ten.tail_events, 10u);
  // Each holds at least its struct and its details (MakeEvent's are over 15 bytes).
  EXPECT_GT(ten.tail_bytes, 10 * (sizeof(core::Event) + MakeEvent(0).details.size()));
  EXPECT_LT(ten.tail_bytes, 10 * 4096u);
  EXPECT_EQ(ten.append_waits, 0u);
  vfs.Disarm();
  ASSERT_TRUE(IndexedWithinAMinute(*measured));
  EXPECT_EQ(measured->Stats().tail_events, 0u);
  EXPECT_EQ(measured->Stats().tail_bytes, 0u);
  measured->Close();
  measured.reset();
  std::filesystem::remove_all(dir_);

  max_tail_bytes_ = ten.tail_bytes;  // ten events fill it
  auto store = Open();
  ASSERT_NE(store, nullptr);
  vfs.Arm(".words.db-wal", FaultVfs::Fail::kStall);
  AppendRange(*store, 0, 10);  // the tail was empty: no wait
  ASSERT_TRUE(vfs.WaitForFailures(vfs.failures() + 1, std::chrono::seconds(60)));
  auto appended = std::async(std::launch::async, [&] { AppendRange(*store, 10, 5); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!store->Stats().append_waiting && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  const StoreStats waiting = store->Stats();
  EXPECT_TRUE(waiting.append_waiting);
  EXPECT_EQ(waiting.append_waits, 1u);
  EXPECT_EQ(waiting.log_position, 10);  // nothing of the second Append is written
  EXPECT_EQ(waiting.tail_events, 10u);
  vfs.Disarm();
  ASSERT_EQ(appended.wait_for(std::chrono::minutes(1)), std::future_status::ready);
  appended.get();
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  const StoreStats after = store->Stats();
  EXPECT_FALSE(after.append_waiting);
  EXPECT_EQ(after.log_position, 15);
  EXPECT_EQ(after.indexed_position, 15);
  EXPECT_EQ(after.tail_bytes, 0u);
  store->Close();
  store.reset();

  // Opened with a tail that holds fewer bytes than its 1,200 unindexed events take (the indexer
  // indexes only while a caller waits, so every event appended stays unindexed until the
  // reopen): the oldest are indexed before Open returns, and what stays unindexed fits.
  std::filesystem::remove_all(dir_);
  const std::string expected = IndexedAnswersThenClose();
  std::filesystem::remove_all(dir_);
  max_tail_bytes_ = SqliteOptions().max_tail_bytes;
  auto unindexed = Open(IndexerMode::kOnlyWhenWaitedFor);
  ASSERT_NE(unindexed, nullptr);
  AppendRange(*unindexed, 0, 1200);
  EXPECT_EQ(unindexed->Stats().indexed_position, 0);
  unindexed->Close();
  unindexed.reset();
  max_tail_bytes_ = ten.tail_bytes;
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  const StoreStats opened = reopened->Stats();
  EXPECT_GE(opened.indexed_position, 1190);
  EXPECT_LT(opened.tail_bytes, ten.tail_bytes);
  EXPECT_EQ(opened.tail_events, static_cast<uint64_t>(1200 - opened.indexed_position));
  EXPECT_EQ(Answers(*reopened), expected);
}

// While the indexer retries, Append does not wait for it, but only until the tail holds
// retrying_tail_factor (4) times either bound: then it is refused as Unavailable and stores
// nothing, and once the indexer has written its batch Append takes events again.
TEST_F(SqliteStoreTest, AppendIsRefusedWhileTheIndexerRetriesOnceTheTailHoldsFourTimesItsBound) {
  index_retry_max_ms_ = 5;
  max_tail_events_ = 100;
  FaultVfs vfs;
  auto store = Open();
  ASSERT_NE(store, nullptr);
  vfs.Arm(".words.db-wal", FaultVfs::Fail::kEveryWrite);
  AppendRange(*store, 0, 300);  // the tail was empty: no wait
  ASSERT_TRUE(vfs.WaitForFailures(2, std::chrono::seconds(60)));
  ASSERT_TRUE(store->Stats().index_retrying);
  AppendRange(*store, 300, 150);  // 300 < 400: taken, past max_tail_events, without waiting
  auto refused = [&](int first) {
    std::vector<std::vector<core::Event>> batches(1);
    for (int number = first; number < first + 10; ++number) batches[0].push_back(MakeEvent(number));
    auto results = store->Append(batches);
    EXPECT_EQ(results.size(), 1u);
    return !results[0].has_value() && results[0].error().code() == util::ErrorCode::kUnavailable;
  };
  EXPECT_TRUE(refused(450));
  EXPECT_TRUE(refused(450));
  StoreStats stats = store->Stats();
  EXPECT_EQ(stats.log_position, 450);  // nothing of either is written
  EXPECT_EQ(stats.tail_events, 450u);
  EXPECT_EQ(stats.append_refusals, 2u);
  EXPECT_EQ(stats.append_waits, 0u);
  auto all = store->Query(core::Filter(), std::nullopt, 1);
  ASSERT_TRUE(all.has_value()) << all.error().ToString();
  EXPECT_EQ(all->total, 450u);
  vfs.Disarm();
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  AppendRange(*store, 450, 10);
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  stats = store->Stats();
  EXPECT_EQ(stats.log_position, 460);
  EXPECT_EQ(stats.indexed_position, 460);
  EXPECT_EQ(stats.append_refusals, 2u);
  store->Close();
  store.reset();

  // The bound in bytes likewise, the bound in events far off.
  std::filesystem::remove_all(dir_);
  max_tail_events_ = 100'000;
  max_tail_bytes_ = 1;  // one event passes it
  store = Open();
  ASSERT_NE(store, nullptr);
  vfs.Arm(".words.db-wal", FaultVfs::Fail::kEveryWrite);
  AppendRange(*store, 0, 10);
  ASSERT_TRUE(vfs.WaitForFailures(vfs.failures() + 2, std::chrono::seconds(60)));
  EXPECT_TRUE(refused(10));
  EXPECT_EQ(store->Stats().log_position, 10);
  vfs.Disarm();
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  AppendRange(*store, 10, 1);
  EXPECT_EQ(store->Stats().log_position, 11);
}

// A batch whose rows files commit but whose full-text files do not leaves events in the index
// that the tail holds too: queries are refused, never answered twice, until a retry commits the
// rest (skipping what each file holds).
TEST_F(SqliteStoreTest, ABatchCommittedHalfWayIsRefusedToQueriesUntilARetryCommitsTheRest) {
  const std::string expected = IndexedAnswersThenClose();
  std::filesystem::remove_all(dir_);
  index_retry_max_ms_ = 5;
  FaultVfs vfs;
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AppendRange(*store, 0, 200);  // every week's files
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  vfs.Arm(".words.db-wal", FaultVfs::Fail::kCommitFrames);
  AppendRange(*store, 200, 1000);
  ASSERT_TRUE(vfs.WaitForFailures(2, std::chrono::seconds(60)));
  // The failed commit happened under the lock queries take, and nothing has committed since.
  core::Filter acme;
  acme.tenants = {"acme"};
  auto page = store->Query(acme, std::nullopt, 10);
  ASSERT_FALSE(page.has_value());
  EXPECT_EQ(page.error().code(), util::ErrorCode::kUnavailable);
  auto histogram = store->CountOverTime(core::Filter(), 13);
  ASSERT_FALSE(histogram.has_value());
  EXPECT_EQ(histogram.error().code(), util::ErrorCode::kUnavailable);
  EXPECT_TRUE(store->Stats().index_retrying);
  EXPECT_EQ(store->Stats().indexed_position, 200);
  vfs.Disarm();
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  EXPECT_EQ(store->Stats().indexed_position, 1200);
  ExpectAnswersBeforeAndAfterReopening(*store, expected);
}

// A batch that brings a week new terms (an action, a user, an address) adds them in its
// transaction; rolled back, the terms are gone from the file, and the retry must write them again
// rather than use the ids it had given them.
TEST_F(SqliteStoreTest, ARolledBackBatchsNewTermsAreWrittenAgainByItsRetry) {
  index_retry_max_ms_ = 5;
  FaultVfs vfs;
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AppendNote(*store, 1, kBase, "acme", "alpha");  // the week's files and first terms
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  vfs.Arm(".words.db-wal", FaultVfs::Fail::kEveryWrite);
  core::Event event = MakeEvent(2);
  event.tenant = "acme";
  event.occurred_at = kBase + 1;
  event.action = "export";
  event.actor.email = "new.user@example.test";
  event.actor.id = "u-new";
  event.request.ip = "192.0.2.7";
  std::vector<std::vector<core::Event>> batches = {{event}};
  ASSERT_TRUE(store->Append(batches)[0].has_value());
  ASSERT_TRUE(vfs.WaitForFailures(1, std::chrono::seconds(60)));
  vfs.Disarm();
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  ASSERT_EQ(store->Stats().indexed_position, 2);
  auto total = [&](core::Filter filter) -> uint64_t {
    filter.tenants = {"acme"};
    auto page = store->Query(filter, std::nullopt, 10);
    EXPECT_TRUE(page.has_value());
    return page ? page->total : 0;
  };
  core::Filter by_action, by_user, by_ip;
  by_action.actions = {"export"};
  by_user.users = {"NEW.user@example.test"};
  by_ip.ips = {"192.0.2.7"};
  EXPECT_EQ(total(by_action), 1u);
  EXPECT_EQ(total(by_user), 1u);
  EXPECT_EQ(total(by_ip), 1u);
  // The user's (actor, tenant) pair was written again: the user is found with no tenant named,
  // in the tenants actor_tenants gives.
  auto everywhere = store->Query(by_user, std::nullopt, 10);
  ASSERT_TRUE(everywhere.has_value()) << everywhere.error().ToString();
  EXPECT_EQ(everywhere->total, 1u);
  // The address's (ip, actor) pair was written again too: with another person's event there,
  // an IP filter sought through the actors seen at it (ip_actors) still finds both.
  event = MakeEvent(3);
  event.tenant = "acme";
  event.occurred_at = kBase + 2;
  event.actor.email = "other.user@example.test";
  event.actor.id = "u-other";
  event.request.ip = "192.0.2.7";
  batches = {{event}};
  ASSERT_TRUE(store->Append(batches)[0].has_value());
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  EXPECT_EQ(total(by_ip), 2u);
  store->Close();
}

// An address seen with more than eight actors in a week is shared: the week's shared_ip_events
// then holds the position of each of its events, those of the batches before it crossed the line
// (found through its actors) and all after, also after the store is opened again. An address of
// one actor holds none. Queries through those positions answer as the memory backend would
// (conformance_test.cc); here, totals and charts of the address with another condition.
TEST_F(SqliteStoreTest, AnAddressManyActorsShareKeepsThePositionsOfItsEvents) {
  shared_ip_lookup_entries_ = 0;  // the positions whenever they may serve
  const std::string shared_ip = "198.51.100.20", own_ip = "198.51.100.21";
  int number = 0, at_shared = 0, logins_at_shared = 0;
  auto append = [&](EventStore& store, int actor, const std::string& ip, int events) {
    std::vector<std::vector<core::Event>> batches(1);
    for (int i = 0; i < events; ++i) {
      core::Event event = MakeEvent(++number);
      event.tenant = "acme";
      event.occurred_at = kBase + number * 60'000;  // one week
      event.actor.email = "person" + std::to_string(actor) + "@acme.test";
      event.actor.id = "p" + std::to_string(actor);
      event.request.ip = ip;
      event.action = number % 3 == 0 ? "login" : "update";
      if (ip == shared_ip) {
        ++at_shared;
        logins_at_shared += number % 3 == 0 ? 1 : 0;
      }
      batches[0].push_back(event);
    }
    ASSERT_TRUE(store.Append(batches)[0].has_value());
  };
  const std::string rows = dir_ + "/index/" + MondayFileOf(kBase);
  const std::string ip_term = "(SELECT term_id FROM terms WHERE kind = 8 AND value = '";
  auto entries = [&](const std::string& ip) {
    return QueryInt(rows,
                    "SELECT count(*) FROM shared_ip_events WHERE ip = " + ip_term + ip + "')");
  };
  auto entries_of_its_events = [&](const std::string& ip) {
    return QueryInt(rows, "SELECT count(*) FROM events WHERE ip = " + ip_term + ip +
                              "') AND position IN (SELECT position FROM shared_ip_events)");
  };
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  ASSERT_NE(store, nullptr);
  for (int actor = 1; actor <= 8; ++actor) append(*store, actor, shared_ip, 3);
  append(*store, 1, own_ip, 4);
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  EXPECT_EQ(entries(shared_ip), 0);  // eight actors: not shared yet
  append(*store, 2, shared_ip, 2);
  append(*store, 9, shared_ip, 1);  // the ninth
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  EXPECT_EQ(at_shared, 27);
  EXPECT_EQ(entries(shared_ip), 27);
  EXPECT_EQ(entries_of_its_events(shared_ip), 27);
  append(*store, 10, shared_ip, 2);
  append(*store, 1, own_ip, 2);
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  EXPECT_EQ(entries(shared_ip), 29);
  store->Close();
  store = Open(IndexerMode::kOnlyWhenWaitedFor);  // the week's shared addresses, loaded again
  ASSERT_NE(store, nullptr);
  append(*store, 3, shared_ip, 1);  // an actor already seen there: no new pair
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  EXPECT_EQ(entries(shared_ip), 30);
  EXPECT_EQ(entries_of_its_events(shared_ip), 30);
  EXPECT_EQ(entries(own_ip), 0);
  EXPECT_EQ(QueryInt(rows, "SELECT count(*) FROM shared_ip_events"), 30);

  core::Filter filter;
  filter.tenants = {"acme"};
  filter.ips = {shared_ip};
  filter.actions = {"login"};
  auto page = store->Query(filter, std::nullopt, 5);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->total, static_cast<uint64_t>(logins_at_shared));
  ASSERT_EQ(page->events.size(), 5u);
  for (const StoredEvent& event : page->events) {
    EXPECT_NE(event.json.find("\"ip\":\"" + shared_ip + "\""), std::string::npos) << event.json;
    EXPECT_NE(event.json.find("\"action\":\"login\""), std::string::npos) << event.json;
  }
  auto chart = store->CountOverTime(filter, 7);
  ASSERT_TRUE(chart.has_value()) << chart.error().ToString();
  uint64_t charted = 0;
  for (const HistogramBucket& bucket : chart->buckets) charted += bucket.count;
  EXPECT_EQ(charted, static_cast<uint64_t>(logins_at_shared));
  filter.tenants.clear();  // naming no tenant
  filter.actions.clear();
  page = store->Query(filter, std::nullopt, 100);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->total, 30u);
  EXPECT_EQ(page->events.size(), 30u);
  filter.ips = {shared_ip, own_ip};  // one address not shared: through the tenant's index
  page = store->Query(filter, std::nullopt, 100);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->total, 36u);
  store->Close();
}

// A backfill into a week whose word counts are stored empties them in its transaction; rolled
// back, it leaves them stored, and the retry must empty them again, or they would count the
// week's words without the backfilled ones.
TEST_F(SqliteStoreTest, ARetriedBackfillEmptiesTheWeeksStoredWordCountsAgain) {
  index_retry_max_ms_ = 5;
  FaultVfs vfs;
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  int number = 0;
  for (int i = 0; i < 5; ++i) AppendNote(*store, ++number, kBase + i, "acme", "alpha");
  store->WaitUntilIndexed();
  for (int i = 0; i < 3; ++i) {  // another week: kBase's is left, and its words counted
    AppendNote(*store, ++number, kBase + 14 * kDay + i, "acme", "gamma");
    store->WaitUntilIndexed();
  }
  const std::string week = dir_ + "/index/" + WordsFileOf(MondayFileOf(kBase));
  ASSERT_EQ(QueryInt(week, "SELECT value FROM meta WHERE key = 'word_counts'"), 1);
  vfs.Arm(".words.db-wal", FaultVfs::Fail::kEveryWrite);
  AppendNote(*store, ++number, kBase + 20, "acme", "alpha");
  auto indexed = std::async(std::launch::async, [&] { store->WaitUntilIndexed(); });
  ASSERT_TRUE(vfs.WaitForFailures(1, std::chrono::seconds(60)));
  vfs.Disarm();
  ASSERT_EQ(indexed.wait_for(std::chrono::minutes(1)), std::future_status::ready);
  EXPECT_EQ(QueryInt(week, "SELECT value FROM meta WHERE key = 'word_counts'"), 0);
  core::Filter filter;
  filter.search = *core::ParseSearch("alpha");
  filter.tenants = {"acme"};
  auto page = store->Query(filter, std::nullopt, 10);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->total, 6u);
  EXPECT_EQ(page->events.size(), 6u);
  store->Close();
}

// The tail keeps each Append's events together, and the indexer drops them from the front: a
// query counts a chunk the indexer has taken part of from where its events leave the index, for
// each tenant as for all (here the second week's files cannot be created, so the indexer stops
// after the first 25 of one Append's 40 events).
TEST_F(SqliteStoreTest, AnAppendsEventsPartlyIndexedAreFoundOnce) {
  index_batch_events_ = 25;
  index_retry_max_ms_ = 5;
  FaultVfs vfs;
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const util::UnixMillis second_week = kBase + 14 * kDay;
  vfs.Arm(WordsFileOf(MondayFileOf(second_week)) + "-wal", FaultVfs::Fail::kEveryWrite);
  std::vector<std::vector<core::Event>> batches(1);
  std::map<std::string, std::set<int64_t>> expected;  // tenant -> positions
  for (int number = 0; number < 40; ++number) {
    core::Event event = MakeEvent(number);
    event.occurred_at = (number < 25 ? kBase : second_week) + number;
    expected[event.tenant].insert(number + 1);
    expected[""].insert(number + 1);
    batches[0].push_back(std::move(event));
  }
  ASSERT_TRUE(store->Append(batches)[0].has_value());
  auto check = [&](std::vector<std::string> tenants, const std::string& key) {
    core::Filter filter;
    filter.tenants = std::move(tenants);
    auto page = store->Query(filter, std::nullopt, 100);
    ASSERT_TRUE(page.has_value());
    EXPECT_EQ(page->total, expected[key].size()) << key;
    std::set<int64_t> found;
    for (const StoredEvent& event : page->events) found.insert(event.position);
    EXPECT_EQ(found, expected[key]) << key;
    EXPECT_EQ(page->events.size(), expected[key].size()) << key;
  };
  ASSERT_TRUE(vfs.WaitForFailures(1, std::chrono::seconds(60)));
  ASSERT_EQ(store->Stats().indexed_position, 25);
  check({"acme"}, "acme");
  check({"globex"}, "globex");
  check({"globex", "acme"}, "");
  check({}, "");
  vfs.Disarm();
  ASSERT_TRUE(IndexedWithinAMinute(*store));
  ASSERT_EQ(store->Stats().indexed_position, 40);
  check({"acme"}, "acme");
  check({}, "");
  store->Close();
}

// Rebuilding the index offline reports a batch it cannot write, rather than retry it for ever.
TEST_F(SqliteStoreTest, RebuildingTheIndexReportsAWriteThatFails) {
  const std::string expected = IndexedAnswersThenClose();
  {
    FaultVfs vfs;
    vfs.Arm(".words.db-wal", FaultVfs::Fail::kEveryWrite);
    util::Status rebuilt = RebuildIndex(dir_);
    ASSERT_FALSE(rebuilt);
    EXPECT_NE(rebuilt.error().message().find("full"), std::string::npos)
        << rebuilt.error().ToString();
  }
  ASSERT_TRUE(RebuildIndex(dir_));
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Answers(*store), expected);
  store->Close();
}

// A group commit the log cannot write (its WAL cannot grow, or the frame that commits cannot be
// written: a full disk) answers every batch of the group with the error and changes nothing: not
// the positions, the seqs or the trees, and not the ids, so the same ids sent again with other
// content are not a conflict. Once the disk frees, the next append continues exactly where the
// log was: the store then holds what a store that never failed holds, before and after reopening.
TEST_F(SqliteStoreTest, AGroupTheLogCannotCommitChangesNothingAndTheNextContinuesExactly) {
  std::string expected;
  {
    auto store = Open();
    AppendRange(*store, 0, 600);
    AppendRange(*store, 600, 600);
    store->WaitUntilIndexed();
    expected = AnswersAndTrees(*store);
    store->Close();
  }
  for (const FaultVfs::Fail fail : {FaultVfs::Fail::kEveryWrite, FaultVfs::Fail::kCommitFrames}) {
    SCOPED_TRACE(fail == FaultVfs::Fail::kEveryWrite ? "every write" : "the commit frame");
    std::filesystem::remove_all(dir_);
    FaultVfs vfs;
    auto store = Open();
    ASSERT_NE(store, nullptr);
    AppendRange(*store, 0, 600);
    const std::string before = AnswersAndTrees(*store);
    vfs.Arm("log.db-wal", fail);
    // Two batches in one group: the ids of the events that come next, with other content, and a
    // tenant the log has never seen.
    std::vector<std::vector<core::Event>> batches(2);
    for (int number = 600; number < 900; ++number) {
      core::Event event = MakeEvent(number);
      event.details = R"({"note":"never stored"})";
      batches[0].push_back(std::move(event));
    }
    core::Event stranger = MakeEvent(5000);
    stranger.tenant = "initech";
    batches[1].push_back(stranger);
    auto results = store->Append(batches);
    ASSERT_EQ(results.size(), 2u);
    for (const auto& result : results) {
      ASSERT_FALSE(result.has_value());
      // Sent again later, not dropped (HTTP 503 with Retry-After): the disk may be freed.
      EXPECT_EQ(result.error().code(), util::ErrorCode::kUnavailable);
      EXPECT_NE(result.error().message().find("full"), std::string::npos)
          << result.error().ToString();
    }
    EXPECT_GE(vfs.failures(), 1u);
    vfs.Disarm();
    EXPECT_EQ(store->Stats().log_position, 600);
    EXPECT_EQ(AnswersAndTrees(*store), before);
    auto got = store->Get("initech", stranger.id);
    ASSERT_FALSE(got.has_value());
    EXPECT_EQ(got.error().code(), util::ErrorCode::kNotFound);
    AppendRange(*store, 600, 600);  // not a conflict: those ids were never stored
    ASSERT_TRUE(IndexedWithinAMinute(*store));
    EXPECT_EQ(store->Stats().log_position, 1200);
    EXPECT_EQ(AnswersAndTrees(*store), expected);
    store->Close();
    auto reopened = Open();
    ASSERT_NE(reopened, nullptr);
    reopened->WaitUntilIndexed();
    EXPECT_EQ(AnswersAndTrees(*reopened), expected);
    reopened->Close();
  }
}

TEST_F(SqliteStoreTest, AWeekLeftByTheIndexerCountsWordsFromStoredCounts) {
  word_count_terms_ = 4;  // a few of the week's terms after each batch
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  int number = 0;
  auto append = [&](util::UnixMillis at, const std::string& tenant, const std::string& note) {
    AppendNote(*store, ++number, at, tenant, note);
  };
  auto total = [&](const std::string& word, std::vector<std::string> tenants) -> uint64_t {
    core::Filter filter;
    filter.search = *core::ParseSearch(word);
    filter.tenants = std::move(tenants);
    auto page = store->Query(filter, std::nullopt, 5);
    EXPECT_TRUE(page.has_value());
    return page ? page->total : 0;
  };
  // Batches in another week, each followed by a few terms of a left week's counts: enough for
  // the `terms` of that week's events, less than one batch a term.
  auto batches_elsewhere = [&](util::UnixMillis at) {
    for (int i = 0; i < 40; ++i) {
      append(at + i, "acme", "gamma");
      store->WaitUntilIndexed();
    }
  };
  const std::string week = dir_ + "/index/" + WordsFileOf(MondayFileOf(kBase));
  for (int i = 0; i < 5; ++i) append(kBase + i, "acme", "alpha beta");
  for (int i = 0; i < 3; ++i) append(kBase + 10 + i, "globex", "alpha");
  store->WaitUntilIndexed();
  append(kBase + 14 * kDay, "acme", "gamma");  // another week: kBase's is left
  store->WaitUntilIndexed();
  // Four terms are read, not all of them: the counts are not complete, nor marked so.
  EXPECT_EQ(QueryInt(week, "SELECT value FROM meta WHERE key = 'word_counts'"), 0);
  batches_elsewhere(kBase + 14 * kDay + 1);
  EXPECT_EQ(QueryInt(week, "SELECT value FROM meta WHERE key = 'word_counts'"), 1);
  EXPECT_EQ(QueryInt(week, "SELECT count(*) FROM word_counts"),
            QueryInt(week, "SELECT count(*) FROM search_terms WHERE term GLOB '*_*'"));
  EXPECT_EQ(total("alpha", {"acme", "globex"}), 8u);
  EXPECT_EQ(total("alpha", {}), 8u);
  EXPECT_EQ(total("beta", {"globex"}), 0u);
  // The counts are read from word_counts: change them there, and the totals follow.
  ExecOn(week, "UPDATE word_counts SET docs = docs + 100 WHERE term LIKE 'alpha%';");
  EXPECT_EQ(total("alpha", {"acme"}), 105u);
  EXPECT_EQ(total("alpha", {}), 208u);
  // A backfill writes the week again: its words are counted by the full-text index once more.
  append(kBase + 20, "acme", "alpha");
  store->WaitUntilIndexed();
  EXPECT_EQ(total("alpha", {"acme"}), 6u);
  EXPECT_EQ(total("alpha", {}), 9u);
  batches_elsewhere(kBase + 15 * kDay);  // left again: counted and stored again
  ExecOn(week, "UPDATE word_counts SET docs = docs + 100 WHERE term LIKE 'alpha%';");
  EXPECT_EQ(total("alpha", {"acme"}), 106u);
}

// While batches follow one another, the words thread stores a left week's counts during them
// (SettleWords, beside each batch's words), not after the last one only.
TEST_F(SqliteStoreTest, ALeftWeeksWordsAreCountedWhileBatchesFollow) {
  word_count_terms_ = 4;
  index_batch_events_ = 1;  // a batch an event
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  int number = 0;
  auto append = [&](util::UnixMillis at, const std::string& tenant, const std::string& note) {
    AppendNote(*store, ++number, at, tenant, note);
  };
  const std::string week = dir_ + "/index/" + WordsFileOf(MondayFileOf(kBase));
  for (int i = 0; i < 5; ++i) append(kBase + i, "acme", "alpha beta");
  for (int i = 0; i < 3; ++i) append(kBase + 10 + i, "globex", "alpha");
  store->WaitUntilIndexed();
  // 40 batches in one wait, in another week: kBase's is left after the first. Each of the next 39
  // reads 4 of its terms; after the last, no batch follows.
  constexpr int kBatches = 40;
  const int64_t terms = QueryInt(week, "SELECT count(*) FROM search_terms");
  ASSERT_LT(terms / 4 + 1, kBatches - 1) << "too many terms to be counted during the batches";
  for (int i = 0; i < kBatches; ++i) append(kBase + 14 * kDay + i, "acme", "gamma");
  store->WaitUntilIndexed();
  EXPECT_EQ(QueryInt(week, "SELECT value FROM meta WHERE key = 'word_counts'"), 1);
  EXPECT_EQ(QueryInt(week, "SELECT count(*) FROM word_counts"),
            QueryInt(week, "SELECT count(*) FROM search_terms WHERE term GLOB '*_*'"));
  EXPECT_EQ(QueryInt(week, "SELECT docs FROM word_counts WHERE term GLOB 'alpha_*' ORDER BY docs"),
            3);  // globex's
  core::Filter filter;
  filter.search = *core::ParseSearch("alpha");
  ExecOn(week, "UPDATE word_counts SET docs = docs + 100 WHERE term LIKE 'alpha%';");
  auto page = store->Query(filter, std::nullopt, 5);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->total, 208u);  // read from word_counts
}

// A search with an action is held by its match alone in a week where the action's words are in
// its events only: the stored counts of a left week decide it, as they count a word.
TEST_F(SqliteStoreTest, ALeftWeeksStoredCountsDecideWhetherTheMatchHoldsAnAction) {
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  int number = 0;
  auto append = [&](util::UnixMillis at, const std::string& action, const std::string& note) {
    core::Event event = MakeEvent(++number);
    event.tenant = "acme";
    event.action = action;
    event.occurred_at = at;
    event.details = "{\"note\":\"" + note + "\"}";
    std::vector<std::vector<core::Event>> batches = {{event}};
    ASSERT_TRUE(store->Append(batches)[0].has_value());
  };
  auto total = [&](std::vector<std::string> tenants) -> uint64_t {
    core::Filter filter;
    filter.search = *core::ParseSearch("alpha");
    filter.actions = {"login"};
    filter.tenants = std::move(tenants);
    auto page = store->Query(filter, std::nullopt, 5);
    EXPECT_TRUE(page.has_value());
    return page ? page->total : 0;
  };
  for (int i = 0; i < 3; ++i) append(kBase + i, "login", "alpha");
  for (int i = 0; i < 2; ++i) append(kBase + 10 + i, "create", "alpha");
  append(kBase + 20, "create", "alpha login");  // login, but not its action
  store->WaitUntilIndexed();
  for (int i = 0; i < 3; ++i) {  // another week: kBase's is left, and its words counted
    append(kBase + 14 * kDay + i, "create", "gamma");
    store->WaitUntilIndexed();
  }
  const std::string week = dir_ + "/index/" + WordsFileOf(MondayFileOf(kBase));
  ASSERT_EQ(QueryInt(week, "SELECT value FROM meta WHERE key = 'word_counts'"), 1);
  ASSERT_EQ(QueryInt(week, "SELECT docs FROM word_counts WHERE term GLOB 'login_*'"), 4);
  // Four events hold the word, three have the action: each candidate's row is checked.
  EXPECT_EQ(total({"acme"}), 3u);
  EXPECT_EQ(total({}), 3u);
  // Counted as three, the word would be the action's alone, and the match would hold it: the
  // event with `login` in its details then matches too.
  ExecOn(week, "UPDATE word_counts SET docs = 3 WHERE term GLOB 'login_*';");
  EXPECT_EQ(total({"acme"}), 4u);
  EXPECT_EQ(total({}), 4u);
  ExecOn(week, "UPDATE word_counts SET docs = 4 WHERE term GLOB 'login_*';");
  EXPECT_EQ(total({"acme"}), 3u);
}

// A phrase is matched without its words that are in nearly every event of the week (an email's
// domain), since its candidates are checked on their events: the answers stay exact.
TEST_F(SqliteStoreTest, APhraseOfCommonWordsFindsExactlyItsEvents) {
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  std::vector<core::Event> events;
  for (int i = 0; i < 20; ++i) {
    core::Event event = MakeEvent(i + 1);
    event.tenant = "acme";
    event.occurred_at = kBase + i;
    event.actor.email = "user" + std::to_string(i % 5) + "@acme.test";
    event.actor.id = "u" + std::to_string(i % 5);
    event.details = "{\"note\":\"alpha\"}";
    events.push_back(std::move(event));
  }
  for (int i = 0; i < 2; ++i) {  // `acme` without `test`, and no email
    core::Event event = MakeEvent(100 + i);
    event.tenant = "acme";
    event.occurred_at = kBase + 50 + i;
    event.actor.email.clear();
    event.actor.id = "svc";
    event.details = "{\"note\":\"acme beta\"}";
    events.push_back(std::move(event));
  }
  std::vector<std::vector<core::Event>> batches = {std::move(events)};
  ASSERT_TRUE(store->Append(batches)[0].has_value());
  store->WaitUntilIndexed();
  auto total = [&](const std::string& q, std::vector<std::string> tenants) -> uint64_t {
    core::Filter filter;
    filter.search = *core::ParseSearch(q);
    filter.tenants = std::move(tenants);
    auto page = store->Query(filter, std::nullopt, 50);
    EXPECT_TRUE(page.has_value()) << q;
    if (!page) return 0;
    EXPECT_EQ(page->events.size(), page->total) << q;
    auto histogram = store->CountOverTime(filter, 10);
    EXPECT_TRUE(histogram.has_value()) << q;
    uint64_t charted = 0;
    if (histogram) {
      for (const HistogramBucket& bucket : histogram->buckets) charted += bucket.count;
    }
    EXPECT_EQ(charted, page->total) << q;
    return page->total;
  };
  for (const std::vector<std::string>& tenants :
       {std::vector<std::string>{"acme"}, std::vector<std::string>{}}) {
    // acme is in all 22 events, test in 20 of them: both are left out of the match.
    EXPECT_EQ(total("\"user3@acme.test\"", tenants), 4u);
    EXPECT_EQ(total("\"acme test\"", tenants), 20u);  // all common: the rarer one stays
    EXPECT_EQ(total("\"test acme\"", tenants), 0u);
    EXPECT_EQ(total("\"acme beta\"", tenants), 2u);
    EXPECT_EQ(total("\"beta acme\"", tenants), 0u);
    EXPECT_EQ(total("\"acme test\" alpha", tenants), 20u);
  }
}

TEST_F(SqliteStoreTest, RejectsAnUnusableDataDirectory) {
  SqliteOptions options;
  EXPECT_FALSE(OpenSqliteEventStore(options).has_value());
  std::filesystem::create_directories(dir_);
  {
    std::FILE* file = std::fopen((dir_ + "/log.db").c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs("this is not a database, and long enough to show that it is not one at all", file);
    std::fclose(file);
  }
  options.data_dir = dir_;
  auto store = OpenSqliteEventStore(options);
  ASSERT_FALSE(store.has_value());
}

// The (first, last) positions of the log's blocks, in order.
std::vector<std::pair<int64_t, int64_t>> BlockRanges(const std::string& dir) {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((dir + "/log.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* select = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT first_position, last_position FROM blocks "
                               "ORDER BY first_position",
                               -1, &select, nullptr),
            SQLITE_OK);
  while (sqlite3_step(select) == SQLITE_ROW) {
    blocks.emplace_back(sqlite3_column_int64(select, 0), sqlite3_column_int64(select, 1));
  }
  sqlite3_finalize(select);
  sqlite3_close(db);
  return blocks;
}

TEST_F(SqliteStoreTest, EventsAreStoredInBlocksAndReadBackFromThem) {
  {
    auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
    AppendRange(*store, 0, 200);  // one group: blocks of kBlockMaxEvents
    AppendRange(*store, 200, 1);  // a group of one: a block of one
    store->Close();
  }
  const std::vector<std::pair<int64_t, int64_t>> blocks = BlockRanges(dir_);
  const auto full = static_cast<int64_t>(kBlockMaxEvents);
  const std::vector<std::pair<int64_t, int64_t>> expected = {
      {1, full}, {full + 1, 2 * full}, {2 * full + 1, 3 * full}, {3 * full + 1, 200}, {201, 201}};
  EXPECT_EQ(blocks, expected);
  // Every event is read back from its block, by id, after a restart.
  auto store = Open();
  for (int number : {0, 63, 64, 199, 200}) {
    auto got = store->Get(MakeEvent(number).tenant, MakeEvent(number).id);
    ASSERT_TRUE(got.has_value()) << number;
    EXPECT_EQ(got->position, number + 1);
    EXPECT_EQ(got->occurred_at, MakeEvent(number).occurred_at);
  }
}

// The server's writer gets batches prepared on the request threads (EventStore::Prepare): a batch
// of 64 events or more brings its own compressed blocks, smaller ones share the writer's. The log
// must read back exactly as if nothing had been prepared: the same stored bytes and trees.
TEST_F(SqliteStoreTest, PreparedBatchesStoreWhatUnpreparedOnesDo) {
  // Sizes around the block and own-block limits. The third batch resends ten of the first's
  // events, so its own blocks cannot be used and the writer builds its blocks instead.
  const std::vector<std::pair<int, int>> batches = {{0, 200}, {1000, 3}, {190, 70}, {260, 64},
                                                    {324, 1}, {325, 63}, {388, 130}};
  auto build = [&](EventStore& store, bool prepare) {
    std::vector<Batch> group;
    for (const auto& [first, count] : batches) {
      Batch& batch = group.emplace_back();
      for (int number = first; number < first + count; ++number) {
        batch.events.push_back(MakeEvent(number));
      }
      if (prepare) batch.prepared = store.Prepare(batch.events);
    }
    // Two groups: the first three batches, then the rest.
    auto first = store.Append(std::span(group).first(3));
    auto rest = store.Append(std::span(group).subspan(3));
    for (const auto& results : {first, rest}) {
      for (const auto& result : results) ASSERT_TRUE(result.has_value());
    }
    EXPECT_EQ(std::count_if(first[2]->begin(), first[2]->end(),
                            [](const Appended& one) { return one.duplicate; }),
              10);
  };
  std::map<std::string, std::vector<std::string>> unprepared;
  std::map<std::string, merkle::Hash> unprepared_roots;
  {
    auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
    build(*store, false);
    for (const std::string tenant : {"acme", "globex"}) {
      auto tree = store->OpenTree(tenant);
      ASSERT_TRUE(tree.has_value());
      unprepared[tenant] = *store->Entries(tenant, 0, tree->size);
      unprepared_roots[tenant] = *merkle::RootHash(tree->size, tree->nodes);
    }
    store->Close();
  }
  std::filesystem::remove_all(dir_);
  {
    auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
    build(*store, true);
    store->Close();
  }
  auto store = Open();
  for (const std::string tenant : {"acme", "globex"}) {
    auto tree = store->OpenTree(tenant);
    ASSERT_TRUE(tree.has_value());
    auto entries = store->Entries(tenant, 0, tree->size);
    ASSERT_TRUE(entries.has_value());
    EXPECT_EQ(*entries, unprepared[tenant]) << tenant;
    EXPECT_EQ(*merkle::RootHash(tree->size, tree->nodes), unprepared_roots[tenant]);
  }
  auto got = store->Get("globex", MakeEvent(517).id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->position, 521);  // 531 events sent, ten of them again
  store->WaitUntilIndexed();
  auto page = store->Query(core::Filter{}, std::nullopt, 10);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->total, 521u);
  store->Close();
  // A batch's own blocks start where it starts and are not mixed with the writer's blocks,
  // which never span two Append calls.
  const std::vector<std::pair<int64_t, int64_t>> expected = {
      {1, 64},    {65, 128},  {129, 192}, {193, 200},  // the first batch's own
      {201, 263},                                      // the second and the third (60 new)
      {264, 327},                                      // the fourth's own
      {328, 391},                                      // the fifth and sixth: 1 + 63
      {392, 455}, {456, 519}, {520, 521}};             // the last's own
  EXPECT_EQ(BlockRanges(dir_), expected);
}

TEST_F(SqliteStoreTest, AMissingBlockIsReportedNotSkipped) {
  {
    auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
    AppendRange(*store, 0, 200);
    store->Close();
  }
  ExecOnLog(dir_, "DELETE FROM blocks WHERE first_position = 65");
  SqliteOptions options;
  options.data_dir = dir_;
  auto store = OpenSqliteEventStore(options);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), util::ErrorCode::kCorruption);
  EXPECT_NE(store.error().message().find("no event at position 65"), std::string::npos)
      << store.error().message();
}

TEST_F(SqliteStoreTest, ALogOfAnotherFormatIsRefusedAndLeftAsItWas) {
  {
    auto store = Open();
    AppendRange(*store, 0, 10);
    store->Close();
  }
  ExecOnLog(dir_, "UPDATE meta SET value = 1 WHERE key = 'format'; DROP TABLE blocks;");
  SqliteOptions options;
  options.data_dir = dir_;
  auto store = OpenSqliteEventStore(options);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message().find("log format 1"), std::string::npos)
      << store.error().message();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/log.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* select = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'blocks'", -1,
                               &select, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(select), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(select, 0), 0) << "opening changed a log it cannot read";
  sqlite3_finalize(select);
  sqlite3_close(db);
}

// Log format 3 keyed event_ids by (tenant_id, id); a store opening such a log re-keys them by
// (id, tenant_id) and records format 4, and every id is found as before: by Get, and as the
// duplicate (or the conflict) of an event sent again.
TEST_F(SqliteStoreTest, ALogOfFormat3HasItsIdsReKeyedOnOpen) {
  const std::string schema_of_ids =
      "SELECT instr(sql, 'PRIMARY KEY(tenant_id, id)') > 0 FROM sqlite_schema "
      "WHERE name = 'event_ids'";
  std::vector<core::Event> events;
  for (int number = 0; number < 300; ++number) events.push_back(MakeEvent(number));
  events[7].id = "01890a5d-ac96-774b-bcce-b302099a8057";  // a client's UUID: stored as 16 bytes
  events[8].id = "01890A5D-AC96-774B-BCCE-B302099A8058";  // not lower case: stored as text
  events[9].id = util::NewUuidV7(kBase);                  // one Evident gave
  events[9].id_from_client = false;
  {
    auto store = Open();
    std::vector<std::vector<core::Event>> batches = {events};
    ASSERT_TRUE(store->Append(batches)[0].has_value());
    store->Close();
  }
  const std::string log = dir_ + "/log.db";
  ASSERT_EQ(QueryInt(log, schema_of_ids), 0);
  ExecOnLog(dir_,
            "BEGIN; "
            "CREATE TABLE ids3(tenant_id INTEGER NOT NULL, id NOT NULL, position INTEGER NOT NULL,"
            "  PRIMARY KEY(tenant_id, id)) WITHOUT ROWID; "
            "INSERT INTO ids3 SELECT tenant_id, id, position FROM event_ids; "
            "DROP TABLE event_ids; ALTER TABLE ids3 RENAME TO event_ids; "
            "UPDATE meta SET value = 3 WHERE key = 'format'; COMMIT;");
  ASSERT_EQ(QueryInt(log, schema_of_ids), 1);
  const int64_t ids = QueryInt(log, "SELECT count(*) FROM event_ids");
  ASSERT_EQ(ids, 300);
  {
    // The audit reads a format-3 log as it is.
    auto audit = AuditLog(dir_);
    ASSERT_TRUE(audit.has_value()) << audit.error().ToString();
    EXPECT_TRUE(audit->problems.empty());
    EXPECT_EQ(QueryInt(log, "SELECT value FROM meta WHERE key = 'format'"), 3);
  }

  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryInt(log, "SELECT value FROM meta WHERE key = 'format'"), 4);
  EXPECT_EQ(QueryInt(log, schema_of_ids), 0);
  EXPECT_EQ(QueryInt(log,
                     "SELECT instr(sql, 'PRIMARY KEY(id, tenant_id)') > 0 FROM sqlite_schema "
                     "WHERE name = 'event_ids'"),
            1);
  EXPECT_EQ(QueryInt(log, "SELECT count(*) FROM event_ids"), ids);
  for (const int number : {0, 1, 7, 8, 9, 299}) {
    auto found = store->Get(events[number].tenant, events[number].id);
    ASSERT_TRUE(found.has_value()) << events[number].id << ": " << found.error().ToString();
    EXPECT_NE(found->json.find(events[number].id), std::string::npos) << found->json;
  }
  EXPECT_FALSE(store->Get(events[7].tenant == "acme" ? "globex" : "acme", events[7].id));

  // Sent again: the same events are duplicates, stored once; a changed one is refused whole.
  std::vector<std::vector<core::Event>> again = {{events[7], events[8], events[42]}};
  auto repeated = store->Append(again);
  ASSERT_TRUE(repeated[0].has_value()) << repeated[0].error().ToString();
  for (const Appended& appended : *repeated[0]) EXPECT_TRUE(appended.duplicate) << appended.id;
  core::Event changed = events[8];
  changed.action = "delete";
  std::vector<std::vector<core::Event>> conflicting = {{MakeEvent(1000), changed}};
  auto refused = store->Append(conflicting);
  ASSERT_FALSE(refused[0].has_value());
  EXPECT_EQ(refused[0].error().code(), util::ErrorCode::kConflict);
  EXPECT_EQ(store->Stats().log_position, 300);
}

// A tree reopened at awkward sizes continues from its stored tiles: partial tiles at level 0 and
// level 1 (past 65,536 leaves) are reloaded and extended.
TEST_F(SqliteStoreTest, ATreeResumesFromItsTilesAfterReopening) {
  std::vector<merkle::Hash> leaves;
  int number = 0;
  auto append = [&](EventStore& store, int count) {
    std::vector<std::vector<core::Event>> batches(1);
    for (int i = 0; i < count; ++i, ++number) {
      core::Event event = MakeEvent(number);
      event.tenant = "big";
      batches[0].push_back(event);
    }
    auto results = store.Append(batches);
    ASSERT_TRUE(results[0].has_value()) << results[0].error().ToString();
  };
  for (int count : {300, 65'500, 4'000}) {
    auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
    append(*store, count);
    append(*store, 1);
    store->Close();
  }
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  auto tree = store->OpenTree("big");
  ASSERT_TRUE(tree.has_value());
  ASSERT_EQ(tree->size, static_cast<uint64_t>(number));
  auto entries = store->Entries("big", 0, tree->size);
  ASSERT_TRUE(entries.has_value());
  merkle::Frontier reference;
  for (const std::string& entry : *entries) reference.Append(merkle::HashLeaf(entry));
  EXPECT_EQ(*merkle::RootHash(tree->size, tree->nodes), reference.Root());
  const uint64_t index = 65'536 + 17;
  auto proof = merkle::InclusionProof(index, tree->size, tree->nodes);
  ASSERT_TRUE(proof.has_value());
  EXPECT_TRUE(merkle::VerifyInclusion(index, tree->size, merkle::HashLeaf((*entries)[index]),
                                      *proof, reference.Root()));
}

TEST_F(SqliteStoreTest, ADamagedTileIsReportedAsCorruption) {
  {
    auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
    AppendRange(*store, 0, 30);
    store->Close();
  }
  ExecOnLog(dir_, "UPDATE tiles SET hashes = substr(hashes, 1, 64) WHERE level = 0");
  auto store = Open(IndexerMode::kOnlyWhenWaitedFor);
  auto tree = store->OpenTree("acme");
  ASSERT_TRUE(tree.has_value());
  auto root = merkle::RootHash(tree->size, tree->nodes);
  ASSERT_FALSE(root.has_value());
  EXPECT_EQ(root.error().code(), util::ErrorCode::kCorruption);
  // Appending to the damaged tree is refused rather than built on.
  std::vector<std::vector<core::Event>> batches = {{MakeEvent(300)}};
  auto results = store->Append(batches);
  EXPECT_FALSE(results[0].has_value());
}

TEST(LogBlock, SplitsWhatWasAppended) {
  const std::string big(300, 'x');  // a length of two varint bytes
  std::string payload, body;
  AppendToBlock("{\"a\":1}", payload);
  AppendToBlock(big, payload);
  AppendToBlock("", payload);
  CompressBody(payload, body);
  auto block = LogBlock::Decode(7, body);
  ASSERT_TRUE(block.has_value()) << block.error().ToString();
  EXPECT_EQ((*block)->first_position(), 7);
  EXPECT_EQ((*block)->last_position(), 9);
  EXPECT_EQ((*block)->Event(7), "{\"a\":1}");
  EXPECT_EQ((*block)->Event(8), big);
  EXPECT_EQ((*block)->Event(9), "");
  EXPECT_FALSE((*block)->Holds(10));
  // A payload cut short, or a length running past its end, is corruption.
  CompressBody(payload.substr(0, payload.size() - 2), body);
  EXPECT_FALSE(LogBlock::Decode(7, body).has_value());
  CompressBody(std::string("\xff"), body);
  EXPECT_FALSE(LogBlock::Decode(7, body).has_value());
  CompressBody("", body);
  EXPECT_FALSE(LogBlock::Decode(7, body).has_value());
}

// The written layout: seqs outside the compressed part, put back into each event's JSON.
TEST(LogBlock, PutsTheSeqsBackIntoEventsPreparedWithoutThem) {
  std::vector<core::Event> events = {MakeEvent(1), MakeEvent(2), MakeEvent(3)};
  events[2].details = "{}";
  const std::vector<uint64_t> seqs = {0, 127, 1'000'000'007};
  std::string payload;
  for (const core::Event& event : events) {
    core::SeqlessJson seqless;
    core::EncodeStoredWithoutSeq(event, seqless);
    AppendSeqlessToBlock(seqless.json, seqless.seq_at, payload);
  }
  for (bool compressible : {true, false}) {
    BlockFrame frame;
    // Random-looking bytes do not compress: the frame then holds the payload as it is.
    MakeBlockFrame(compressible ? payload : payload.substr(0, 0), frame);
    if (!compressible) {
      std::string noise;
      uint64_t x = 88172645463325252ULL;
      for (int i = 0; i < 40; ++i, x ^= x << 13, x ^= x >> 7, x ^= x << 17) {
        noise += static_cast<char>(x & 0xff);
      }
      payload.clear();
      AppendSeqlessToBlock(noise, 0, payload);
      MakeBlockFrame(payload, frame);
    }
    EXPECT_EQ(frame.compressed, compressible);
    std::string body;
    MakeBlockBody(frame, compressible ? std::span(seqs) : std::span(seqs).first(1), body);
    auto block = LogBlock::Decode(40, body);
    ASSERT_TRUE(block.has_value()) << block.error().ToString();
    if (!compressible) {
      EXPECT_EQ((*block)->last_position(), 40);
      EXPECT_EQ((*block)->Event(40).substr(0, 1), "0");  // seq 0 put at offset 0
      continue;
    }
    EXPECT_EQ((*block)->last_position(), 42);
    for (size_t i = 0; i < events.size(); ++i) {
      events[i].seq = seqs[i];
      EXPECT_EQ((*block)->Event(40 + static_cast<int64_t>(i)), core::EncodeEvent(events[i]));
    }
    // More seqs than events, fewer, a cut header, a cut frame: corruption, never a guess.
    std::string wrong;
    MakeBlockBody(frame, std::span(seqs).first(2), wrong);
    EXPECT_FALSE(LogBlock::Decode(40, wrong).has_value());
    const std::vector<uint64_t> four = {1, 2, 3, 4};
    MakeBlockBody(frame, four, wrong);
    EXPECT_FALSE(LogBlock::Decode(40, wrong).has_value());
    EXPECT_FALSE(LogBlock::Decode(40, body.substr(0, 3)).has_value());
    EXPECT_FALSE(LogBlock::Decode(40, body.substr(0, body.size() - 5)).has_value());
  }
  // An offset past its event's end.
  payload.clear();
  AppendSeqlessToBlock("{}", 3, payload);
  BlockFrame frame;
  MakeBlockFrame(payload, frame);
  std::string body;
  MakeBlockBody(frame, std::span(seqs).first(1), body);
  EXPECT_FALSE(LogBlock::Decode(1, body).has_value());
}

// Some events of a block, straight from its body: what Decode gives for them, in either layout.
TEST(LogBlock, VisitsTheWantedEventsAlone) {
  std::vector<core::Event> events;
  std::string payload;
  for (int i = 0; i < 70; ++i) {
    events.push_back(MakeEvent(i));
    core::SeqlessJson seqless;
    core::EncodeStoredWithoutSeq(events.back(), seqless);
    AppendSeqlessToBlock(seqless.json, seqless.seq_at, payload);
  }
  std::vector<uint64_t> seqs;
  for (uint64_t i = 0; i < events.size(); ++i) seqs.push_back(i * 1000 + 7);
  BlockFrame frame;
  MakeBlockFrame(payload, frame);
  ASSERT_TRUE(frame.compressed);
  std::string body;
  MakeBlockBody(frame, seqs, body);
  std::string old_payload, old_body;  // the read-only layout
  for (int i = 0; i < 3; ++i) AppendToBlock("{\"n\":" + std::to_string(i) + "}", old_payload);
  CompressBody(old_payload, old_body);

  std::string buffer = "bytes left from another block";
  std::vector<std::pair<int64_t, std::string>> seen;
  auto collect = [&](int64_t position, std::string_view json) -> util::Status {
    seen.emplace_back(position, std::string(json));
    return {};
  };
  const std::vector<int64_t> wanted = {100, 101, 133, 169};
  ASSERT_TRUE(VisitBlockEvents(100, body, wanted, buffer, collect).has_value());
  ASSERT_EQ(seen.size(), wanted.size());
  for (size_t i = 0; i < wanted.size(); ++i) {
    const auto n = static_cast<size_t>(wanted[i] - 100);
    core::Event event = events[n];
    event.seq = seqs[n];
    EXPECT_EQ(seen[i], std::make_pair(wanted[i], core::EncodeEvent(event)));
  }
  seen.clear();
  const std::vector<int64_t> old_wanted = {6};
  ASSERT_TRUE(VisitBlockEvents(5, old_body, old_wanted, buffer, collect).has_value());
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, std::string>>{{6, "{\"n\":1}"}}));

  // A position the block does not hold, positions out of order or repeated, a cut frame: errors.
  for (const std::vector<int64_t>& bad :
       std::vector<std::vector<int64_t>>{{99}, {170}, {101, 100}, {101, 101}}) {
    EXPECT_FALSE(VisitBlockEvents(100, body, bad, buffer, collect).has_value()) << bad[0];
  }
  const std::vector<int64_t> first = {100};
  EXPECT_FALSE(
      VisitBlockEvents(100, body.substr(0, body.size() - 9), first, buffer, collect).has_value());
  EXPECT_FALSE(VisitBlockEvents(5, old_body, std::vector<int64_t>{8}, buffer, collect).has_value());
  // The visitor's error ends the visit.
  int visits = 0;
  auto refuse = [&](int64_t, std::string_view) -> util::Status {
    ++visits;
    return util::Error::Corruption("no");
  };
  EXPECT_FALSE(VisitBlockEvents(100, body, wanted, buffer, refuse).has_value());
  EXPECT_EQ(visits, 1);
}

TEST(BlockCache, KeepsTheMostRecentlyUsed) {
  auto make = [](int64_t first) {
    std::string payload, body;
    AppendToBlock("a", payload);
    AppendToBlock("b", payload);
    CompressBody(payload, body);
    return *LogBlock::Decode(first, body);
  };
  BlockCache cache(2);
  cache.Insert(make(1));  // positions 1-2
  cache.Insert(make(3));  // 3-4
  EXPECT_NE(cache.Find(2), nullptr);
  cache.Insert(make(5));  // evicts 3-4, used least recently
  EXPECT_EQ(cache.Find(4), nullptr);
  EXPECT_NE(cache.Find(1), nullptr);
  EXPECT_NE(cache.Find(6), nullptr);
  EXPECT_EQ(cache.Find(7), nullptr);
}

TEST(BodyCodec, RoundTripsAndCompresses) {
  const std::string json = core::EncodeEvent(MakeEvent(42));
  std::string body;
  CompressBody(json, body);
  EXPECT_LT(body.size(), json.size() * 3 / 4);
  auto back = DecompressBody(body);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, json);
  EXPECT_FALSE(DecompressBody("").has_value());
  EXPECT_FALSE(DecompressBody(std::string("\x07garbage")).has_value());
  EXPECT_FALSE(DecompressBody(body.substr(0, body.size() / 2)).has_value());
  CompressBody("x", body);  // too small to gain: stored as is
  EXPECT_EQ(*DecompressBody(body), "x");
}

TEST(SearchText, HoldsTheWordsMatchesLooksAt) {
  core::Event event;
  event.action = "Rotate-Keys";
  event.actor.email = "Ana@Acme.test";
  event.details = R"({"label":"Blue moon","list":["x1",{"deep":"Été"}],"n":3})";
  std::string text;
  AppendSearchText(event, 12, text);
  // Words with a digit are shared by every tenant; an address is also a token of its own, per
  // tenant, its bytes that are no word's escaped.
  const std::string ana = "_at_anazaacmezbtest";  // ana@acme.test
  EXPECT_EQ(AddressWord("ANA@acme.TEST"), ana);
  EXPECT_EQ(AddressWord("z.9-x_y+%@q"), "_at_zzzb9zcxzdyzezfzaq");
  EXPECT_TRUE(IndexedPerTenant(ana));
  EXPECT_TRUE(IndexedPerTenant(AddressWord("ana.0@acme.test")));
  EXPECT_EQ(text, "rotate_12 keys_12 ana_12 acme_12 test_12 " + ana +
                      "_12 blue_12 moon_12 x1 \xC3\x89t\xC3\xA9_12 ");
  // Each address once, wherever it is; no two addresses share a token.
  event.details = R"({"cc":"ana@acme.test, bob.ana@acme.test","to":"ANA@ACME.test."})";
  text.clear();
  AppendSearchText(event, 12, text);
  EXPECT_EQ(text, "rotate_12 keys_12 ana_12 acme_12 test_12 " + ana + "_12 bob_12 " +
                      AddressWord("bob.ana@acme.test") + "_12 ");
  EXPECT_NE(AddressWord("ab@c"), AddressWord("a@bc"));
  EXPECT_NE(AddressWord("a.z@b"), AddressWord("a.@zb"));  // zb is no `.`: z is written zz
  // A control character separates words, whichever way canonical JSON escapes it.
  event = core::Event{};
  event.details = R"({"log":"first\rsecond\nthird"})";
  text.clear();
  AppendSearchText(event, 12, text);
  EXPECT_EQ(text, "first_12 second_12 third_12 ");
  // Each word once, whatever its case and wherever it repeats.
  event = core::Event{};
  event.action = "sync";
  event.details = R"({"a":"Sync SYNC x1 moon","b":["x1","moon sync"]})";
  text.clear();
  AppendSearchText(event, 12, text);
  EXPECT_EQ(text, "sync_12 x1 moon_12 ");
  // A status other than success and a type other than activity are tokens no word can be: a word
  // never holds the separator, the text `_status_failure` is two words.
  event = core::Event{};
  event.status = core::EventStatus::kFailure;
  event.type = core::EventType::kSession;
  event.details = R"({"a":"_status_failure"})";
  text.clear();
  AppendSearchText(event, 12, text);
  EXPECT_EQ(text, "status_12 failure_12 _status_failure_12 _type_session_12 ");
  EXPECT_EQ(ValueWord(core::EventStatus::kBlocked), "_status_blocked");
  EXPECT_EQ(ValueWord(core::EventType::kToken), "_type_token");
  EXPECT_TRUE(IndexedPerTenant("moon"));
  EXPECT_FALSE(IndexedPerTenant("x1"));
  EXPECT_EQ(TenantToken("moon", 12), "moon_12");
  EXPECT_EQ(AnyTenantPrefix("moon"), "moon_");
}

}  // namespace
}  // namespace evident::storage::sqlite
