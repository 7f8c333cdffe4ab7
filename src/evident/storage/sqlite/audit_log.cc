#include "evident/storage/sqlite/audit_log.h"

#include <filesystem>
#include <map>

#include "evident/core/event.h"
#include "evident/storage/sqlite/db.h"
#include "evident/storage/sqlite/log_block.h"
#include "evident/storage/sqlite/sqlite_event_store.h"
#include "evident/storage/sqlite/tiles.h"

namespace evident::storage::sqlite {

using util::Error;
using util::Result;

namespace {

// Problems reported per tenant at most, so that a wholesale rewrite stays readable.
constexpr size_t kMaxProblemsPerTenant = 50;

struct TenantState {
  int64_t tenant_id = 0;
  TenantAudit audit;
  merkle::Frontier frontier;
  bool complete = true;  // every leaf so far was recomputed from a stored event
  size_t next_checkpoint = 0;
  size_t problems = 0;
  uint64_t tile_index = UINT64_MAX;  // the level-0 tile cached below
  std::string tile_hashes;
  std::vector<int64_t> tile_positions;
};

class Auditor {
 public:
  explicit Auditor(Db& db) : db_(db) {}

  Result<LogAudit> Run() {
    EVIDENT_RETURN_IF_ERROR(LoadTenants());
    EVIDENT_RETURN_IF_ERROR(ScanBlocks());
    for (auto& [id, tenant] : tenants_) {
      while (tenant.frontier.size() < tenant.audit.size) AppendMissing(tenant);
      CompareStoredTree(tenant);
      report_.tenants.push_back(std::move(tenant.audit));
    }
    return std::move(report_);
  }

 private:
  Result<void> LoadTenants() {
    EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                             db_.Prepare("SELECT tenant_id, name, next_seq FROM tenants"));
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      TenantState& tenant = tenants_[select->ColumnInt(0)];
      tenant.tenant_id = select->ColumnInt(0);
      tenant.audit.tenant = std::string(select->ColumnText(1));
      tenant.audit.size = static_cast<uint64_t>(select->ColumnInt(2));
      by_name_[tenant.audit.tenant] = &tenant;
    }
    select->Reset();
    EVIDENT_ASSIGN_OR_RETURN(
        Statement * checkpoints,
        db_.Prepare(
            "SELECT tenant_id, size, root, note FROM checkpoints ORDER BY tenant_id, size"));
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, checkpoints->Step());
      if (!row) break;
      auto tenant = tenants_.find(checkpoints->ColumnInt(0));
      if (tenant == tenants_.end()) {
        report_.problems.push_back("a checkpoint names tenant id " +
                                   std::to_string(checkpoints->ColumnInt(0)) +
                                   ", which the log does not know");
        continue;
      }
      AuditedCheckpoint checkpoint;
      checkpoint.size = static_cast<uint64_t>(checkpoints->ColumnInt(1));
      const std::string_view root = checkpoints->ColumnBlob(2);
      if (root.size() == merkle::kHashSize) {
        std::copy(root.begin(), root.end(), checkpoint.stored_root.begin());
      }
      checkpoint.note = std::string(checkpoints->ColumnText(3));
      tenant->second.audit.checkpoints.push_back(std::move(checkpoint));
    }
    checkpoints->Reset();
    return {};
  }

  void Problem(TenantState* tenant, std::string text) {
    if (tenant != nullptr) {
      if (++tenant->problems > kMaxProblemsPerTenant) {
        if (tenant->problems == kMaxProblemsPerTenant + 1) {
          report_.problems.push_back("tenant " + tenant->audit.tenant +
                                     ": more problems, not listed");
        }
        return;
      }
    }
    report_.problems.push_back(std::move(text));
  }

  // The stored leaf hash and log position of `seq`, from its level-0 tile.
  bool StoredLeaf(TenantState& tenant, uint64_t seq, merkle::Hash& hash, int64_t& position) {
    const uint64_t index = seq / kTileWidth;
    if (tenant.tile_index != index) {
      tenant.tile_index = index;
      tenant.tile_hashes.clear();
      tenant.tile_positions.clear();
      // Unreadable or damaged: no stored leaf, which the caller reports.
      if (auto tile = ReadTile(db_, tenant.tenant_id, 0, index)) {
        tenant.tile_hashes = std::move(tile->hashes);
        auto positions = DecodeTilePositions(tile->positions);
        if (positions) tenant.tile_positions = std::move(positions).value();
      }
    }
    const size_t at = seq % kTileWidth;
    if ((at + 1) * merkle::kHashSize > tenant.tile_hashes.size() ||
        at >= tenant.tile_positions.size()) {
      return false;
    }
    std::copy_n(tenant.tile_hashes.begin() + static_cast<long>(at * merkle::kHashSize),
                merkle::kHashSize, hash.begin());
    position = tenant.tile_positions[at];
    return true;
  }

  void Append(TenantState& tenant, const merkle::Hash& leaf) {
    tenant.frontier.Append(leaf);
    auto& checkpoints = tenant.audit.checkpoints;
    while (tenant.next_checkpoint < checkpoints.size() &&
           checkpoints[tenant.next_checkpoint].size <= tenant.frontier.size()) {
      AuditedCheckpoint& checkpoint = checkpoints[tenant.next_checkpoint++];
      if (checkpoint.size == tenant.frontier.size() && tenant.complete) {
        checkpoint.recomputed_root = tenant.frontier.Root();
      }
    }
  }

  // The next leaf has no readable stored event: report it, continue with the stored hash.
  void AppendMissing(TenantState& tenant) {
    const uint64_t seq = tenant.frontier.size();
    merkle::Hash stored{};
    int64_t position = 0;
    const bool known = StoredLeaf(tenant, seq, stored, position);
    Problem(
        &tenant,
        "tenant " + tenant.audit.tenant + " seq " + std::to_string(seq) +
            ": missing leaf, no stored event" +
            (known ? " (the tree puts it at log position " + std::to_string(position) + ")" : ""));
    tenant.complete = false;
    Append(tenant, stored);
  }

  void CheckEvent(int64_t position, std::string_view json) {
    auto event = core::DecodeStoredEvent(json);
    if (!event) {
      Problem(nullptr, "log position " + std::to_string(position) +
                           ": the stored event is unreadable (" + event.error().message() + ")");
      return;
    }
    auto found = by_name_.find(event->tenant);
    if (found == by_name_.end()) {
      Problem(nullptr, "log position " + std::to_string(position) + ": tenant " + event->tenant +
                           " is not in the log's tenant list");
      return;
    }
    TenantState& tenant = *found->second;
    ++tenant.audit.events;
    const uint64_t seq = event->seq;
    const std::string where = "tenant " + tenant.audit.tenant + " seq " + std::to_string(seq);
    if (seq >= tenant.audit.size) {
      Problem(&tenant, where + ": beyond the tree size " + std::to_string(tenant.audit.size));
      return;
    }
    if (seq < tenant.frontier.size()) {
      Problem(&tenant, where + ": found again at log position " + std::to_string(position) +
                           " (out of order or duplicated)");
      return;
    }
    while (tenant.frontier.size() < seq) AppendMissing(tenant);
    const merkle::Hash leaf = merkle::HashLeaf(json);
    merkle::Hash stored{};
    int64_t stored_position = 0;
    if (!StoredLeaf(tenant, seq, stored, stored_position)) {
      Problem(&tenant, where + ": the tree has no leaf for it");
    } else {
      if (stored != leaf) {
        Problem(&tenant, where + ": the stored event does not match its leaf hash (altered)");
      }
      if (stored_position != position) {
        Problem(&tenant, where + ": stored at log position " + std::to_string(position) +
                             ", the tree records " + std::to_string(stored_position) + " (moved)");
      }
    }
    Append(tenant, leaf);
  }

  Result<void> ScanBlocks() {
    EVIDENT_ASSIGN_OR_RETURN(Statement * select,
                             db_.Prepare("SELECT first_position, last_position, body FROM blocks "
                                         "ORDER BY first_position"));
    int64_t expected = 1;
    for (;;) {
      EVIDENT_ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      const int64_t first = select->ColumnInt(0);
      const int64_t last = select->ColumnInt(1);
      if (first > expected) {
        Problem(nullptr, "log positions " + std::to_string(expected) + " to " +
                             std::to_string(first - 1) + " are missing");
      } else if (first < expected) {
        Problem(nullptr, "the block at log position " + std::to_string(first) +
                             " overlaps the one before it");
      }
      expected = std::max(expected, last + 1);
      auto block = LogBlock::Decode(first, select->ColumnBlob(2));
      if (!block) {
        Problem(nullptr, "the block of log positions " + std::to_string(first) + " to " +
                             std::to_string(last) + " is damaged: " + block.error().message());
        continue;
      }
      if ((*block)->last_position() != last) {
        Problem(nullptr, "the block at log position " + std::to_string(first) + " holds " +
                             std::to_string((*block)->last_position() - first + 1) +
                             " events, its row says " + std::to_string(last - first + 1));
      }
      for (int64_t position = first; position <= (*block)->last_position(); ++position) {
        CheckEvent(position, (*block)->Event(position));
      }
    }
    select->Reset();
    return {};
  }

  void CompareStoredTree(TenantState& tenant) {
    if (tenant.audit.size == 0 || !tenant.complete) return;
    TileReader reader(db_, tenant.tenant_id);
    auto stored = merkle::RootHash(
        tenant.audit.size, [&](int level, uint64_t index) { return reader.Node(level, index); });
    if (!stored) {
      Problem(&tenant, "tenant " + tenant.audit.tenant +
                           ": the stored tree cannot be read: " + stored.error().message());
    } else if (*stored != tenant.frontier.Root()) {
      Problem(&tenant, "tenant " + tenant.audit.tenant +
                           ": the stored tree's hashes disagree with its events");
    }
  }

  Db& db_;
  LogAudit report_;
  std::map<int64_t, TenantState> tenants_;
  std::map<std::string, TenantState*> by_name_;
};

}  // namespace

Result<LogAudit> AuditLog(const std::string& data_dir) {
  const std::string path = (std::filesystem::path(data_dir) / "log.db").string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Error::IOError("no event log at " + path);
  EVIDENT_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(path, OpenMode::kReadWrite));
  EVIDENT_ASSIGN_OR_RETURN(Statement * format,
                           db->Prepare("SELECT value FROM meta WHERE key = 'format'"));
  EVIDENT_ASSIGN_OR_RETURN(bool has_format, format->Step());
  const int64_t found = has_format ? format->ColumnInt(0) : 0;
  format->Reset();
  // Format 3 differs from 4 only in the key of event_ids, which the audit does not read: it is
  // audited as found, and re-keyed only when a store opens it.
  if (found != kLogFormat && found != kLogFormatIdsByTenant) {
    return Error::Corruption(
        path + " has log format " + std::to_string(found) + "; this build audits formats " +
        std::to_string(kLogFormatIdsByTenant) + " and " + std::to_string(kLogFormat));
  }
  Auditor auditor(*db);
  return auditor.Run();
}

}  // namespace evident::storage::sqlite
