// A thin RAII wrapper over the SQLite C API: a connection with a statement cache, statements
// with bind helpers. No ORM; SQL stays visible at the call site.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "evident/util/result.h"

namespace evident::storage::sqlite {

// One prepared statement, reset for reuse when handed out again by Db::Prepare.
// Not thread-safe; belongs to its connection's thread of use.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds are 1-based, as in SQLite. Text and blobs are copied (SQLITE_TRANSIENT) unless the
  // caller uses the *Static form and keeps the bytes alive until the next Reset.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindStatic(int index, std::string_view text);
  Statement& BindBlob(int index, std::span<const char> bytes);
  Statement& BindBlobStatic(int index, std::span<const char> bytes);
  Statement& BindNull(int index);

  // True when a row is available, false when done. Errors: the SQLite error as IOError,
  // Conflict for constraint violations.
  util::Result<bool> Step();
  // Steps until done, for statements without rows.
  util::Status Run();
  // Calls `row` for each row while it answers true, then resets the statement whatever happened,
  // which ends the read it holds on a pooled connection. Errors: Step's, then `row`'s.
  util::Status ForEachRow(const std::function<util::Result<bool>()>& row);

  int64_t ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool ColumnIsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string_view ColumnText(int column) const;  // valid until the next Step or Reset
  std::string_view ColumnBlob(int column) const;  // valid until the next Step or Reset

  void Reset();
  sqlite3_stmt* raw() { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

enum class OpenMode { kReadWrite, kReadOnly };

// One connection. Not thread-safe: one thread at a time (SQLite's multi-thread mode).
class Db {
 public:
  // Opens (creating unless read-only) the database at `path`. Errors: IOError.
  static util::Result<std::unique_ptr<Db>> Open(const std::string& path, OpenMode mode);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results. Errors: IOError with SQLite's message.
  util::Status Exec(std::string_view sql);
  // A cached statement for `sql`, reset and with bindings cleared. Valid as long as the Db.
  util::Result<Statement*> Prepare(std::string_view sql);
  // A statement not kept in the cache (for SQL built per query). Errors: IOError.
  util::Result<std::unique_ptr<Statement>> PrepareOnce(std::string_view sql);

  // Inside a write transaction: writes the pages it has changed so far to the file (the WAL, as
  // frames not yet committed), so that the COMMIT has little left to write. Errors: IOError.
  util::Status WriteDirtyPages();

  // Turns off SQLite's checkpoint in the commit that leaves the WAL long (wal_autocheckpoint)
  // and counts the WAL's frames instead, for the caller to checkpoint when it chooses
  // (CheckpointPassive).
  void CountWalFrames();
  // With CountWalFrames: the WAL's length in frames after this connection's last commit.
  int wal_frames() const { return wal_frames_; }
  // Copies into the file what it can of the WAL without waiting for any reader (SQLite's passive
  // checkpoint, as wal_autocheckpoint runs it). Errors: IOError (SQLite's BUSY among them, when
  // another connection is checkpointing the file).
  util::Status CheckpointPassive();

  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
  int Changes() const { return sqlite3_changes(db_); }
  sqlite3* raw() { return db_; }
  const std::string& path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  int wal_frames_ = 0;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

// An error for SQLite result `code` on `db`, naming what was being done.
util::Error SqliteError(sqlite3* db, int code, std::string_view doing);

}  // namespace evident::storage::sqlite
