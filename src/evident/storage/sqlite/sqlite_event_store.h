// The default EventStore: SQLite files in one data directory (format in docs/storage.md).
//
//   DATA/log.db              the event log, the truth: WAL, synchronous=FULL, written only by
//                            Append, event bodies compressed (body_codec.h)
//   DATA/index/state.db      the indexer's watermark: every position up to it is indexed
//   DATA/index/YYYY-MM-DD.db one index partition per UTC week of occurred_at (named by its
//                            Monday): filter columns, composite indexes, counts; derived,
//                            rebuilt from the log
//   DATA/index/YYYY-MM-DD.words.db  the week's full-text index (FTS5) for `q`, likewise
//
// An indexer thread copies events from the log into the partitions in large transactions, while
// a second thread writes the same events' words into the full-text index.
// Events past its watermark (the unindexed tail) are also kept decoded in memory, and every query
// merges them in, so an acknowledged event is visible to the very next query.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "evident/core/clock.h"
#include "evident/storage/event_store.h"
#include "evident/util/result.h"

namespace evident::storage::sqlite {

// The format of log.db this build reads and writes (docs/storage.md). Formats 1 and 2 were never
// released: 1 stored one compressed event per row, 2 added blocks (log_block.h), 3 the Merkle
// tiles (tiles.h) and checkpoints, 4 keyed event_ids by id first (a format-3 log is re-keyed on
// open).
inline constexpr int64_t kLogFormat = 4;
inline constexpr int64_t kLogFormatIdsByTenant = 3;

enum class IndexerMode {
  kBackground,         // indexes as soon as events arrive (production)
  kOnlyWhenWaitedFor,  // indexes only while a caller waits in WaitUntilIndexed (tests: keeps a
                       // large tail); no back-pressure
};

struct SqliteOptions {
  std::string data_dir;                // created if missing
  const core::Clock* clock = nullptr;  // not owned, must outlive the store; nullptr: system clock
  IndexerMode indexer = IndexerMode::kBackground;
  size_t index_batch_events = 50'000;  // events per index transaction at most
  // Back-pressure: Append waits for the indexer while the tail (the events not indexed yet, kept
  // decoded in memory) holds this many events or this many bytes (but not while the indexer
  // waits to retry a batch that failed). The bytes bound the memory whatever the events' size;
  // the events bound how much of the tail a query scans. The bench's events take ~1.5 KB each,
  // so 96 MiB hold ~68,000 of them (docs/benchmarks.md, "The unindexed tail bounded in bytes").
  size_t max_tail_events = 100'000;
  size_t max_tail_bytes = size_t{96} << 20;
  // While the indexer retries a failed batch, Append does not wait for it (the log still takes
  // events: a full index disk may be freed) until the tail holds this many times either bound;
  // then Append fails with Unavailable and stores nothing, so that memory stays bounded however
  // long the index cannot be written.
  size_t retrying_tail_factor = 4;
  // Page cache of the log's writer connection: it appends, touching only its trees' right edges
  // (a few MB), so a larger cache only holds pages it will not read again (32 MiB peaked ~25 MB
  // higher at 10M events; docs/benchmarks.md).
  int log_cache_mib = 16;
  int index_cache_mib = 80;  // page cache of the indexer's connection to each partition's rows
  int words_cache_mib = 16;  // ... and to its full-text index, which it writes as new segments
  int reader_cache_mib = 8;  // page cache of each reader connection
  // A word search that matches at least this many events of a week finds its page by walking
  // the time index newest first, giving up (and reading every match instead) after
  // search_walk_budget events; see WalkNewestMatches. Tests lower them to exercise both plans.
  uint64_t search_walk_min_matches = 1000;
  size_t search_walk_budget = 8192;
  // A search naming no tenant matches a word indexed per tenant through an OR of the tokens of
  // the week's tenants, when it has at most this many; past them, through the prefix of every
  // tenant's token. FTS5 answers a prefix by merging the doclists of all its tokens before it
  // can skip through any of them: beside a rare word, a word in every event cost 100 ms a week
  // that way at 10M events (40 tenants), and 14 ms as an OR, which skips each token's doclist
  // along the rare word's. With many tenants the one merge costs less than a seek in each.
  size_t search_tenant_tokens = 64;
  // What looking up one event by its position costs, in index entries walked in order (a page of
  // the table apart from its neighbours, against the next entry of a page already read): a
  // search's few matches are read so when that is cheaper than walking the tenant's events for
  // them. Tests set 0 to read them so whenever they may.
  uint64_t search_lookup_entries = 32;
  // A filter naming IPs (and no user) is sought through the index by actor when the week's
  // events at those IPs are of at most this many actors (ip_actors; docs/storage.md), and through
  // the tenant's index otherwise. Tests raise it.
  size_t ip_actors_max = 8;
  // What looking up one event at a shared IP (shared_ip_events) costs, in index entries walked in
  // order: such a filter is narrowed to those events' positions when they cost less than walking
  // the tenant's events. Read in position order, neighbouring rows share pages (an address in 1
  // of 15 events of a tenant's week: 2,300 look-ups took 2 ms, the walk of 34,000 entries 6-8 ms).
  // Tests set 0 to narrow whenever they may.
  uint64_t shared_ip_lookup_entries = 4;
  // A phrase search checks its candidates on their events; this many or more of a week, on two
  // threads (fewer are a few ms of work). Tests lower it.
  size_t recheck_two_threads_from = 256;
  // A week the indexer has left stores its words' counts (docs/storage.md), reading this many
  // terms of its full-text index after each batch until done. Tests lower it.
  size_t word_count_terms = 100'000;
  // The indexer checkpoints a week's file once a commit leaves its WAL at least this many pages
  // long (~80 MB): after the commit, outside the lock queries take (docs/storage.md). Tests lower
  // it.
  int index_checkpoint_frames = 20'000;
  // A batch the indexer fails to write (a full disk, an I/O error) is rolled back and tried again,
  // after 100 ms, then twice as long each time up to this. Tests lower it.
  int index_retry_max_ms = 10'000;
  // Benchmarks only: false skips the Merkle tree (to measure what it costs). A store without its
  // tree cannot be verified and its log endpoints answer wrongly; never turn it off in a server.
  bool merkle_log = true;
};

// Opens the store in options.data_dir, creating it when empty. Recovers on its own from a crash:
// the log holds every acknowledged event, and the index catches up from its watermark (when the
// index is missing, damaged or ahead of the log it is rebuilt). Opening blocks while more than
// the tail may hold (max_tail_events, max_tail_bytes) waits to be indexed. Errors: IOError,
// Corruption (the log is damaged). Only one process may open a data directory at a time.
util::Result<std::unique_ptr<EventStore>> OpenSqliteEventStore(const SqliteOptions& options);

// Drops every index file under `data_dir` and rebuilds the index from the log (offline: no store
// may be open on it). Errors: as OpenSqliteEventStore.
util::Status RebuildIndex(const std::string& data_dir);

}  // namespace evident::storage::sqlite
