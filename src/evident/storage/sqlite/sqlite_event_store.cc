#include "evident/storage/sqlite/sqlite_event_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <system_error>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "evident/storage/histogram_layout.h"
#include "evident/storage/sqlite/body_codec.h"
#include "evident/storage/sqlite/db.h"
#include "evident/storage/sqlite/log_block.h"
#include "evident/storage/sqlite/recheck_cache.h"
#include "evident/storage/sqlite/search_text.h"
#include "evident/storage/sqlite/tiles.h"
#include "evident/util/strings.h"
#include "evident/util/thread.h"

namespace evident::storage::sqlite {

using util::Error;
using util::Result;
using util::Status;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kMillisPerDay = 86'400'000;

constexpr int kBusyTimeoutMs = 60'000;

// Debian's SQLite defaults to SECURE_DELETE and a 2 MB cache: set everything on every connection.
// A WAL file is cut back to 16 MiB when it restarts after a checkpoint, so one busy moment does not
// leave a large file behind.
std::string CacheSizePragma(int cache_mib) {
  return "PRAGMA cache_size=-" + std::to_string(cache_mib * 1024) + ";";
}

std::string CommonPragmas(int cache_mib) {
  return "PRAGMA secure_delete=OFF; PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=" +
         std::to_string(kBusyTimeoutMs) + "; PRAGMA journal_size_limit=16777216; " +
         CacheSizePragma(cache_mib);
}

constexpr std::string_view kLogSchema = R"sql(
CREATE TABLE IF NOT EXISTS tenants(
  tenant_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, next_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blocks(
  first_position INTEGER PRIMARY KEY, last_position INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS event_ids(
  id NOT NULL, tenant_id INTEGER NOT NULL, position INTEGER NOT NULL,
  PRIMARY KEY(id, tenant_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tiles(
  tenant_id INTEGER NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, hashes BLOB NOT NULL,
  positions BLOB, PRIMARY KEY(tenant_id, level, idx));
CREATE TABLE IF NOT EXISTS checkpoints(
  tenant_id INTEGER NOT NULL, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL,
  signed_at INTEGER NOT NULL, PRIMARY KEY(tenant_id, size)) WITHOUT ROWID;
)sql";

// Log format 3 keyed event_ids by (tenant_id, id): each tenant's newest ids made a right edge of
// their own, so a commit of events of 40 tenants rewrote about as many leaves of ids, more pages
// than its blocks (docs/benchmarks.md). Format 4 keys them by (id, tenant_id): the UUIDv7 ids
// Evident gives grow with time in every tenant, so new ids share one edge. A format-3 log is
// re-keyed on open, in one transaction; nothing else differs.
Status KeyEventIdsById(Db& db) {
  EVIDENT_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status moved = [&]() -> Status {
    // The old table steps aside; kLogSchema creates event_ids as this format keys it.
    EVIDENT_RETURN_IF_ERROR(db.Exec("ALTER TABLE event_ids RENAME TO event_ids_by_tenant"));
    EVIDENT_RETURN_IF_ERROR(db.Exec(kLogSchema));
    EVIDENT_RETURN_IF_ERROR(
        db.Exec("INSERT INTO event_ids(id, tenant_id, position)"
                "  SELECT id, tenant_id, position FROM event_ids_by_tenant ORDER BY id, tenant_id;"
                "DROP TABLE event_ids_by_tenant;"
                "UPDATE meta SET value = " +
                std::to_string(kLogFormat) + " WHERE key = 'format';"));
    return db.Exec("COMMIT");
  }();
  if (!moved.has_value()) {
    (void)db.Exec("ROLLBACK");
    return Error(moved.error().code(), "re-keying the log's event ids (log format " +
                                           std::to_string(kLogFormatIdsByTenant) + " to " +
                                           std::to_string(kLogFormat) +
                                           "): " + moved.error().message());
  }
  return {};
}

// Trees whose writer state (frontier and rightmost tiles, up to ~9 KB each) stays in memory.
constexpr size_t kOpenTrees = 4096;

// Index partitions. Strings are stored as term ids (terms table) to keep rows small.
constexpr std::string_view kIndexSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS terms(
  term_id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, value TEXT NOT NULL, UNIQUE(kind, value));
CREATE TABLE IF NOT EXISTS events(
  position INTEGER PRIMARY KEY, occurred_at INTEGER NOT NULL, tenant INTEGER NOT NULL,
  workspace INTEGER NOT NULL, type INTEGER NOT NULL, action INTEGER NOT NULL,
  resource_type INTEGER NOT NULL, status INTEGER NOT NULL, method INTEGER NOT NULL,
  actor INTEGER NOT NULL, ip INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS actors(
  actor INTEGER PRIMARY KEY, email INTEGER NOT NULL, actor_id INTEGER NOT NULL,
  UNIQUE(email, actor_id));
CREATE INDEX IF NOT EXISTS actors_by_id ON actors(actor_id);
CREATE TABLE IF NOT EXISTS ip_actors(
  ip INTEGER NOT NULL, actor INTEGER NOT NULL, PRIMARY KEY(ip, actor)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS actor_tenants(
  actor INTEGER NOT NULL, tenant INTEGER NOT NULL, PRIMARY KEY(actor, tenant)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shared_ip_events(
  ip INTEGER NOT NULL, position INTEGER NOT NULL, PRIMARY KEY(ip, position)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_time ON events(occurred_at);
CREATE INDEX IF NOT EXISTS events_tenant_time
  ON events(tenant, occurred_at, type, status, workspace, resource_type, method, ip);
CREATE INDEX IF NOT EXISTS events_tenant_action ON events(tenant, action, occurred_at, type, status);
CREATE INDEX IF NOT EXISTS events_tenant_actor ON events(tenant, actor, occurred_at);
CREATE TABLE IF NOT EXISTS hour_counts(
  tenant INTEGER NOT NULL, hour INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY(tenant, hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hour_type_counts(
  tenant INTEGER NOT NULL, type INTEGER NOT NULL, status INTEGER NOT NULL, hour INTEGER NOT NULL,
  count INTEGER NOT NULL, PRIMARY KEY(tenant, type, status, hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS day_counts(
  tenant INTEGER NOT NULL, type INTEGER NOT NULL, action INTEGER NOT NULL, status INTEGER NOT NULL,
  day INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY(tenant, type, action, status, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hour_facet_counts(
  term INTEGER NOT NULL, tenant INTEGER NOT NULL, hour INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY(term, tenant, hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS facet_counts(
  term INTEGER NOT NULL, tenant INTEGER NOT NULL, day INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY(term, tenant, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hour_totals(
  hour INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY(hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hour_type_totals(
  type INTEGER NOT NULL, status INTEGER NOT NULL, hour INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY(type, status, hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS day_totals(
  type INTEGER NOT NULL, action INTEGER NOT NULL, status INTEGER NOT NULL, day INTEGER NOT NULL,
  count INTEGER NOT NULL, PRIMARY KEY(type, action, status, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS position_times(
  chunk INTEGER PRIMARY KEY, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES('watermark', 0);
)sql";

// position_times holds, for each chunk of 2^kChunkBits positions, the earliest and the latest
// occurred_at of the chunk's events in the week: a chart of a search puts a match in its bucket
// without reading its row when its chunk lies in one bucket (CountMatchesOverTime).
constexpr int kChunkBits = 8;

// The full-text index of a partition, in a file of its own (YYYY-MM-DD.words.db) so that a
// second thread writes it while the indexer writes the rows; readers attach it as `words`.
constexpr std::string_view kWordsSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(
  words, content='', detail=none, columnsize=0, tokenize="ascii tokenchars '_'");
CREATE VIRTUAL TABLE IF NOT EXISTS search_terms USING fts5vocab(search, 'row');
CREATE TABLE IF NOT EXISTS word_counts(term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES('watermark', 0);
INSERT OR IGNORE INTO meta(key, value) VALUES('word_counts', 0);
)sql";

enum TermKind : int64_t {
  kTenant = 1,
  kWorkspace,
  kAction,
  kResourceType,
  kMethod,
  kEmail,  // lower-cased
  kActorId,
  kIp,
};
constexpr size_t kTermKinds = kIp;

using TermIds = util::StringMap<int64_t>;

struct IdPairHash {
  size_t operator()(const std::pair<int64_t, int64_t>& ids) const noexcept {
    return std::hash<uint64_t>()(static_cast<uint64_t>(ids.first) * 0x9E3779B97F4A7C15u ^
                                 static_cast<uint64_t>(ids.second));
  }
};

// A week's table of id pairs (ip_actors, actor_tenants) as the indexer keeps it in memory: one
// look-up an event, and an insert into the table for a new pair only.
using IdPairs = std::unordered_set<std::pair<int64_t, int64_t>, IdPairHash>;

// An IP a week has seen with more than this many actors (ip_actors) is shared (an office's NAT, a
// proxy, an attacker trying many accounts): the week's shared_ip_events holds the position of each
// of its events, from the first of them. Part of the index format: changing it needs a rebuild.
constexpr int64_t kSharedIpActors = 8;

// Fills `pairs` with the two columns `select` reads.
Status LoadIdPairs(Db& db, const char* select, IdPairs& pairs) {
  pairs.clear();
  EVIDENT_ASSIGN_OR_RETURN(Statement * rows, db.Prepare(select));
  return rows->ForEachRow([&]() -> Result<bool> {
    pairs.emplace(rows->ColumnInt(0), rows->ColumnInt(1));
    return true;
  });
}

// Adds (first, second) to `pairs` and, if it is new, to the table through `insert`. Whether it was
// new.
Result<bool> AddIdPair(IdPairs& pairs, Statement& insert, int64_t first, int64_t second) {
  // insert, not emplace: emplace builds the node before it looks, a malloc and a free for each of
  // the pairs already known (nearly every event's).
  if (!pairs.insert({first, second}).second) return false;
  insert.Reset();
  EVIDENT_RETURN_IF_ERROR(insert.Bind(1, first).Bind(2, second).Run());
  return true;
}

// The key of an actor (lower-cased email, id) in Partition::actors: the email's length first, so
// that no two pairs share a key whatever bytes they hold.
std::string& ActorKey(std::string_view email, std::string_view id, std::string& out) {
  char length[24];
  const auto [end, ec] = std::to_chars(length, length + sizeof length, email.size());
  (void)ec;  // a size_t always fits
  out.assign(length, end);
  out += ':';
  out += email;
  out += id;
  return out;
}

int64_t FloorDiv(int64_t value, int64_t unit) {
  return value / unit - ((value % unit != 0 && value < 0) ? 1 : 0);
}

// Partitions are UTC weeks from Monday 00:00, numbered from the week of 1970-01-01 (a Thursday):
// week w starts on day 7w - 3. Weeks rather than months keep the partition being written small
// enough that the leaves its indexes take inserts in (one per active user, per user index) stay in
// its page cache; docs/storage.md has the measurements.
constexpr int64_t kEpochWeekdayFromMonday = 3;

int64_t WeekOfDay(int64_t days_since_epoch) {
  return FloorDiv(days_since_epoch + kEpochWeekdayFromMonday, 7);
}

int64_t WeekOf(util::UnixMillis millis) { return WeekOfDay(FloorDiv(millis, kMillisPerDay)); }

util::UnixMillis WeekStart(int64_t week) {
  return (week * 7 - kEpochWeekdayFromMonday) * kMillisPerDay;
}

// "YYYY-MM-DD.db", the date of the week's Monday.
std::string PartitionName(int64_t week) {
  int64_t year = 0;
  unsigned month = 0, day = 0;
  util::CivilFromDays(FloorDiv(WeekStart(week), kMillisPerDay), year, month, day);
  char name[64];
  std::snprintf(name, sizeof name, "%04lld-%02u-%02u.db", static_cast<long long>(year), month, day);
  return name;
}

// The week of a partition file's name; nullopt when the name is not that of a partition (a date
// that is not a Monday, or that does not exist, is not one).
// The file of a partition's full-text index, beside PartitionName(week).
std::string WordsName(int64_t week) {
  std::string name = PartitionName(week);
  name.insert(name.size() - 3, ".words");
  return name;
}

std::optional<int64_t> WeekOfPartitionName(std::string_view name) {
  int year = 0, month = 0, day = 0;
  char tail[8] = {};
  const std::string text(name);
  if (name.size() != 13 ||
      std::sscanf(text.c_str(), "%4d-%2d-%2d.%2s", &year, &month, &day, tail) != 4 ||
      std::string_view(tail) != "db" || month < 1 || month > 12 || day < 1 || day > 31) {
    return std::nullopt;
  }
  const int64_t week = WeekOfDay(
      util::DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)));
  if (PartitionName(week) != name) return std::nullopt;
  return week;
}

// UUIDs (what Evident generates) are kept as 16 bytes; any other client id as text.
bool BindId(Statement& statement, int index, std::string_view id) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (id.size() == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-') {
    char bytes[16];
    size_t out = 0;
    bool ok = true;
    for (size_t i = 0; i < 36 && ok; ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23) continue;
      const int high = hex(id[i]), low = hex(id[i + 1]);
      ok = high >= 0 && low >= 0;
      if (ok) bytes[out++] = static_cast<char>(high * 16 + low);
      ++i;
    }
    if (ok) {
      statement.BindBlob(index, std::span<const char>(bytes, 16));
      return true;
    }
  }
  statement.Bind(index, id);
  return false;
}

// What Prepare makes of one event: its stored JSON without the seq's digits and, when the store
// keeps its Merkle tree, the leaf hash of the JSON up to them.
struct PreparedEvent {
  core::SeqlessJson stored;
  std::optional<merkle::LeafHasher> leaf;
};

PreparedEvent PrepareEvent(const core::Event& event, bool merkle_log) {
  PreparedEvent prepared;
  // The fields other than these two take ~580 bytes of the benchmark's events: with 512 nine in
  // ten outgrew the reservation and were copied once more.
  prepared.stored.json.reserve(1024 + event.details.size() + event.request.user_agent.size());
  core::EncodeStoredWithoutSeq(event, prepared.stored);
  if (merkle_log) {
    prepared.leaf.emplace();
    prepared.leaf->Update(std::string_view(prepared.stored.json).substr(0, prepared.stored.seq_at));
  }
  return prepared;
}

// The events [first, first + count) of a batch as the frame of one block.
struct PreparedBlock {
  size_t first = 0;
  size_t count = 0;
  BlockFrame frame;
};

// A batch at least this large gets blocks of its own, compressed by Prepare on the submitting
// thread; smaller ones share blocks that the writer compresses, since a few events alone give
// the compressor too little to learn from.
constexpr size_t kOwnBlocksMinEvents = kBlockMaxEvents;

class SqlitePrepared final : public PreparedEvents {
 public:
  std::vector<PreparedEvent> events;  // one per event of the batch
  std::vector<PreparedBlock> blocks;  // the batch's own blocks, in order; empty when too small
};

// One event past the watermark, kept decoded for queries and for the indexer. Immutable; shared
// between the tail and queries in flight (hence shared_ptr: a query may still read an event the
// indexer has just dropped from the tail).
struct TailEvent {
  core::Event event;
  int64_t position = 0;
  size_t bytes = 0;  // what it takes in memory (MakeTailEvent), for the tail's bound
};
using TailPtr = std::shared_ptr<const TailEvent>;

// The bytes a string holds on the heap: none while it fits in the string itself (libstdc++ keeps
// up to 15 characters in place).
size_t HeapBytes(const std::string& text) { return text.capacity() > 15 ? text.capacity() + 1 : 0; }

std::shared_ptr<TailEvent> MakeTailEvent(core::Event&& event, int64_t position) {
  auto tail_event = std::make_shared<TailEvent>();
  tail_event->event = std::move(event);
  tail_event->position = position;
  const core::Event& e = tail_event->event;
  // The block make_shared allocated and every string's heap bytes; not the allocator's rounding
  // of each to its size class (the bench's events: 1,712 bytes allocated for a decoded event, of
  // which this counts about 1,470).
  size_t bytes = sizeof(TailEvent) + 2 * sizeof(void*);  // and the shared count
  core::ForEachString(e, [&](const std::string& text) { bytes += HeapBytes(text); });
  tail_event->bytes = bytes;
  return tail_event;
}

// Events the tail took at once (one Append's, or those the open left unindexed), never changed
// once taken: a query copies which chunks the tail holds while it holds the tail's mutex, which
// the writer's Append takes too, and scans them after releasing it.
struct TailChunk {
  std::vector<TailPtr> events;  // in position order
  // In a chunk of kTailChunkByTenantFrom events or more: each tenant's events, as indexes into
  // `events` in order, so that a query naming tenants scans only theirs.
  std::unordered_map<std::string_view, std::vector<uint32_t>> by_tenant;
};
constexpr size_t kTailChunkByTenantFrom = 32;

std::shared_ptr<const TailChunk> MakeTailChunk(std::span<const TailPtr> events) {
  auto chunk = std::make_shared<TailChunk>();
  chunk->events.assign(events.begin(), events.end());
  if (events.size() >= kTailChunkByTenantFrom) {
    for (size_t i = 0; i < events.size(); ++i) {
      chunk->by_tenant[events[i]->event.tenant].push_back(static_cast<uint32_t>(i));
    }
  }
  return chunk;
}

// What is left of a chunk in the tail: events[first], ... (the indexer drops events from the
// front as it indexes them).
struct TailRun {
  std::shared_ptr<const TailChunk> chunk;
  size_t first = 0;
};

// Decompressed blocks kept for readers: ~64 KB each, so ~4 MB; enough for the pages of a few
// concurrent readers, whose neighbouring events share blocks.
constexpr size_t kCachedBlocks = 64;

// The block of the log holding `position`, read through `db`. Errors: Corruption when the log
// does not hold it or the block is damaged.
Result<LogBlockPtr> ReadBlock(Db& db, int64_t position) {
  EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                           db.Prepare("SELECT first_position, body FROM blocks WHERE "
                                      "first_position <= ? ORDER BY first_position DESC LIMIT 1"));
  select->Bind(1, position);
  EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
  Result<LogBlockPtr> block = found
                                  ? LogBlock::Decode(select->ColumnInt(0), select->ColumnBlob(1))
                                  : Result<LogBlockPtr>(Error::Corruption("the log has no block"));
  select->Reset();
  if (block && !(*block)->Holds(position)) block = Error::Corruption("the log has no such event");
  if (!block) {
    return Error::Corruption("reading log position " + std::to_string(position) + ": " +
                             block.error().message());
  }
  return block;
}

// Calls `visit` with each block of the log from the one holding `from` on, in position order,
// for as long as it answers true.
Status ReadBlocks(Db& db, int64_t from, const std::function<Result<bool>(const LogBlock&)>& visit) {
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * select,
      db.Prepare("SELECT first_position, body FROM blocks WHERE first_position >= "
                 "coalesce((SELECT max(first_position) FROM blocks WHERE first_position <= ?), 0) "
                 "ORDER BY first_position"));
  select->Bind(1, from);
  return select->ForEachRow([&]() -> Result<bool> {
    EVIDENT_ASSIGN_OR_RETURN(LogBlockPtr block,
                             LogBlock::Decode(select->ColumnInt(0), select->ColumnBlob(1)));
    return visit(*block);
  });
}

bool SortsBefore(util::UnixMillis a_time, int64_t a_position, util::UnixMillis b_time,
                 int64_t b_position) {
  return a_time > b_time || (a_time == b_time && a_position > b_position);
}

bool IsAfterCursor(util::UnixMillis time, int64_t position,
                   const std::optional<core::Cursor>& cursor) {
  return !cursor || SortsBefore(cursor->occurred_at, cursor->position, time, position);
}

// The words of `term` as the full-text index holds them: an address's word (AddressWord), else
// the term's words.
std::vector<std::string> IndexedWords(const core::SearchTerm& term) {
  if (!term.address.empty()) return {AddressWord(term.address)};
  return term.words;
}

// Whether the full-text index can only narrow `filter`'s search, so that candidates must be
// checked on the decoded event: a phrase (FTS finds its words, not their order). An address's
// token is exactly its events.
bool NeedsRecheck(const core::Filter& filter) {
  for (const core::SearchTerm& term : filter.search) {
    if (term.address.empty() && term.words.size() != 1) return true;
  }
  return false;
}

// The page cache of the writer and of each reader of a week the indexer has left (see
// SettleLeftWeeks).
constexpr int kLeftWeekCacheMib = 2;

// Checkpoints `db`'s WAL into its file and truncates it, unless a reader holds it: then it gives
// up at once rather than wait (see SettleLeftWeeks). Whether it did.
bool CheckpointNow(Db& db) {
  sqlite3_busy_timeout(db.raw(), 0);
  const bool done = sqlite3_wal_checkpoint_v2(db.raw(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                              nullptr, nullptr) == SQLITE_OK;
  sqlite3_busy_timeout(db.raw(), kBusyTimeoutMs);
  return done;
}

// A pool of reader connections to one file, each used by one thread at a time.
class ConnectionPool {
 public:
  // With `words_path` set, each connection also attaches that file as `words` (a partition's
  // full-text index): one read transaction then covers both files.
  ConnectionPool(std::string path, int cache_mib, std::string words_path = "")
      : path_(std::move(path)), cache_mib_(cache_mib), words_path_(std::move(words_path)) {}

  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Db> db) : pool_(pool), db_(std::move(db)) {}
    ~Lease() {
      if (db_) pool_->Return(std::move(db_));
    }
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Db& operator*() { return *db_; }
    Db* operator->() { return db_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Db> db_;
  };

  Result<Lease> Acquire() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<Db> db = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(db));
      }
    }
    EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(path_, OpenMode::kReadOnly));
    EVIDENT_RETURN_IF_ERROR(db->Exec(CommonPragmas(cache_mib_)));
    if (!words_path_.empty()) {
      EVIDENT_ASSIGN_OR_RETURN(Statement * attach, db->Prepare("ATTACH DATABASE ? AS words"));
      EVIDENT_RETURN_IF_ERROR(attach->Bind(1, words_path_).Run());
    }
    EVIDENT_RETURN_IF_ERROR(SetCacheSize(*db, keep_no_cache_ ? kLeftWeekCacheMib : cache_mib_));
    return Lease(this, std::move(db));
  }

  // While set, connections read through a small page cache (kLeftWeekCacheMib) and give it back
  // whenever they are returned, and the idle ones at once: for a file that is rarely read, whose
  // pages the OS caches anyway. A search across every week holds a reader of each for its whole
  // snapshot, and with cache_mib for the rows and again for the words each, one over 18 weeks
  // (10M events) held 266 MB more at its end.
  bool keeps_no_cache() const { return keep_no_cache_; }

  void SetKeepNoCache(bool keep_no_cache) {
    keep_no_cache_ = keep_no_cache;
    std::lock_guard lock(mu_);
    for (const std::unique_ptr<Db>& db : idle_) {
      (void)SetCacheSize(*db, keep_no_cache ? kLeftWeekCacheMib : cache_mib_);
      if (keep_no_cache) sqlite3_db_release_memory(db->raw());
    }
  }

 private:
  Status SetCacheSize(Db& db, int cache_mib) {
    std::string pragmas = CacheSizePragma(cache_mib);
    if (!words_path_.empty())
      pragmas += " PRAGMA words.cache_size=-" + std::to_string(cache_mib * 1024) + ";";
    return db.Exec(pragmas);
  }

  // A connection leased across SetKeepNoCache(false) keeps its small cache: slower, never wrong.
  void Return(std::unique_ptr<Db> db) {
    if (keep_no_cache_) {
      (void)SetCacheSize(*db, kLeftWeekCacheMib);
      sqlite3_db_release_memory(db->raw());
    }
    std::lock_guard lock(mu_);
    if (idle_.size() < 8) idle_.push_back(std::move(db));
  }

  const std::string path_;
  const int cache_mib_;
  const std::string words_path_;
  std::atomic<bool> keep_no_cache_{false};
  std::mutex mu_;
  std::vector<std::unique_ptr<Db>> idle_;  // guarded by mu_
};

// One week of the index. The writer connections and terms cache belong to the indexer thread,
// but while a batch runs words_writer, word_counts, counted_through and words_settled belong to
// the words thread.
struct Partition {
  int64_t week = 0;
  util::UnixMillis start = 0, end = 0;  // [start, end)
  std::unique_ptr<Db> writer;           // the rows file (PartitionName)
  std::unique_ptr<Db> words_writer;     // the full-text index (WordsName)
  // value -> term_id, one map per TermKind (index kind - 1), looked up by string_view: six
  // look-ups an event, without building a key.
  std::array<TermIds, kTermKinds> terms;
  // ActorKey(email, id) -> actors.actor: one look-up an event for the pair.
  TermIds actors;
  // The (ip, actor) pairs of ip_actors and the (actor, tenant) pairs of actor_tenants.
  IdPairs ip_actors, actor_tenants;
  // The IPs seen with more than kSharedIpActors actors: their events go to shared_ip_events.
  std::unordered_set<int64_t> shared_ips;
  // The indexer left it (a batch did not touch it): `terms` is dropped, the writer keeps a small
  // page cache and the readers none. The next batch that writes to it takes them back.
  bool left = false;
  // `terms`, `actors`, `ip_actors`, `actor_tenants` and `shared_ips` hold the file's (LoadTerms).
  // Dropped (DropTerms) when the indexer leaves the week, and when a batch that wrote to it is
  // rolled back (they would hold ids of terms that are not in the file); the next batch that writes
  // to it loads them again.
  bool terms_loaded = false;
  // Settled, once left (SettleLeftWeeks): nothing is left to do for it until a batch writes to it.
  bool rows_settled = false;   // its rows file checkpointed
  bool words_settled = false;  // its word counts stored and its words file checkpointed
  bool word_counts = false;    // its word_counts table is filled and valid (StoreWordCounts)
  // While word_counts is being filled: the last term stored so far ("" before the first).
  std::optional<std::string> counted_through;
  // Every position up to here that belongs to this week is in the rows file, and in the words
  // file: each file's own, as a crash may leave one ahead of the other.
  int64_t watermark = 0;
  int64_t words_watermark = 0;
  std::unique_ptr<ConnectionPool> readers;
};

// One reader's view of the store: partitions in read transactions, the tail's matches, all at
// one watermark.
struct Snapshot {
  struct Part {
    Partition* partition;
    ConnectionPool::Lease db;
  };
  std::vector<Part> parts;             // newest week first
  std::vector<TailRun> tail_runs;      // the tail at the watermark (keeps `tail` alive)
  std::vector<const TailEvent*> tail;  // the tail's events matching the filter, in no order
  int64_t indexed_through = 0;         // the watermark: the parts hold every position up to it
  Snapshot() = default;
  Snapshot(Snapshot&&) = default;
  Snapshot& operator=(Snapshot&&) = delete;
  ~Snapshot() {
    for (Part& part : parts) (void)part.db->Exec("COMMIT");
  }
};

constexpr int64_t kIndexFormat = 17;

// Runs jobs one at a time, in order, on a thread of its own. Thread-safe.
class Worker {
 public:
  explicit Worker(const char* name)
      : thread_([this, name] {
          util::NameThisThread(name);
          Run();
        }) {}
  ~Worker() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // `job` runs on the worker's thread; the future holds what it returned.
  std::future<Status> Post(std::function<Status()> job) {
    std::packaged_task<Status()> task(std::move(job));
    std::future<Status> done = task.get_future();
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(task));
    }
    wake_.notify_all();
    return done;
  }

 private:
  void Run() {
    for (;;) {
      std::packaged_task<Status()> task;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        task = std::move(jobs_.front());
        jobs_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  // State below is guarded by mu_.
  std::condition_variable wake_;
  std::deque<std::packaged_task<Status()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

// A search naming more tenants than this reads every match rather than walk each tenant's events
// (WalkNewestMatches): past a few tenants the walks cost more than the matches of a rare word.
constexpr size_t kMaxWalks = 8;
// The most values of an action, workspace, resource type or user filter whose words a search's
// match is narrowed by (Translate).
constexpr size_t kMaxNarrowingValues = 16;

// A table of pre-aggregated event counts per unit of time (see CountBySpans).
struct CountTable {
  std::string_view table;
  std::string_view unit_column;
  int64_t unit_ms;
};
// Filters of tenants and time only.
constexpr CountTable kHourCounts{"hour_counts", "hour", kMillisPerHour};
// Histograms of tenants, types, statuses and time only (a table apart, so that the console's
// default view sums one row an hour, not one for each type and status).
constexpr CountTable kHourTypeCounts{"hour_type_counts", "hour", kMillisPerHour};
// Filters of tenants, types, actions, statuses and time only.
constexpr CountTable kDayCounts{"day_counts", "day", kMillisPerDay};
// The same three summed over every tenant, for filters naming no tenant (the super admin's view):
// a week's hour_counts hold a row an hour for each tenant, so their sum grew with the tenants
// (15 ms for the newest 20 of 40 tenants at 10M events, 60 ms for a chart of a type).
constexpr CountTable kHourTotals{"hour_totals", "hour", kMillisPerHour};
constexpr CountTable kHourTypeTotals{"hour_type_totals", "hour", kMillisPerHour};
constexpr CountTable kDayTotals{"day_totals", "day", kMillisPerDay};
// Filters of tenants, one of workspaces, resource types, methods and IPs (by term), and time only.
constexpr CountTable kFacetCounts{"facet_counts", "day", kMillisPerDay};
// Histograms of tenants, one of workspaces, resource types and methods (not IPs: an address takes
// a row for every hour its user is active), and time only.
constexpr CountTable kHourFacetCounts{"hour_facet_counts", "hour", kMillisPerHour};

// The tokens a word is indexed as in some tenants (search_text.h): the word itself when it has a
// digit (every tenant's), else its token of each tenant, or, naming no tenant, the prefix of every
// tenant's token.
struct WordTokens {
  std::string prefix;  // when not empty, instead of `tokens`
  std::vector<std::string> tokens;
};

WordTokens TokensOfWord(const std::string& word, const std::vector<int64_t>& tenants) {
  WordTokens of;
  if (!IndexedPerTenant(word)) {
    of.tokens.push_back(word);
  } else if (tenants.empty()) {
    of.prefix = AnyTenantPrefix(word);
  } else {
    for (int64_t tenant : tenants) of.tokens.push_back(TenantToken(word, tenant));
  }
  return of;
}

// A filter translated for one partition: SQL conditions on its events table.
struct PartitionQuery {
  bool empty = false;               // some filter names a value this partition has never seen
  std::string where;                // " AND ..." conditions
  std::string match;                // FTS5 expression, bound as ?1 when not empty
  std::string where_besides_match;  // with a match: `where` without the match's condition
  std::string tenants_where;        // the tenants' condition alone (on any table's `tenant`)
  // The events table as `where` and `counted_where` read it: `events NOT INDEXED` when they name
  // the positions of shared addresses' events (NarrowToSharedIps), to be looked up one by one.
  // SQLite would read the tenant's covering index instead, testing each entry against them: it
  // has no statistics to tell that the positions are far fewer.
  std::string events = "events";
  // Set when the filter's conditions (besides time) are all columns of a count table: then
  // totals come from it. counts_where holds those conditions on the count table's columns,
  // counted_where the same on `events`.
  const CountTable* counts = nullptr;
  std::string counts_where, counted_where;
  // Set when the filter is words, statuses, types and tenants only, and `match` holds the tenant
  // condition (some token is per tenant, or no tenant is named): then the full-text index alone
  // counts a partition that lies wholly inside the time range.
  bool counts_by_match = false;
  // For a search whose other conditions are tenants, statuses, types and time only (the match
  // holds the statuses and types): the conditions of each walk of the time index
  // (WalkNewestMatches), one per tenant named, or one for all tenants. The newest matches of the
  // walks, merged, are the partition's newest matches. Empty: no walk.
  std::vector<std::string> walks;
  // For a search of one word and nothing else (when counts_by_match): its tokens in the filter's
  // tenants, whose document counts in search_terms (or word_counts) add up to its matches.
  std::optional<WordTokens> counted_word;
};

class SqliteEventStore final : public EventStore {
 public:
  explicit SqliteEventStore(const SqliteOptions& options) : options_(options) {}
  ~SqliteEventStore() override { Close(); }

  Status Open();
  Status CatchUpFromLog(size_t keep_in_tail);

  using EventStore::Append;
  std::vector<Result<std::vector<Appended>>> Append(std::span<Batch> batches) override;
  std::unique_ptr<PreparedEvents> Prepare(const std::vector<core::Event>& events) const override;
  Result<Page> Query(const core::Filter& filter, const std::optional<core::Cursor>& after,
                     size_t limit) override;
  Result<Histogram> CountOverTime(const core::Filter& filter, int buckets) override;
  Result<StoredEvent> Get(std::string_view tenant, std::string_view id) override;
  Result<std::vector<TreeHead>> TreeHeads() override;
  Result<TreeView> OpenTree(std::string_view tenant) override;
  Result<std::vector<std::string>> Entries(std::string_view tenant, uint64_t start,
                                           uint64_t end) override;
  Status AddCheckpoint(std::string_view tenant, const StoredCheckpoint& checkpoint) override;
  Result<std::vector<StoredCheckpoint>> Checkpoints(std::string_view tenant,
                                                    std::optional<uint64_t> below_size,
                                                    size_t limit) override;
  void WaitUntilIndexed() override;
  StoreStats Stats() override;
  DiskUsage Disk() override;
  void Close() override;

 private:
  struct TenantState {
    int64_t tenant_id = 0;
    uint64_t next_seq = 0;
  };

  // Events appended in the current transaction, not yet written as blocks: positions
  // fresh.front()->position, ... in order; stored[i] the stored JSON of fresh[i] without its
  // seq, leaves[i] its leaf hash (when the store keeps its tree).
  struct Pending {
    std::vector<TailPtr> fresh;
    std::vector<core::SeqlessJson> stored;
    std::vector<merkle::Hash> leaves;
    std::vector<int64_t> tenant_ids;
    // Batches that came with blocks of their own and stored every event: the index in `fresh`
    // of each one's first event, and its blocks.
    std::vector<std::pair<size_t, const std::vector<PreparedBlock>*>> own_blocks;
    void Truncate(size_t size) {
      fresh.resize(size);
      stored.resize(size);
      leaves.resize(std::min(leaves.size(), size));
      tenant_ids.resize(size);
      while (!own_blocks.empty() && own_blocks.back().first >= size) own_blocks.pop_back();
    }
  };
  Result<std::vector<Appended>> AppendBatch(Batch& batch, Pending& pending);
  Status WriteBlocks(const Pending& pending);
  Status AppendLeaves(const Pending& pending);
  Result<std::pair<int64_t, uint64_t>> FindTenant(Db& db, std::string_view tenant);
  Result<LogBlockPtr> CachedBlock(int64_t position);
  Result<Partition*> OpenPartition(int64_t week, bool create);
  Status LoadTerms(Partition& partition);
  static void DropTerms(Partition& partition);
  void ForgetRolledBack(Partition& partition);
  Status StoreWordCounts(Partition& partition);
  Result<int64_t> TermId(Partition& partition, TermKind kind, std::string_view value);
  Result<int64_t> ActorOf(Partition& partition, std::string_view email, std::string_view id,
                          std::string& key);
  struct WeekBatch {
    Partition* partition = nullptr;
    std::vector<const TailEvent*> events;
    std::vector<int64_t> tenants;
    bool rows_begun = false, words_begun = false;
  };
  Status IndexEvents(const std::vector<TailPtr>& events);
  Status IndexWords(std::vector<WeekBatch>& weeks, int64_t new_watermark);
  Status IndexRows(std::vector<WeekBatch>& weeks, int64_t new_watermark);
  static bool WritesTo(const std::vector<WeekBatch>& batch, const Partition* partition) {
    return std::any_of(batch.begin(), batch.end(),
                       [&](const WeekBatch& week) { return week.partition == partition; });
  }
  void CheckpointLongWals(const std::vector<WeekBatch>& weeks);
  void SettleLeftWeeks(const std::vector<WeekBatch>& touched);
  std::vector<Partition*> WordsToSettle(const std::vector<WeekBatch>& touched);
  void SettleWords(const std::vector<Partition*>& left);
  void RunIndexer();
  // The tail's events in and out, with tail_mu_ held: `chunk`'s events follow the tail's last, in
  // order; those at positions up to `through` leave it.
  void AddToTail(std::shared_ptr<const TailChunk> chunk);
  void DropFromTail(int64_t through);
  Result<Snapshot> TakeSnapshot(const core::Filter& filter,
                                std::optional<util::UnixMillis> newest_bound);
  Result<PartitionQuery> Translate(Snapshot::Part& part, const core::Filter& filter);
  Status NarrowToSharedIps(Db& db, const std::vector<int64_t>& ip_ids,
                           const std::string& walked_tenants, PartitionQuery& query);
  Result<std::string> ReadBody(int64_t position);
  Status ReadEvents(std::span<const int64_t> positions,
                    const std::function<Status(int64_t, std::string_view)>& visit,
                    size_t cache_from = SIZE_MAX);
  Status ReadPageBodies(std::vector<StoredEvent>& events, const std::vector<size_t>& from_log);
  Result<std::vector<std::pair<util::UnixMillis, uint64_t>>> CountBySpans(
      Snapshot::Part& part, const PartitionQuery& query, util::UnixMillis from, util::UnixMillis to,
      bool per_unit = true);
  Result<std::optional<util::UnixMillis>> EdgeMatchTime(Snapshot::Part& part,
                                                        const PartitionQuery& query,
                                                        const core::Filter& filter, bool latest);
  Result<std::vector<int64_t>> MatchesOnEvents(const core::Filter& filter,
                                               std::vector<int64_t> positions);
  Result<RecheckCache::Rows> RecheckedCandidates(Snapshot& snapshot, const core::Filter& filter,
                                                 int64_t after_position);
  Result<std::shared_ptr<const RecheckCache::Rows>> RecheckedMatches(Snapshot& snapshot,
                                                                     const core::Filter& filter);

  const SqliteOptions options_;
  std::string index_dir_;

  // The writer: used only by Append (one caller at a time, per the interface).
  std::mutex writer_mu_;
  std::unique_ptr<Db> log_writer_;                        // guarded by writer_mu_
  std::unordered_map<std::string, TenantState> tenants_;  // guarded by writer_mu_
  int64_t next_position_ = 1;                             // guarded by writer_mu_
  std::unordered_map<int64_t, TreeWriter> trees_;         // by tenant id; guarded by writer_mu_
  std::atomic<int64_t> log_position_{0};

  std::unique_ptr<ConnectionPool> log_readers_;
  std::unique_ptr<BlockCache> block_cache_;
  // Matches of recent phrase searches: up to 2^19 (8 MiB), for 16 filters at most.
  RecheckCache recheck_cache_{size_t{1} << 19, 16};
  std::unique_ptr<Db> state_db_;  // index/state.db; indexer thread (and Open)

  // Readers take snapshot_mu_ shared to open their view; the indexer takes it exclusively to
  // commit, so no reader sees a partition ahead of the watermark it read.
  std::shared_mutex snapshot_mu_;
  std::map<int64_t, std::unique_ptr<Partition>> partitions_;  // guarded by snapshot_mu_
  // A batch committed some of its files but not all (a commit failed): those hold events that the
  // tail holds too, and the others do not, so no answer would be exact. Queries are refused
  // (Unavailable) until a retry of the batch commits the rest. Guarded by snapshot_mu_.
  bool index_split_ = false;

  std::mutex tail_mu_;  // after snapshot_mu_ when both are held
  std::condition_variable tail_cv_;
  // State below is guarded by tail_mu_ (watermark_ is written under snapshot_mu_ too).
  std::deque<TailRun> tail_;  // positions (watermark_, log end], in order; no run empty
  size_t tail_events_ = 0;    // events in tail_
  size_t tail_bytes_ = 0;     // their TailEvent::bytes
  uint64_t append_waits_ = 0;
  bool append_waiting_ = false;
  uint64_t append_refusals_ = 0;
  int64_t watermark_ = 0;
  int waiters_ = 0;
  bool stopping_ = false;
  // Index batches that failed since the open, and whether the last one did: the indexer then
  // waits (backing off) and tries it again, and Append does not wait for it meanwhile.
  uint64_t index_failures_ = 0;
  bool index_retrying_ = false;
  std::thread indexer_;
  std::atomic<bool> closed_{false};
  // The indexer's second thread: the full-text half of each batch (IndexWords).
  std::unique_ptr<Worker> words_worker_;
};

Status SqliteEventStore::Open() {
  std::error_code ec;
  index_dir_ = (fs::path(options_.data_dir) / "index").string();
  fs::create_directories(index_dir_, ec);
  if (ec) return Error::IOError("creating " + index_dir_ + ": " + ec.message());
  const std::string log_path = (fs::path(options_.data_dir) / "log.db").string();
  EVIDENT_ASSIGN_OR_RETURN(log_writer_, Db::Open(log_path, OpenMode::kReadWrite));
  // 4 KiB pages (SQLite's default; set for clarity): a block (~10 KB compressed) overflows into
  // whole pages and leaves half a page unused on average. With 16 KiB pages a third of the file
  // was unused (one block a page). The checkpoint interval stays ~16 MiB of WAL.
  EVIDENT_RETURN_IF_ERROR(log_writer_->Exec(
      "PRAGMA page_size=4096; " + CommonPragmas(options_.log_cache_mib) +
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=4000;"));
  // Read the format before creating anything, so that a log this build cannot read is left as
  // it was found.
  EVIDENT_RETURN_IF_ERROR(log_writer_->Exec(
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"));
  {
    EVIDENT_ASSIGN_OR_RETURN(Statement * format,
                             log_writer_->Prepare("SELECT value FROM meta WHERE key = 'format'"));
    EVIDENT_ASSIGN_OR_RETURN(bool has_format, format->Step());
    const int64_t found = has_format ? format->ColumnInt(0) : kLogFormat;
    format->Reset();
    if (found == kLogFormatIdsByTenant) {
      EVIDENT_RETURN_IF_ERROR(KeyEventIdsById(*log_writer_));
    } else if (found != kLogFormat) {
      return Error::Corruption(log_path + " has log format " + std::to_string(found) +
                               "; this build reads format " + std::to_string(kLogFormat) +
                               " only (docs/storage.md)");
    }
  }
  EVIDENT_RETURN_IF_ERROR(log_writer_->Exec(kLogSchema));
  EVIDENT_RETURN_IF_ERROR(
      log_writer_->Exec("INSERT OR IGNORE INTO meta(key, value) VALUES('format', " +
                        std::to_string(kLogFormat) + ")"));
  {
    EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                             log_writer_->Prepare("SELECT tenant_id, name, next_seq FROM tenants"));
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      tenants_[std::string(select->ColumnText(1))] =
          TenantState{select->ColumnInt(0), static_cast<uint64_t>(select->ColumnInt(2))};
    }
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * last,
        log_writer_->Prepare("SELECT last_position FROM blocks ORDER BY first_position DESC "
                             "LIMIT 1"));
    EVIDENT_ASSIGN_OR_RETURN(bool any, last->Step());
    log_position_ = any ? last->ColumnInt(0) : 0;
    next_position_ = log_position_ + 1;
    last->Reset();
  }
  log_readers_ = std::make_unique<ConnectionPool>(log_path, options_.reader_cache_mib);
  block_cache_ = std::make_unique<BlockCache>(kCachedBlocks);

  // The index: its watermark, then every partition file. Anything inconsistent: rebuild.
  bool rebuild = false;
  const std::string state_path = (fs::path(index_dir_) / "state.db").string();
  auto state = Db::Open(state_path, OpenMode::kReadWrite);
  if (state) {
    state_db_ = std::move(state).value();
    Status ready = state_db_->Exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; "
        "CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value) WITHOUT ROWID; "
        "INSERT OR IGNORE INTO state VALUES('watermark', 0);");
    // The index's format is also in state.db: one whose files are laid out otherwise (monthly,
    // before format 6) is rebuilt whole rather than file by file.
    auto select = state_db_->Prepare(
        "SELECT (SELECT value FROM state WHERE key = 'watermark'), "
        "(SELECT value FROM state WHERE key = 'format')");
    const bool read = ready && select && (*select)->Step().has_value();
    rebuild = !read || (*select)->ColumnInt(1) != kIndexFormat;
    if (read && rebuild && (*select)->ColumnInt(0) > 0) {
      spdlog::info(
          "index: format {} found, this build writes format {}: rebuilding it from the log",
          (*select)->ColumnInt(1), kIndexFormat);
    }
    if (select) {
      watermark_ = (*select)->ColumnInt(0);
      (*select)->Reset();
    }
  } else {
    rebuild = true;
  }
  if (watermark_ > log_position_) rebuild = true;
  if (!rebuild) {
    std::set<std::string> rows_files, words_files;
    for (const auto& entry : fs::directory_iterator(index_dir_, ec)) {
      const std::string name = entry.path().filename().string();
      if (name == "state.db" || entry.path().extension() != ".db") continue;
      (name.ends_with(".words.db") ? words_files : rows_files).insert(name);
    }
    for (const std::string& name : rows_files) {
      // Anything else is a partition, or the index is not what this build writes (the monthly
      // files of format 5, say): rebuild.
      const std::optional<int64_t> week = WeekOfPartitionName(name);
      if (!week || !OpenPartition(*week, false)) {
        rebuild = true;
        break;
      }
      words_files.erase(WordsName(*week));  // opened with its rows
    }
    if (!words_files.empty()) rebuild = true;  // a full-text index without its week's rows
  }
  if (rebuild) {
    std::unique_lock lock(snapshot_mu_);
    partitions_.clear();
    state_db_.reset();
    fs::remove_all(index_dir_, ec);
    fs::create_directories(index_dir_, ec);
    if (ec) return Error::IOError("recreating " + index_dir_ + ": " + ec.message());
    EVIDENT_ASSIGN_OR_RETURN(state_db_, Db::Open(state_path, OpenMode::kReadWrite));
    EVIDENT_RETURN_IF_ERROR(state_db_->Exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; "
        "CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value) WITHOUT ROWID; "
        "INSERT OR IGNORE INTO state VALUES('watermark', 0); "
        "INSERT INTO state VALUES('format', " +
        std::to_string(kIndexFormat) + ");"));
    watermark_ = 0;
  }
  words_worker_ = std::make_unique<Worker>("evident-words");
  EVIDENT_RETURN_IF_ERROR(CatchUpFromLog(options_.max_tail_events));
  // Readers of every week but the newest keep small caches from the start, as once the indexer
  // has left them (SettleLeftWeeks, which does the rest after its next batch): a server that
  // ingests nothing after a restart would otherwise keep full caches for a reader of every week.
  for (auto it = partitions_.begin(); it != partitions_.end() && std::next(it) != partitions_.end();
       ++it) {
    it->second->readers->SetKeepNoCache(true);
  }
  indexer_ = std::thread([this] {
    util::NameThisThread("evident-index");
    RunIndexer();
  });
  return {};
}

// Indexes from the log until at most `keep_in_tail` events remain past the watermark, then
// loads those into the tail. Runs before the indexer thread starts.
Status SqliteEventStore::CatchUpFromLog(size_t keep_in_tail) {
  auto reader = log_readers_->Acquire();
  if (!reader) return reader.error();
  Db& db = **reader;
  const size_t batch_size = std::max<size_t>(options_.index_batch_events, 1);
  // A crash between committing the partitions and saving the watermark leaves partitions ahead
  // of it: index up to the furthest of them first (IndexEvents skips what a partition holds), so
  // that the tail holds only unindexed events.
  int64_t furthest_partition = 0;
  {
    std::shared_lock lock(snapshot_mu_);
    for (const auto& [week, partition] : partitions_) {
      furthest_partition = std::max(furthest_partition, partition->watermark);
    }
  }
  // Open waits for this: say so when it is long (a rebuilt index reads the whole log, about 2.5
  // minutes at 10M events on two cores), so that an operator does not take it for a hang.
  const int64_t to_index = log_position_ - watermark_;
  const auto started = std::chrono::steady_clock::now();
  const bool long_catch_up = static_cast<size_t>(to_index) > keep_in_tail;
  if (long_catch_up) {
    spdlog::info("index: indexing {} events of the log (positions {} to {}) before opening",
                 to_index, watermark_ + 1, log_position_);
  }
  for (;;) {
    const int64_t pending = log_position_ - watermark_;
    const bool to_tail =
        static_cast<size_t>(pending) <= keep_in_tail && watermark_ >= furthest_partition;
    std::vector<TailPtr> events;
    const size_t wanted = to_tail ? static_cast<size_t>(pending) : batch_size;
    auto collect = [&](const LogBlock& block) -> Result<bool> {
      const int64_t next = watermark_ + 1 + static_cast<int64_t>(events.size());
      if (block.first_position() > next) {
        return Error::Corruption("the log has no event at position " + std::to_string(next));
      }
      for (int64_t position = next; position <= block.last_position() && events.size() < wanted;
           ++position) {
        EVIDENT_ASSIGN_OR_RETURN(core::Event event, core::DecodeStoredEvent(block.Event(position)));
        events.push_back(MakeTailEvent(std::move(event), position));
      }
      return events.size() < wanted;
    };
    if (wanted > 0) EVIDENT_RETURN_IF_ERROR(ReadBlocks(db, watermark_ + 1, collect));
    if (events.size() < std::min<size_t>(wanted, static_cast<size_t>(pending))) {
      return Error::Corruption("the log ends at position " +
                               std::to_string(watermark_ + static_cast<int64_t>(events.size())) +
                               ", before its last block says");
    }
    if (to_tail) {
      // The tail's bytes bound it too: the oldest are indexed now until the rest fit under them.
      size_t bytes = 0;
      for (const TailPtr& event : events) bytes += event->bytes;
      size_t kept_from = 0;
      while (kept_from < events.size() && bytes >= options_.max_tail_bytes) {
        bytes -= events[kept_from++]->bytes;
      }
      for (size_t first = 0; first < kept_from; first += batch_size) {
        const std::vector<TailPtr> batch(
            events.begin() + static_cast<long>(first),
            events.begin() + static_cast<long>(std::min(first + batch_size, kept_from)));
        EVIDENT_RETURN_IF_ERROR(IndexEvents(batch));
      }
      events.erase(events.begin(), events.begin() + static_cast<long>(kept_from));
      std::shared_ptr<const TailChunk> chunk = MakeTailChunk(events);
      std::lock_guard lock(tail_mu_);
      AddToTail(std::move(chunk));
      if (long_catch_up) {
        spdlog::info(
            "index: indexed through position {} in {:.1f} s; {} events left to the indexer",
            watermark_,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
            events.size());
      }
      return {};
    }
    EVIDENT_RETURN_IF_ERROR(IndexEvents(events));
  }
}

Result<Partition*> SqliteEventStore::OpenPartition(int64_t week, bool create) {
  auto partition = std::make_unique<Partition>();
  partition->week = week;
  partition->start = WeekStart(week);
  partition->end = WeekStart(week + 1);
  const std::string path = (fs::path(index_dir_) / PartitionName(week)).string();
  const std::string words_path = (fs::path(index_dir_) / WordsName(week)).string();
  if (!create && !fs::exists(path)) return Error::NotFound(path);
  if (!create && !fs::exists(words_path)) return Error::NotFound(words_path);
  // Derived data: a crash may lose the latest index transactions, never corrupt committed ones
  // (WAL), and the watermark inside each transaction says how far the file got.
  auto open = [&](const std::string& file, std::string_view schema,
                  int cache_mib) -> Result<std::unique_ptr<Db>> {
    EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(file, OpenMode::kReadWrite));
    EVIDENT_RETURN_IF_ERROR(
        db->Exec(CommonPragmas(cache_mib) + "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"));
    // Checkpointed by the indexer after its commits (CheckpointLongWals), not inside them.
    db->CountWalFrames();
    EVIDENT_RETURN_IF_ERROR(db->Exec(schema));
    EVIDENT_RETURN_IF_ERROR(db->Exec("INSERT OR IGNORE INTO meta(key, value) VALUES('format', " +
                                     std::to_string(kIndexFormat) + ")"));
    return db;
  };
  // An index written by another version is derived data: Open rebuilds it from the log.
  auto check = [](Statement& meta, const std::string& file) -> Status {
    if (meta.ColumnInt(0) != kIndexFormat) {
      return Error::Corruption(file + ": index format " + std::to_string(meta.ColumnInt(0)));
    }
    if (meta.ColumnIsNull(1)) return Error::Corruption(file + ": no watermark");
    return {};
  };
  EVIDENT_ASSIGN_OR_RETURN(partition->writer, open(path, kIndexSchema, options_.index_cache_mib));
  {
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * meta,
        partition->writer->Prepare("SELECT (SELECT value FROM meta WHERE key = 'format'), "
                                   "(SELECT value FROM meta WHERE key = 'watermark')"));
    EVIDENT_RETURN_IF_ERROR(meta->Step());
    Status checked = check(*meta, path);
    partition->watermark = meta->ColumnInt(1);
    meta->Reset();
    EVIDENT_RETURN_IF_ERROR(checked);
  }
  EVIDENT_ASSIGN_OR_RETURN(partition->words_writer,
                           open(words_path, kWordsSchema, options_.words_cache_mib));
  Db& words = *partition->words_writer;
  if (words.Changes() > 0) {
    // A new file. FTS5 keeps its settings in the table: set them once. automerge 16 merges less
    // often than the default of 4, into larger segments (docs/storage.md).
    EVIDENT_RETURN_IF_ERROR(words.Exec("INSERT INTO search(search, rank) VALUES('automerge', 16)"));
  }
  {
    EVIDENT_ASSIGN_OR_RETURN(Statement * meta,
                             words.Prepare("SELECT (SELECT value FROM meta WHERE key = 'format'), "
                                           "(SELECT value FROM meta WHERE key = 'watermark'), "
                                           "(SELECT value FROM meta WHERE key = 'word_counts')"));
    EVIDENT_RETURN_IF_ERROR(meta->Step());
    Status checked = check(*meta, words_path);
    partition->words_watermark = meta->ColumnInt(1);
    partition->word_counts = meta->ColumnInt(2) == 1;
    meta->Reset();
    EVIDENT_RETURN_IF_ERROR(checked);
  }
  EVIDENT_RETURN_IF_ERROR(LoadTerms(*partition));
  partition->readers =
      std::make_unique<ConnectionPool>(path, options_.reader_cache_mib, words_path);
  Partition* raw = partition.get();
  std::unique_lock lock(snapshot_mu_);
  partitions_[week] = std::move(partition);
  return raw;
}

Status SqliteEventStore::LoadTerms(Partition& partition) {
  for (TermIds& ids : partition.terms) ids.clear();
  Db& db = *partition.writer;
  EVIDENT_ASSIGN_OR_RETURN(Statement * terms, db.Prepare("SELECT term_id, kind, value FROM terms"));
  for (;;) {
    EVIDENT_ASSIGN_OR_RETURN(bool row, terms->Step());
    if (!row) break;
    const int64_t kind = terms->ColumnInt(1);
    if (kind < 1 || kind > static_cast<int64_t>(kTermKinds)) {
      terms->Reset();
      return Error::Corruption(PartitionName(partition.week) + ": a term of kind " +
                               std::to_string(kind));
    }
    partition.terms[static_cast<size_t>(kind - 1)].emplace(terms->ColumnText(2),
                                                           terms->ColumnInt(0));
  }
  terms->Reset();
  partition.actors.clear();
  EVIDENT_ASSIGN_OR_RETURN(Statement * actors,
                           db.Prepare("SELECT actor, e.value, i.value FROM actors "
                                      "JOIN terms e ON e.term_id = actors.email "
                                      "JOIN terms i ON i.term_id = actors.actor_id"));
  std::string key;
  EVIDENT_RETURN_IF_ERROR(actors->ForEachRow([&]() -> Result<bool> {
    partition.actors.emplace(ActorKey(actors->ColumnText(1), actors->ColumnText(2), key),
                             actors->ColumnInt(0));
    return true;
  }));
  // The shared IPs are counted in the same scan: in key order, each IP's actors come in one run.
  partition.ip_actors.clear();
  partition.shared_ips.clear();
  EVIDENT_ASSIGN_OR_RETURN(Statement * ip_actors,
                           db.Prepare("SELECT ip, actor FROM ip_actors ORDER BY ip, actor"));
  int64_t run_ip = 0, run_actors = 0;
  EVIDENT_RETURN_IF_ERROR(ip_actors->ForEachRow([&]() -> Result<bool> {
    const int64_t ip = ip_actors->ColumnInt(0);
    partition.ip_actors.insert({ip, ip_actors->ColumnInt(1)});
    run_actors = run_actors > 0 && ip == run_ip ? run_actors + 1 : 1;
    run_ip = ip;
    if (run_actors == kSharedIpActors + 1) partition.shared_ips.insert(ip);
    return true;
  }));
  EVIDENT_RETURN_IF_ERROR(
      LoadIdPairs(db, "SELECT actor, tenant FROM actor_tenants", partition.actor_tenants));
  partition.terms_loaded = true;
  return {};
}

void SqliteEventStore::DropTerms(Partition& partition) {
  for (TermIds& ids : partition.terms) TermIds().swap(ids);
  TermIds().swap(partition.actors);
  IdPairs().swap(partition.ip_actors);
  IdPairs().swap(partition.actor_tenants);
  std::unordered_set<int64_t>().swap(partition.shared_ips);
  partition.terms_loaded = false;
}

// What a rolled-back batch leaves wrong in memory about a week it wrote to: the terms it added,
// whose ids are not in the file, and, when it wrote a week whose word counts were stored, that it
// had emptied them (the rollback put them back, now wrong for the words the retry adds).
void SqliteEventStore::ForgetRolledBack(Partition& partition) {
  DropTerms(partition);
  partition.counted_through.reset();
  Result<Statement*> read =
      partition.words_writer->Prepare("SELECT value FROM meta WHERE key = 'word_counts'");
  Result<bool> row = read ? (*read)->Step() : Result<bool>(read.error());
  // Unknown: as stored, so that the next batch to write the week empties them.
  partition.word_counts = !row || !*row || (*read)->ColumnInt(0) == 1;
  if (read) (*read)->Reset();
}

// Stores the document count of every per-tenant token of the partition's full-text index in
// word_counts. search_terms computes a count by reading the token's whole doclist (about 15 ns an
// event: 14 ms for a word in a third of a large tenant's events at 10M); a week the indexer has
// left no longer changes, so its counts are read once here and then looked up. Tokens with a digit
// are not stored: there are about two an event, each in few events (search_text.h).
//
// One call reads the next options_.word_count_terms terms (in term order) and commits their
// counts; the one that reads the last marks the table valid. A whole week at once (~700,000 terms
// at 10M events, 0.7 s) would stall the indexer while ingest fills the tail: about 50 MB of RSS.
// The week is left, so the pass reads through its writer's small page cache.
Status SqliteEventStore::StoreWordCounts(Partition& partition) {
  Db& db = *partition.words_writer;
  auto chunk = [&]() -> Status {
    if (!partition.counted_through) {
      EVIDENT_RETURN_IF_ERROR(db.Exec("DELETE FROM word_counts"));
      partition.counted_through = "";
    }
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * read,
        db.Prepare("SELECT term, doc FROM search_terms WHERE term > ?1 ORDER BY term LIMIT ?2"));
    EVIDENT_ASSIGN_OR_RETURN(Statement * store,
                             db.Prepare("INSERT INTO word_counts(term, docs) VALUES(?, ?)"));
    const auto wanted = static_cast<int64_t>(std::max<size_t>(options_.word_count_terms, 1));
    read->Bind(1, *partition.counted_through).Bind(2, wanted);
    int64_t read_terms = 0;
    std::string last;
    for (;;) {
      Result<bool> row = read->Step();
      if (!row || !*row) {
        const bool failed = !row;
        read->Reset();
        if (failed) return row.error();
        break;
      }
      ++read_terms;
      last.assign(read->ColumnText(0));
      if (last.find(kTenantSeparator) == std::string::npos) continue;
      store->Reset();
      EVIDENT_RETURN_IF_ERROR(store->Bind(1, last).Bind(2, read->ColumnInt(1)).Run());
    }
    if (read_terms == wanted) {
      partition.counted_through = std::move(last);
      return {};
    }
    EVIDENT_RETURN_IF_ERROR(db.Exec("UPDATE meta SET value = 1 WHERE key = 'word_counts'"));
    partition.word_counts = true;
    partition.counted_through.reset();
    return {};
  };
  EVIDENT_RETURN_IF_ERROR(db.Exec("BEGIN"));
  Status stored = chunk();
  if (stored) stored = db.Exec("COMMIT");
  if (!stored) {
    (void)db.Exec("ROLLBACK");
    partition.word_counts = false;
    partition.counted_through.reset();
  }
  return stored;
}

// The actor of (lower-cased email, id), added to the partition's actors (and the terms) if new.
// `key` is the caller's buffer for its key.
Result<int64_t> SqliteEventStore::ActorOf(Partition& partition, std::string_view email,
                                          std::string_view id, std::string& key) {
  ActorKey(email, id, key);
  if (auto it = partition.actors.find(key); it != partition.actors.end()) return it->second;
  EVIDENT_ASSIGN_OR_RETURN(int64_t email_term, TermId(partition, kEmail, email));
  EVIDENT_ASSIGN_OR_RETURN(int64_t id_term, TermId(partition, kActorId, id));
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * insert,
      partition.writer->Prepare("INSERT INTO actors(email, actor_id) VALUES(?, ?)"));
  EVIDENT_RETURN_IF_ERROR(insert->Bind(1, email_term).Bind(2, id_term).Run());
  const int64_t actor = partition.writer->LastInsertRowId();
  partition.actors.emplace(key, actor);
  return actor;
}

Result<int64_t> SqliteEventStore::TermId(Partition& partition, TermKind kind,
                                         std::string_view value) {
  TermIds& ids = partition.terms[static_cast<size_t>(kind - 1)];
  if (auto it = ids.find(value); it != ids.end()) return it->second;
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * insert, partition.writer->Prepare("INSERT INTO terms(kind, value) VALUES(?, ?)"));
  EVIDENT_RETURN_IF_ERROR(insert->Bind(1, kind).BindStatic(2, value).Run());
  const int64_t id = partition.writer->LastInsertRowId();
  ids.emplace(value, id);
  return id;
}

// Writes `events` (consecutive positions past the watermark) into their partitions, then
// publishes the new watermark and drops them from the tail. Indexer thread (or Open) only.
// A week's share of an index batch: its events in position order, each one's tenant term id.
Status SqliteEventStore::IndexEvents(const std::vector<TailPtr>& events) {
  if (events.empty()) return {};
  std::map<int64_t, std::vector<const TailEvent*>> by_week;
  for (const TailPtr& event : events)
    by_week[WeekOf(event->event.occurred_at)].push_back(event.get());
  const int64_t new_watermark = events.back()->position;
  std::vector<WeekBatch> weeks;
  weeks.reserve(by_week.size());
  auto rollback = [&] {
    for (WeekBatch& week : weeks) {
      if (week.rows_begun) (void)week.partition->writer->Exec("ROLLBACK");
      if (week.words_begun) (void)week.partition->words_writer->Exec("ROLLBACK");
      if (week.partition != nullptr) ForgetRolledBack(*week.partition);
    }
  };
  Status begun = [&]() -> Status {
    for (auto& [week_number, week_events] : by_week) {
      WeekBatch& week = weeks.emplace_back();
      week.events = std::move(week_events);
      {
        std::shared_lock lock(snapshot_mu_);
        auto it = partitions_.find(week_number);
        if (it != partitions_.end()) week.partition = it->second.get();
      }
      if (week.partition == nullptr) {
        EVIDENT_ASSIGN_OR_RETURN(week.partition, OpenPartition(week_number, true));
      }
      Partition& partition = *week.partition;
      EVIDENT_RETURN_IF_ERROR(partition.writer->Exec("BEGIN"));
      week.rows_begun = true;
      EVIDENT_RETURN_IF_ERROR(partition.words_writer->Exec("BEGIN"));
      week.words_begun = true;
      partition.rows_settled = false;
      partition.words_settled = false;
      // Its readers may keep small caches since it was left, or since the store was opened.
      if (partition.readers->keeps_no_cache()) partition.readers->SetKeepNoCache(false);
      if (partition.left) {
        EVIDENT_RETURN_IF_ERROR(partition.writer->Exec(CacheSizePragma(options_.index_cache_mib)));
        EVIDENT_RETURN_IF_ERROR(
            partition.words_writer->Exec(CacheSizePragma(options_.words_cache_mib)));
        partition.left = false;
      }
      if (!partition.terms_loaded) EVIDENT_RETURN_IF_ERROR(LoadTerms(partition));
      // Words are indexed per tenant (word_7, 7 the week's term id of the tenant): the words
      // thread needs the ids before the rows are written.
      week.tenants.reserve(week.events.size());
      for (const TailEvent* event : week.events) {
        EVIDENT_ASSIGN_OR_RETURN(week.tenants.emplace_back(),
                                 TermId(partition, kTenant, event->event.tenant));
      }
    }
    return {};
  }();
  if (!begun) {
    rollback();
    return begun;
  }
  const std::vector<Partition*> to_settle = WordsToSettle(weeks);
  // The words go into each week's full-text index on the words thread while this thread writes
  // the rows: the two halves of the work (docs/storage.md) live in separate files, so neither
  // waits for the other's transaction. The rows take longer, so the words thread then settles
  // the words files of weeks the last batch left (SettleWords), rather than this one after it.
  std::future<Status> words = words_worker_->Post([&] {
    Status indexed = IndexWords(weeks, new_watermark);
    if (indexed) SettleWords(to_settle);
    return indexed;
  });
  Status rows = IndexRows(weeks, new_watermark);
  Status words_done = words.get();
  if (!rows || !words_done) {
    rollback();
    return rows ? words_done : rows;
  }
  {
    std::unique_lock lock(snapshot_mu_);
    // Both files' commits at once, each writing its own WAL: the words files' on the words thread.
    std::future<Status> words_committed = words_worker_->Post([&]() -> Status {
      for (WeekBatch& week : weeks) {
        EVIDENT_RETURN_IF_ERROR(week.partition->words_writer->Exec("COMMIT"));
        week.words_begun = false;
      }
      return {};
    });
    Status rows_committed;
    for (WeekBatch& week : weeks) {
      rows_committed = week.partition->writer->Exec("COMMIT");
      if (!rows_committed) break;
      week.rows_begun = false;
    }
    Status words_committed_status = words_committed.get();
    if (!rows_committed || !words_committed_status) {
      // Some files may hold the batch now and others not. Each keeps its own watermark, so the
      // retry (or the next open) skips what a file holds and writes the rest; until then the
      // committed files hold events the tail holds too, and queries are refused.
      for (WeekBatch& week : weeks) {
        Partition& partition = *week.partition;
        if (!week.rows_begun) {
          partition.watermark = std::max(partition.watermark, new_watermark);
          index_split_ = true;
        }
        if (!week.words_begun) {
          partition.words_watermark = std::max(partition.words_watermark, new_watermark);
          index_split_ = true;
        }
      }
      rollback();
      return rows_committed ? words_committed_status : rows_committed;
    }
    for (WeekBatch& week : weeks) {
      Partition& partition = *week.partition;
      partition.watermark = std::max(partition.watermark, new_watermark);
      partition.words_watermark = std::max(partition.words_watermark, new_watermark);
    }
    index_split_ = false;
    std::lock_guard tail_lock(tail_mu_);
    watermark_ = new_watermark;
    index_retrying_ = false;  // with the watermark: whoever sees one caught up sees no retry
    DropFromTail(new_watermark);
  }
  tail_cv_.notify_all();
  CheckpointLongWals(weeks);
  SettleLeftWeeks(weeks);
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * save, state_db_->Prepare("UPDATE state SET value = ? WHERE key = 'watermark'"));
  return save->Bind(1, new_watermark).Run();
}

// Checkpoints each file of the batch's weeks whose WAL its commit left index_checkpoint_frames
// long or longer, the words files on the words thread meanwhile. SQLite's own checkpoint
// (wal_autocheckpoint) runs inside the commit, and so held the snapshot lock, and every query
// waiting for it, while it copied ~80 MB into the file (the slowest queries during ingest at 10M).
// Best effort, as SQLite's: a checkpoint that fails or cannot finish (a reader is on the WAL) is
// tried again after the next commit.
void SqliteEventStore::CheckpointLongWals(const std::vector<WeekBatch>& weeks) {
  const int long_wal = options_.index_checkpoint_frames;
  // Most batches leave every WAL short: the words thread is asked only when one of its files is
  // long (its frames were counted by its commit, which the caller has waited for).
  std::vector<Db*> long_words;
  for (const WeekBatch& week : weeks) {
    if (week.partition->words_writer->wal_frames() >= long_wal) {
      long_words.push_back(week.partition->words_writer.get());
    }
  }
  // Waited for below: the indexer thread uses the words writers too (BEGIN, ROLLBACK).
  std::future<Status> words;
  if (!long_words.empty()) {
    words = words_worker_->Post([&] {
      for (Db* db : long_words) (void)db->CheckpointPassive();
      return Status();
    });
  }
  for (const WeekBatch& week : weeks) {
    Db& db = *week.partition->writer;
    if (db.wal_frames() >= long_wal) (void)db.CheckpointPassive();
  }
  if (words.valid()) words.wait();
}

// The full-text half of IndexEvents, on the words thread: only the weeks' words writers.
Status SqliteEventStore::IndexWords(std::vector<WeekBatch>& weeks, int64_t new_watermark) {
  std::string words;
  for (WeekBatch& week : weeks) {
    Partition& partition = *week.partition;
    Db& db = *partition.words_writer;
    if (partition.word_counts || partition.counted_through) {
      // Written again (a backfill): its words are counted by the full-text index until it is
      // left again.
      EVIDENT_RETURN_IF_ERROR(
          db.Exec("DELETE FROM word_counts; UPDATE meta SET value = 0 WHERE key = 'word_counts';"));
      partition.word_counts = false;
      partition.counted_through.reset();
    }
    EVIDENT_ASSIGN_OR_RETURN(Statement * insert,
                             db.Prepare("INSERT INTO search(rowid, words) VALUES(?, ?)"));
    // In position order: FTS5 takes rowids in ascending order (a smaller one would flush its
    // pending terms).
    for (size_t i = 0; i < week.events.size(); ++i) {
      const TailEvent& event = *week.events[i];
      if (event.position <= partition.words_watermark) continue;  // indexed before a crash
      words.clear();
      AppendSearchText(event.event, week.tenants[i], words);
      insert->Reset();
      EVIDENT_RETURN_IF_ERROR(insert->Bind(1, event.position).BindStatic(2, words).Run());
    }
    EVIDENT_ASSIGN_OR_RETURN(Statement * mark,
                             db.Prepare("UPDATE meta SET value = ? WHERE key = 'watermark'"));
    EVIDENT_RETURN_IF_ERROR(mark->Bind(1, new_watermark).Run());
    // FTS5 keeps a batch's terms in memory and writes them out as a segment (merging older ones
    // as `automerge` asks) when the transaction commits, or when a savepoint opens. The commit
    // holds the snapshot lock, which readers wait for: writing the segment here, still inside
    // the transaction, takes that work out of it (a 2M run: the words files' commits past 20 ms,
    // 30 of them and 1.1 s in all, became 11 and 0.3 s).
    EVIDENT_RETURN_IF_ERROR(db.Exec("SAVEPOINT segment; RELEASE segment"));
    // And the pages, to the WAL: the commit under the lock then writes one frame (see IndexRows).
    EVIDENT_RETURN_IF_ERROR(db.WriteDirtyPages());
  }
  return {};
}

// A count table's key: its key columns, in order.
template <size_t N>
using CountKey = std::array<int64_t, N>;

// Adds `count` events at `key` through `add`, a count table's upsert (PrepareAddCount).
template <size_t N>
Status AddCount(Statement& add, const CountKey<N>& key, int64_t count) {
  add.Reset();
  for (size_t i = 0; i < N; ++i) add.Bind(static_cast<int>(i + 1), key[i]);
  return add.Bind(static_cast<int>(N + 1), count).Run();
}

// The upsert that adds to the count of a key of the count table `table`, keyed by `columns`.
template <size_t N>
Result<Statement*> PrepareAddCount(Db& db, std::string_view table, std::string_view columns) {
  std::string sql =
      "INSERT INTO " + std::string(table) + "(" + std::string(columns) + ", count) VALUES(?";
  for (size_t i = 0; i < N; ++i) sql += ", ?";
  sql += ") ON CONFLICT(" + std::string(columns) + ") DO UPDATE SET count = count + excluded.count";
  return db.Prepare(sql);
}

// Adds to the count table `table`, whose key columns are `columns` (in the keys' order), one event
// for each of `keys`: sorted, then counted in runs, and added in key order so that the table takes
// them as runs of neighbouring keys. Sorting a batch's keys (up to 200,000 for the facet counts)
// costs less than counting them in node-based hash maps, which took 8% of the indexer thread's CPU
// in a profile of ingest (docs/benchmarks.md). With `totals`, the same counts summed over every
// tenant (`columns` start with the tenant; the totals' are the rest), adds each run there too: a
// few hundred sums a batch.
template <size_t N>
Status AddCounts(Db& db, std::string_view table, std::string_view columns,
                 std::vector<CountKey<N>>& keys, const CountTable* totals) {
  constexpr std::string_view kTenantColumn = "tenant, ";
  if (totals != nullptr && !columns.starts_with(kTenantColumn)) {
    return Error::Internal("totals of a count table not keyed by tenant first");
  }
  EVIDENT_ASSIGN_OR_RETURN(Statement * add, PrepareAddCount<N>(db, table, columns));
  std::sort(keys.begin(), keys.end());
  std::map<CountKey<N - 1>, int64_t> sums;
  for (size_t begin = 0, end = 0; begin < keys.size(); begin = end) {
    while (end < keys.size() && keys[end] == keys[begin]) ++end;
    const auto count = static_cast<int64_t>(end - begin);
    EVIDENT_RETURN_IF_ERROR(AddCount(*add, keys[begin], count));
    if (totals != nullptr) {
      CountKey<N - 1> key;
      std::copy(keys[begin].begin() + 1, keys[begin].end(), key.begin());
      sums[key] += count;
    }
  }
  if (totals == nullptr) return {};
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * add_total,
      PrepareAddCount<N - 1>(db, totals->table, columns.substr(kTenantColumn.size())));
  for (const auto& [key, count] : sums) EVIDENT_RETURN_IF_ERROR(AddCount(*add_total, key, count));
  return {};
}

// One event's row of a week's `events` table, as the indexer builds it.
struct IndexRow {
  int64_t position, occurred_at, tenant, workspace, type, action, resource_type, status, method,
      actor, ip;
};

// Adds `rows` to the count table `table`: `keys_of` gives a row's keys, a std::array of
// CountKey<N>, one for each event it counts.
template <typename KeysOf>
Status CountRowsInto(Db& db, std::string_view table, std::string_view columns,
                     const std::vector<IndexRow>& rows, KeysOf keys_of,
                     const CountTable* totals = nullptr) {
  using RowKeys = std::invoke_result_t<KeysOf, const IndexRow&>;
  std::vector<typename RowKeys::value_type> keys;
  keys.reserve(rows.size() * std::tuple_size_v<RowKeys>);
  for (const IndexRow& row : rows) {
    for (const auto& key : keys_of(row)) keys.push_back(key);
  }
  return AddCounts(db, table, columns, keys, totals);
}

// Adds `rows` to each count table of their week, one table at a time (a batch's keys for the
// facet counts take ~5 MB at most).
Status CountRows(Db& db, const std::vector<IndexRow>& rows) {
  auto hour = [](const IndexRow& row) { return FloorDiv(row.occurred_at, kMillisPerHour); };
  auto day = [](const IndexRow& row) { return FloorDiv(row.occurred_at, kMillisPerDay); };
  EVIDENT_RETURN_IF_ERROR(CountRowsInto(
      db, "hour_counts", "tenant, hour", rows,
      [&](const IndexRow& row) {
        return std::array<CountKey<2>, 1>{{{row.tenant, hour(row)}}};
      },
      &kHourTotals));
  EVIDENT_RETURN_IF_ERROR(CountRowsInto(
      db, "hour_type_counts", "tenant, type, status, hour", rows,
      [&](const IndexRow& row) {
        return std::array<CountKey<4>, 1>{{{row.tenant, row.type, row.status, hour(row)}}};
      },
      &kHourTypeTotals));
  EVIDENT_RETURN_IF_ERROR(CountRowsInto(
      db, "day_counts", "tenant, type, action, status, day", rows,
      [&](const IndexRow& row) {
        return std::array<CountKey<5>, 1>{
            {{row.tenant, row.type, row.action, row.status, day(row)}}};
      },
      &kDayTotals));
  // The workspace, resource type, method and IP terms by day; all but the IP by hour too.
  EVIDENT_RETURN_IF_ERROR(
      CountRowsInto(db, "facet_counts", "term, tenant, day", rows, [&](const IndexRow& row) {
        return std::array{CountKey<3>{row.workspace, row.tenant, day(row)},
                          CountKey<3>{row.resource_type, row.tenant, day(row)},
                          CountKey<3>{row.method, row.tenant, day(row)},
                          CountKey<3>{row.ip, row.tenant, day(row)}};
      }));
  return CountRowsInto(db, "hour_facet_counts", "term, tenant, hour", rows,
                       [&](const IndexRow& row) {
                         return std::array{CountKey<3>{row.workspace, row.tenant, hour(row)},
                                           CountKey<3>{row.resource_type, row.tenant, hour(row)},
                                           CountKey<3>{row.method, row.tenant, hour(row)}};
                       });
}

// Widens each chunk's span of times in position_times to hold `rows`.
Status SpanChunks(Db& db, const std::vector<IndexRow>& rows) {
  std::map<int64_t, std::pair<int64_t, int64_t>> spans;  // a batch's few hundred chunks
  for (const IndexRow& row : rows) {
    auto [span, added] =
        spans.try_emplace(row.position >> kChunkBits, row.occurred_at, row.occurred_at);
    if (added) continue;
    span->second.first = std::min(span->second.first, row.occurred_at);
    span->second.second = std::max(span->second.second, row.occurred_at);
  }
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * widen,
      db.Prepare("INSERT INTO position_times(chunk, first_at, last_at) VALUES(?, ?, ?) "
                 "ON CONFLICT(chunk) DO UPDATE SET first_at = min(first_at, excluded.first_at), "
                 "last_at = max(last_at, excluded.last_at)"));
  for (const auto& [chunk, span] : spans) {
    widen->Reset();
    EVIDENT_RETURN_IF_ERROR(widen->Bind(1, chunk).Bind(2, span.first).Bind(3, span.second).Run());
  }
  return {};
}

// The rows half of IndexEvents: the weeks' rows writers, their terms and counts.
Status SqliteEventStore::IndexRows(std::vector<WeekBatch>& weeks, int64_t new_watermark) {
  std::string lowered_email, actor_key;
  std::vector<IndexRow> rows;
  for (WeekBatch& week : weeks) {
    Partition& partition = *week.partition;
    Db& db = *partition.writer;
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * insert,
        db.Prepare("INSERT INTO events(position, occurred_at, tenant, workspace, type, action, "
                   "resource_type, status, method, actor, ip) "
                   "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    EVIDENT_ASSIGN_OR_RETURN(Statement * insert_pair,
                             db.Prepare("INSERT INTO ip_actors(ip, actor) VALUES(?, ?)"));
    EVIDENT_ASSIGN_OR_RETURN(Statement * insert_tenant,
                             db.Prepare("INSERT INTO actor_tenants(actor, tenant) VALUES(?, ?)"));
    EVIDENT_ASSIGN_OR_RETURN(Statement * count_actors,
                             db.Prepare("SELECT count(*) FROM ip_actors WHERE ip = ?"));
    std::vector<int64_t> newly_shared;
    rows.clear();
    rows.reserve(week.events.size());  // grown by doubling, each copy faults in fresh pages
    for (size_t i = 0; i < week.events.size(); ++i) {
      const TailEvent& tail_event = *week.events[i];
      if (tail_event.position <= partition.watermark) continue;  // indexed before a crash
      const core::Event& event = tail_event.event;
      IndexRow& row = rows.emplace_back();
      row.position = tail_event.position;
      row.occurred_at = event.occurred_at;
      row.tenant = week.tenants[i];
      row.type = static_cast<int64_t>(event.type);
      row.status = static_cast<int64_t>(event.status);
      EVIDENT_ASSIGN_OR_RETURN(row.workspace, TermId(partition, kWorkspace, event.workspace));
      EVIDENT_ASSIGN_OR_RETURN(row.action, TermId(partition, kAction, event.action));
      EVIDENT_ASSIGN_OR_RETURN(row.resource_type,
                               TermId(partition, kResourceType, event.resource.type));
      EVIDENT_ASSIGN_OR_RETURN(row.method, TermId(partition, kMethod, event.request.method));
      EVIDENT_ASSIGN_OR_RETURN(
          row.actor, ActorOf(partition, util::AsciiLowerInto(event.actor.email, lowered_email),
                             event.actor.id, actor_key));
      EVIDENT_ASSIGN_OR_RETURN(row.ip, TermId(partition, kIp, event.request.ip));
      if (!event.request.ip.empty()) {
        EVIDENT_ASSIGN_OR_RETURN(bool new_pair,
                                 AddIdPair(partition.ip_actors, *insert_pair, row.ip, row.actor));
        // A new actor at the address (a few in a hundred events): one seek counts its actors.
        if (new_pair && !partition.shared_ips.contains(row.ip)) {
          count_actors->Reset();
          EVIDENT_RETURN_IF_ERROR(count_actors->Bind(1, row.ip).Step());
          if (count_actors->ColumnInt(0) > kSharedIpActors) {
            partition.shared_ips.insert(row.ip);
            newly_shared.push_back(row.ip);
          }
          count_actors->Reset();
        }
      }
      EVIDENT_RETURN_IF_ERROR(
          AddIdPair(partition.actor_tenants, *insert_tenant, row.actor, row.tenant));
    }
    // An address that became shared in this batch: its events of the earlier batches, found
    // through its actors' entries in the index by actor, before this batch's rows go in.
    if (!newly_shared.empty()) {
      EVIDENT_ASSIGN_OR_RETURN(
          Statement * backfill,
          db.Prepare("INSERT INTO shared_ip_events(ip, position) "
                     "SELECT ?1, e.position FROM ip_actors AS p "
                     "CROSS JOIN actor_tenants AS t ON t.actor = p.actor "
                     "CROSS JOIN events AS e ON e.tenant = t.tenant AND e.actor = p.actor "
                     "WHERE p.ip = ?1 AND e.ip = ?1"));
      for (int64_t ip : newly_shared) {
        backfill->Reset();
        EVIDENT_RETURN_IF_ERROR(backfill->Bind(1, ip).Run());
      }
    }
    // The rows go in all together, in (tenant, occurred_at) order: the tenant indexes then take
    // each batch in runs of neighbouring keys (docs/storage.md has what each step saved).
    std::sort(rows.begin(), rows.end(), [](const IndexRow& a, const IndexRow& b) {
      return std::tie(a.tenant, a.occurred_at, a.position) <
             std::tie(b.tenant, b.occurred_at, b.position);
    });
    for (const IndexRow& row : rows) {
      insert->Reset();
      insert->Bind(1, row.position)
          .Bind(2, row.occurred_at)
          .Bind(3, row.tenant)
          .Bind(4, row.workspace)
          .Bind(5, row.type)
          .Bind(6, row.action)
          .Bind(7, row.resource_type)
          .Bind(8, row.status)
          .Bind(9, row.method)
          .Bind(10, row.actor)
          .Bind(11, row.ip);
      EVIDENT_RETURN_IF_ERROR(insert->Run());
    }
    if (!partition.shared_ips.empty()) {
      std::vector<std::pair<int64_t, int64_t>> shared;  // (ip, position), in the table's order
      for (const IndexRow& row : rows) {
        if (partition.shared_ips.contains(row.ip)) shared.emplace_back(row.ip, row.position);
      }
      std::sort(shared.begin(), shared.end());
      EVIDENT_ASSIGN_OR_RETURN(
          Statement * insert_shared,
          db.Prepare("INSERT INTO shared_ip_events(ip, position) VALUES(?, ?)"));
      for (const auto& [ip, position] : shared) {
        insert_shared->Reset();
        EVIDENT_RETURN_IF_ERROR(insert_shared->Bind(1, ip).Bind(2, position).Run());
      }
    }
    EVIDENT_RETURN_IF_ERROR(CountRows(db, rows));
    EVIDENT_RETURN_IF_ERROR(SpanChunks(db, rows));
    EVIDENT_ASSIGN_OR_RETURN(Statement * mark,
                             db.Prepare("UPDATE meta SET value = ? WHERE key = 'watermark'"));
    EVIDENT_RETURN_IF_ERROR(mark->Bind(1, new_watermark).Run());
    // The batch's pages go to the WAL now, as frames no reader sees until the commit, which then
    // writes just the frame that marks them committed. Written by the COMMIT, they held the
    // snapshot lock, and every query waiting for it, for ~40 ms a batch at 2M events (a 2M run:
    // commits over 30 ms, ~40 before and 0-1 after; docs/benchmarks.md).
    EVIDENT_RETURN_IF_ERROR(db.WriteDirtyPages());
  }
  return {};
}

// Events arrive roughly in time order, so weeks behind the current one are rarely written again.
// Once left, a week gives back its page caches (the writers' and the readers', rather than hold
// index_cache_mib and reader_cache_mib a reader for every week) and its terms; then it stores its
// word counts, a part of one week per batch (StoreWordCounts), and gives back its WAL files (no
// write will restart them). The words file's part (SettleWords) runs on the words thread during
// the next batch, or here when no batch follows yet. The checkpoints must not wait for a reader of
// that week: without a busy timeout they give up at once, and the next batch tries again. A
// settled week is not visited again until a batch writes to it: there are 52 a year.
void SqliteEventStore::SettleLeftWeeks(const std::vector<WeekBatch>& touched) {
  bool batch_follows = false;
  {
    std::lock_guard lock(tail_mu_);
    batch_follows = !stopping_ && !tail_.empty() &&
                    (options_.indexer == IndexerMode::kBackground || waiters_ > 0);
  }
  std::shared_lock lock(snapshot_mu_);
  for (const auto& [week, partition] : partitions_) {
    if ((partition->rows_settled && partition->words_settled) ||
        WritesTo(touched, partition.get())) {
      continue;
    }
    Db& db = *partition->writer;
    Db& words = *partition->words_writer;
    if (!partition->left) {
      DropTerms(*partition);
      partition->readers->SetKeepNoCache(true);
      // Small enough for StoreWordCounts' pass, which reads the week's whole full-text index.
      (void)db.Exec(CacheSizePragma(kLeftWeekCacheMib));
      (void)words.Exec(CacheSizePragma(kLeftWeekCacheMib));
      sqlite3_db_release_memory(db.raw());
      sqlite3_db_release_memory(words.raw());
      partition->left = true;
    }
    if (!partition->rows_settled) partition->rows_settled = CheckpointNow(db);
  }
  lock.unlock();
  if (!batch_follows) SettleWords(WordsToSettle(touched));
}

// The weeks left (SettleLeftWeeks) whose words files are not settled, but those `touched`.
std::vector<Partition*> SqliteEventStore::WordsToSettle(const std::vector<WeekBatch>& touched) {
  std::vector<Partition*> left;
  std::shared_lock lock(snapshot_mu_);
  for (const auto& [week, partition] : partitions_) {
    if (partition->left && !partition->words_settled && !WritesTo(touched, partition.get())) {
      left.push_back(partition.get());
    }
  }
  return left;
}

// The words files' part of settling weeks the indexer has left (SettleLeftWeeks). Best effort, as
// the checkpoints: without them the full-text index counts, and a failing disk fails the next
// batch's commit.
void SqliteEventStore::SettleWords(const std::vector<Partition*>& left) {
  bool counted_one = false;
  for (Partition* partition : left) {
    Db& words = *partition->words_writer;
    if (!partition->word_counts && !counted_one) {
      (void)StoreWordCounts(*partition);
      sqlite3_db_release_memory(words.raw());  // or every left week would keep what it read
      counted_one = true;
    }
    partition->words_settled = CheckpointNow(words) && partition->word_counts;
  }
}

void SqliteEventStore::AddToTail(std::shared_ptr<const TailChunk> chunk) {
  if (chunk->events.empty()) return;
  tail_events_ += chunk->events.size();
  for (const TailPtr& event : chunk->events) tail_bytes_ += event->bytes;
  tail_.push_back(TailRun{std::move(chunk), 0});
}

void SqliteEventStore::DropFromTail(int64_t through) {
  while (!tail_.empty()) {
    TailRun& run = tail_.front();
    const std::vector<TailPtr>& events = run.chunk->events;
    while (run.first < events.size() && events[run.first]->position <= through) {
      tail_bytes_ -= events[run.first]->bytes;
      ++run.first;
      --tail_events_;
    }
    if (run.first < events.size()) return;
    tail_.pop_front();
  }
}

void SqliteEventStore::RunIndexer() {
  const size_t batch_size = std::max<size_t>(options_.index_batch_events, 1);
  const std::chrono::milliseconds max_retry(std::max(options_.index_retry_max_ms, 1));
  const std::chrono::milliseconds first_retry = std::min(std::chrono::milliseconds(100), max_retry);
  std::chrono::milliseconds retry_in = first_retry;
  uint64_t failed_tries = 0;
  for (;;) {
    std::vector<TailPtr> batch;
    {
      std::unique_lock lock(tail_mu_);
      tail_cv_.wait(lock, [&] {
        return stopping_ ||
               (!tail_.empty() && (options_.indexer == IndexerMode::kBackground || waiters_ > 0));
      });
      if (stopping_) return;
      const size_t count = std::min(batch_size, tail_events_);
      batch.reserve(count);
      for (const TailRun& run : tail_) {
        const std::vector<TailPtr>& events = run.chunk->events;
        for (size_t i = run.first; i < events.size() && batch.size() < count; ++i) {
          batch.push_back(events[i]);
        }
        if (batch.size() == count) break;
      }
    }
    Status indexed = IndexEvents(batch);
    std::unique_lock lock(tail_mu_);
    if (indexed) {
      if (failed_tries > 0) {
        spdlog::info("indexer: indexed through position {} after {} failed tries", watermark_,
                     failed_tries);
      }
      index_retrying_ = false;
      failed_tries = 0;
      retry_in = first_retry;
      continue;
    }
    // The batch was rolled back (or, if a commit failed, partly committed: IndexEvents keeps
    // queries off it). Its events stay in the tail, so every answer stays exact, and ingest goes
    // on, past max_tail_events, while the batch waits to be tried again: a disk that was full or
    // failing may come back.
    ++index_failures_;
    ++failed_tries;
    index_retrying_ = true;
    tail_cv_.notify_all();  // Append may wait for the tail
    spdlog::warn("indexer: indexing positions {} to {} failed ({}); trying again in {} ms",
                 batch.front()->position, batch.back()->position, indexed.error().ToString(),
                 retry_in.count());
    tail_cv_.wait_for(lock, retry_in, [&] { return stopping_; });
    if (stopping_) return;
    retry_in = std::min(retry_in * 2, max_retry);
  }
}

std::unique_ptr<PreparedEvents> SqliteEventStore::Prepare(
    const std::vector<core::Event>& events) const {
  auto prepared = std::make_unique<SqlitePrepared>();
  prepared->events.reserve(events.size());
  for (const core::Event& event : events) {
    prepared->events.push_back(PrepareEvent(event, options_.merkle_log));
  }
  if (events.size() < kOwnBlocksMinEvents) return prepared;
  std::string payload;
  payload.reserve(kBlockMaxBytes + 4096);
  size_t first = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const core::SeqlessJson& stored = prepared->events[i].stored;
    AppendSeqlessToBlock(stored.json, stored.seq_at, payload);
    const bool last = i + 1 == events.size();
    if (!last && i + 1 - first < kBlockMaxEvents && payload.size() < kBlockMaxBytes) continue;
    PreparedBlock& block = prepared->blocks.emplace_back();
    block.first = first;
    block.count = i + 1 - first;
    MakeBlockFrame(payload, block.frame);
    payload.clear();
    first = i + 1;
  }
  return prepared;
}

std::vector<Result<std::vector<Appended>>> SqliteEventStore::Append(std::span<Batch> batches) {
  std::vector<Result<std::vector<Appended>>> results;
  auto fail_all = [&](const Error& error) {
    results.clear();
    for (size_t i = 0; i < batches.size(); ++i) results.emplace_back(error);
    return results;
  };
  if (closed_) return fail_all(Error::Unavailable("event store is closed"));
  if (options_.indexer == IndexerMode::kBackground) {
    std::unique_lock lock(tail_mu_);
    // Not while the indexer retries a failed batch: the log still takes events, durably, and a
    // server that could not drain its queue could not stop either.
    auto room = [&] {
      return stopping_ || index_retrying_ ||
             (tail_events_ < options_.max_tail_events && tail_bytes_ < options_.max_tail_bytes);
    };
    if (!room()) {
      ++append_waits_;
      append_waiting_ = true;
      tail_cv_.wait(lock, room);
      append_waiting_ = false;
    }
    // But not for ever: an index disk that stays full would otherwise let the tail take all the
    // memory there is. Past retrying_tail_factor times either bound, refused (503 and Retry-After
    // to a client), storing nothing, until the indexer has written its batch. Not while stopping:
    // a server that could not drain its queue could not stop.
    const size_t factor = options_.retrying_tail_factor;
    if (index_retrying_ && !stopping_ &&
        (tail_events_ >= factor * options_.max_tail_events ||
         tail_bytes_ >= factor * options_.max_tail_bytes)) {
      ++append_refusals_;
      return fail_all(Error::Unavailable(
          "the index cannot be written (" + std::to_string(index_failures_) +
          " failed tries) and the events not indexed yet fill the memory kept for them: "
          "nothing stored, try again later"));
    }
  }
  std::lock_guard lock(writer_mu_);
  const auto tenants_before = tenants_;
  const int64_t next_position_before = next_position_;
  if (Status begun = log_writer_->Exec("BEGIN IMMEDIATE"); !begun) return fail_all(begun.error());
  Pending pending;
  for (Batch& batch : batches) {
    const auto batch_tenants = tenants_;
    const int64_t batch_next_position = next_position_;
    const size_t pending_before = pending.fresh.size();
    Status savepoint = log_writer_->Exec("SAVEPOINT batch");
    if (!savepoint) {
      results.emplace_back(savepoint.error());
      continue;
    }
    auto appended = AppendBatch(batch, pending);
    if (appended) {
      (void)log_writer_->Exec("RELEASE batch");
    } else {
      (void)log_writer_->Exec("ROLLBACK TO batch; RELEASE batch");
      tenants_ = batch_tenants;
      next_position_ = batch_next_position;
      pending.Truncate(pending_before);
    }
    results.push_back(std::move(appended));
  }
  Status committed = WriteBlocks(pending);
  if (committed && options_.merkle_log) committed = AppendLeaves(pending);
  if (committed) committed = log_writer_->Exec("COMMIT");
  if (!committed || trees_.size() > kOpenTrees) trees_.clear();  // reloaded from the log
  if (!committed) {
    (void)log_writer_->Exec("ROLLBACK");
    tenants_ = tenants_before;
    next_position_ = next_position_before;
    return fail_all(committed.error());
  }
  log_position_ = next_position_ - 1;
  std::shared_ptr<const TailChunk> chunk = MakeTailChunk(pending.fresh);
  {
    std::lock_guard tail_lock(tail_mu_);
    AddToTail(std::move(chunk));
  }
  tail_cv_.notify_all();
  return results;
}

// Writes the transaction's events as blocks of consecutive positions (log_block.h): a batch's own
// blocks as Prepare compressed them, the other events in blocks the writer compresses.
Status SqliteEventStore::WriteBlocks(const Pending& pending) {
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * insert,
      log_writer_->Prepare("INSERT INTO blocks(first_position, last_position, body) "
                           "VALUES(?, ?, ?)"));
  std::string payload, body;
  BlockFrame frame;
  std::vector<uint64_t> seqs;
  auto write = [&](size_t first, size_t count, const BlockFrame& block_frame) -> Status {
    seqs.clear();
    for (size_t i = first; i < first + count; ++i) seqs.push_back(pending.fresh[i]->event.seq);
    MakeBlockBody(block_frame, seqs, body);
    insert->Reset();
    insert->Bind(1, pending.fresh[first]->position)
        .Bind(2, pending.fresh[first + count - 1]->position)
        .BindBlobStatic(3, body);
    return insert->Run();
  };
  size_t first = 0;  // the first event of the block the writer is filling
  auto flush = [&](size_t end) -> Status {
    if (end > first) {
      MakeBlockFrame(payload, frame);
      EVIDENT_RETURN_IF_ERROR(write(first, end - first, frame));
      payload.clear();
    }
    first = end;
    return {};
  };
  auto own = pending.own_blocks.begin();
  for (size_t i = 0; i < pending.fresh.size();) {
    if (own != pending.own_blocks.end() && own->first == i) {
      EVIDENT_RETURN_IF_ERROR(flush(i));
      for (const PreparedBlock& block : *own->second) {
        EVIDENT_RETURN_IF_ERROR(write(i + block.first, block.count, block.frame));
      }
      i += own->second->back().first + own->second->back().count;
      first = i;
      ++own;
      continue;
    }
    AppendSeqlessToBlock(pending.stored[i].json, pending.stored[i].seq_at, payload);
    ++i;
    if (i - first >= kBlockMaxEvents || payload.size() >= kBlockMaxBytes) {
      EVIDENT_RETURN_IF_ERROR(flush(i));
    }
  }
  return flush(pending.fresh.size());
}

// Appends the transaction's events to their tenants' trees (tiles.h), in the same transaction.
Status SqliteEventStore::AppendLeaves(const Pending& pending) {
  std::unordered_set<TreeWriter*> touched;
  for (size_t i = 0; i < pending.fresh.size(); ++i) {
    const core::Event& event = pending.fresh[i]->event;
    auto tree = trees_.find(pending.tenant_ids[i]);
    if (tree == trees_.end()) {
      // The tenant's first event in this transaction: everything before it is committed.
      EVIDENT_ASSIGN_OR_RETURN(TreeWriter loaded,
                               TreeWriter::Load(*log_writer_, pending.tenant_ids[i], event.seq));
      tree = trees_.emplace(pending.tenant_ids[i], std::move(loaded)).first;
    }
    if (tree->second.size() != event.seq) {
      return Error::Corruption("tenant " + event.tenant + ": tree size " +
                               std::to_string(tree->second.size()) + " but seq " +
                               std::to_string(event.seq));
    }
    touched.insert(&tree->second);
    EVIDENT_RETURN_IF_ERROR(
        tree->second.Append(*log_writer_, pending.leaves[i], pending.fresh[i]->position));
  }
  for (TreeWriter* tree : touched) EVIDENT_RETURN_IF_ERROR(tree->Flush(*log_writer_));
  return {};
}

Result<std::vector<Appended>> SqliteEventStore::AppendBatch(Batch& whole, Pending& pending) {
  std::vector<core::Event>& batch = whole.events;
  // Prepared by this store's Prepare (the interface's contract), or nothing.
  auto* prepared = static_cast<SqlitePrepared*>(whole.prepared.get());
  if (prepared != nullptr && prepared->events.size() != batch.size()) {
    return Error::Internal("prepared events do not match their batch");
  }
  const size_t fresh_before = pending.fresh.size();
  bool all_fresh = true;
  Db& db = *log_writer_;
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * find,
      db.Prepare("SELECT position FROM event_ids WHERE tenant_id = ? AND id = ?"));
  EVIDENT_ASSIGN_OR_RETURN(Statement * insert_id,
                           db.Prepare("INSERT INTO event_ids(tenant_id, id, position) "
                                      "VALUES(?, ?, ?)"));
  EVIDENT_ASSIGN_OR_RETURN(Statement * insert_tenant,
                           db.Prepare("INSERT INTO tenants(name, next_seq) VALUES(?, 0)"));
  EVIDENT_ASSIGN_OR_RETURN(Statement * update_seq,
                           db.Prepare("UPDATE tenants SET next_seq = ? WHERE tenant_id = ?"));
  std::vector<Appended> appended;
  appended.reserve(batch.size());
  std::unordered_map<std::string, const core::Event*> in_batch;  // tenant '\n' id -> event
  std::unordered_map<int64_t, TenantState*> touched;
  for (size_t index = 0; index < batch.size(); ++index) {
    core::Event& event = batch[index];
    auto conflict = [&] {
      return Error(util::ErrorCode::kConflict,
                   "event " + event.id + " of tenant " + event.tenant +
                       " was stored before with different content",
                   {util::FieldError{static_cast<int64_t>(index), "id",
                                     "already used for a different event"}});
    };
    auto [tenant_it, new_tenant] = tenants_.try_emplace(event.tenant);
    TenantState& tenant = tenant_it->second;
    if (new_tenant) {
      insert_tenant->Reset();
      EVIDENT_RETURN_IF_ERROR(insert_tenant->Bind(1, event.tenant).Run());
      tenant.tenant_id = db.LastInsertRowId();
    }
    // An id Evident generated (a fresh UUIDv7) cannot be stored already: only a client's id can
    // repeat, so only those pay for the look-ups.
    const bool may_repeat = event.id_from_client;
    std::string batch_key;
    if (may_repeat) batch_key = event.tenant + '\n' + event.id;
    if (auto earlier = may_repeat ? in_batch.find(batch_key) : in_batch.end();
        earlier != in_batch.end()) {
      if (!core::SameContent(event, *earlier->second)) return conflict();
      event.seq = earlier->second->seq;
      appended.push_back(Appended{event.id, event.tenant, event.seq, true});
      all_fresh = false;
      continue;
    }
    if (may_repeat && !new_tenant) {
      find->Reset();
      find->Bind(1, tenant.tenant_id);
      BindId(*find, 2, event.id);
      EVIDENT_ASSIGN_OR_RETURN(bool exists, find->Step());
      const int64_t position = exists ? find->ColumnInt(0) : 0;
      find->Reset();
      if (exists) {
        // Stored by an earlier batch of this transaction (not yet in a block), or in the log.
        const int64_t first_pending =
            pending.fresh.empty() ? next_position_ : pending.fresh.front()->position;
        core::Event stored;
        if (position >= first_pending) {
          stored = pending.fresh[static_cast<size_t>(position - first_pending)]->event;
        } else {
          EVIDENT_ASSIGN_OR_RETURN(LogBlockPtr block, ReadBlock(db, position));
          EVIDENT_ASSIGN_OR_RETURN(stored, core::DecodeStoredEvent(block->Event(position)));
        }
        if (!core::SameContent(event, stored)) return conflict();
        event.seq = stored.seq;
        appended.push_back(Appended{event.id, event.tenant, event.seq, true});
        all_fresh = false;
        continue;
      }
    }
    event.seq = tenant.next_seq++;
    touched[tenant.tenant_id] = &tenant;
    const int64_t position = next_position_++;
    pending.tenant_ids.push_back(tenant.tenant_id);
    PreparedEvent one = prepared != nullptr ? std::move(prepared->events[index])
                                            : PrepareEvent(event, options_.merkle_log);
    if (one.leaf) {
      char digits[20];
      const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, event.seq);
      pending.leaves.push_back(std::move(*one.leaf).Finish(
          {std::string_view(digits, static_cast<size_t>(end - digits)),
           std::string_view(one.stored.json).substr(one.stored.seq_at)}));
    }
    pending.stored.push_back(std::move(one.stored));
    insert_id->Reset();
    insert_id->Bind(1, tenant.tenant_id).Bind(3, position);
    BindId(*insert_id, 2, event.id);
    EVIDENT_RETURN_IF_ERROR(insert_id->Run());
    appended.push_back(Appended{event.id, event.tenant, event.seq, false});
    // Append takes the events: no copy per event.
    std::shared_ptr<TailEvent> tail_event = MakeTailEvent(std::move(event), position);
    if (may_repeat) in_batch.emplace(std::move(batch_key), &tail_event->event);
    pending.fresh.push_back(std::move(tail_event));
  }
  for (const auto& [tenant_id, tenant] : touched) {
    update_seq->Reset();
    EVIDENT_RETURN_IF_ERROR(
        update_seq->Bind(1, static_cast<int64_t>(tenant->next_seq)).Bind(2, tenant_id).Run());
  }
  if (prepared != nullptr && all_fresh && !prepared->blocks.empty()) {
    pending.own_blocks.emplace_back(fresh_before, &prepared->blocks);
  }
  return appended;
}

Result<Snapshot> SqliteEventStore::TakeSnapshot(const core::Filter& filter,
                                                std::optional<util::UnixMillis> newest_bound) {
  Snapshot snapshot;
  std::shared_lock lock(snapshot_mu_);
  if (index_split_) {
    return Error::Unavailable(
        "the index is being repaired after a failed write; searches resume once the indexer's "
        "next try succeeds");
  }
  for (auto it = partitions_.rbegin(); it != partitions_.rend(); ++it) {
    Partition& partition = *it->second;
    if (filter.from && partition.end <= *filter.from) continue;
    if (filter.to && partition.start >= *filter.to) continue;
    if (newest_bound && partition.start > *newest_bound) continue;
    EVIDENT_ASSIGN_OR_RETURN(ConnectionPool::Lease db, partition.readers->Acquire());
    EVIDENT_RETURN_IF_ERROR(db->Exec("BEGIN"));
    // Reading both files starts the read transaction on both, while the indexer cannot commit.
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * start,
        db->Prepare("SELECT (SELECT value FROM main.meta WHERE key = 'watermark'), "
                    "(SELECT value FROM words.meta WHERE key = 'watermark')"));
    Status started = start->Step().has_value() ? Status() : Status(Error::IOError("snapshot"));
    start->Reset();
    if (!started) {
      (void)db->Exec("COMMIT");
      return started.error();
    }
    snapshot.parts.push_back(Snapshot::Part{&partition, std::move(db)});
  }
  {
    // Which chunks the tail holds, at the watermark the partitions' views hold: tail_mu_ is held
    // for a copy of a pointer a chunk, not for a scan of the events (Append waits for it).
    std::lock_guard tail_lock(tail_mu_);
    snapshot.indexed_through = watermark_;
    snapshot.tail_runs.assign(tail_.begin(), tail_.end());
  }
  lock.unlock();
  // A chunk never changes: its events are scanned holding no lock. A query naming tenants scans
  // only theirs in the chunks that keep them by tenant.
  for (const TailRun& run : snapshot.tail_runs) {
    const TailChunk& chunk = *run.chunk;
    auto consider = [&](size_t i) {
      const TailEvent& event = *chunk.events[i];
      if (filter.Matches(event.event)) snapshot.tail.push_back(&event);
    };
    if (filter.tenants.empty() || chunk.by_tenant.empty()) {
      for (size_t i = run.first; i < chunk.events.size(); ++i) consider(i);
      continue;
    }
    for (auto tenant = filter.tenants.begin(); tenant != filter.tenants.end(); ++tenant) {
      // A tenant named twice (tenant=acme,acme) is scanned once.
      if (std::find(filter.tenants.begin(), tenant, *tenant) != tenant) continue;
      auto it = chunk.by_tenant.find(*tenant);
      if (it == chunk.by_tenant.end()) continue;
      for (uint32_t i : it->second) {
        if (i >= run.first) consider(i);
      }
    }
  }
  return snapshot;
}

void AppendInList(std::string& where, std::string_view column, const std::vector<int64_t>& ids) {
  where += " AND ";
  where += column;
  where += " IN (";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) where += ',';
    where += std::to_string(ids[i]);
  }
  where += ')';
}

// The number of the partition's events holding any of a word's tokens. FTS5 stores how many
// documents hold a term only implicitly, but search_terms counts a doclist without visiting the
// rows (three times faster than count(*) over a match), and a week the indexer has left has the
// counts of its per-tenant tokens stored (StoreWordCounts), read in this transaction's view of it.
Result<uint64_t> CountTokenDocs(Db& db, const WordTokens& word) {
  const std::string& prefix = word.prefix;
  EVIDENT_ASSIGN_OR_RETURN(Statement * counted,
                           db.Prepare("SELECT value FROM words.meta WHERE key = 'word_counts'"));
  EVIDENT_ASSIGN_OR_RETURN(bool has_counted, counted->Step());
  const bool stored_counts = has_counted && counted->ColumnInt(0) == 1;
  counted->Reset();
  if (!prefix.empty()) {
    // In every tenant: every token with the word's prefix.
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * sum, db.Prepare(stored_counts ? "SELECT coalesce(sum(docs), 0) FROM "
                                                    "word_counts WHERE term >= ?1 AND term < ?2"
                                                  : "SELECT coalesce(sum(doc), 0) FROM "
                                                    "search_terms WHERE term >= ?1 AND term < ?2"));
    std::string end = prefix;
    end.back() = static_cast<char>(kTenantSeparator + 1);
    sum->Bind(1, prefix).Bind(2, end);
    EVIDENT_ASSIGN_OR_RETURN(bool row, sum->Step());
    const int64_t count = row ? sum->ColumnInt(0) : 0;
    sum->Reset();
    return static_cast<uint64_t>(count);
  }
  // In the given tenants (or a word with a digit, in every tenant): token by token.
  EVIDENT_ASSIGN_OR_RETURN(Statement * fts_docs,
                           db.Prepare("SELECT doc FROM search_terms WHERE term = ?1"));
  EVIDENT_ASSIGN_OR_RETURN(Statement * stored_docs,
                           db.Prepare("SELECT docs FROM word_counts WHERE term = ?1"));
  uint64_t count = 0;
  for (const std::string& token : word.tokens) {
    Statement* docs =
        stored_counts && token.find(kTenantSeparator) != std::string::npos ? stored_docs : fts_docs;
    docs->Reset();
    docs->Bind(1, token);
    EVIDENT_ASSIGN_OR_RETURN(bool row, docs->Step());
    if (row) count += static_cast<uint64_t>(docs->ColumnInt(0));
    docs->Reset();
  }
  return count;
}

std::string QuoteFts(std::string_view word) {
  std::string quoted = "\"";
  for (char c : word) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

// The first column of `select`'s rows, as integers, up to `most` of them.
Result<std::vector<int64_t>> FirstColumn(Statement& select, size_t most = SIZE_MAX) {
  std::vector<int64_t> values;
  EVIDENT_RETURN_IF_ERROR(select.ForEachRow([&]() -> Result<bool> {
    values.push_back(select.ColumnInt(0));
    return values.size() < most;
  }));
  return values;
}

// The tenant terms of a week's file, in id order, at most `limit` of them. Every event of the week
// holds one, so naming them all restricts nothing.
Result<std::vector<int64_t>> WeekTenants(Db& db, int64_t limit) {
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * select,
      db.Prepare("SELECT term_id FROM terms WHERE kind = ?1 ORDER BY term_id LIMIT ?2"));
  select->Bind(1, kTenant).Bind(2, limit);
  return FirstColumn(*select);
}

// The tenant terms of a week's file in which any of `actors` has an event, in id order: a seek in
// actor_tenants for each actor. Until index format 16 a seek in the index by actor for each tenant
// of the week: 40 a week, a third of a user's search across tenants (p50 25-30 ms at 2M events).
Result<std::vector<int64_t>> ActorTenants(Db& db, const std::vector<int64_t>& actors) {
  std::string sql = "SELECT DISTINCT tenant FROM actor_tenants WHERE 1";
  AppendInList(sql, "actor", actors);
  sql += " ORDER BY tenant";
  EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Statement> select, db.PrepareOnce(sql));
  return FirstColumn(*select);
}

// For a filter naming IPs seen in the week with more than ip_actors_max actors (so not sought
// through their actors): when each of them is shared (kSharedIpActors), adds to `query`'s
// conditions the positions of their events in shared_ip_events, if looking those up costs less
// than walking the events of `walked_tenants` (a condition on a count table's tenant; empty: every
// tenant's), at shared_ip_lookup_entries entries a look-up. The condition changes no answer, but
// totals and charts with another condition (an action, a status) then cost O(the address's
// events), where they read every event of the tenant: 20 people's address and `action=login` in
// the largest tenant took 0.56-0.59 s at 10M events, and 7.5-8.4 ms so (docs/benchmarks.md, "An
// address many actors share: the positions of its events").
Status SqliteEventStore::NarrowToSharedIps(Db& db, const std::vector<int64_t>& ip_ids,
                                           const std::string& walked_tenants,
                                           PartitionQuery& query) {
  // In one statement (it runs for every week a query reads): the named IPs that are not shared,
  // the events of the walked tenants, and those at the IPs (all in shared_ip_events).
  std::string ips;
  AppendInList(ips, "ip", ip_ids);
  std::string terms;
  AppendInList(terms, "term", ip_ids);
  EVIDENT_ASSIGN_OR_RETURN(
      std::unique_ptr<Statement> costs,
      db.PrepareOnce("SELECT (SELECT count(*) FROM (SELECT ip FROM ip_actors WHERE 1" + ips +
                     " GROUP BY ip HAVING count(*) <= " + std::to_string(kSharedIpActors) +
                     ")), (SELECT coalesce(sum(count), 0) FROM " +
                     (walked_tenants.empty() ? "hour_totals WHERE 1" : "hour_counts WHERE 1") +
                     walked_tenants +
                     "), (SELECT coalesce(sum(count), 0) FROM facet_counts WHERE 1" + terms + ")"));
  EVIDENT_RETURN_IF_ERROR(costs->Step());
  if (costs->ColumnInt(0) > 0) return {};
  const uint64_t walked = static_cast<uint64_t>(costs->ColumnInt(1));
  const uint64_t looked_up = static_cast<uint64_t>(costs->ColumnInt(2));
  const uint64_t cost = options_.shared_ip_lookup_entries;
  if (cost > 0 && looked_up * cost >= walked) return {};
  const std::string positions = "SELECT position FROM shared_ip_events WHERE 1" + ips;
  const std::string condition = " AND position IN (" + positions + ")";
  query.where += condition;
  query.counted_where += condition;
  query.events = "events NOT INDEXED";
  return {};
}

Result<PartitionQuery> SqliteEventStore::Translate(Snapshot::Part& part,
                                                   const core::Filter& filter) {
  PartitionQuery query;
  Db& db = *part.db;
  EVIDENT_ASSIGN_OR_RETURN(Statement * lookup,
                           db.Prepare("SELECT term_id FROM terms WHERE kind = ? AND value = ?"));
  auto ids_of = [&](TermKind kind, const std::vector<std::string>& values,
                    std::vector<int64_t>& ids) -> Status {
    for (const std::string& value : values) {
      lookup->Reset();
      lookup->Bind(1, kind).BindStatic(2, value);
      EVIDENT_ASSIGN_OR_RETURN(bool found, lookup->Step());
      if (found) ids.push_back(lookup->ColumnInt(0));
    }
    lookup->Reset();
    return {};
  };
  auto term_list = [&](TermKind kind, const std::vector<std::string>& values,
                       std::string_view column) -> Result<std::vector<int64_t>> {
    std::vector<int64_t> ids;
    if (values.empty()) return ids;
    EVIDENT_RETURN_IF_ERROR(ids_of(kind, values, ids));
    if (ids.empty())
      query.empty = true;
    else
      AppendInList(query.where, column, ids);
    return ids;
  };
  EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> tenant_ids,
                           term_list(kTenant, filter.tenants, "tenant"));

  query.tenants_where = query.where;
  EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> workspace_ids,
                           term_list(kWorkspace, filter.workspaces, "workspace"));
  EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> action_ids,
                           term_list(kAction, filter.actions, "action"));
  EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> resource_type_ids,
                           term_list(kResourceType, filter.resource_types, "resource_type"));
  EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> method_ids,
                           term_list(kMethod, filter.methods, "method"));
  EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> ip_ids, term_list(kIp, filter.ips, "ip"));
  if (!filter.types.empty()) {
    std::vector<int64_t> types;
    for (core::EventType type : filter.types) types.push_back(static_cast<int64_t>(type));
    AppendInList(query.where, "type", types);
  }
  if (!filter.statuses.empty()) {
    std::vector<int64_t> statuses;
    for (core::EventStatus status : filter.statuses)
      statuses.push_back(static_cast<int64_t>(status));
    AppendInList(query.where, "status", statuses);
  }
  // The tenants whose events SQLite walks through their index (none: every tenant's), as a
  // condition on a count table.
  std::string walked_tenants = query.tenants_where;
  if (tenant_ids.empty() && !query.empty) {
    // A workspace, resource type, method or IP naming no tenant: the week's tenants that have it,
    // from its counts, when they are few. Their index leads with the tenant and covers the value,
    // where the index by time alone reads each event's row: one user's address, in one tenant,
    // took 0.15 s a week that way and 0.04 s through its tenant's entries.
    std::optional<std::vector<int64_t>> fewest;
    for (const auto* ids : {&ip_ids, &method_ids, &resource_type_ids, &workspace_ids}) {
      if (ids->empty()) continue;
      std::string sql = "SELECT DISTINCT tenant FROM facet_counts WHERE 1";
      AppendInList(sql, "term", *ids);
      EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Statement> select, db.PrepareOnce(sql));
      EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> tenants, FirstColumn(*select, kMaxWalks + 1));
      if (!fewest || tenants.size() < fewest->size()) fewest = std::move(tenants);
    }
    if (fewest && fewest->size() <= kMaxWalks) {
      AppendInList(query.where, "tenant", *fewest);
      AppendInList(walked_tenants, "tenant", *fewest);
    }
  }
  // Totals come from a count table when the filter's conditions besides time are all its columns:
  // tenants (hour counts), with types, actions and statuses (day counts), or tenants with one of
  // workspace, resource type, method and IP (facet counts). Histograms of types and statuses take
  // hour_type_counts instead (CountOverTime): by hour, a total would sum 24 times the rows.
  const int facets = int{!filter.workspaces.empty()} + int{!filter.resource_types.empty()} +
                     int{!filter.methods.empty()} + int{!filter.ips.empty()};
  const bool no_other_columns = filter.users.empty() && filter.search.empty();
  const bool no_day_columns =
      filter.types.empty() && filter.actions.empty() && filter.statuses.empty();
  query.counted_where = query.where;
  if (no_other_columns && facets == 0) {
    if (filter.tenants.empty())
      query.counts = no_day_columns ? &kHourTotals : &kDayTotals;
    else
      query.counts = no_day_columns ? &kHourCounts : &kDayCounts;
    query.counts_where = query.where;
  } else if (no_other_columns && no_day_columns && facets == 1) {
    // Term ids are unique across kinds, so one column holds them all.
    query.counts = &kFacetCounts;
    query.counts_where = query.tenants_where;
    for (const auto* ids : {&workspace_ids, &resource_type_ids, &method_ids, &ip_ids}) {
      if (!ids->empty()) AppendInList(query.counts_where, "term", *ids);
    }
  }
  // Statuses and types are in the match too (ValueWord), so their conditions need no row either.
  // So are actions, workspaces and resource types, in a week where the words of the values named
  // are in their events only (`narrow` below).
  bool match_and_tenants_only = !filter.search.empty() && filter.methods.empty() &&
                                filter.ips.empty() && filter.users.empty();
  std::vector<int64_t> user_tenants;  // naming a user and no tenant: the user's tenants
  if (!filter.users.empty()) {
    // The actors (email, id pairs) with the user's email or id: a few per user.
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * select,
        db.Prepare("SELECT actor FROM actors "
                   "WHERE email = (SELECT term_id FROM terms WHERE kind = ?1 AND value = ?2) "
                   "OR actor_id = (SELECT term_id FROM terms WHERE kind = ?3 AND value = ?4)"));
    std::vector<int64_t> actors;
    for (const std::string& user : filter.users) {
      if (user.empty()) continue;
      const std::string email = util::AsciiLower(user);
      select->Reset();
      select->Bind(1, kEmail).BindStatic(2, email).Bind(3, kActorId).BindStatic(4, user);
      EVIDENT_RETURN_IF_ERROR(select->ForEachRow([&]() -> Result<bool> {
        actors.push_back(select->ColumnInt(0));
        return true;
      }));
    }
    if (actors.empty()) {
      query.empty = true;
    } else {
      if (tenant_ids.empty()) {
        // Naming no tenant, the week's tenants in which the actors have events (a user is mostly
        // in one): the index by actor leads with the tenant, and without it SQLite reads every
        // event of the week (a busy user across tenants took 0.5 s at 10M events) where it can
        // seek each tenant's entries of the actors. A search's words are then matched in those
        // tenants' tokens only: in every tenant's, a user + a word took 2.1-3.5 s.
        EVIDENT_ASSIGN_OR_RETURN(user_tenants, ActorTenants(db, actors));
        if (user_tenants.empty()) query.empty = true;
        AppendInList(query.where, "tenant", user_tenants);
      }
      AppendInList(query.where, "actor", actors);
    }
  }
  if (!ip_ids.empty() && filter.users.empty() && !query.empty) {
    // The week's actors seen at those addresses (ip_actors): an address is mostly one person's,
    // whose events the index by actor holds together, where the tenant's covering index reads
    // every event of the tenant back from the newest until a page is full (a user's address with
    // ~3 events a day among the largest tenant's ~17,000 at 10M: 17-40 ms a week, against 1-3 ms
    // among the user's). The condition changes no answer: every event at those addresses is one
    // of theirs. An address many share (a NAT) keeps the walk: past ip_actors_max, reading each
    // of their events may cost more.
    const size_t most = options_.ip_actors_max;
    std::string sql = "SELECT DISTINCT actor FROM ip_actors WHERE 1";
    AppendInList(sql, "ip", ip_ids);
    EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Statement> select, db.PrepareOnce(sql));
    EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> actors,
                             FirstColumn(*select, most < SIZE_MAX ? most + 1 : SIZE_MAX));
    if (!actors.empty() && actors.size() <= most) {
      AppendInList(query.where, "actor", actors);
      AppendInList(query.counted_where, "actor", actors);
    } else if (!actors.empty()) {
      EVIDENT_RETURN_IF_ERROR(NarrowToSharedIps(db, ip_ids, walked_tenants, query));
    }
  }
  std::string time_where;
  if (filter.from) time_where += " AND occurred_at >= " + std::to_string(*filter.from);
  if (filter.to) time_where += " AND occurred_at < " + std::to_string(*filter.to);
  query.where += time_where;
  if (!filter.search.empty()) {
    // Each word as its tokens (search_text.h). An event holds the per-tenant tokens of its own
    // tenant only, so ANDing words that are each ORed over the filter's tenants keeps them in one
    // tenant; and when any word is per tenant the match alone holds the tenant condition.
    bool match_holds_tenants = tenant_ids.empty();
    // The tenants whose tokens a per-tenant word is matched through: those named, or, when none
    // is, the named user's, or every tenant of the week; at most search_tenant_tokens of them
    // (SqliteOptions), else empty: the prefix of every tenant's token.
    const size_t most = options_.search_tenant_tokens;
    std::vector<int64_t> word_tenants = tenant_ids.empty() ? user_tenants : tenant_ids;
    const bool any_per_tenant =
        std::any_of(filter.search.begin(), filter.search.end(), [](const core::SearchTerm& term) {
          const std::vector<std::string> words = IndexedWords(term);
          return std::any_of(words.begin(), words.end(),
                             [](const std::string& word) { return IndexedPerTenant(word); });
        });
    if (tenant_ids.empty() && filter.users.empty() && any_per_tenant) {
      EVIDENT_ASSIGN_OR_RETURN(word_tenants, WeekTenants(db, static_cast<int64_t>(most + 1)));
    }
    if (tenant_ids.empty() && word_tenants.size() > most) word_tenants.clear();
    // A word's tokens in the filter's tenants, as one FTS5 expression.
    auto tokens_of = [&](const std::string& word) -> std::string {
      const WordTokens of = TokensOfWord(word, word_tenants);
      if (!of.prefix.empty()) return QuoteFts(of.prefix) + " *";
      if (of.tokens.size() == 1) return QuoteFts(of.tokens[0]);
      std::string tokens = "(";
      for (size_t i = 0; i < of.tokens.size(); ++i) {
        if (i > 0) tokens += " OR ";
        tokens += QuoteFts(of.tokens[i]);
      }
      return tokens + ")";
    };
    // The week's events holding a word's tokens (tokens_of).
    auto word_docs = [&](const std::string& word) -> Result<uint64_t> {
      return CountTokenDocs(db, TokensOfWord(word, word_tenants));
    };
    // The rarest of `words` (in the fewest of the week's events) and that number of events.
    auto rarest_of =
        [&](const std::vector<std::string>& words) -> Result<std::pair<uint64_t, std::string>> {
      std::pair<uint64_t, std::string> rarest{UINT64_MAX, ""};
      for (const std::string& word : words) {
        EVIDENT_ASSIGN_OR_RETURN(uint64_t docs, word_docs(word));
        if (docs < rarest.first) rarest = {docs, word};
      }
      return rarest;
    };
    // The week's events in the tenants whose tokens the words are matched in (tokens_of).
    std::optional<int64_t> scope_events;
    auto events_in_scope = [&]() -> Result<int64_t> {
      if (!scope_events) {
        std::string sql = word_tenants.empty()
                              ? std::string("SELECT coalesce(sum(count), 0) FROM hour_totals")
                              : "SELECT coalesce(sum(count), 0) FROM hour_counts WHERE 1";
        if (!word_tenants.empty()) AppendInList(sql, "tenant", word_tenants);
        EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Statement> sum, db.PrepareOnce(sql));
        EVIDENT_RETURN_IF_ERROR(sum->Step());
        scope_events = sum->ColumnInt(0);
      }
      return *scope_events;
    };
    // A phrase's candidates are checked on their events (RecheckedCandidates), so it is matched
    // by its words that narrow them: a word in nine tenths or more of the week's events narrows
    // next to nothing, and reading its doclist cost most of the search. An email's domain is such a
    // word in its tenant (`tenant` and `test` of `fatima.29@tenant-0.test`: 32 ms a week for the
    // match across tenants with them, 6 ms without, for the same 358 candidates). The rarest word
    // of a phrase stays, and words with a digit (every tenant's tokens) all stay.
    auto phrase_words = [&](const core::SearchTerm& term) -> Result<std::vector<std::string>> {
      if (!term.address.empty() || term.words.size() < 2) return IndexedWords(term);
      std::vector<std::string> kept;
      std::optional<std::pair<uint64_t, std::string>> rarest;
      for (const std::string& word : term.words) {
        if (!IndexedPerTenant(word)) {
          kept.push_back(word);
          continue;
        }
        EVIDENT_ASSIGN_OR_RETURN(uint64_t docs, word_docs(word));
        EVIDENT_ASSIGN_OR_RETURN(int64_t events, events_in_scope());
        if (docs * 10 < static_cast<uint64_t>(events) * 9) kept.push_back(word);
        if (!rarest || docs < rarest->first) rarest.emplace(docs, word);
      }
      if (kept.empty()) kept.push_back(rarest->second);
      return kept;
    };
    for (const core::SearchTerm& term : filter.search) {
      EVIDENT_ASSIGN_OR_RETURN(std::vector<std::string> words, phrase_words(term));
      for (const std::string& word : words) {
        if (!query.match.empty()) query.match += " AND ";
        query.match += tokens_of(word);
        match_holds_tenants = match_holds_tenants || IndexedPerTenant(word);
      }
    }
    // Actions, workspaces and resource types are searched fields (core::ForEachSearchedText): an
    // event with one of the values named holds every word of that value. In a week where those
    // words are in no other events (they are in as many as the values' count table holds), the
    // match holds the filter alone, as it holds statuses and types: tenant-0 + a word + an action
    // or a workspace read the row of each of the word's 900,000 events at 10M, 0.2-0.5 s. Where
    // the words are elsewhere too, the rows are checked as before: narrowing the match to words as
    // common as a resource type `tenant` (in every email's `@tenant-N`) read more doclists than it
    // spared rows, 0.45 s became 0.95. A word with a digit is every tenant's token, so a value with
    // one holds no named tenant's events alone; a value without words holds nothing either.
    // `counts` and `column`: where the week's events with each value are counted.
    auto narrow = [&](const std::vector<std::string>& named, const std::vector<int64_t>& ids,
                      const CountTable& counts, std::string_view column) -> Status {
      if (named.empty()) return {};
      if (query.empty || !filter.users.empty() || named.size() > kMaxNarrowingValues) {
        match_and_tenants_only = false;
        return {};
      }
      // Each value's words as FTS5 expressions, and the events holding them, summed over the
      // values: at most each word's fewest (read from the stored counts, as one word's total);
      // exactly, through the match, when that bound is not exact and a value has several words.
      // When the bound is exact, each value's rarest word alone holds its events: the match then
      // reads one doclist a value (`config` of `config_template`, whose `template` is common).
      std::vector<std::string> expressions;
      std::vector<std::string> rarest;
      bool several_words = false;
      int64_t at_most = 0;
      for (const std::string& value : named) {
        std::vector<std::string> words = core::SearchWords(value);
        std::sort(words.begin(), words.end());
        words.erase(std::unique(words.begin(), words.end()), words.end());
        if (words.empty() ||
            (!tenant_ids.empty() && !std::all_of(words.begin(), words.end(), IndexedPerTenant))) {
          match_and_tenants_only = false;
          return {};
        }
        std::string all;
        for (const std::string& word : words)
          all += (all.empty() ? "(" : " AND ") + tokens_of(word);
        expressions.push_back(all + ")");
        EVIDENT_ASSIGN_OR_RETURN(auto fewest, rarest_of(words));
        rarest.push_back(tokens_of(fewest.second));
        at_most += static_cast<int64_t>(fewest.first);
        several_words = several_words || words.size() > 1;
      }
      std::string counted = "SELECT coalesce(sum(count), 0) FROM " + std::string(counts.table) +
                            " WHERE 1" + query.tenants_where;
      AppendInList(counted, column, ids);
      EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Statement> values, db.PrepareOnce(counted));
      EVIDENT_RETURN_IF_ERROR(values->Step());
      const int64_t with_values = values->ColumnInt(0);
      // Each value's events are among those holding its words, and no event has two values.
      int64_t holding = at_most;
      if (holding == with_values) expressions = std::move(rarest);
      if (holding != with_values && several_words) {
        EVIDENT_ASSIGN_OR_RETURN(Statement * matched,
                                 db.Prepare("SELECT count(*) FROM search WHERE search MATCH ?1"));
        holding = 0;
        for (const std::string& expression : expressions) {
          matched->Reset();
          matched->Bind(1, expression);
          EVIDENT_RETURN_IF_ERROR(matched->Step());
          holding += matched->ColumnInt(0);
          matched->Reset();
        }
      }
      if (holding != with_values) {
        match_and_tenants_only = false;
        return {};
      }
      std::string any;
      for (const std::string& expression : expressions)
        any += (any.empty() ? "" : " OR ") + expression;
      query.match = "(" + query.match + ") AND (" + any + ")";
      return {};
    };
    EVIDENT_RETURN_IF_ERROR(
        narrow(filter.actions, action_ids, tenant_ids.empty() ? kDayTotals : kDayCounts, "action"));
    EVIDENT_RETURN_IF_ERROR(narrow(filter.workspaces, workspace_ids, kFacetCounts, "term"));
    EVIDENT_RETURN_IF_ERROR(narrow(filter.resource_types, resource_type_ids, kFacetCounts, "term"));
    // A user's events hold every word of the user's email or id, so the match narrows to the
    // rarest of them without a digit (its stored count: a word with a digit is counted from its
    // whole doclist, and `0` of `@tenant-0.test` is in every event of its tenant). SQLite reads
    // the match into a list to test the user's events against: a word's 53,000 matches in the
    // largest tenant took 10 ms a week at 10M, with the user's first name 2 ms. All of the words
    // would read the doclists of the common ones (`tenant`, `test`), which cost more. A user
    // named by an email address narrows to the address's own token (AddressWord) instead: every
    // event of the user holds it, as its actor's email or id is that address (ASCII case aside,
    // which the token folds), and few others do, where a first name is every namesake's.
    if (!filter.users.empty() && !query.empty && filter.users.size() <= kMaxNarrowingValues) {
      std::string any;
      for (const std::string& user : filter.users) {
        if (user.empty()) continue;  // matches no event (Filter::Matches)
        if (const std::vector<std::string> addresses = core::SearchAddresses(user);
            addresses.size() == 1 && addresses[0] == util::AsciiLower(user)) {
          any += (any.empty() ? "" : " OR ") + tokens_of(AddressWord(addresses[0]));
          continue;
        }
        std::vector<std::string> words = core::SearchWords(user);
        std::erase_if(words, [](const std::string& word) { return !IndexedPerTenant(word); });
        if (words.empty()) {  // no word without a digit: no narrowing for any of the users
          any.clear();
          break;
        }
        EVIDENT_ASSIGN_OR_RETURN(auto rarest, rarest_of(words));
        any += (any.empty() ? "" : " OR ") + tokens_of(rarest.second);
      }
      if (!any.empty()) query.match = "(" + query.match + ") AND (" + any + ")";
    }
    // The statuses or types named, through the tokens of those that have one: any of those named,
    // or, when the common value (which has none) is named, none of the others not named.
    auto match_values = [&]<typename Value>(const std::vector<Value>& named, Value common,
                                            int count) {
      if (named.empty()) return;
      const bool common_named = std::find(named.begin(), named.end(), common) != named.end();
      std::string tokens;
      for (int i = 0; i < count; ++i) {
        const auto value = static_cast<Value>(i);
        if (value == common ||
            (std::find(named.begin(), named.end(), value) != named.end()) == common_named) {
          continue;
        }
        if (!tokens.empty()) tokens += " OR ";
        tokens += tokens_of(ValueWord(value));
      }
      if (tokens.empty()) return;  // every value
      query.match = "(" + query.match + (common_named ? ") NOT (" : ") AND (") + tokens + ")";
      match_holds_tenants = match_holds_tenants || !common_named;  // the tokens are per tenant
    };
    match_values(filter.statuses, core::EventStatus::kSuccess, core::kEventStatusCount);
    match_values(filter.types, core::EventType::kActivity, core::kEventTypeCount);
    query.where_besides_match = query.where;
    query.where += " AND position IN (SELECT rowid FROM search WHERE search MATCH ?1)";
    query.counts_by_match = match_and_tenants_only && match_holds_tenants;
    if (match_and_tenants_only && tenant_ids.size() <= kMaxWalks) {
      if (tenant_ids.empty()) query.walks.push_back(time_where);
      for (int64_t tenant : tenant_ids) {
        query.walks.push_back(" AND tenant = " + std::to_string(tenant) + time_where);
      }
    }
    const std::vector<std::string> only_term =
        filter.search.size() == 1 ? IndexedWords(filter.search[0]) : std::vector<std::string>();
    if (only_term.size() == 1 && filter.statuses.empty() && filter.types.empty() &&
        filter.actions.empty() && filter.workspaces.empty() && filter.resource_types.empty()) {
      const std::string& word = only_term[0];
      // A word with a digit is every tenant's token: counted so only when no tenant is named.
      if (IndexedPerTenant(word) || tenant_ids.empty())
        query.counted_word = TokensOfWord(word, tenant_ids);
    }
  }
  return query;
}

// For a query with a count table: the partition's matching events in [from, to) as
// (time, count) spans, each inside one unit of the table (`time` is the span's first
// millisecond): whole units summed from the table, the partial units at either end counted
// through the events table's indexes. So a total costs O(units), not O(matching events).
// Without `per_unit`, the whole units come as at most two spans, enough for a total and the ends:
// the first unit with matches, counted 0, and the last, counted with all of them. Summing by unit
// sorts the table's rows when the unit does not follow the filter's columns in its key (every
// tenant's hours: 6,720 rows a week, 3 ms, and a search of all tenants spans 18 weeks at 10M).
Result<std::vector<std::pair<util::UnixMillis, uint64_t>>> SqliteEventStore::CountBySpans(
    Snapshot::Part& part, const PartitionQuery& query, util::UnixMillis from, util::UnixMillis to,
    bool per_unit) {
  const CountTable& counts = *query.counts;
  const int64_t unit = counts.unit_ms;
  std::vector<std::pair<util::UnixMillis, uint64_t>> spans;
  from = std::max(from, part.partition->start);
  to = std::min(to, part.partition->end);
  if (from >= to) return spans;
  auto count_span = [&](util::UnixMillis lo, util::UnixMillis hi) -> Status {
    EVIDENT_ASSIGN_OR_RETURN(
        std::unique_ptr<Statement> count,
        part.db->PrepareOnce("SELECT count(*) FROM " + query.events + " WHERE 1" +
                             query.counted_where + " AND occurred_at >= ?1 AND occurred_at < ?2"));
    EVIDENT_RETURN_IF_ERROR(count->Bind(1, lo).Bind(2, hi).Step());
    if (count->ColumnInt(0) > 0) spans.emplace_back(lo, static_cast<uint64_t>(count->ColumnInt(0)));
    return {};
  };
  const util::UnixMillis first_whole = -FloorDiv(-from, unit) * unit;
  const util::UnixMillis end_whole = FloorDiv(to, unit) * unit;
  if (first_whole > end_whole) {  // [from, to) lies inside one unit
    EVIDENT_RETURN_IF_ERROR(count_span(from, to));
    return spans;
  }
  if (from < first_whole) EVIDENT_RETURN_IF_ERROR(count_span(from, first_whole));
  if (first_whole < end_whole) {
    const std::string column(counts.unit_column);
    const std::string where = std::string(" FROM ") + std::string(counts.table) + " WHERE 1" +
                              query.counts_where + " AND " + column + " >= ?1 AND " + column +
                              " < ?2";
    EVIDENT_ASSIGN_OR_RETURN(
        std::unique_ptr<Statement> whole,
        part.db->PrepareOnce(per_unit ? "SELECT " + column + ", sum(count)" + where + " GROUP BY 1"
                                      : "SELECT min(" + column + "), max(" + column +
                                            "), sum(count)" + where));
    whole->Bind(1, first_whole / unit).Bind(2, end_whole / unit);
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, whole->Step());
      if (!row) break;
      if (per_unit) {
        spans.emplace_back(whole->ColumnInt(0) * unit, static_cast<uint64_t>(whole->ColumnInt(1)));
      } else if (!whole->ColumnIsNull(2) && whole->ColumnInt(2) > 0) {
        if (whole->ColumnInt(0) != whole->ColumnInt(1)) {
          spans.emplace_back(whole->ColumnInt(0) * unit, 0);
        }
        spans.emplace_back(whole->ColumnInt(1) * unit, static_cast<uint64_t>(whole->ColumnInt(2)));
      }
    }
  }
  if (end_whole < to) EVIDENT_RETURN_IF_ERROR(count_span(end_whole, to));
  return spans;
}

// The earliest (or latest) time of the partition's matches of `query` inside the filter's range;
// nullopt when it has none. With a count table, the oldest (newest) unit that counts a match
// bounds the look-up to that unit: one aggregate over the whole week would read every match of a
// tenant that holds no index leading to occurred_at (a facet), or, computed as min and max in one
// statement, every event of the tenant (0.3 s for the largest at 10M events).
Result<std::optional<util::UnixMillis>> SqliteEventStore::EdgeMatchTime(Snapshot::Part& part,
                                                                        const PartitionQuery& query,
                                                                        const core::Filter& filter,
                                                                        bool latest) {
  const util::UnixMillis from = filter.from.value_or(INT64_MIN);
  const util::UnixMillis to = filter.to.value_or(INT64_MAX);
  std::string sql = std::string("SELECT ") + (latest ? "max" : "min") + "(occurred_at) FROM " +
                    query.events + " WHERE 1";
  if (query.counts != nullptr) {
    EVIDENT_ASSIGN_OR_RETURN(auto spans, CountBySpans(part, query, from, to, false));
    if (spans.empty()) return std::optional<util::UnixMillis>();
    util::UnixMillis unit_start = spans.front().first;
    for (const auto& [time, count] : spans) {
      unit_start = latest ? std::max(unit_start, time) : std::min(unit_start, time);
    }
    // A span starts inside its unit and ends at its end at the latest.
    const util::UnixMillis lo = std::max(unit_start, from);
    const util::UnixMillis hi = std::min(
        FloorDiv(unit_start, query.counts->unit_ms) * query.counts->unit_ms + query.counts->unit_ms,
        to);
    sql += query.counted_where + " AND occurred_at >= " + std::to_string(lo) +
           " AND occurred_at < " + std::to_string(hi);
  } else {
    sql += query.where;
  }
  EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Statement> select, part.db->PrepareOnce(sql));
  if (!query.match.empty()) select->Bind(1, query.match);
  EVIDENT_RETURN_IF_ERROR(select->Step());
  if (select->ColumnIsNull(0)) return std::optional<util::UnixMillis>();
  return std::optional<util::UnixMillis>(select->ColumnInt(0));
}

// The keyset condition of a cursor: events strictly before `after` in (occurred_at, position).
std::string BeforeCursorSql(const core::Cursor& after) {
  return " AND (occurred_at, position) < (" + std::to_string(after.occurred_at) + ", " +
         std::to_string(after.position) + ")";
}

// The same, with the bound on occurred_at alone that SQLite seeks with.
std::string AfterCursorSql(const core::Cursor& after) {
  return " AND occurred_at <= " + std::to_string(after.occurred_at) + BeforeCursorSql(after);
}

// The number of the partition's events that match `query`.
Result<uint64_t> CountMatches(Snapshot::Part& part, const PartitionQuery& query,
                              bool whole_partition) {
  Db& db = *part.db;
  if (query.counts_by_match && whole_partition && query.counted_word) {
    return CountTokenDocs(db, *query.counted_word);
  }
  EVIDENT_ASSIGN_OR_RETURN(
      std::unique_ptr<Statement> count,
      db.PrepareOnce(query.counts_by_match && whole_partition
                         ? std::string("SELECT count(*) FROM search WHERE search MATCH ?1")
                         : "SELECT count(*) FROM " + query.events + " WHERE 1" + query.where));
  if (!query.match.empty()) count->Bind(1, query.match);
  EVIDENT_RETURN_IF_ERROR(count->Step());
  return static_cast<uint64_t>(count->ColumnInt(0));
}

// Finds the newest `wanted` matches of `match` among the events of `where` past `after`, without
// visiting every match: walks those events newest first through the time index, in chunks, and
// keeps those among the full-text index's matches inside the chunk's range of positions. Events
// arrive roughly in time order, so a chunk's positions lie close together and a frequent word
// needs few chunks; a page of a word that matches a third of a tenant's 150,000 events in a week
// then costs about 60 rows, not 50,000. Appends them to `found` newest first. Returns false when
// `budget` events did not give the page: the caller then reads every match instead, which is
// cheaper for words that rare.
Result<bool> WalkOne(Db& db, const std::string& where, const std::string& match,
                     const std::optional<core::Cursor>& after, size_t wanted, size_t budget,
                     std::vector<std::pair<util::UnixMillis, int64_t>>& found) {
  EVIDENT_ASSIGN_OR_RETURN(
      std::unique_ptr<Statement> candidates,
      db.PrepareOnce("SELECT occurred_at, position FROM events WHERE 1" + where +
                     " AND occurred_at <= ?1 AND (occurred_at, position) < (?1, ?2) "
                     "ORDER BY occurred_at DESC, position DESC LIMIT ?3"));
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * matches,
      db.Prepare("SELECT rowid FROM search WHERE search MATCH ?1 AND rowid BETWEEN ?2 AND ?3 "
                 "ORDER BY rowid"));
  util::UnixMillis bound_time = after ? after->occurred_at : INT64_MAX;
  int64_t bound_position = after ? after->position : INT64_MAX;
  std::vector<std::pair<util::UnixMillis, int64_t>> chunk;
  std::vector<int64_t> hits;
  size_t chunk_size = 64, walked = 0, kept = 0;
  while (kept < wanted) {
    if (walked >= budget) return false;
    candidates->Reset();
    candidates->Bind(1, bound_time)
        .Bind(2, bound_position)
        .Bind(3, static_cast<int64_t>(chunk_size));
    chunk.clear();
    int64_t low = INT64_MAX, high = INT64_MIN;
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, candidates->Step());
      if (!row) break;
      const int64_t position = candidates->ColumnInt(1);
      chunk.emplace_back(candidates->ColumnInt(0), position);
      low = std::min(low, position);
      high = std::max(high, position);
    }
    if (chunk.empty()) break;
    walked += chunk.size();
    matches->Reset();
    matches->Bind(1, match).Bind(2, low).Bind(3, high);
    hits.clear();
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, matches->Step());
      if (!row) break;
      hits.push_back(matches->ColumnInt(0));
    }
    matches->Reset();
    for (const auto& candidate : chunk) {
      if (!std::binary_search(hits.begin(), hits.end(), candidate.second)) continue;
      found.push_back(candidate);
      if (++kept == wanted) break;
    }
    if (chunk.size() < chunk_size) break;  // the partition holds no more candidates
    std::tie(bound_time, bound_position) = chunk.back();
    chunk_size = std::min<size_t>(chunk_size * 2, 4096);
  }
  return true;
}

// The newest `wanted` matches of a search with walks (PartitionQuery::walks) past `after`: the
// newest of each walk's (WalkOne), merged. Returns false, with `rows` unchanged, when a walk gave
// up after `budget` events.
Result<bool> WalkNewestMatches(Snapshot::Part& part, const PartitionQuery& query,
                               const std::optional<core::Cursor>& after, size_t wanted,
                               size_t budget,
                               std::vector<std::pair<util::UnixMillis, int64_t>>& rows) {
  std::vector<std::pair<util::UnixMillis, int64_t>> found;
  for (const std::string& where : query.walks) {
    EVIDENT_ASSIGN_OR_RETURN(bool walked,
                             WalkOne(*part.db, where, query.match, after, wanted, budget, found));
    if (!walked) return false;
  }
  if (query.walks.size() > 1) {
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
      return SortsBefore(a.first, a.second, b.first, b.second);
    });
    if (found.size() > wanted) found.resize(wanted);
  }
  rows.insert(rows.end(), found.begin(), found.end());
  return true;
}

Result<LogBlockPtr> SqliteEventStore::CachedBlock(int64_t position) {
  if (LogBlockPtr block = block_cache_->Find(position)) return block;
  EVIDENT_ASSIGN_OR_RETURN(ConnectionPool::Lease db, log_readers_->Acquire());
  EVIDENT_ASSIGN_OR_RETURN(LogBlockPtr block, ReadBlock(*db, position));
  block_cache_->Insert(block);
  return block;
}

Result<std::string> SqliteEventStore::ReadBody(int64_t position) {
  EVIDENT_ASSIGN_OR_RETURN(LogBlockPtr block, CachedBlock(position));
  return std::string(block->Event(position));
}

// Calls visit(position, json) for each of `positions` (ascending, no repeats) with its stored
// JSON, in one read transaction of the log, each block read and decompressed once, and past the
// block cache: a recheck's tens of thousands of blocks, one or two events of each wanted, would
// only push the pages' blocks out of it. Per event of a phrase's candidates, that is a fifth less
// than ReadBody (a transaction, a cache lookup and all 64 events copied out of each block). A
// block holding `cache_from` or more of the positions is decoded whole instead, into the cache.
Status SqliteEventStore::ReadEvents(std::span<const int64_t> positions,
                                    const std::function<Status(int64_t, std::string_view)>& visit,
                                    size_t cache_from) {
  if (positions.empty()) return {};
  EVIDENT_ASSIGN_OR_RETURN(ConnectionPool::Lease db, log_readers_->Acquire());
  EVIDENT_RETURN_IF_ERROR(db->Exec("BEGIN"));
  Status read = [&]() -> Status {
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * select,
        db->Prepare("SELECT first_position, last_position, body FROM blocks WHERE "
                    "first_position <= ? ORDER BY first_position DESC LIMIT 1"));
    std::string buffer;
    size_t next = 0;
    while (next < positions.size()) {
      select->Reset();
      select->Bind(1, positions[next]);
      EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
      const int64_t last = found ? select->ColumnInt(1) : -1;
      size_t end = next;
      while (end < positions.size() && positions[end] <= last) ++end;
      if (end == next) {
        select->Reset();
        return Error::Corruption("the log has no event at position " +
                                 std::to_string(positions[next]));
      }
      const std::span<const int64_t> in_block = positions.subspan(next, end - next);
      next = end;
      if (in_block.size() < cache_from) {
        Status visited =
            VisitBlockEvents(select->ColumnInt(0), select->ColumnBlob(2), in_block, buffer, visit);
        select->Reset();
        EVIDENT_RETURN_IF_ERROR(visited);
        continue;
      }
      Result<LogBlockPtr> block = LogBlock::Decode(select->ColumnInt(0), select->ColumnBlob(2));
      select->Reset();
      if (!block) return std::move(block).error();
      block_cache_->Insert(*block);
      for (int64_t position : in_block) {
        if (!(*block)->Holds(position)) {
          return Error::Corruption("log block " + std::to_string((*block)->first_position()) +
                                   ": does not hold the event");
        }
        EVIDENT_RETURN_IF_ERROR(visit(position, (*block)->Event(position)));
      }
    }
    return {};
  }();
  (void)db->Exec("COMMIT");
  return read;
}

// Fills in the JSON of events[i] for each i of `from_log`, a page's events the index found. A
// block the cache holds gives its events; the rest are read in one read transaction of the log
// (ReadEvents). A block holding two or more of them is decoded whole into the cache, where the
// next page of a busy tenant finds it; from a block holding one (a user's page: each event in a
// block of its own), that event alone is copied out. Reading whole blocks, a transaction each,
// took 57% of the CPU of pages of tenant + user + 30 days in a profile (decompressing 25 points,
// copying out all 64 events 12); this way such a page's p50 fell from 2.5 to 2.2 ms at 2M.
Status SqliteEventStore::ReadPageBodies(std::vector<StoredEvent>& events,
                                        const std::vector<size_t>& from_log) {
  std::vector<std::pair<int64_t, size_t>> missed;  // (position, index in events)
  for (size_t i : from_log) {
    StoredEvent& event = events[i];
    if (LogBlockPtr block = block_cache_->Find(event.position)) {
      event.json = block->Event(event.position);
    } else {
      missed.emplace_back(event.position, i);
    }
  }
  if (missed.empty()) return {};
  std::sort(missed.begin(), missed.end());
  std::vector<int64_t> positions;
  positions.reserve(missed.size());
  for (const auto& [position, i] : missed) positions.push_back(position);
  size_t next = 0;  // ReadEvents visits in ascending order
  return ReadEvents(
      positions,
      [&](int64_t position, std::string_view json) -> Status {
        if (next == missed.size() || missed[next].first != position) {
          return Error::Internal("the log gave a position the page did not ask for");
        }
        events[missed[next++].second].json = json;
        return {};
      },
      /*cache_from=*/2);
}

// The positions among `positions` whose events match `filter`, ascending. The events are read in
// log order, each block once; many are read in two halves on two threads: decompressing their
// blocks is most of a phrase search's time, and one thread leaves the second core idle.
Result<std::vector<int64_t>> SqliteEventStore::MatchesOnEvents(const core::Filter& filter,
                                                               std::vector<int64_t> positions) {
  std::sort(positions.begin(), positions.end());
  auto check = [&](std::span<const int64_t> some, std::vector<int64_t>& matched) {
    return ReadEvents(some, [&](int64_t position, std::string_view json) -> Status {
      EVIDENT_ASSIGN_OR_RETURN(core::Event event, core::DecodeStoredEvent(json));
      if (filter.Matches(event)) matched.push_back(position);
      return {};
    });
  };
  std::vector<int64_t> matched, matched_later;
  const std::span<const int64_t> all(positions);
  size_t half = all.size() >= options_.recheck_two_threads_from ? all.size() / 2 : all.size();
  std::future<Status> later;
  if (half < all.size()) {
    try {
      later = std::async(std::launch::async, check, all.subspan(half), std::ref(matched_later));
    } catch (const std::system_error&) {
      half = all.size();  // no thread to be had: all of them on this one
    }
  }
  Status checked_first = check(all.first(half), matched);
  if (later.valid()) EVIDENT_RETURN_IF_ERROR(later.get());
  EVIDENT_RETURN_IF_ERROR(checked_first);
  matched.insert(matched.end(), matched_later.begin(), matched_later.end());
  return matched;
}

// For filters the index can only narrow (phrases): every candidate past `after_position`, checked
// on the decoded event, newest first. A candidate whose actor's email or id holds every search term
// matches without being decoded (its other conditions are the SQL's): a user's email pasted into
// the search box finds that user's events, and decoding each (a block of 64 decompressed for one
// event, ~130 µs) took 8 s for the busiest user at 10M events.
Result<RecheckCache::Rows> SqliteEventStore::RecheckedCandidates(Snapshot& snapshot,
                                                                 const core::Filter& filter,
                                                                 int64_t after_position) {
  RecheckCache::Rows rows;
  for (Snapshot::Part& part : snapshot.parts) {
    EVIDENT_ASSIGN_OR_RETURN(PartitionQuery query, Translate(part, filter));
    if (query.empty) continue;
    // Candidates come from the full-text index, each looked up by its position, unless a user is
    // named (the index by actor holds fewer): left to itself, SQLite walks every event of the
    // tenant in time order to test each against the matches (a user's email as a phrase in the
    // largest tenant: 0.3 s at 10M events, most of it that walk).
    const bool by_match = !query.match.empty() && filter.users.empty();
    std::string sql = by_match ? "SELECT occurred_at, position, actor FROM search CROSS JOIN "
                                 "events ON position = search.rowid WHERE search MATCH ?1" +
                                     query.where_besides_match
                               : "SELECT occurred_at, position, actor FROM " + query.events +
                                     " WHERE 1" + query.where;
    // Past it, on the column the plan reads its candidates by.
    if (after_position > 0) {
      sql +=
          (by_match ? " AND search.rowid > " : " AND position > ") + std::to_string(after_position);
    }
    EVIDENT_ASSIGN_OR_RETURN(
        std::unique_ptr<Statement> select,
        part.db->PrepareOnce(sql + " ORDER BY occurred_at DESC, position DESC"));
    if (!query.match.empty()) select->Bind(1, query.match);
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * actor_texts,
        part.db->Prepare("SELECT coalesce(e.value, ''), coalesce(i.value, '') FROM actors "
                         "LEFT JOIN terms e ON e.term_id = actors.email "
                         "LEFT JOIN terms i ON i.term_id = actors.actor_id WHERE actor = ?1"));
    std::unordered_map<int64_t, bool> actor_holds_search;  // actor -> email or id holds it all
    struct Candidate {
      util::UnixMillis time;
      int64_t position;
      bool confirmed;  // by its actor
    };
    std::vector<Candidate> candidates;  // newest first
    std::vector<int64_t> to_check;      // positions of those not confirmed, checked on their events
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      const int64_t position = select->ColumnInt(1);
      const int64_t actor = select->ColumnInt(2);
      auto known = actor_holds_search.find(actor);
      if (known == actor_holds_search.end()) {
        actor_texts->Reset();
        actor_texts->Bind(1, actor);
        EVIDENT_ASSIGN_OR_RETURN(bool found, actor_texts->Step());
        const bool holds = found && (filter.SearchMatchesWithin(actor_texts->ColumnText(0)) ||
                                     filter.SearchMatchesWithin(actor_texts->ColumnText(1)));
        actor_texts->Reset();
        known = actor_holds_search.emplace(actor, holds).first;
      }
      candidates.push_back(Candidate{select->ColumnInt(0), position, known->second});
      if (!known->second) to_check.push_back(position);
    }
    EVIDENT_ASSIGN_OR_RETURN(std::vector<int64_t> matched,
                             MatchesOnEvents(filter, std::move(to_check)));
    for (const Candidate& candidate : candidates) {
      if (candidate.confirmed ||
          std::binary_search(matched.begin(), matched.end(), candidate.position)) {
        rows.emplace_back(candidate.time, candidate.position);
      }
    }
    // The snapshot holds this week's reader until the last week is done: its cache would stay
    // filled meanwhile, up to 4 MiB a left week (a phrase across 18 weeks: ~70 MB at once).
    sqlite3_db_release_memory(part.db->raw());
  }
  return rows;
}

// RecheckedCandidates through recheck_cache_: a search asked again (its next page, its histogram)
// rechecks only the candidates indexed since, and one asked twice at once is computed once.
Result<std::shared_ptr<const RecheckCache::Rows>> SqliteEventStore::RecheckedMatches(
    Snapshot& snapshot, const core::Filter& filter) {
  std::optional<RecheckCache::Found> kept = recheck_cache_.Find(filter, snapshot.indexed_through);
  if (kept && kept->indexed_through == snapshot.indexed_through) return kept->rows;
  RecheckCache::Claim computing = recheck_cache_.ClaimComputing(filter, snapshot.indexed_through);
  // What the claim waited for found, or what another kept meanwhile: the newest.
  kept = recheck_cache_.Find(filter, snapshot.indexed_through);
  if (const auto& waited = computing.waited_for();
      waited && (!kept || kept->indexed_through < waited->indexed_through)) {
    kept = waited;
  }
  if (kept && kept->indexed_through == snapshot.indexed_through) {
    computing.Publish(*kept);
    return kept->rows;
  }
  EVIDENT_ASSIGN_OR_RETURN(RecheckCache::Rows fresh,
                           RecheckedCandidates(snapshot, filter, kept ? kept->indexed_through : 0));
  auto rows = std::make_shared<RecheckCache::Rows>();
  if (kept) {
    rows->reserve(kept->rows->size() + fresh.size());
    std::merge(kept->rows->begin(), kept->rows->end(), fresh.begin(), fresh.end(),
               std::back_inserter(*rows), [](const auto& a, const auto& b) {
                 return SortsBefore(a.first, a.second, b.first, b.second);
               });
  } else {
    *rows = std::move(fresh);
  }
  std::shared_ptr<const RecheckCache::Rows> matches(std::move(rows));
  recheck_cache_.Insert(filter, snapshot.indexed_through, matches);
  computing.Publish({matches, snapshot.indexed_through});
  return matches;
}

Result<Page> SqliteEventStore::Query(const core::Filter& filter,
                                     const std::optional<core::Cursor>& after, size_t limit) {
  if (closed_) return Error::Unavailable("event store is closed");
  EVIDENT_ASSIGN_OR_RETURN(Snapshot snapshot, TakeSnapshot(filter, std::nullopt));
  Page page;
  // Index rows: (occurred_at, position), newest first, at most limit + 1 past the cursor.
  std::vector<std::pair<util::UnixMillis, int64_t>> rows;
  const bool needs_recheck = NeedsRecheck(filter);
  if (needs_recheck) {
    EVIDENT_ASSIGN_OR_RETURN(auto candidates, RecheckedMatches(snapshot, filter));
    page.total = candidates->size();
    // Newest first: those past the cursor follow the rest.
    auto past = std::partition_point(candidates->begin(), candidates->end(), [&](const auto& row) {
      return !IsAfterCursor(row.first, row.second, after);
    });
    const auto wanted = std::min<size_t>(limit + 1, static_cast<size_t>(candidates->end() - past));
    rows.assign(past, past + static_cast<std::ptrdiff_t>(wanted));
  } else {
    for (Snapshot::Part& part : snapshot.parts) {
      EVIDENT_ASSIGN_OR_RETURN(PartitionQuery query, Translate(part, filter));
      if (query.empty) continue;
      uint64_t partition_matches = 0;
      const bool whole_partition = (!filter.from || *filter.from <= part.partition->start) &&
                                   (!filter.to || part.partition->end <= *filter.to);
      // With counts by span: where the newest match can be, at the latest (an end of its span).
      std::optional<util::UnixMillis> matches_end;
      if (query.counts != nullptr) {
        EVIDENT_ASSIGN_OR_RETURN(auto spans,
                                 CountBySpans(part, query, filter.from.value_or(INT64_MIN),
                                              filter.to.value_or(INT64_MAX), false));
        for (const auto& [time, count] : spans) {
          partition_matches += count;
          matches_end = std::max(matches_end.value_or(time), time + query.counts->unit_ms);
        }
        page.total += partition_matches;
      } else {
        EVIDENT_ASSIGN_OR_RETURN(partition_matches, CountMatches(part, query, whole_partition));
        page.total += partition_matches;
      }
      // The totals are exact: a week without matches is not walked, nor the days of a week
      // after its newest match (a rare type or status would otherwise be looked for in every
      // event of the tenant).
      if (rows.size() > limit || partition_matches == 0) continue;
      if (after && part.partition->start > after->occurred_at) continue;
      const size_t wanted = limit + 1 - rows.size();
      if (!query.walks.empty() && partition_matches >= options_.search_walk_min_matches) {
        EVIDENT_ASSIGN_OR_RETURN(bool walked, WalkNewestMatches(part, query, after, wanted,
                                                                options_.search_walk_budget, rows));
        if (walked) continue;
      }
      // When the full-text index alone holds the week's few matches, they can be read through
      // it, each looked up by position, instead of walking the tenant's events in time order
      // until the page is full; the walk reads about wanted / (share of its events that match)
      // index entries, each lookup costs about search_lookup_entries of them (a random page of the
      // table). A user's email in the largest tenant: the walk read every one of its events,
      // 15-30 ms a week; a word in a small tenant: the walk, a few hundred entries (the lookups
      // took 20 ms where it took 5).
      bool by_match = query.counts_by_match && whole_partition &&
                      partition_matches < options_.search_walk_min_matches;
      if (by_match) {
        EVIDENT_ASSIGN_OR_RETURN(
            std::unique_ptr<Statement> scope,
            part.db->PrepareOnce(
                std::string("SELECT coalesce(sum(count), 0) FROM ") +
                std::string((filter.tenants.empty() ? kHourTotals : kHourCounts).table) +
                " WHERE 1" + query.tenants_where));
        EVIDENT_RETURN_IF_ERROR(scope->Step());
        const auto events = static_cast<uint64_t>(scope->ColumnInt(0));
        const uint64_t walked = std::min(events, wanted * events / partition_matches);
        by_match = partition_matches * options_.search_lookup_entries < walked;
      }
      std::string sql = by_match ? "SELECT occurred_at, position FROM search CROSS JOIN events "
                                   "ON position = search.rowid WHERE search MATCH ?1"
                                 : "SELECT occurred_at, position FROM " + query.events + " WHERE 1";
      if (by_match) {
        sql += query.where_besides_match;
        if (after) sql += AfterCursorSql(*after);
      } else if (matches_end) {
        // The filter's conditions are counted_where and its time range. One upper bound on
        // occurred_at, the tightest, for SQLite to start the walk from: given several, it may
        // seek with a looser one.
        util::UnixMillis end = std::min(*matches_end, filter.to.value_or(INT64_MAX));
        if (after && after->occurred_at < end) end = after->occurred_at + 1;
        sql += query.counted_where;
        if (filter.from) sql += " AND occurred_at >= " + std::to_string(*filter.from);
        sql += " AND occurred_at < " + std::to_string(end);
        if (after) sql += BeforeCursorSql(*after);
      } else {
        sql += query.where;
        if (after) sql += AfterCursorSql(*after);
      }
      sql += " ORDER BY occurred_at DESC, position DESC LIMIT " + std::to_string(wanted);
      EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Statement> select, part.db->PrepareOnce(sql));
      if (!query.match.empty()) select->Bind(1, query.match);
      for (;;) {
        EVIDENT_ASSIGN_OR_RETURN(bool row, select->Step());
        if (!row) break;
        rows.emplace_back(select->ColumnInt(0), select->ColumnInt(1));
      }
    }
  }
  page.total += snapshot.tail.size();
  // Merge in the tail's matches past the cursor.
  std::vector<const TailEvent*> tail;
  for (const TailEvent* event : snapshot.tail) {
    if (IsAfterCursor(event->event.occurred_at, event->position, after)) tail.push_back(event);
  }
  // The page takes `limit` events at most, and one more tells whether a next page exists: only
  // those are sorted (the super admin's view during ingest matches the whole tail, up to
  // max_tail_events).
  const size_t wanted = limit < tail.size() ? limit + 1 : tail.size();
  std::partial_sort(tail.begin(), tail.begin() + static_cast<long>(wanted), tail.end(),
                    [](const TailEvent* a, const TailEvent* b) {
                      return SortsBefore(a->event.occurred_at, a->position, b->event.occurred_at,
                                         b->position);
                    });
  tail.resize(wanted);
  size_t from_index = 0, from_tail = 0;
  bool more = false;
  std::vector<size_t> from_log;  // the page's events the log holds, by index; read at the end
  while (true) {
    const bool have_index = from_index < rows.size();
    const bool have_tail = from_tail < tail.size();
    if (!have_index && !have_tail) break;
    if (page.events.size() == limit) {
      more = true;
      break;
    }
    const bool take_tail =
        have_tail &&
        (!have_index || SortsBefore(tail[from_tail]->event.occurred_at, tail[from_tail]->position,
                                    rows[from_index].first, rows[from_index].second));
    if (take_tail) {
      const TailEvent& event = *tail[from_tail++];
      page.events.push_back(
          StoredEvent{core::EncodeEvent(event.event), event.event.occurred_at, event.position});
    } else {
      const auto [time, position] = rows[from_index++];
      page.events.push_back(StoredEvent{std::string(), time, position});
      from_log.push_back(page.events.size() - 1);
    }
  }
  EVIDENT_RETURN_IF_ERROR(ReadPageBodies(page.events, from_log));
  if (more && !page.events.empty()) {
    page.next = core::Cursor{page.events.back().occurred_at, page.events.back().position};
  }
  return page;
}

// Counts into `histogram` the partition's matches of a search whose match holds its whole filter
// (PartitionQuery::counts_by_match) from the full-text index: a match whose chunk of positions
// lies inside one bucket (position_times) counts there without its row being read, and one whose
// chunk lies outside the chart's range is passed over. Events arrive roughly in time order, so
// nearly every chunk does one or the other; the rest (a backfill's, or a chunk across a bucket's
// or the range's edge) are looked up by position. Looking every match up took 0.7 s for a word in
// 900,000 events of the largest tenant at 10M.
Status CountMatchesOverTime(Snapshot::Part& part, const PartitionQuery& query,
                            const HistogramLayout& layout, Histogram& histogram) {
  Db& db = *part.db;
  // Each chunk's bucket, or kLookUp when its matches must be looked up one by one, or kOutside
  // when they all lie outside the chart's range.
  constexpr int kLookUp = -1, kOutside = -2;
  std::vector<std::pair<int64_t, int>> chunks;  // (chunk, bucket), by chunk
  {
    EVIDENT_ASSIGN_OR_RETURN(
        std::unique_ptr<Statement> select,
        db.PrepareOnce("SELECT chunk, first_at, last_at FROM position_times ORDER BY chunk"));
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      const util::UnixMillis first = select->ColumnInt(1), last = select->ColumnInt(2);
      int bucket = kLookUp;
      if (last < histogram.from || first >= histogram.to) {
        bucket = kOutside;
      } else if (first >= histogram.from && last < histogram.to &&
                 layout.BucketOf(first) == layout.BucketOf(last)) {
        bucket = layout.BucketOf(first);
      }
      chunks.emplace_back(select->ColumnInt(0), bucket);
    }
  }
  EVIDENT_ASSIGN_OR_RETURN(
      std::unique_ptr<Statement> matches,
      db.PrepareOnce("SELECT rowid FROM search WHERE search MATCH ?1 ORDER BY rowid"));
  matches->Bind(1, query.match);
  std::vector<int64_t> look_up;
  size_t at = 0;
  for (;;) {
    EVIDENT_ASSIGN_OR_RETURN(bool row, matches->Step());
    if (!row) break;
    const int64_t position = matches->ColumnInt(0);  // ascending
    const int64_t chunk = position >> kChunkBits;
    while (at < chunks.size() && chunks[at].first < chunk) ++at;
    const int bucket =
        at < chunks.size() && chunks[at].first == chunk ? chunks[at].second : kLookUp;
    if (bucket >= 0) {
      ++histogram.buckets[static_cast<size_t>(bucket)].count;
    } else if (bucket == kLookUp) {
      look_up.push_back(position);
    }
  }
  EVIDENT_ASSIGN_OR_RETURN(Statement * time_of,
                           db.Prepare("SELECT occurred_at FROM events WHERE position = ?1"));
  for (int64_t position : look_up) {
    time_of->Reset();
    time_of->Bind(1, position);
    EVIDENT_ASSIGN_OR_RETURN(bool row, time_of->Step());
    if (row) CountInto(histogram, layout, time_of->ColumnInt(0));
  }
  time_of->Reset();
  return {};
}

Result<Histogram> SqliteEventStore::CountOverTime(const core::Filter& filter, int buckets) {
  if (closed_) return Error::Unavailable("event store is closed");
  if (buckets < 1 || buckets > kMaxHistogramBuckets) {
    return MakeHistogramLayout(0, 0, buckets).error();
  }
  EVIDENT_ASSIGN_OR_RETURN(Snapshot snapshot, TakeSnapshot(filter, std::nullopt));
  const bool needs_recheck = NeedsRecheck(filter);
  std::vector<util::UnixMillis> times;  // of rechecked candidates, or of the tail
  if (needs_recheck) {
    EVIDENT_ASSIGN_OR_RETURN(auto candidates, RecheckedMatches(snapshot, filter));
    for (const auto& [time, position] : *candidates) times.push_back(time);
  }
  for (const TailEvent* event : snapshot.tail) times.push_back(event->event.occurred_at);
  std::optional<util::UnixMillis> min_time, max_time;
  for (util::UnixMillis time : times) {
    min_time = std::min(min_time.value_or(time), time);
    max_time = std::max(max_time.value_or(time), time);
  }
  // Each week's filter, translated once for the range's ends and the counts.
  std::vector<PartitionQuery> queries;
  if (!needs_recheck) {
    queries.reserve(snapshot.parts.size());
    for (Snapshot::Part& part : snapshot.parts) {
      EVIDENT_ASSIGN_OR_RETURN(queries.emplace_back(), Translate(part, filter));
    }
    // A range the filter leaves open ends at its earliest or latest match: in the oldest or the
    // newest week with one (weeks hold disjoint times; snapshot.parts is newest first).
    auto edge = [&](bool latest) -> Result<std::optional<util::UnixMillis>> {
      const size_t weeks = snapshot.parts.size();
      for (size_t n = 0; n < weeks; ++n) {
        const size_t i = latest ? n : weeks - 1 - n;
        if (queries[i].empty) continue;
        EVIDENT_ASSIGN_OR_RETURN(auto time,
                                 EdgeMatchTime(snapshot.parts[i], queries[i], filter, latest));
        if (time) return time;
      }
      return std::optional<util::UnixMillis>();
    };
    if (!filter.from) {
      EVIDENT_ASSIGN_OR_RETURN(auto earliest, edge(false));
      if (earliest) min_time = std::min(min_time.value_or(*earliest), *earliest);
    }
    if (!filter.to) {
      EVIDENT_ASSIGN_OR_RETURN(auto latest, edge(true));
      if (latest) max_time = std::max(max_time.value_or(*latest), *latest);
    }
  }
  EVIDENT_ASSIGN_OR_RETURN(auto started, ZeroHistogram(filter, min_time, max_time, buckets));
  auto& [histogram, layout] = started;
  for (util::UnixMillis time : times) CountInto(histogram, layout, time);
  if (needs_recheck || layout.count == 0) return histogram;
  // Whole-hour buckets start on the hour, so every span of an hour count falls in one bucket.
  const bool hour_buckets = layout.interval_ms % kMillisPerHour == 0;
  for (size_t i = 0; i < snapshot.parts.size(); ++i) {
    Snapshot::Part& part = snapshot.parts[i];
    PartitionQuery& query = queries[i];
    if (query.empty) continue;
    // Types and statuses without actions: the same conditions hold on the hour counts by type.
    if (query.counts == &kDayCounts && filter.actions.empty()) query.counts = &kHourTypeCounts;
    if (query.counts == &kDayTotals && filter.actions.empty()) query.counts = &kHourTypeTotals;
    // A workspace, resource type or method: the same conditions hold on the hour counts by term.
    if (query.counts == &kFacetCounts && filter.ips.empty()) query.counts = &kHourFacetCounts;
    if (query.counts != nullptr && query.counts->unit_ms == kMillisPerHour && hour_buckets) {
      EVIDENT_ASSIGN_OR_RETURN(auto spans, CountBySpans(part, query, histogram.from, histogram.to));
      for (const auto& [time, count] : spans) {
        histogram.buckets[static_cast<size_t>(layout.BucketOf(time))].count += count;
      }
      continue;
    }
    if (query.counts_by_match) {
      EVIDENT_RETURN_IF_ERROR(CountMatchesOverTime(part, query, layout, histogram));
      continue;
    }
    const std::string bucket_sql = "(occurred_at - " + std::to_string(layout.first_start) + ") / " +
                                   std::to_string(layout.interval_ms);
    EVIDENT_ASSIGN_OR_RETURN(
        std::unique_ptr<Statement> select,
        part.db->PrepareOnce("SELECT " + bucket_sql + ", count(*) FROM " + query.events +
                             " WHERE 1" + query.where +
                             " AND occurred_at >= " + std::to_string(histogram.from) +
                             " AND occurred_at < " + std::to_string(histogram.to) + " GROUP BY 1"));
    if (!query.match.empty()) select->Bind(1, query.match);
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      const int64_t bucket = select->ColumnInt(0);
      if (bucket < 0 || bucket >= layout.count) return Error::Internal("histogram bucket");
      histogram.buckets[static_cast<size_t>(bucket)].count +=
          static_cast<uint64_t>(select->ColumnInt(1));
    }
  }
  return histogram;
}

Result<StoredEvent> SqliteEventStore::Get(std::string_view tenant, std::string_view id) {
  if (closed_) return Error::Unavailable("event store is closed");
  int64_t position = 0;
  {
    EVIDENT_ASSIGN_OR_RETURN(ConnectionPool::Lease db, log_readers_->Acquire());
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * select,
        db->Prepare("SELECT i.position FROM tenants t JOIN event_ids i "
                    "ON i.tenant_id = t.tenant_id WHERE t.name = ? AND i.id = ?"));
    select->Bind(1, tenant);
    BindId(*select, 2, id);
    EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
    if (found) position = select->ColumnInt(0);
    select->Reset();
    if (!found)
      return Error::NotFound("no event " + std::string(id) + " in tenant " + std::string(tenant));
  }
  StoredEvent stored;
  stored.position = position;
  EVIDENT_ASSIGN_OR_RETURN(stored.json, ReadBody(position));
  EVIDENT_ASSIGN_OR_RETURN(core::Event event, core::DecodeStoredEvent(stored.json));
  stored.occurred_at = event.occurred_at;
  return stored;
}

// The tenant's id and tree size (its committed event count). Errors: NotFound without events.
Result<std::pair<int64_t, uint64_t>> SqliteEventStore::FindTenant(Db& db, std::string_view tenant) {
  EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                           db.Prepare("SELECT tenant_id, next_seq FROM tenants WHERE name = ?"));
  select->Bind(1, tenant);
  EVIDENT_ASSIGN_OR_RETURN(bool found, select->Step());
  const int64_t tenant_id = found ? select->ColumnInt(0) : 0;
  const int64_t size = found ? select->ColumnInt(1) : 0;
  select->Reset();
  if (size <= 0) return Error::NotFound("no log for tenant " + std::string(tenant));
  return std::make_pair(tenant_id, static_cast<uint64_t>(size));
}

Result<std::vector<TreeHead>> SqliteEventStore::TreeHeads() {
  if (closed_) return Error::Unavailable("event store is closed");
  EVIDENT_ASSIGN_OR_RETURN(ConnectionPool::Lease db, log_readers_->Acquire());
  EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                           db->Prepare("SELECT name, next_seq FROM tenants WHERE next_seq > 0"));
  std::vector<TreeHead> heads;
  EVIDENT_RETURN_IF_ERROR(select->ForEachRow([&]() -> Result<bool> {
    heads.push_back(
        {std::string(select->ColumnText(0)), static_cast<uint64_t>(select->ColumnInt(1))});
    return true;
  }));
  return heads;
}

Result<TreeView> SqliteEventStore::OpenTree(std::string_view tenant) {
  if (closed_) return Error::Unavailable("event store is closed");
  EVIDENT_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, log_readers_->Acquire());
  auto db = std::make_shared<ConnectionPool::Lease>(std::move(lease));
  EVIDENT_ASSIGN_OR_RETURN(auto found, FindTenant(**db, tenant));
  // Tiles only grow (a partial tile is replaced by a longer one), so reading them after the size
  // in separate statements is safe.
  auto reader = std::make_shared<TileReader>(**db, found.first);
  TreeView view;
  view.size = found.second;
  view.nodes = [db, reader](int level, uint64_t index) { return reader->Node(level, index); };
  return view;
}

Result<std::vector<std::string>> SqliteEventStore::Entries(std::string_view tenant, uint64_t start,
                                                           uint64_t end) {
  if (closed_) return Error::Unavailable("event store is closed");
  std::vector<int64_t> positions;
  {
    EVIDENT_ASSIGN_OR_RETURN(ConnectionPool::Lease db, log_readers_->Acquire());
    EVIDENT_ASSIGN_OR_RETURN(auto found, FindTenant(*db, tenant));
    if (start > end || end > found.second) {
      return Error::InvalidArgument("entries [" + std::to_string(start) + ", " +
                                    std::to_string(end) + ") are not in a tree of size " +
                                    std::to_string(found.second));
    }
    TileReader reader(*db, found.first);
    EVIDENT_ASSIGN_OR_RETURN(positions, reader.Positions(start, end));
  }
  // A tenant's leaves are in position order: read in log order, past the block cache, like a
  // recheck (a verifier's thousand entries would only push the pages' blocks out of it).
  std::vector<std::string> entries;
  entries.reserve(positions.size());
  EVIDENT_RETURN_IF_ERROR(ReadEvents(positions, [&](int64_t, std::string_view json) -> Status {
    entries.emplace_back(json);
    return {};
  }));
  return entries;
}

Status SqliteEventStore::AddCheckpoint(std::string_view tenant,
                                       const StoredCheckpoint& checkpoint) {
  if (closed_) return Error::Unavailable("event store is closed");
  std::lock_guard lock(writer_mu_);
  auto state = tenants_.find(std::string(tenant));
  if (state == tenants_.end() || state->second.next_seq == 0) {
    return Error::NotFound("no log for tenant " + std::string(tenant));
  }
  Db& db = *log_writer_;
  EVIDENT_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto write = [&]() -> Status {
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * latest,
        db.Prepare("SELECT coalesce(max(size), 0) FROM checkpoints WHERE tenant_id = ?"));
    latest->Bind(1, state->second.tenant_id);
    EVIDENT_RETURN_IF_ERROR(latest->Step());
    const auto latest_size = static_cast<uint64_t>(latest->ColumnInt(0));
    latest->Reset();
    if (checkpoint.size <= latest_size || checkpoint.size > state->second.next_seq) {
      return Error(util::ErrorCode::kConflict,
                   "a checkpoint of size " + std::to_string(checkpoint.size) +
                       " does not extend the latest one within the tree");
    }
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * insert,
        db.Prepare("INSERT INTO checkpoints(tenant_id, size, root, note, signed_at) "
                   "VALUES(?, ?, ?, ?, ?)"));
    insert->Bind(1, state->second.tenant_id)
        .Bind(2, static_cast<int64_t>(checkpoint.size))
        .BindBlob(3, std::span<const char>(reinterpret_cast<const char*>(checkpoint.root.data()),
                                           checkpoint.root.size()))
        .Bind(4, checkpoint.note)
        .Bind(5, checkpoint.signed_at);
    return insert->Run();
  };
  Status written = write();
  if (written) written = db.Exec("COMMIT");
  if (!written) (void)db.Exec("ROLLBACK");
  return written;
}

Result<std::vector<StoredCheckpoint>> SqliteEventStore::Checkpoints(
    std::string_view tenant, std::optional<uint64_t> below_size, size_t limit) {
  if (closed_) return Error::Unavailable("event store is closed");
  EVIDENT_ASSIGN_OR_RETURN(ConnectionPool::Lease db, log_readers_->Acquire());
  EVIDENT_ASSIGN_OR_RETURN(auto found, FindTenant(*db, tenant));
  EVIDENT_ASSIGN_OR_RETURN(
      Statement * select,
      db->Prepare("SELECT size, root, note, signed_at FROM checkpoints WHERE tenant_id = ? AND "
                  "size < ? ORDER BY size DESC LIMIT ?"));
  select->Bind(1, found.first)
      .Bind(2, below_size ? static_cast<int64_t>(std::min<uint64_t>(*below_size, INT64_MAX))
                          : INT64_MAX)
      .Bind(3, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<StoredCheckpoint> checkpoints;
  EVIDENT_RETURN_IF_ERROR(select->ForEachRow([&]() -> Result<bool> {
    StoredCheckpoint checkpoint;
    checkpoint.size = static_cast<uint64_t>(select->ColumnInt(0));
    const std::string_view root = select->ColumnBlob(1);
    if (root.size() != checkpoint.root.size()) {
      return Error::Corruption("checkpoint " + std::to_string(checkpoint.size) + " of tenant " +
                               std::string(tenant) + ": bad root");
    }
    std::memcpy(checkpoint.root.data(), root.data(), root.size());
    checkpoint.note = std::string(select->ColumnText(2));
    checkpoint.signed_at = select->ColumnInt(3);
    checkpoints.push_back(std::move(checkpoint));
    return true;
  }));
  return checkpoints;
}

void SqliteEventStore::WaitUntilIndexed() {
  const int64_t target = log_position_;
  std::unique_lock lock(tail_mu_);
  ++waiters_;
  tail_cv_.notify_all();
  tail_cv_.wait(lock, [&] { return stopping_ || watermark_ >= target; });
  --waiters_;
}

StoreStats SqliteEventStore::Stats() {
  StoreStats stats;
  stats.log_position = log_position_;
  std::lock_guard lock(tail_mu_);
  stats.indexed_position = watermark_;
  stats.index_failures = index_failures_;
  stats.index_retrying = index_retrying_;
  stats.tail_events = tail_events_;
  stats.tail_bytes = tail_bytes_;
  stats.append_waits = append_waits_;
  stats.append_waiting = append_waiting_;
  stats.append_refusals = append_refusals_;
  return stats;
}

DiskUsage SqliteEventStore::Disk() {
  DiskUsage usage;
  auto size_of = [](const fs::path& path) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    return ec ? 0 : static_cast<uint64_t>(size);
  };
  const fs::path log = fs::path(options_.data_dir) / "log.db";
  usage.log_bytes = size_of(log) + size_of(log.string() + "-wal");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(index_dir_, ec)) {
    usage.index_bytes += size_of(entry.path());
  }
  return usage;
}

void SqliteEventStore::Close() {
  if (closed_.exchange(true)) return;
  {
    std::lock_guard lock(tail_mu_);
    stopping_ = true;
  }
  tail_cv_.notify_all();
  if (indexer_.joinable()) indexer_.join();
}

}  // namespace

Result<std::unique_ptr<EventStore>> OpenSqliteEventStore(const SqliteOptions& options) {
  if (options.data_dir.empty()) return Error::InvalidArgument("data directory: empty");
  auto store = std::make_unique<SqliteEventStore>(options);
  EVIDENT_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<EventStore>(std::move(store));
}

Status RebuildIndex(const std::string& data_dir) {
  std::error_code ec;
  fs::remove_all(fs::path(data_dir) / "index", ec);
  if (ec) return Error::IOError("removing the index: " + ec.message());
  SqliteOptions options;
  options.data_dir = data_dir;
  // Open indexes the whole log, keeping nothing in the tail, and returns its error if a batch
  // fails (the indexer thread would retry it for ever): nothing is left to wait for.
  options.max_tail_events = 0;
  EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<EventStore> store, OpenSqliteEventStore(options));
  const StoreStats stats = store->Stats();
  store->Close();
  if (stats.indexed_position != stats.log_position) {
    return Error::IOError("the indexer stopped before reaching the end of the log");
  }
  return {};
}

}  // namespace evident::storage::sqlite
