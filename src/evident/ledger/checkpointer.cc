#include "evident/ledger/checkpointer.h"

#include <spdlog/spdlog.h>

#include "evident/util/thread.h"

namespace evident::ledger {

using util::Error;
using util::Status;

Checkpointer::Checkpointer(storage::EventStore& store, NoteSigner signer,
                           CheckpointerOptions options, const core::Clock& clock)
    : store_(store), signer_(std::move(signer)), options_(std::move(options)), clock_(clock) {}

Checkpointer::~Checkpointer() { Stop(); }

void Checkpointer::Start() {
  std::lock_guard lock(mu_);
  if (thread_ || stopped_) return;
  // One more pass after Stop: nothing grown goes unsigned.
  thread_.emplace("evident-ckpt", std::chrono::milliseconds(options_.interval_ms), [this] {
    if (Status signed_all = SignGrownTrees(); !signed_all) {
      spdlog::error("signing checkpoints: {}", signed_all.error().ToString());
    }
  });
}

void Checkpointer::Stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  thread_.reset();  // its last pass, then joined
}

Status Checkpointer::SignGrownTrees() {
  std::lock_guard lock(sign_mu_);
  EVIDENT_ASSIGN_OR_RETURN(std::vector<storage::TreeHead> heads, store_.TreeHeads());
  Status first_error;
  for (const storage::TreeHead& head : heads) {
    auto known = signed_.find(head.tenant);
    if (known != signed_.end() && known->second >= head.size) continue;
    if (Status signed_tree = SignTree(head.tenant); !signed_tree && first_error) {
      first_error = signed_tree.error();
    }
  }
  return first_error;
}

Status Checkpointer::SignTenant(std::string_view tenant) {
  std::lock_guard lock(sign_mu_);
  return SignTree(std::string(tenant));
}

Status Checkpointer::SignTree(const std::string& tenant) {
  EVIDENT_ASSIGN_OR_RETURN(std::vector<storage::StoredCheckpoint> latest,
                           store_.Checkpoints(tenant, std::nullopt, 1));
  EVIDENT_ASSIGN_OR_RETURN(storage::TreeView tree, store_.OpenTree(tenant));
  if (!latest.empty() && latest[0].size >= tree.size) {
    signed_[tenant] = latest[0].size;
    return {};
  }
  EVIDENT_ASSIGN_OR_RETURN(merkle::Hash root, merkle::RootHash(tree.size, tree.nodes));
  if (!latest.empty()) {
    const storage::StoredCheckpoint& previous = latest[0];
    EVIDENT_ASSIGN_OR_RETURN(std::vector<merkle::Hash> proof,
                             merkle::ConsistencyProof(previous.size, tree.size, tree.nodes));
    if (Status consistent =
            merkle::VerifyConsistency(previous.size, tree.size, proof, previous.root, root);
        !consistent) {
      return Error::Corruption(
          "tenant " + tenant + ": the tree of size " + std::to_string(tree.size) +
          " is not consistent with the checkpoint of size " + std::to_string(previous.size) +
          "; refusing to sign it (" + consistent.error().message() + ")");
    }
  }
  storage::StoredCheckpoint checkpoint;
  checkpoint.size = tree.size;
  checkpoint.root = root;
  checkpoint.signed_at = clock_.NowMillis();
  EVIDENT_ASSIGN_OR_RETURN(checkpoint.note,
                           signer_.Sign(FormatCheckpoint({Origin(tenant), tree.size, root})));
  EVIDENT_RETURN_IF_ERROR(store_.AddCheckpoint(tenant, checkpoint));
  signed_[tenant] = tree.size;
  return {};
}

}  // namespace evident::ledger
