#include "evident/storage/memory/memory_event_store.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "evident/storage/histogram_layout.h"

namespace evident::storage::memory {

using util::Error;
using util::Result;

namespace {

struct Row {
  core::Event event;
  std::string json;
  int64_t position = 0;
};

// (occurred_at DESC, position DESC): true when `row` comes strictly after `cursor`.
bool IsAfter(const Row& row, const core::Cursor& cursor) {
  return row.event.occurred_at < cursor.occurred_at ||
         (row.event.occurred_at == cursor.occurred_at && row.position < cursor.position);
}

StoredEvent ToStored(const Row& row) {
  return StoredEvent{row.json, row.event.occurred_at, row.position};
}

class MemoryEventStore final : public EventStore {
 public:
  using EventStore::Append;
  std::vector<Result<std::vector<Appended>>> Append(std::span<storage::Batch> batches) override {
    std::lock_guard lock(mu_);
    std::vector<Result<std::vector<Appended>>> results;
    results.reserve(batches.size());
    for (storage::Batch& batch : batches) {
      if (closed_) {
        results.emplace_back(Error::Unavailable("event store is closed"));
        continue;
      }
      results.push_back(AppendBatch(batch.events));
    }
    return results;
  }

  Result<Page> Query(const core::Filter& filter, const std::optional<core::Cursor>& after,
                     size_t limit) override {
    std::lock_guard lock(mu_);
    if (closed_) return Error::Unavailable("event store is closed");
    std::vector<const Row*> matches;
    for (const Row& row : rows_) {
      if (filter.Matches(row.event)) matches.push_back(&row);
    }
    std::sort(matches.begin(), matches.end(), [](const Row* a, const Row* b) {
      if (a->event.occurred_at != b->event.occurred_at) {
        return a->event.occurred_at > b->event.occurred_at;
      }
      return a->position > b->position;
    });
    Page page;
    page.total = matches.size();
    auto it = matches.begin();
    if (after) {
      it = std::find_if(matches.begin(), matches.end(),
                        [&](const Row* row) { return IsAfter(*row, *after); });
    }
    for (; it != matches.end() && page.events.size() < limit; ++it) {
      page.events.push_back(ToStored(**it));
    }
    if (it != matches.end() && !page.events.empty()) {
      page.next = core::Cursor{page.events.back().occurred_at, page.events.back().position};
    }
    return page;
  }

  Result<Histogram> CountOverTime(const core::Filter& filter, int buckets) override {
    std::lock_guard lock(mu_);
    if (closed_) return Error::Unavailable("event store is closed");
    std::vector<util::UnixMillis> times;
    for (const Row& row : rows_) {
      if (filter.Matches(row.event)) times.push_back(row.event.occurred_at);
    }
    std::optional<util::UnixMillis> earliest, latest;
    if (!times.empty()) {
      const auto [min_it, max_it] = std::minmax_element(times.begin(), times.end());
      earliest = *min_it;
      latest = *max_it;
    }
    EVIDENT_ASSIGN_OR_RETURN(auto started, ZeroHistogram(filter, earliest, latest, buckets));
    auto& [histogram, layout] = started;
    for (util::UnixMillis time : times) CountInto(histogram, layout, time);
    return histogram;
  }

  Result<StoredEvent> Get(std::string_view tenant, std::string_view id) override {
    std::lock_guard lock(mu_);
    if (closed_) return Error::Unavailable("event store is closed");
    auto it = by_id_.find({std::string(tenant), std::string(id)});
    if (it == by_id_.end()) return Error::NotFound("no event " + std::string(id));
    return ToStored(rows_[it->second]);
  }

  void WaitUntilIndexed() override {}

  StoreStats Stats() override {
    std::lock_guard lock(mu_);
    StoreStats stats;
    stats.log_position = static_cast<int64_t>(rows_.size());
    stats.indexed_position = stats.log_position;
    return stats;
  }

  DiskUsage Disk() override { return {}; }

  Result<std::vector<TreeHead>> TreeHeads() override {
    std::lock_guard lock(mu_);
    if (closed_) return Error::Unavailable("event store is closed");
    std::vector<TreeHead> heads;
    for (const auto& [tenant, tree] : trees_) heads.push_back({tenant, tree.frontier.size()});
    return heads;
  }

  Result<TreeView> OpenTree(std::string_view tenant) override {
    std::lock_guard lock(mu_);
    if (closed_) return Error::Unavailable("event store is closed");
    EVIDENT_ASSIGN_OR_RETURN(const Tree* tree, FindTree(tenant));
    TreeView view;
    view.size = tree->frontier.size();
    view.nodes = [this, tree](int level, uint64_t index) -> Result<merkle::Hash> {
      std::lock_guard node_lock(mu_);
      if (level < 0 || static_cast<size_t>(level) >= tree->levels.size() ||
          index >= tree->levels[level].size()) {
        return Error::Corruption("the tree has no node " + std::to_string(index) + " at level " +
                                 std::to_string(level));
      }
      return tree->levels[level][index];
    };
    return view;
  }

  Result<std::vector<std::string>> Entries(std::string_view tenant, uint64_t start,
                                           uint64_t end) override {
    std::lock_guard lock(mu_);
    if (closed_) return Error::Unavailable("event store is closed");
    EVIDENT_ASSIGN_OR_RETURN(const Tree* tree, FindTree(tenant));
    if (start > end || end > tree->rows.size()) {
      return Error::InvalidArgument("entries [" + std::to_string(start) + ", " +
                                    std::to_string(end) + ") are not in a tree of size " +
                                    std::to_string(tree->rows.size()));
    }
    std::vector<std::string> entries;
    for (uint64_t seq = start; seq < end; ++seq) entries.push_back(rows_[tree->rows[seq]].json);
    return entries;
  }

  util::Status AddCheckpoint(std::string_view tenant, const StoredCheckpoint& checkpoint) override {
    std::lock_guard lock(mu_);
    if (closed_) return Error::Unavailable("event store is closed");
    auto it = trees_.find(tenant);
    if (it == trees_.end()) return Error::NotFound("no log for tenant " + std::string(tenant));
    Tree& tree = it->second;
    if (checkpoint.size > tree.frontier.size() ||
        (!tree.checkpoints.empty() && checkpoint.size <= tree.checkpoints.back().size)) {
      return Error(util::ErrorCode::kConflict,
                   "a checkpoint of size " + std::to_string(checkpoint.size) +
                       " does not extend the latest one within the tree");
    }
    tree.checkpoints.push_back(checkpoint);
    return {};
  }

  Result<std::vector<StoredCheckpoint>> Checkpoints(std::string_view tenant,
                                                    std::optional<uint64_t> below_size,
                                                    size_t limit) override {
    std::lock_guard lock(mu_);
    if (closed_) return Error::Unavailable("event store is closed");
    EVIDENT_ASSIGN_OR_RETURN(const Tree* tree, FindTree(tenant));
    std::vector<StoredCheckpoint> found;
    for (auto it = tree->checkpoints.rbegin(); it != tree->checkpoints.rend(); ++it) {
      if (found.size() == limit) break;
      if (!below_size || it->size < *below_size) found.push_back(*it);
    }
    return found;
  }

  void Close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
  }

 private:
  // All of `batch` or none of it: staged in locals, published only when every event passed.
  Result<std::vector<Appended>> AppendBatch(std::vector<core::Event>& batch) {
    std::map<std::string, uint64_t> next_seq;                          // staged, per tenant touched
    std::map<std::pair<std::string, std::string>, size_t> staged_ids;  // -> index in `fresh`
    std::vector<Row> fresh;
    std::vector<Appended> appended;
    for (size_t index = 0; index < batch.size(); ++index) {
      core::Event& event = batch[index];
      std::pair<std::string, std::string> key{event.tenant, event.id};
      const Row* earlier = nullptr;
      if (auto it = by_id_.find(key); it != by_id_.end()) {
        earlier = &rows_[it->second];
      } else if (auto staged = staged_ids.find(key); staged != staged_ids.end()) {
        earlier = &fresh[staged->second];
      }
      if (earlier != nullptr) {
        if (!core::SameContent(event, earlier->event)) {
          return Error(util::ErrorCode::kConflict,
                       "event " + event.id + " was stored before with different content",
                       {util::FieldError{static_cast<int64_t>(index), "id",
                                         "already used for a different event"}});
        }
        event.seq = earlier->event.seq;
        appended.push_back(Appended{event.id, event.tenant, event.seq, true});
        continue;
      }
      auto [seq_it, inserted] = next_seq.try_emplace(event.tenant, 0);
      if (inserted) {
        auto stored = tenant_next_seq_.find(event.tenant);
        seq_it->second = stored == tenant_next_seq_.end() ? 0 : stored->second;
      }
      event.seq = seq_it->second++;
      Row row;
      row.event = event;
      row.json = core::EncodeEvent(event, core::EncodeMode::kStored);
      row.position = static_cast<int64_t>(rows_.size() + fresh.size()) + 1;
      staged_ids.emplace(std::move(key), fresh.size());
      fresh.push_back(std::move(row));
      appended.push_back(Appended{event.id, event.tenant, event.seq, false});
    }
    for (Row& row : fresh) {
      by_id_.emplace(std::make_pair(row.event.tenant, row.event.id), rows_.size());
      Tree& tree = trees_[row.event.tenant];
      tree.rows.push_back(rows_.size());
      tree.frontier.Append(merkle::HashLeaf(row.json),
                           [&](int level, uint64_t, const merkle::Hash& hash) {
                             if (tree.levels.size() <= static_cast<size_t>(level)) {
                               tree.levels.resize(level + 1);
                             }
                             tree.levels[level].push_back(hash);
                           });
      rows_.push_back(std::move(row));
    }
    for (const auto& [tenant, seq] : next_seq) tenant_next_seq_[tenant] = seq;
    return appended;
  }

  // One tenant's Merkle tree: every node, by level.
  struct Tree {
    merkle::Frontier frontier;
    std::vector<std::vector<merkle::Hash>> levels;
    std::vector<size_t> rows;                   // seq -> rows_ index
    std::vector<StoredCheckpoint> checkpoints;  // increasing size
  };

  Result<const Tree*> FindTree(std::string_view tenant) const {
    auto it = trees_.find(tenant);
    if (it == trees_.end()) return Error::NotFound("no log for tenant " + std::string(tenant));
    return &it->second;
  }

  std::mutex mu_;
  // State below is protected by mu_.
  std::map<std::string, Tree, std::less<>> trees_;
  std::vector<Row> rows_;                                        // rows_[position - 1]
  std::map<std::pair<std::string, std::string>, size_t> by_id_;  // (tenant, id) -> rows_ index
  std::map<std::string, uint64_t> tenant_next_seq_;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<EventStore> NewMemoryEventStore() { return std::make_unique<MemoryEventStore>(); }

}  // namespace evident::storage::memory
