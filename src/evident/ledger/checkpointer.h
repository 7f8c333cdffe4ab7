// Signed checkpoints: for every tenant whose tree grew, the Checkpointer signs a C2SP
// tlog-checkpoint (origin "<log name>/<tenant>", size, root) as a signed note and keeps it in the
// store, within a second of the growth. Before signing it proves the new tree consistent with the
// tenant's previous checkpoint, so the log never signs two inconsistent tree heads: a stored tree
// that was rewritten stops being signed and the failure is reported.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "evident/core/clock.h"
#include "evident/ledger/note.h"
#include "evident/storage/event_store.h"
#include "evident/util/result.h"
#include "evident/util/thread.h"

namespace evident::ledger {

struct CheckpointerOptions {
  std::string log_name;   // origin prefix and key name, e.g. "evident/<instance id>"
  int interval_ms = 500;  // how often grown trees are looked for
};

// Thread-safe. `store` and `clock` must outlive the Checkpointer.
class Checkpointer {
 public:
  Checkpointer(storage::EventStore& store, NoteSigner signer, CheckpointerOptions options,
               const core::Clock& clock);
  ~Checkpointer();  // Stop()
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Starts the background thread, which calls SignGrownTrees every interval.
  void Start();
  // Signs what grew one last time, then stops the thread.
  void Stop();

  // Signs a checkpoint for every tenant whose tree is larger than its latest checkpoint. Returns
  // the first error met (the other tenants are still signed). Errors: Corruption when a tree is
  // not consistent with its previous checkpoint; those of the store.
  util::Status SignGrownTrees();

  // Signs the tenant's tree now if it is larger than its latest checkpoint (for an answer that
  // needs a checkpoint covering the newest events). Errors: as SignGrownTrees, NotFound for a
  // tenant without events.
  util::Status SignTenant(std::string_view tenant);

  std::string Origin(std::string_view tenant) const {
    return options_.log_name + "/" + std::string(tenant);
  }
  const NoteSigner& signer() const { return signer_; }

 private:
  util::Status SignTree(const std::string& tenant);  // sign_mu_ held

  storage::EventStore& store_;
  const NoteSigner signer_;
  const CheckpointerOptions options_;
  const core::Clock& clock_;

  std::mutex sign_mu_;                      // one signing pass at a time
  std::map<std::string, uint64_t> signed_;  // tenant -> latest signed size; guarded by sign_mu_

  std::mutex mu_;                               // Start and Stop
  bool stopped_ = false;                        // guarded by mu_
  std::optional<util::PeriodicThread> thread_;  // guarded by mu_
};

}  // namespace evident::ledger
