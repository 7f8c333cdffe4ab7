#include "evident/storage/sqlite/db.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace evident::storage::sqlite {
namespace {

class DbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (std::string("evident_db_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "t.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  uintmax_t WalBytes() const { return std::filesystem::file_size(path_ + "-wal"); }

  static int64_t Count(Db& db) {
    auto select = db.Prepare("SELECT count(*) FROM t");
    EXPECT_TRUE(select.has_value());
    auto row = (*select)->Step();
    EXPECT_TRUE(row.has_value() && *row);
    const int64_t count = (*select)->ColumnInt(0);
    (*select)->Reset();
    return count;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(DbTest, WriteDirtyPagesPutsATransactionsPagesInTheWalUncommitted) {
  auto writer = Db::Open(path_, OpenMode::kReadWrite);
  ASSERT_TRUE(writer.has_value());
  Db& db = **writer;
  ASSERT_TRUE(
      db.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; "
              "PRAGMA wal_autocheckpoint=0; CREATE TABLE t(v TEXT);"));
  auto reader = Db::Open(path_, OpenMode::kReadOnly);
  ASSERT_TRUE(reader.has_value());

  // Outside a transaction there is nothing to write.
  const uintmax_t empty = WalBytes();
  ASSERT_TRUE(db.WriteDirtyPages());
  EXPECT_EQ(WalBytes(), empty);

  ASSERT_TRUE(db.Exec("BEGIN"));
  auto insert = db.Prepare("INSERT INTO t(v) VALUES(?)");
  ASSERT_TRUE(insert.has_value());
  const std::string value(200, 'x');
  for (int i = 0; i < 2000; ++i) {
    (*insert)->Reset();
    ASSERT_TRUE((*insert)->Bind(1, value + std::to_string(i)).Run());
  }
  // 2,000 rows of ~200 bytes: ~100 pages of 4 KiB, held in the page cache until now.
  const uintmax_t before = WalBytes();
  ASSERT_TRUE(db.WriteDirtyPages());
  const uintmax_t written = WalBytes();
  EXPECT_GT(written, before + 90 * 4096);
  // Frames of a transaction not committed: another connection does not see them.
  EXPECT_EQ(Count(**reader), 0);

  ASSERT_TRUE(db.Exec("COMMIT"));
  // The commit had one frame left to write (a page and its header), not the transaction's pages.
  EXPECT_LE(WalBytes(), written + 2 * (4096 + 24));
  EXPECT_EQ(Count(**reader), 2000);
  EXPECT_EQ(Count(db), 2000);
}

TEST_F(DbTest, PagesWrittenEarlyAreDiscardedByARollback) {
  auto writer = Db::Open(path_, OpenMode::kReadWrite);
  ASSERT_TRUE(writer.has_value());
  Db& db = **writer;
  ASSERT_TRUE(
      db.Exec("PRAGMA journal_mode=WAL; CREATE TABLE t(v TEXT); INSERT INTO t VALUES('a');"));
  ASSERT_TRUE(db.Exec("BEGIN; INSERT INTO t SELECT 'b' FROM (SELECT 1 UNION SELECT 2);"));
  ASSERT_TRUE(db.WriteDirtyPages());
  ASSERT_TRUE(db.Exec("ROLLBACK"));
  EXPECT_EQ(Count(db), 1);
  // And the next transaction's commit is not mixed up with them.
  ASSERT_TRUE(db.Exec("INSERT INTO t VALUES('c')"));
  auto reopened = Db::Open(path_, OpenMode::kReadOnly);
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ(Count(**reopened), 2);
}

TEST_F(DbTest, ACountedWalIsCheckpointedOnlyWhenAsked) {
  auto writer = Db::Open(path_, OpenMode::kReadWrite);
  ASSERT_TRUE(writer.has_value());
  Db& db = **writer;
  ASSERT_TRUE(db.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; CREATE TABLE t(v TEXT);"));
  db.CountWalFrames();
  auto insert = db.Prepare("INSERT INTO t(v) VALUES(?)");
  ASSERT_TRUE(insert.has_value());
  // 1,200 commits of a row each, a page or two each: past SQLite's default checkpoint (1,000
  // pages), which would have started the WAL again.
  for (int i = 0; i < 1200; ++i) {
    (*insert)->Reset();
    ASSERT_TRUE((*insert)->Bind(1, std::string(300, 'y') + std::to_string(i)).Run());
  }
  const int frames = db.wal_frames();
  EXPECT_GT(frames, 1000);
  EXPECT_EQ(WalBytes(), 32u + static_cast<uintmax_t>(frames) * (4096 + 24));

  ASSERT_TRUE(db.CheckpointPassive());
  EXPECT_EQ(db.wal_frames(), frames);  // counted at commits
  // Every frame is in the file: the next commit writes the WAL from its start.
  (*insert)->Reset();
  ASSERT_TRUE((*insert)->Bind(1, std::string("z")).Run());
  EXPECT_LT(db.wal_frames(), 10);
  EXPECT_EQ(Count(db), 1201);
}

}  // namespace
}  // namespace evident::storage::sqlite
