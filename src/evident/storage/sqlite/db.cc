#include "evident/storage/sqlite/db.h"

#include <spdlog/spdlog.h>

#include <mutex>

namespace evident::storage::sqlite {

using util::Error;
using util::Result;
using util::Status;

Error SqliteError(sqlite3* db, int code, std::string_view doing) {
  std::string message = std::string(doing) + ": " + sqlite3_errstr(code);
  if (db != nullptr) message += std::string(" (") + sqlite3_errmsg(db) + ")";
  if ((code & 0xff) == SQLITE_CONSTRAINT) return Error::Conflict(std::move(message));
  if ((code & 0xff) == SQLITE_FULL) {
    // A full disk passes once space is freed, and the store rolls back what failed: so
    // Unavailable, which a client answers by sending its request again later (HTTP 503 with
    // Retry-After) rather than dropping it. The client sees no SQL; the server log has it.
    spdlog::warn("{}", message);
    return Error::Unavailable("the disk is full");
  }
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) {
    return Error::Corruption(std::move(message));
  }
  return Error::IOError(std::move(message));
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindStatic(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  return *this;
}

Statement& Statement::BindBlob(int index, std::span<const char> bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindBlobStatic(int index, std::span<const char> bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Statement::Step() {
  const int code = sqlite3_step(stmt_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  return SqliteError(sqlite3_db_handle(stmt_), code, sqlite3_sql(stmt_));
}

Status Statement::Run() {
  for (;;) {
    EVIDENT_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return {};
  }
}

Status Statement::ForEachRow(const std::function<Result<bool>()>& row) {
  Status status;
  for (;;) {
    Result<bool> stepped = Step();
    if (!stepped || !*stepped) {
      if (!stepped) status = stepped.error();
      break;
    }
    Result<bool> more = row();
    if (!more || !*more) {
      if (!more) status = more.error();
      break;
    }
  }
  Reset();
  return status;
}

std::string_view Statement::ColumnText(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return {text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::string_view Statement::ColumnBlob(int column) const {
  const auto* blob = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  if (blob == nullptr) return {};
  return {blob, static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

namespace {

// Process-wide settings, applied once before SQLite initialises. Memory statistics put one global
// mutex around every allocation SQLite makes; with the writer, the indexer and readers all
// allocating, threads queued on it (13% of the server's CPU during ingest). We never read the
// statistics. If SQLite was initialised already (another user in this process), the call is
// refused and the defaults stay: correct, only slower.
void ConfigureSqliteOnce() {
  static std::once_flag once;
  std::call_once(once, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, OpenMode mode) {
  ConfigureSqliteOnce();
  sqlite3* db = nullptr;
  const int flags = (mode == OpenMode::kReadOnly ? SQLITE_OPEN_READONLY
                                                 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX;
  const int code = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (code != SQLITE_OK) {
    Error error = SqliteError(db, code, "opening " + path);
    sqlite3_close(db);
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<Db>(new Db(db, path));
}

Db::~Db() {
  cache_.clear();  // statements must be finalized before the connection closes
  sqlite3_close(db_);
}

Status Db::Exec(std::string_view sql) {
  char* message = nullptr;
  const std::string text(sql);
  const int code = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (code != SQLITE_OK) {
    Error error = SqliteError(db_, code, text.substr(0, 120));
    sqlite3_free(message);
    return error;
  }
  return {};
}

Status Db::WriteDirtyPages() {
  const int code = sqlite3_db_cacheflush(db_);
  // sqlite3_db_cacheflush leaves the connection's message as it was: the code says it all.
  if (code != SQLITE_OK) return SqliteError(nullptr, code, "writing changed pages");
  return {};
}

void Db::CountWalFrames() {
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<Db*>(self)->wal_frames_ = frames;
        return SQLITE_OK;
      },
      this);
}

Status Db::CheckpointPassive() {
  const int code =
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (code != SQLITE_OK) return SqliteError(db_, code, "checkpointing " + path_);
  return {};
}

Result<Statement*> Db::Prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end()) {
    it->second->Reset();
    return it->second.get();
  }
  EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Statement> statement, PrepareOnce(sql));
  Statement* raw = statement.get();
  cache_.emplace(std::string(sql), std::move(statement));
  return raw;
}

Result<std::unique_ptr<Statement>> Db::PrepareOnce(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int code = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (code != SQLITE_OK) return SqliteError(db_, code, sql.substr(0, 120));
  return std::make_unique<Statement>(stmt);
}

}  // namespace evident::storage::sqlite
