// The storage conformance suite: every EventStore backend must pass every test here, against
// expectations computed independently (Filter::Matches over the generated events, sorted here).
//
// Paging while events arrive (the contract every backend keeps, docs/storage.md): a traversal
// that follows next cursors visits every event that matched when it began exactly once, in
// order; an event appended during the traversal is visited iff it sorts strictly after the
// cursor current when it was appended (an older, backfilled occurred_at), never when it is newer.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "evident/core/event.h"
#include "evident/core/filter.h"
#include "evident/merkle/merkle.h"
#include "evident/storage/event_store.h"
#include "evident/storage/forwarding_event_store.h"
#include "evident/storage/histogram_layout.h"
#include "evident/storage/memory/memory_event_store.h"
#include "evident/storage/sqlite/sqlite_event_store.h"

namespace evident::storage {
namespace {

using core::Event;
using core::Filter;

constexpr util::UnixMillis kBase = 1'746'000'000'000;  // 2025-04-30
constexpr int64_t kDay = 86'400'000;

struct Backend {
  std::string name;
  // Opens (or reopens) the store kept in `dir`.
  std::function<std::unique_ptr<EventStore>(const std::string& dir)> open;
};

const core::FakeClock& TestClock() {
  static const core::FakeClock clock(kBase + 30 * kDay);
  return clock;
}

// The SQLite store with the test clock and `tune` applied to its options.
Backend SqliteBackend(
    std::string name, std::function<void(sqlite::SqliteOptions&)> tune = [](auto&) {}) {
  return {std::move(name), [tune = std::move(tune)](const std::string& dir) {
            sqlite::SqliteOptions options;
            options.data_dir = dir;
            options.clock = &TestClock();
            tune(options);
            auto store = sqlite::OpenSqliteEventStore(options);
            EXPECT_TRUE(store.has_value()) << store.error().ToString();
            return std::move(store).value();
          }};
}

// Prepares every batch before it reaches Append, as the ledger's writer does for the server:
// the events then come with their stored JSON and leaf hashes made ahead, and batches of 64 and
// more with their own compressed blocks.
class PreparingStore final : public ForwardingEventStore {
 public:
  explicit PreparingStore(std::unique_ptr<EventStore> inner)
      : ForwardingEventStore(std::move(inner)) {}
  using ForwardingEventStore::Append;
  std::vector<util::Result<std::vector<Appended>>> Append(std::span<Batch> batches) override {
    for (Batch& batch : batches) {
      if (!batch.prepared) batch.prepared = inner().Prepare(batch.events);
      EXPECT_NE(batch.prepared, nullptr);
    }
    return ForwardingEventStore::Append(batches);
  }
};

std::vector<Backend> Backends() {
  return {
      {"Memory", [](const std::string&) { return memory::NewMemoryEventStore(); }},
      SqliteBackend("Sqlite"),
      // A search's few matches are read through the full-text index whenever they may be, a
      // phrase's candidates are checked on two threads however few, and a filter naming IPs is
      // sought through the index by actor however many actors were seen at them.
      {"SqlitePrepared",
       [](const std::string& dir) -> std::unique_ptr<EventStore> {
         return std::make_unique<PreparingStore>(
             SqliteBackend("", [](sqlite::SqliteOptions& options) {
               options.search_lookup_entries = 0;
               options.recheck_two_threads_from = 1;
               options.ip_actors_max = SIZE_MAX;
             }).open(dir));
       }},
      // The indexer works only while someone waits in WaitUntilIndexed, so queries must merge
      // the index with a large unindexed tail. Its small batches see addresses become shared
      // (more than eight actors) part way through a week, and a filter naming only shared
      // addresses is narrowed to their events' positions however many there are.
      SqliteBackend("SqliteManualIndexer",
                    [](sqlite::SqliteOptions& options) {
                      options.indexer = sqlite::IndexerMode::kOnlyWhenWaitedFor;
                      options.index_batch_events = 333;  // many small index transactions
                      options.shared_ip_lookup_entries = 0;
                    }),
      // Every word search walks the time index for its page (WalkNewestMatches), to the end.
      SqliteBackend("SqliteWalkingSearch",
                    [](sqlite::SqliteOptions& options) {
                      options.search_walk_min_matches = 1;
                      options.search_walk_budget = SIZE_MAX;
                    }),
      // The walk gives up after its first chunk unless that held the page: both plans, mixed.
      // A search naming no tenant matches each word through the prefix of its tenants' tokens.
      SqliteBackend("SqliteWalkGivingUp",
                    [](sqlite::SqliteOptions& options) {
                      options.search_walk_min_matches = 1;
                      options.search_walk_budget = 1;
                      options.search_tenant_tokens = 0;
                    }),
  };
}

// A varied data set: several tenants, users (emails in mixed case), actions, statuses, IPs,
// methods, workspaces, details text, and many occurred_at ties.
class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  Event Make(int64_t number) {
    static const std::vector<std::string> kTenants = {"acme", "globex", "initech", "umbrella"};
    // Some values of several words, one of them with a digit, and words that are also in other
    // fields: a search names them beside a word.
    static const std::vector<std::string> kWorkspaces = {"", "prod", "staging", "staging-2"};
    static const std::vector<std::string> kActions = {"create", "delete",       "login",
                                                      "update", "keys.rotated", "export"};
    static const std::vector<std::string> kResourceTypes = {"",      "wireguard", "user",
                                                            "token", "api key",   "user token"};
    static const std::vector<std::string> kMethods = {"", "GET", "POST", "DELETE"};
    static const std::vector<std::string> kIps = {"", "203.0.113.9", "198.51.100.7", "2001:db8::1"};
    static const std::vector<std::string> kWords = {"alpha", "blue",    "moon",  "office", "tunnel",
                                                    "keys",  "rotated", "green", "river",  "zeta"};
    Event event;
    event.id = "evt-" + std::to_string(number);
    event.id_from_client = true;
    event.tenant = kTenants[Pick(kTenants.size())];
    event.workspace = kWorkspaces[Pick(kWorkspaces.size())];
    event.type = static_cast<core::EventType>(Pick(4));
    event.action = kActions[Pick(kActions.size())];
    event.status = static_cast<core::EventStatus>(Pick(5));
    // Minute resolution over 20 days: plenty of ties on occurred_at.
    event.occurred_at = kBase + static_cast<int64_t>(Pick(20 * 24 * 60)) * 60'000;
    event.occurred_at_from_client = true;
    event.received_at = kBase + 21 * kDay;
    const size_t user = Pick(12);
    if (user != 0) {
      event.actor.id = "u_" + std::to_string(user);
      event.actor.email =
          (user % 2 == 0 ? "User" : "user") + std::to_string(user) + "@" + event.tenant + ".test";
      event.actor.name = "Person " + kWords[user % kWords.size()];
      // Now and then the same person signs in through SSO (another id, the same email), or
      // has no email at all, or a service account acts whose id is an address: a user's email
      // and id are not always a pair.
      const size_t variant = Pick(10);
      if (variant == 0) event.actor.id = "sso|" + std::to_string(user);
      if (variant == 1) event.actor.email.clear();
      if (variant == 2) {
        event.actor.id = "bot" + std::to_string(user) + "@" + event.tenant + ".test";
        event.actor.email.clear();
      }
    }
    event.resource.type = kResourceTypes[Pick(kResourceTypes.size())];
    if (!event.resource.type.empty()) {
      event.resource.id = "r_" + std::to_string(Pick(50));
      event.resource.name = kWords[Pick(kWords.size())] + " " + kWords[Pick(kWords.size())];
    }
    event.request.method = kMethods[Pick(kMethods.size())];
    if (!event.request.method.empty()) {
      event.request.path = "/api/" + (event.resource.type.empty() ? "x" : event.resource.type);
      event.request.status_code = 200;
    }
    event.request.ip = kIps[Pick(kIps.size())];
    // Keys in sorted order: canonical JSON. Key names are also words, which q must not find.
    // Now and then an address in details: a user's own, someone else's that holds it, or one at
    // the end of a sentence (taken from the event's number, so the other fields stay as they were).
    static const std::vector<std::string> kInvitees = {"user3@acme.test", "bob.user3@acme.test",
                                                       "write to USER4@globex.test.",
                                                       "user3@acme.test.example"};
    const std::string invitee =
        number % 7 == 3 ? ",\"invitee\":\"" + kInvitees[(number / 7) % kInvitees.size()] + "\""
                        : "";
    event.details = "{\"comment\":\"" + kWords[Pick(kWords.size())] + " " +
                    kWords[Pick(kWords.size())] + "\"" + invitee +
                    ",\"river\":" + std::to_string(Pick(9)) + "}";
    return event;
  }

 private:
  size_t Pick(size_t count) { return std::uniform_int_distribution<size_t>(0, count - 1)(rng_); }
  std::mt19937_64 rng_;
};

// What the test knows about an event it stored: the event with its seq, and its append order.
struct Known {
  Event event;
  int64_t order = 0;  // increases with position
};

std::string Key(std::string_view tenant, std::string_view id) {
  return std::string(tenant) + "/" + std::string(id);
}

class ConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    // A parameterized test is named "Test/Backend": keep the name before the '/', so that the
    // directory is one level and TearDown removes all of it.
    const std::string_view name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const std::string test(name.substr(0, name.find('/')));
    dir_ = (std::filesystem::path(::testing::TempDir()) /
            ("evident_storage_" + GetParam().name + "_" + test))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = GetParam().open(dir_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    if (store_) store_->Close();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Appends `events` as batches of `batch_size`, `batches_per_call` per Append, and records them.
  void AppendAll(std::vector<Event> events, size_t batch_size = 250, size_t batches_per_call = 4) {
    size_t at = 0;
    while (at < events.size()) {
      std::vector<std::vector<Event>> batches;
      for (size_t b = 0; b < batches_per_call && at < events.size(); ++b) {
        const size_t end = std::min(events.size(), at + batch_size);
        batches.emplace_back(events.begin() + static_cast<long>(at),
                             events.begin() + static_cast<long>(end));
        at = end;
      }
      const std::vector<std::vector<Event>> sent = batches;  // Append may move the events out
      auto results = store_->Append(batches);
      ASSERT_EQ(results.size(), batches.size());
      for (size_t b = 0; b < batches.size(); ++b) {
        ASSERT_TRUE(results[b].has_value()) << results[b].error().ToString();
        ASSERT_EQ(results[b]->size(), sent[b].size());
        for (size_t i = 0; i < sent[b].size(); ++i) {
          Event event = sent[b][i];
          const Appended& ack = (*results[b])[i];
          EXPECT_EQ(ack.id, event.id);
          EXPECT_EQ(ack.tenant, event.tenant);
          if (ack.duplicate) continue;
          EXPECT_EQ(ack.seq, next_seq_[event.tenant]++);
          event.seq = ack.seq;
          known_.emplace(Key(event.tenant, event.id), Known{event, next_order_++});
        }
      }
    }
  }

  // The reference answer: matching known events, newest first, ties by append order.
  std::vector<const Known*> Expected(const Filter& filter) const {
    std::vector<const Known*> matches;
    for (const auto& [key, known] : known_) {
      if (filter.Matches(known.event)) matches.push_back(&known);
    }
    std::sort(matches.begin(), matches.end(), [](const Known* a, const Known* b) {
      if (a->event.occurred_at != b->event.occurred_at) {
        return a->event.occurred_at > b->event.occurred_at;
      }
      return a->order > b->order;
    });
    return matches;
  }

  // Pages through `filter` and returns the keys visited, checking order, cursors and totals.
  std::vector<std::string> Traverse(const Filter& filter, size_t page_size) {
    std::vector<std::string> visited;
    std::optional<core::Cursor> cursor;
    std::optional<StoredEvent> previous;
    const size_t expected_total = Expected(filter).size();
    for (int pages = 0; pages < 100'000; ++pages) {
      auto page = store_->Query(filter, cursor, page_size);
      EXPECT_TRUE(page.has_value()) << page.error().ToString();
      if (!page) break;
      EXPECT_EQ(page->total, expected_total);
      EXPECT_LE(page->events.size(), page_size);
      for (const StoredEvent& stored : page->events) {
        auto event = core::DecodeStoredEvent(stored.json);
        EXPECT_TRUE(event.has_value());
        if (!event) continue;
        EXPECT_EQ(stored.occurred_at, event->occurred_at);
        const std::string key = Key(event->tenant, event->id);
        auto known = known_.find(key);
        EXPECT_NE(known, known_.end()) << key;
        if (known != known_.end()) {
          EXPECT_EQ(stored.json, core::EncodeEvent(known->second.event));
        }
        if (previous) {
          EXPECT_TRUE(previous->occurred_at > stored.occurred_at ||
                      (previous->occurred_at == stored.occurred_at &&
                       previous->position > stored.position));
        }
        previous = stored;
        visited.push_back(key);
      }
      if (!page->next) break;
      EXPECT_FALSE(page->events.empty());
      EXPECT_EQ(page->next->position, page->events.back().position);
      EXPECT_EQ(page->next->occurred_at, page->events.back().occurred_at);
      cursor = page->next;
    }
    return visited;
  }

  // Pages through `filter` while events arrive between pages (newer ones, ones at the cursor's
  // instant, backfills behind it), indexing them every other page: no duplicates, no gaps.
  void PageWhileEventsArrive(const Filter& filter, size_t page_size);

  void ExpectQueryMatches(const Filter& filter, const std::string& what, size_t page_size = 293) {
    SCOPED_TRACE(what);
    std::vector<std::string> expected;
    for (const Known* known : Expected(filter)) {
      expected.push_back(Key(known->event.tenant, known->event.id));
    }
    EXPECT_EQ(Traverse(filter, page_size), expected);
  }

  void ExpectHistogramMatches(const Filter& filter, int buckets, const std::string& what) {
    SCOPED_TRACE(what);
    auto histogram = store_->CountOverTime(filter, buckets);
    ASSERT_TRUE(histogram.has_value()) << histogram.error().ToString();
    const auto expected = Expected(filter);
    uint64_t sum = 0;
    for (const HistogramBucket& bucket : histogram->buckets) sum += bucket.count;
    EXPECT_EQ(sum, expected.size());
    EXPECT_LE(histogram->buckets.size(), static_cast<size_t>(buckets));
    if (expected.empty()) return;
    // Independently: the range is the filter's bounds or the span of the matches.
    const util::UnixMillis from = filter.from ? *filter.from : expected.back()->event.occurred_at;
    const util::UnixMillis to = filter.to ? *filter.to : expected.front()->event.occurred_at + 1;
    EXPECT_EQ(histogram->from, from);
    EXPECT_EQ(histogram->to, to);
    ASSERT_FALSE(histogram->buckets.empty());
    EXPECT_LE(histogram->buckets.front().start, from);
    EXPECT_GE(histogram->buckets.back().start + histogram->interval_ms, to);
    for (size_t i = 0; i < histogram->buckets.size(); ++i) {
      const HistogramBucket& bucket = histogram->buckets[i];
      EXPECT_EQ(bucket.start, histogram->buckets.front().start +
                                  static_cast<int64_t>(i) * histogram->interval_ms);
      const uint64_t count = static_cast<uint64_t>(
          std::count_if(expected.begin(), expected.end(), [&](const Known* known) {
            return known->event.occurred_at >= bucket.start &&
                   known->event.occurred_at < bucket.start + histogram->interval_ms;
          }));
      EXPECT_EQ(bucket.count, count) << "bucket " << i;
    }
  }

  std::vector<Event> Generate(int64_t first, int64_t count, uint64_t seed) {
    Generator generator(seed);
    std::vector<Event> events;
    for (int64_t number = first; number < first + count; ++number) {
      events.push_back(generator.Make(number));
    }
    return events;
  }

  util::UnixMillis TimeOf(std::string_view id) const {
    for (const auto& [key, known] : known_) {
      if (known.event.id == id) return known.event.occurred_at;
    }
    ADD_FAILURE() << "no event " << id;
    return 0;
  }

  uint64_t TotalOf(const Filter& filter) {
    auto page = store_->Query(filter, std::nullopt, 1);
    EXPECT_TRUE(page.has_value());
    return page ? page->total : 0;
  }

  std::string dir_;
  std::unique_ptr<EventStore> store_;
  std::map<std::string, Known> known_;
  std::map<std::string, uint64_t> next_seq_;
  int64_t next_order_ = 0;
};

Filter Parse(std::string_view q) {
  Filter filter;
  auto terms = core::ParseSearch(q);
  EXPECT_TRUE(terms.has_value());
  if (terms) filter.search = *terms;
  return filter;
}

// Filters covering every field of core::Filter, alone and combined.
std::vector<std::pair<std::string, Filter>> FilterCases(util::UnixMillis some_time) {
  std::vector<std::pair<std::string, Filter>> cases;
  auto add = [&](std::string name, auto&& fill) {
    Filter filter;
    fill(filter);
    cases.emplace_back(std::move(name), std::move(filter));
  };
  add("everything", [](Filter&) {});
  add("tenant", [](Filter& f) { f.tenants = {"acme"}; });
  add("two tenants", [](Filter& f) { f.tenants = {"globex", "umbrella"}; });
  add("unknown tenant", [](Filter& f) { f.tenants = {"nobody"}; });
  add("workspace", [](Filter& f) { f.workspaces = {"prod"}; });
  add("type", [](Filter& f) { f.types = {core::EventType::kAuthentication}; });
  add("action", [](Filter& f) { f.actions = {"login", "export"}; });
  add("unknown action", [](Filter& f) { f.actions = {"fly"}; });
  add("resource type", [](Filter& f) { f.resource_types = {"wireguard"}; });
  add("status", [](Filter& f) { f.statuses = {core::EventStatus::kFailure}; });
  add("method", [](Filter& f) { f.methods = {"POST", "DELETE"}; });
  add("user by email, other case", [](Filter& f) { f.users = {"USER3@ACME.TEST"}; });
  add("user by id", [](Filter& f) { f.users = {"u_4"}; });
  add("user by id is exact", [](Filter& f) { f.users = {"U_4"}; });
  add("users mixed", [](Filter& f) { f.users = {"user5@globex.test", "u_6"}; });
  add("user by an email with two ids", [](Filter& f) { f.users = {"user8@acme.test"}; });
  add("user by the other id", [](Filter& f) { f.users = {"sso|8"}; });
  add("user by an id that is an address", [](Filter& f) { f.users = {"bot5@globex.test"}; });
  add("ip", [](Filter& f) { f.ips = {"2001:db8::1"}; });
  add("from inclusive", [&](Filter& f) { f.from = some_time; });
  add("to exclusive", [&](Filter& f) { f.to = some_time; });
  add("from and to", [&](Filter& f) {
    f.from = some_time - 3 * kDay;
    f.to = some_time;
  });
  add("one instant", [&](Filter& f) {
    f.from = some_time;
    f.to = some_time + 1;
  });
  // Tenants and time alone are answered from per-hour counts plus the partial hours at the ends.
  add("tenant, unaligned days", [&](Filter& f) {
    f.tenants = {"acme"};
    f.from = some_time - 3 * kDay - 12'345;
    f.to = some_time + 2 * kDay + 61'000;
  });
  add("two tenants, inside one hour", [&](Filter& f) {
    f.tenants = {"globex", "umbrella"};
    f.from = some_time - 1'000;
    f.to = some_time + 20 * 60'000;
  });
  add("tenant, across one hour boundary", [&](Filter& f) {
    f.tenants = {"initech"};
    f.from = some_time - 50 * 60'000;
    f.to = some_time + 50 * 60'000;
  });
  add("all tenants, unaligned from", [&](Filter& f) { f.from = some_time - 5 * kDay + 7; });
  // Tenants, actions and statuses with time: per-day counts plus the partial days at the ends.
  add("tenant + status, unaligned days", [&](Filter& f) {
    f.tenants = {"acme", "globex"};
    f.statuses = {core::EventStatus::kFailure, core::EventStatus::kPending};
    f.from = some_time - 6 * kDay - 3'333'333;
    f.to = some_time + 4 * kDay + 1'234'567;
  });
  add("action + status inside one day", [&](Filter& f) {
    f.actions = {"login", "update"};
    f.statuses = {core::EventStatus::kSuccess};
    f.from = some_time - 5 * 3'600'000;
    f.to = some_time + 60'000;
  });
  add("tenant + action across one day boundary", [&](Filter& f) {
    f.tenants = {"initech"};
    f.actions = {"create"};
    f.from = some_time - 20 * 3'600'000;
    f.to = some_time + 20 * 3'600'000;
  });
  add("tenant + action + status", [](Filter& f) {
    f.tenants = {"acme"};
    f.actions = {"login"};
    f.statuses = {core::EventStatus::kSuccess, core::EventStatus::kBlocked};
  });
  // Types join actions and statuses in the per-day counts.
  add("tenant + type, unaligned days", [&](Filter& f) {
    f.tenants = {"umbrella"};
    f.types = {core::EventType::kToken};
    f.from = some_time - 4 * kDay - 777;
    f.to = some_time + 3 * kDay + 4'321'000;
  });
  add("type + action + status", [](Filter& f) {
    f.types = {core::EventType::kSession, core::EventType::kActivity};
    f.actions = {"delete"};
    f.statuses = {core::EventStatus::kInitiated};
  });
  // Naming no tenant, the same from the counts summed over every tenant.
  add("type + status, all tenants, unaligned days", [&](Filter& f) {
    f.types = {core::EventType::kAuthentication, core::EventType::kSession};
    f.statuses = {core::EventStatus::kFailure, core::EventStatus::kSuccess};
    f.from = some_time - 8 * kDay - 4'444'444;
    f.to = some_time + 2 * kDay + 55'555;
  });
  // One of workspace, resource type, method and IP: per-day counts by term.
  add("tenant + workspace, unaligned days", [&](Filter& f) {
    f.tenants = {"acme"};
    f.workspaces = {"staging"};
    f.from = some_time - 5 * kDay - 98'765;
    f.to = some_time + 1 * kDay + 3'600'001;
  });
  add("resource types across one day boundary", [&](Filter& f) {
    f.resource_types = {"user", "token"};
    f.from = some_time - 7 * 3'600'000;
    f.to = some_time + 7 * 3'600'000;
  });
  add("tenant + ips, unaligned days", [&](Filter& f) {
    f.tenants = {"initech"};
    f.ips = {"198.51.100.7", "2001:db8::1"};
    f.from = some_time - 3 * kDay - 5'000;
    f.to = some_time + 2 * kDay + 5'000;
  });
  add("tenants + a known and an unknown method", [](Filter& f) {
    f.tenants = {"globex", "initech"};
    f.methods = {"DELETE", "PATCH"};
  });
  add("workspace + method (not counted)", [](Filter& f) {
    f.workspaces = {"prod"};
    f.methods = {"GET"};
  });
  add("method + status (not counted)", [&](Filter& f) {
    f.tenants = {"acme"};
    f.methods = {"POST"};
    f.statuses = {core::EventStatus::kBlocked};
    f.from = some_time - 2 * kDay;
  });
  add("tenant + user + days", [&](Filter& f) {
    f.tenants = {"globex"};
    f.users = {"user7@globex.test"};
    f.from = some_time - 10 * kDay;
  });
  add("everything at once", [&](Filter& f) {
    f.tenants = {"acme", "initech"};
    f.workspaces = {"prod", "staging"};
    f.types = {core::EventType::kActivity, core::EventType::kToken};
    f.actions = {"create", "update"};
    f.resource_types = {"user", "token"};
    f.statuses = {core::EventStatus::kSuccess, core::EventStatus::kPending};
    f.methods = {"GET", "POST"};
    f.ips = {"203.0.113.9", "198.51.100.7"};
    f.from = some_time - 15 * kDay;
    f.to = some_time + 2 * kDay;
  });
  auto add_q = [&](std::string q, std::vector<std::string> tenants = {}) {
    Filter filter = Parse(q);
    filter.tenants = std::move(tenants);
    cases.emplace_back("q " + q, std::move(filter));
  };
  add_q("moon");
  add_q("MOON", {"acme"});
  add_q("rotated keys");
  add_q("\"blue moon\"");
  add_q("\"moon blue\"", {"globex"});
  add_q("river");    // a details key everywhere, a details value sometimes
  add_q("comment");  // only ever a details key
  add_q("acme");     // inside emails
  add_q("person");   // actor names
  add_q("wireguard", {"initech"});
  add_q("login");
  add_q("prod");
  add_q("r_7");      // two adjacent words
  add_q("api");      // request paths
  add_q("nothing");  // no event
  add_q("blu");      // the start of a word matches nothing
  add_q("blu", {"acme"});
  add_q("moo", {"globex", "umbrella"});
  add_q("tunnel", {"initech"});
  // Words with a digit are indexed once for every tenant (search_text.h).
  add_q("user3");
  add_q("USER3", {"acme"});
  add_q("user4", {"acme", "globex"});
  add_q("user3 moon", {"globex"});
  add_q("user3 moon");  // every tenant's token of moon, beside a word of every tenant
  add_q("4 rotated keys");
  add_q("12 blue");
  add_q("4", {"umbrella"});
  add_q("office", {"acme", "umbrella", "nobody"});
  // Words with a time range: partitions wholly inside it (the SQLite store's weeks) are counted
  // by the full-text index alone.
  add("q + tenant, weeks wholly inside", [&](Filter& f) {
    f = Parse("moon");
    f.tenants = {"globex"};
    f.from = kBase - 40 * kDay;
    f.to = kBase + 40 * kDay;
  });
  // Several tenants: one walk per tenant, merged.
  add("q + two tenants, range across weeks", [&](Filter& f) {
    f = Parse("moon");
    f.tenants = {"acme", "globex"};
    f.from = some_time - 20 * kDay;
    f.to = some_time + 15 * kDay;
  });
  // Phrases are checked on each candidate: read through the full-text index, or through the
  // index by actor when a user is named.
  add("phrase + status + tenant", [&](Filter& f) {
    f = Parse("\"rotated keys\"");
    f.statuses = {core::EventStatus::kSuccess, core::EventStatus::kFailure};
    f.tenants = {"acme", "globex"};
  });
  // A user's email: its own token, found whole in the actor or in details (`bob.user3@acme.test`
  // is someone else); beside a phrase, checked on every candidate; quoted, the phrase of its
  // words, whose candidates match on their actor's email alone or are checked.
  add_q("user3@acme.test");
  add_q("USER3@acme.test", {"acme"});
  add_q("user3@acme.test", {"acme", "globex"});
  add_q("bob.user3@acme.test");
  add_q("user4@globex.test", {"globex", "umbrella"});
  add_q("user3@acme.test.example");
  add_q("user3@acme.test moon", {"acme"});
  add_q("nobody@acme.test");
  add_q("USER3@acme.test \"moon blue\"");
  add_q("\"user3@acme.test\"");
  add_q("\"user3@acme.test\"", {"acme"});
  add_q("\"acme test\"", {"acme", "globex"});
  add("phrase + user", [&](Filter& f) {
    f = Parse("\"blue moon\"");
    f.users = {"user3@acme.test", "u_6"};
  });
  add("q + status, no tenant", [&](Filter& f) {
    f = Parse("keys moon");
    f.statuses = {core::EventStatus::kFailure};
  });
  // Statuses and types other than the common ones are tokens in the full-text index: any of those
  // named, or none of those not named when success (activity) is.
  add("q + tenant + failure", [&](Filter& f) {
    f = Parse("moon");
    f.tenants = {"acme"};
    f.statuses = {core::EventStatus::kFailure};
  });
  add("q + tenants + success", [&](Filter& f) {
    f = Parse("moon");
    f.tenants = {"acme", "umbrella"};
    f.statuses = {core::EventStatus::kSuccess};
  });
  add("q + success and pending, no tenant", [&](Filter& f) {
    f = Parse("tunnel");
    f.statuses = {core::EventStatus::kPending, core::EventStatus::kSuccess};
  });
  add("q + every status", [&](Filter& f) {
    f = Parse("keys");
    f.tenants = {"globex"};
    f.statuses = {core::EventStatus::kSuccess, core::EventStatus::kFailure,
                  core::EventStatus::kInitiated, core::EventStatus::kPending,
                  core::EventStatus::kBlocked};
  });
  add("q + tenant + types", [&](Filter& f) {
    f = Parse("blue");
    f.tenants = {"initech"};
    f.types = {core::EventType::kSession, core::EventType::kToken};
  });
  add("q + activity + blocked, no tenant", [&](Filter& f) {
    f = Parse("rotated");
    f.types = {core::EventType::kActivity};
    f.statuses = {core::EventStatus::kBlocked, core::EventStatus::kInitiated};
  });
  add("q of a word with a digit + tenant + status", [&](Filter& f) {
    f = Parse("user3");
    f.tenants = {"acme"};
    f.statuses = {core::EventStatus::kSuccess, core::EventStatus::kBlocked};
  });
  add("phrase + type, no tenant", [&](Filter& f) {
    f = Parse("\"blue moon\"");
    f.types = {core::EventType::kAuthentication};
  });
  add("q + tenant + status, range across weeks", [&](Filter& f) {
    f = Parse("moon");
    f.tenants = {"globex"};
    f.statuses = {core::EventStatus::kFailure, core::EventStatus::kInitiated};
    f.from = some_time - 17 * kDay - 1'234;
    f.to = some_time + 9 * kDay;
  });
  // A user naming no tenant: the words are matched in the tenants the user has events in.
  add("q + user, no tenant", [&](Filter& f) {
    f = Parse("moon");
    f.users = {"USER3@acme.test"};
  });
  // A user named by an address is narrowed to the address's token: the events whose actor's
  // email or id it is, in any case for the email, exactly for the id.
  add("q + a user whose id is an address", [&](Filter& f) {
    f = Parse("moon");
    f.users = {"bot5@globex.test"};
  });
  add("q + a user's id-address in another case, and an email", [&](Filter& f) {
    f = Parse("blue");
    f.users = {"BOT7@globex.test", "user3@ACME.test"};
    f.tenants = {"globex", "acme"};
  });
  add("q + a user id of every tenant + status", [&](Filter& f) {
    f = Parse("keys");
    f.users = {"u_6", "nobody@nowhere.test"};
    f.statuses = {core::EventStatus::kSuccess, core::EventStatus::kPending};
  });
  add("q + users of two tenants, range across weeks", [&](Filter& f) {
    f = Parse("blue");
    f.users = {"user5@globex.test", "user8@initech.test"};
    f.from = some_time - 12 * kDay;
    f.to = some_time + 6 * kDay;
  });
  // An action, workspace, resource type or user beside a word: the words of each value named are
  // in the match too, and the value itself is checked on each candidate.
  add("q + tenant + actions", [&](Filter& f) {
    f = Parse("moon");
    f.tenants = {"acme"};
    f.actions = {"login", "keys.rotated"};
  });
  // Words found only in the values named: the match alone holds them, in the weeks where it
  // holds as many events as the values' counts.
  add("q + tenant + actions whose words are nowhere else", [&](Filter& f) {
    f = Parse("moon");
    f.tenants = {"globex"};
    f.actions = {"login", "export"};
  });
  add("q + workspace, no tenant", [&](Filter& f) {
    f = Parse("blue");
    f.workspaces = {"prod"};
  });
  add("q + tenants + action + status, range across weeks", [&](Filter& f) {
    f = Parse("keys");
    f.tenants = {"acme", "umbrella"};
    f.actions = {"delete"};
    f.statuses = {core::EventStatus::kFailure, core::EventStatus::kSuccess};
    f.from = some_time - 16 * kDay + 777;
    f.to = some_time + 11 * kDay;
  });
  add("q + tenant + a resource type whose words are together nowhere else", [&](Filter& f) {
    f = Parse("moon");
    f.tenants = {"umbrella"};
    f.resource_types = {"user token"};
  });
  add("q + action of two words, no tenant", [&](Filter& f) {
    f = Parse("blue");
    f.actions = {"keys.rotated"};
  });
  add("q + workspaces + resource type, two tenants", [&](Filter& f) {
    f = Parse("keys");
    f.tenants = {"acme", "globex"};
    f.workspaces = {"staging-2", "prod"};
    f.resource_types = {"api key"};
  });
  add("q + a workspace without words", [&](Filter& f) {
    f = Parse("moon");
    f.workspaces = {"", "staging"};
  });
  add("phrase + action holding its words in another order", [&](Filter& f) {
    f = Parse("\"rotated keys\"");
    f.actions = {"keys.rotated", "update"};
  });
  add("q + user + action", [&](Filter& f) {
    f = Parse("moon");
    f.users = {"user3@acme.test", "u_8"};
    f.actions = {"login", "create"};
  });
  add("q with a digit + actions + resource types, range across weeks", [&](Filter& f) {
    f = Parse("user4");
    f.actions = {"update", "create", "delete"};
    f.resource_types = {"wireguard", "api key"};
    f.from = some_time - 13 * kDay;
    f.to = some_time + 8 * kDay;
  });
  add("q, range of three days", [&](Filter& f) {
    f = Parse("tunnel");
    f.from = some_time - 2 * kDay;
    f.to = some_time + kDay;
  });
  return cases;
}

TEST_P(ConformanceTest, AssignsGapFreeSequencePerTenantAndIncreasingPositions) {
  AppendAll(Generate(0, 600, 1), 37, 3);
  auto page = store_->Query(Filter{}, std::nullopt, 1000);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 600u);
  std::map<int64_t, std::string> by_position;
  for (const StoredEvent& stored : page->events) {
    auto event = core::DecodeStoredEvent(stored.json);
    ASSERT_TRUE(event.has_value());
    EXPECT_TRUE(by_position.emplace(stored.position, Key(event->tenant, event->id)).second);
    EXPECT_GE(stored.position, 1);
  }
  int64_t order = 0;
  for (const auto& [position, key] : by_position) {
    EXPECT_EQ(known_.at(key).order, order++) << "position " << position;
  }
  std::map<std::string, uint64_t> count_by_tenant;
  for (const auto& [key, known] : known_) ++count_by_tenant[known.event.tenant];
  EXPECT_EQ(count_by_tenant, next_seq_);
  EXPECT_EQ(store_->Stats().log_position, 600);
}

TEST_P(ConformanceTest, EveryFilterAgreesWithTheReference) {
  // Half indexed, half in the unindexed tail; then all of it indexed.
  AppendAll(Generate(0, 1500, 7));
  store_->WaitUntilIndexed();
  AppendAll(Generate(1500, 1500, 8), 400, 3);
  const util::UnixMillis some_time = TimeOf("evt-100");
  // The data holds what the user cases are about: an email under two ids, an id without email.
  Filter by_email, by_id;
  by_email.users = {"user8@acme.test"};
  by_id.users = {"u_8"};
  std::set<std::string> ids;
  for (const Known* known : Expected(by_email)) ids.insert(known->event.actor.id);
  EXPECT_EQ(ids, (std::set<std::string>{"sso|8", "u_8"}));
  const auto by_id_matches = Expected(by_id);
  EXPECT_TRUE(std::any_of(by_id_matches.begin(), by_id_matches.end(),
                          [](const Known* known) { return known->event.actor.email.empty(); }));
  for (int round = 0; round < 2; ++round) {
    for (const auto& [name, filter] : FilterCases(some_time)) {
      ExpectQueryMatches(filter, name + (round == 0 ? " (with tail)" : " (indexed)"));
    }
    store_->WaitUntilIndexed();
  }
  EXPECT_EQ(store_->Stats().indexed_position, 3000);
}

TEST_P(ConformanceTest, PageSizesAndLimits) {
  AppendAll(Generate(0, 500, 9));
  Filter filter;
  filter.tenants = {"umbrella"};
  for (size_t page_size : {1u, 2u, 20u, 1000u}) {
    ExpectQueryMatches(filter, "page size " + std::to_string(page_size), page_size);
  }
  store_->WaitUntilIndexed();
  Filter search = Parse("moon");
  search.tenants = {"umbrella"};
  for (size_t page_size : {1u, 2u, 20u}) {
    ExpectQueryMatches(search, "search, page size " + std::to_string(page_size), page_size);
  }
  search.tenants = {"umbrella", "acme"};
  for (size_t page_size : {1u, 3u, 20u}) {
    ExpectQueryMatches(search, "search of two tenants, page size " + std::to_string(page_size),
                       page_size);
  }
  auto page = store_->Query(filter, std::nullopt, 0);
  ASSERT_TRUE(page.has_value());
  EXPECT_TRUE(page->events.empty());
  EXPECT_EQ(page->total, Expected(filter).size());
}

TEST_P(ConformanceTest, HistogramsAddUpToTotal) {
  AppendAll(Generate(0, 1200, 11));
  store_->WaitUntilIndexed();
  AppendAll(Generate(1200, 300, 12));
  const util::UnixMillis some_time = TimeOf("evt-100");
  for (int buckets : {1, 7, 60}) {
    for (const auto& [name, filter] : FilterCases(some_time)) {
      ExpectHistogramMatches(filter, buckets, name + " / " + std::to_string(buckets));
    }
  }
  Filter odd;
  odd.from = kBase + 12'345;
  odd.to = kBase + 90 * kDay + 777;
  ExpectHistogramMatches(odd, 60, "90 days, unaligned");
  EXPECT_FALSE(store_->CountOverTime(Filter{}, 0).has_value());
  auto empty = store_->CountOverTime(Parse("nothing"), 10);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->buckets.empty());
}

// Events in arrival order, as services send them, then a backfill of older ones: a search's chart
// can place a run of neighbouring positions in one bucket by their span of times alone, and must
// still place each backfilled event, and each run across a bucket's edge, by its own time.
TEST_P(ConformanceTest, SearchHistogramsOfEventsInArrivalOrder) {
  std::vector<Event> events = Generate(0, 3000, 21);
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.occurred_at < b.occurred_at; });
  AppendAll(std::move(events), 500);
  store_->WaitUntilIndexed();
  AppendAll(Generate(3000, 200, 22), 100);  // times all over the 20 days
  store_->WaitUntilIndexed();
  const util::UnixMillis some_time = TimeOf("evt-100");
  for (const char* q : {"moon", "keys rotated", "user3"}) {
    for (const std::vector<std::string>& tenants :
         {std::vector<std::string>{}, std::vector<std::string>{"acme", "globex"}}) {
      Filter filter = Parse(q);
      filter.tenants = tenants;
      const std::string what =
          std::string("q ") + q + " in " + std::to_string(tenants.size()) + " tenants";
      for (int buckets : {1, 7, 60, 500}) {
        ExpectHistogramMatches(filter, buckets, what + " / " + std::to_string(buckets));
      }
      filter.from = some_time - 3 * kDay - 12'345;
      filter.to = some_time + 2 * kDay;
      ExpectHistogramMatches(filter, 24, what + ", five days");
      filter.statuses = {core::EventStatus::kFailure, core::EventStatus::kBlocked};
      ExpectHistogramMatches(filter, 24, what + ", five days, failed or blocked");
    }
  }
}

TEST_P(ConformanceTest, DuplicatesAreAcknowledgedWithTheirSeqAndStoredOnce) {
  AppendAll(Generate(0, 50, 3));
  std::vector<Event> replay;
  for (const auto& [key, known] : known_) {
    if (known.event.id == "evt-12" || known.event.id == "evt-3") replay.push_back(known.event);
  }
  ASSERT_EQ(replay.size(), 2u);
  replay.push_back(replay[0]);
  for (Event& event : replay) {
    event.seq = 999;         // the store assigns it
    event.received_at += 5;  // not part of the content
  }
  std::vector<std::vector<Event>> batches = {replay};
  auto results = store_->Append(batches);
  ASSERT_TRUE(results[0].has_value()) << results[0].error().ToString();
  for (size_t i = 0; i < replay.size(); ++i) {
    const Appended& ack = (*results[0])[i];
    EXPECT_TRUE(ack.duplicate);
    EXPECT_EQ(ack.seq, known_.at(Key(replay[i].tenant, replay[i].id)).event.seq);
  }
  EXPECT_EQ(TotalOf(Filter{}), 50u);

  // New events repeated inside one batch: stored once, the repeat acknowledged as duplicate.
  Event fresh = Generate(500, 1, 5)[0];
  std::vector<std::vector<Event>> twice = {{fresh, fresh}};
  results = store_->Append(twice);
  ASSERT_TRUE(results[0].has_value());
  EXPECT_FALSE((*results[0])[0].duplicate);
  EXPECT_TRUE((*results[0])[1].duplicate);
  EXPECT_EQ((*results[0])[0].seq, (*results[0])[1].seq);
  EXPECT_EQ(TotalOf(Filter{}), 51u);

  // ...and repeated in a later batch of the same group: the first batch's event is not yet
  // readable from the log, yet the repeat is found, compared and acknowledged.
  Event again = Generate(550, 1, 6)[0];
  Event changed = again;
  changed.action = "changed";
  std::vector<std::vector<Event>> across = {{again}, {again}, {changed}};
  results = store_->Append(across);
  ASSERT_TRUE(results[0].has_value() && results[1].has_value());
  EXPECT_FALSE((*results[0])[0].duplicate);
  EXPECT_TRUE((*results[1])[0].duplicate);
  EXPECT_EQ((*results[1])[0].seq, (*results[0])[0].seq);
  ASSERT_FALSE(results[2].has_value());
  EXPECT_EQ(results[2].error().code(), util::ErrorCode::kConflict);
  EXPECT_EQ(TotalOf(Filter{}), 52u);

  // Sent without occurred_at (so it defaulted to received_at), then resent a minute later.
  Event undated = Generate(600, 1, 7)[0];
  undated.occurred_at_from_client = false;
  undated.occurred_at = undated.received_at;
  std::vector<std::vector<Event>> first = {{undated}};
  ASSERT_TRUE(store_->Append(first)[0].has_value());
  undated.received_at += 60'000;
  undated.occurred_at = undated.received_at;
  std::vector<std::vector<Event>> resend = {{undated}};
  results = store_->Append(resend);
  ASSERT_TRUE(results[0].has_value()) << results[0].error().ToString();
  EXPECT_TRUE((*results[0])[0].duplicate);
  EXPECT_EQ(TotalOf(Filter{}), 53u);
}

TEST_P(ConformanceTest, ConflictRefusesOnlyItsBatch) {
  AppendAll(Generate(0, 40, 3));
  const uint64_t total_before = TotalOf(Filter{});
  Event original = known_.begin()->second.event;
  Event changed = original;
  changed.action = "tampered";
  std::vector<Event> good_before = Generate(100, 5, 21);
  std::vector<Event> doomed = Generate(200, 3, 22);
  doomed.push_back(changed);  // last: everything before it in the batch must be undone
  std::vector<Event> good_after = Generate(300, 4, 23);
  // Same id, different content, both new inside one batch: also a conflict.
  std::vector<Event> self_conflict = Generate(400, 2, 24);
  self_conflict[1].id = self_conflict[0].id;
  self_conflict[1].tenant = self_conflict[0].tenant;
  self_conflict[1].action = "other";
  std::vector<std::vector<Event>> batches = {good_before, doomed, good_after, self_conflict};
  auto results = store_->Append(batches);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_TRUE(results[0].has_value());
  ASSERT_FALSE(results[1].has_value());
  EXPECT_EQ(results[1].error().code(), util::ErrorCode::kConflict);
  ASSERT_TRUE(results[2].has_value());
  ASSERT_FALSE(results[3].has_value());
  EXPECT_EQ(results[3].error().code(), util::ErrorCode::kConflict);
  EXPECT_EQ(TotalOf(Filter{}), total_before + 9);
  for (const Event& event : doomed) {
    if (event.id == original.id) continue;
    auto got = store_->Get(event.tenant, event.id);
    ASSERT_FALSE(got.has_value());
    EXPECT_EQ(got.error().code(), util::ErrorCode::kNotFound);
  }
  EXPECT_FALSE(store_->Get(self_conflict[0].tenant, self_conflict[0].id).has_value());
  auto stored = store_->Get(original.tenant, original.id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->json, core::EncodeEvent(original));
  // Seqs stay gap-free: the refused batches consumed none.
  for (const auto& batch_result : {results[0], results[2]}) {
    for (const Appended& ack : *batch_result) {
      EXPECT_EQ(ack.seq, next_seq_[ack.tenant]++) << ack.tenant;
    }
  }
  store_->WaitUntilIndexed();
  EXPECT_EQ(TotalOf(Filter{}), total_before + 9);
}

TEST_P(ConformanceTest, GetByTenantAndId) {
  AppendAll(Generate(0, 100, 4));
  for (int round = 0; round < 2; ++round) {
    for (const auto& [key, known] : known_) {
      auto stored = store_->Get(known.event.tenant, known.event.id);
      ASSERT_TRUE(stored.has_value()) << key;
      EXPECT_EQ(stored->json, core::EncodeEvent(known.event));
      EXPECT_EQ(stored->occurred_at, known.event.occurred_at);
    }
    const Known& some = known_.begin()->second;
    const std::string other_tenant = some.event.tenant == "acme" ? "globex" : "acme";
    auto missing = store_->Get(other_tenant, some.event.id);
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().code(), util::ErrorCode::kNotFound);
    EXPECT_EQ(store_->Get("acme", "no-such-id").error().code(), util::ErrorCode::kNotFound);
    store_->WaitUntilIndexed();
  }
}

TEST_P(ConformanceTest, AcknowledgedEventIsVisibleToTheNextQuery) {
  AppendAll(Generate(0, 300, 5));
  store_->WaitUntilIndexed();
  for (int number = 1000; number < 1010; ++number) {
    Event event = Generate(number, 1, static_cast<uint64_t>(number))[0];
    event.tenant = "acme";
    event.action = "beacon" + std::to_string(number);
    AppendAll({event});
    Filter filter;
    filter.tenants = {"acme"};
    filter.actions = {event.action};
    auto page = store_->Query(filter, std::nullopt, 20);
    ASSERT_TRUE(page.has_value());
    ASSERT_EQ(page->events.size(), 1u);
    EXPECT_EQ(page->total, 1u);
    EXPECT_TRUE(store_->Get("acme", event.id).has_value());
    auto histogram = store_->CountOverTime(filter, 5);
    ASSERT_TRUE(histogram.has_value());
    uint64_t sum = 0;
    for (const auto& bucket : histogram->buckets) sum += bucket.count;
    EXPECT_EQ(sum, 1u);
  }
}

TEST_P(ConformanceTest, CursorPagingWhileEventsArrive) {
  Filter filter;
  filter.tenants = {"acme", "globex"};
  PageWhileEventsArrive(filter, 37);
}

// A phrase's matches are each confirmed on the event, and a store may keep them between pages
// (the SQLite store's RecheckCache): the events indexed between two pages, backfills into old
// weeks among them, must be added to what it kept, and those still in the tail not twice.
TEST_P(ConformanceTest, PhrasePagingWhileEventsArriveAndAreIndexed) {
  Filter filter = Parse("\"person blue\"");
  filter.tenants = {"acme", "globex"};
  PageWhileEventsArrive(filter, 3);
}

void ConformanceTest::PageWhileEventsArrive(const Filter& filter, size_t page_size) {
  AppendAll(Generate(0, 1000, 13));
  store_->WaitUntilIndexed();
  const auto initial = Expected(filter);
  ASSERT_GT(initial.size(), 10 * page_size);
  std::set<std::string> must_visit;
  for (const Known* known : initial) must_visit.insert(Key(known->event.tenant, known->event.id));
  std::set<std::string> may_visit = must_visit;  // plus backfills behind the cursor

  std::vector<std::string> visited;
  std::optional<core::Cursor> cursor;
  Generator generator(77);
  int64_t number = 50'000;
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = store_->Query(filter, cursor, page_size);
    ASSERT_TRUE(page.has_value());
    EXPECT_EQ(page->total, Expected(filter).size());
    auto histogram = store_->CountOverTime(filter, 7);
    ASSERT_TRUE(histogram.has_value());
    uint64_t counted = 0;
    for (const auto& bucket : histogram->buckets) counted += bucket.count;
    EXPECT_EQ(counted, page->total);
    for (const StoredEvent& stored : page->events) {
      auto event = core::DecodeStoredEvent(stored.json);
      ASSERT_TRUE(event.has_value());
      visited.push_back(Key(event->tenant, event->id));
    }
    if (!page->next) break;
    cursor = page->next;
    // Between pages: one event newer than everything, one at the cursor's own instant (sorts
    // before it: a larger position), and one older than the cursor (a backfill).
    std::vector<Event> arriving;
    for (int kind = 0; kind < 3; ++kind) {
      Event event = generator.Make(number++);
      event.tenant = "acme";
      event.occurred_at = kind == 0   ? kBase + 40 * kDay
                          : kind == 1 ? cursor->occurred_at
                                      : cursor->occurred_at - 60'000;
      if (kind == 2 && filter.Matches(event)) may_visit.insert(Key(event.tenant, event.id));
      arriving.push_back(event);
    }
    AppendAll(arriving);
    // Every other page, what arrived is indexed too (a store whose indexer waits keeps it in
    // its tail otherwise).
    if (pages % 2 == 1) store_->WaitUntilIndexed();
  }
  std::set<std::string> unique(visited.begin(), visited.end());
  EXPECT_EQ(unique.size(), visited.size()) << "duplicates";
  for (const std::string& key : must_visit) EXPECT_TRUE(unique.count(key)) << "gap: " << key;
  for (const std::string& key : unique) EXPECT_TRUE(may_visit.count(key)) << "newer: " << key;
  // Backfills land strictly after the cursor of their time, so every one of them is visited.
  EXPECT_EQ(unique, may_visit);
}

// The reference root of a tenant's tree: RFC 6962 over its known events' stored JSON, in seq
// order, computed here straight from the definition.
merkle::Hash ReferenceRoot(std::span<const merkle::Hash> leaves) {
  if (leaves.empty()) return merkle::EmptyRoot();
  if (leaves.size() == 1) return leaves[0];
  size_t k = 1;
  while (k * 2 < leaves.size()) k *= 2;
  return merkle::HashChildren(ReferenceRoot(leaves.first(k)), ReferenceRoot(leaves.subspan(k)));
}

TEST_P(ConformanceTest, EachTenantsEventsFormItsMerkleTree) {
  // Batches refused (conflicts) and duplicates in between: neither may leave a leaf behind.
  AppendAll(Generate(0, 700, 31), 90, 3);
  std::vector<Event> doomed = Generate(5000, 20, 32);
  Event conflicting = known_.begin()->second.event;
  conflicting.action = "tampered";
  doomed.push_back(conflicting);
  const std::vector<Event> fresh = Generate(700, 30, 31);
  std::vector<std::vector<Event>> mixed = {doomed, Generate(0, 5, 31), fresh};
  auto results = store_->Append(mixed);
  ASSERT_FALSE(results[0].has_value());
  ASSERT_TRUE(results[1].has_value() && results[2].has_value());
  ASSERT_EQ(results[2]->size(), fresh.size());
  for (size_t i = 0; i < fresh.size(); ++i) {
    Event event = fresh[i];
    event.seq = (*results[2])[i].seq;
    EXPECT_EQ(event.seq, next_seq_[event.tenant]++);
    known_.emplace(Key(event.tenant, event.id), Known{event, next_order_++});
  }

  std::map<std::string, std::vector<const Known*>> by_tenant;
  for (const auto& [key, known] : known_) by_tenant[known.event.tenant].push_back(&known);
  auto heads = store_->TreeHeads();
  ASSERT_TRUE(heads.has_value());
  ASSERT_EQ(heads->size(), by_tenant.size());
  for (const TreeHead& head : *heads) {
    auto& events = by_tenant[head.tenant];
    ASSERT_EQ(head.size, events.size()) << head.tenant;
    std::sort(events.begin(), events.end(),
              [](const Known* a, const Known* b) { return a->event.seq < b->event.seq; });
    // Entries are the stored JSON, in seq order, exactly as Get returns it.
    auto entries = store_->Entries(head.tenant, 0, head.size);
    ASSERT_TRUE(entries.has_value()) << entries.error().ToString();
    std::vector<merkle::Hash> leaves;
    for (uint64_t seq = 0; seq < head.size; ++seq) {
      EXPECT_EQ((*entries)[seq], core::EncodeEvent(events[seq]->event)) << seq;
      leaves.push_back(merkle::HashLeaf((*entries)[seq]));
    }
    auto middle = store_->Entries(head.tenant, 3, 7);
    ASSERT_TRUE(middle.has_value());
    EXPECT_EQ(*middle, std::vector<std::string>(entries->begin() + 3, entries->begin() + 7));
    auto tree = store_->OpenTree(head.tenant);
    ASSERT_TRUE(tree.has_value()) << tree.error().ToString();
    ASSERT_EQ(tree->size, head.size);
    const merkle::Hash root = ReferenceRoot(leaves);
    auto stored_root = merkle::RootHash(tree->size, tree->nodes);
    ASSERT_TRUE(stored_root.has_value()) << stored_root.error().ToString();
    EXPECT_EQ(*stored_root, root) << head.tenant;
    for (uint64_t index : {uint64_t{0}, head.size / 2, head.size - 1}) {
      auto proof = merkle::InclusionProof(index, tree->size, tree->nodes);
      ASSERT_TRUE(proof.has_value());
      EXPECT_TRUE(merkle::VerifyInclusion(index, tree->size, leaves[index], *proof, root));
    }
    for (uint64_t from : {uint64_t{1}, head.size / 3, head.size - 1}) {
      if (from == 0) continue;
      auto proof = merkle::ConsistencyProof(from, tree->size, tree->nodes);
      ASSERT_TRUE(proof.has_value());
      EXPECT_TRUE(merkle::VerifyConsistency(from, tree->size, *proof,
                                            ReferenceRoot(std::span(leaves).first(from)), root));
    }
  }
  EXPECT_EQ(store_->OpenTree("nobody").error().code(), util::ErrorCode::kNotFound);
  EXPECT_EQ(store_->Entries("nobody", 0, 0).error().code(), util::ErrorCode::kNotFound);
  const uint64_t acme = by_tenant["acme"].size();
  EXPECT_EQ(store_->Entries("acme", 0, acme + 1).error().code(), util::ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->Entries("acme", 5, 4).error().code(), util::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store_->Entries("acme", acme, acme)->empty());
}

TEST_P(ConformanceTest, ATreeGrowsConsistentlyWithItsPast) {
  AppendAll(Generate(0, 300, 41));
  auto before = store_->OpenTree("acme");
  ASSERT_TRUE(before.has_value());
  const uint64_t old_size = before->size;
  const merkle::Hash old_root = *merkle::RootHash(old_size, before->nodes);
  AppendAll(Generate(300, 900, 42), 7, 5);
  store_->WaitUntilIndexed();
  AppendAll(Generate(1200, 100, 43));
  auto after = store_->OpenTree("acme");
  ASSERT_TRUE(after.has_value());
  ASSERT_GT(after->size, old_size);
  const merkle::Hash new_root = *merkle::RootHash(after->size, after->nodes);
  auto proof = merkle::ConsistencyProof(old_size, after->size, after->nodes);
  ASSERT_TRUE(proof.has_value());
  EXPECT_TRUE(merkle::VerifyConsistency(old_size, after->size, *proof, old_root, new_root));
  // The old view still answers for the old size.
  EXPECT_EQ(*merkle::RootHash(old_size, after->nodes), old_root);
}

TEST_P(ConformanceTest, CheckpointsOnlyGrowAndAreListedNewestFirst) {
  AppendAll(Generate(0, 200, 51));
  const uint64_t size = store_->OpenTree("acme")->size;
  ASSERT_GT(size, 10u);
  auto checkpoint = [](uint64_t at) {
    StoredCheckpoint c;
    c.size = at;
    c.root = merkle::HashLeaf(std::to_string(at));
    c.note = "note " + std::to_string(at) + "\n";
    c.signed_at = kBase + static_cast<int64_t>(at);
    return c;
  };
  ASSERT_TRUE(store_->AddCheckpoint("acme", checkpoint(3)));
  ASSERT_TRUE(store_->AddCheckpoint("acme", checkpoint(7)));
  ASSERT_TRUE(store_->AddCheckpoint("acme", checkpoint(size)));
  EXPECT_EQ(store_->AddCheckpoint("acme", checkpoint(size)).error().code(),
            util::ErrorCode::kConflict);
  EXPECT_EQ(store_->AddCheckpoint("acme", checkpoint(5)).error().code(),
            util::ErrorCode::kConflict);
  EXPECT_EQ(store_->AddCheckpoint("acme", checkpoint(size + 1)).error().code(),
            util::ErrorCode::kConflict);
  EXPECT_EQ(store_->AddCheckpoint("nobody", checkpoint(1)).error().code(),
            util::ErrorCode::kNotFound);
  auto all = store_->Checkpoints("acme", std::nullopt, 10);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].size, size);
  EXPECT_EQ((*all)[0].root, checkpoint(size).root);
  EXPECT_EQ((*all)[0].note, checkpoint(size).note);
  EXPECT_EQ((*all)[0].signed_at, checkpoint(size).signed_at);
  EXPECT_EQ((*all)[2].size, 3u);
  auto page = store_->Checkpoints("acme", 7, 1);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].size, 3u);
  EXPECT_TRUE(store_->Checkpoints("globex", std::nullopt, 10)->empty());
  EXPECT_EQ(store_->Checkpoints("nobody", std::nullopt, 10).error().code(),
            util::ErrorCode::kNotFound);
}

TEST_P(ConformanceTest, EmptyStoreAnswers) {
  auto page = store_->Query(Filter{}, std::nullopt, 20);
  ASSERT_TRUE(page.has_value());
  EXPECT_TRUE(page->events.empty());
  EXPECT_EQ(page->total, 0u);
  EXPECT_FALSE(page->next.has_value());
  auto histogram = store_->CountOverTime(Filter{}, 60);
  ASSERT_TRUE(histogram.has_value());
  EXPECT_TRUE(histogram->buckets.empty());
  store_->WaitUntilIndexed();
  EXPECT_EQ(store_->Stats().log_position, 0);
}

TEST_P(ConformanceTest, ClosedStoreRefuses) {
  AppendAll(Generate(0, 10, 3));
  store_->Close();
  std::vector<std::vector<Event>> batches = {Generate(10, 1, 3)};
  auto results = store_->Append(batches);
  ASSERT_FALSE(results[0].has_value());
  EXPECT_EQ(results[0].error().code(), util::ErrorCode::kUnavailable);
  EXPECT_FALSE(store_->Query(Filter{}, std::nullopt, 5).has_value());
}

INSTANTIATE_TEST_SUITE_P(Backends, ConformanceTest, ::testing::ValuesIn(Backends()),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace evident::storage
