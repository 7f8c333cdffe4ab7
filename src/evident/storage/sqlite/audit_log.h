// The offline audit behind `evident verify --data`: reads a stopped server's log.db without
// trusting anything derived, recomputes every tenant's Merkle tree from the stored events, and
// compares it with the stored leaf hashes and tree, and with each stored checkpoint's root. The
// signatures of the checkpoints are checked by the caller (ledger::NoteVerifier), which storage
// does not know.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "evident/merkle/merkle.h"
#include "evident/util/result.h"

namespace evident::storage::sqlite {

struct AuditedCheckpoint {
  uint64_t size = 0;
  std::string note;
  merkle::Hash stored_root{};
  // The root recomputed from the stored events at this size; nullopt when an event below it is
  // missing or unreadable.
  std::optional<merkle::Hash> recomputed_root;
};

struct TenantAudit {
  std::string tenant;
  uint64_t size = 0;                           // the tree size the log records
  uint64_t events = 0;                         // events of the tenant found in the log
  std::vector<AuditedCheckpoint> checkpoints;  // increasing size
};

struct LogAudit {
  std::vector<TenantAudit> tenants;
  // What does not hold, each naming the tenant and seq (or the log position) concerned.
  std::vector<std::string> problems;
};

// Errors: IOError or Corruption when log.db cannot be read at all; everything else is a problem
// in the report.
util::Result<LogAudit> AuditLog(const std::string& data_dir);

}  // namespace evident::storage::sqlite
