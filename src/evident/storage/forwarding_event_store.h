// An EventStore that forwards every call to another: the base of test doubles that change one
// behaviour (e.g. hold Append at a gate) and keep the rest real.
#pragma once

#include <memory>
#include <utility>

#include "evident/storage/event_store.h"

namespace evident::storage {

class ForwardingEventStore : public EventStore {
 public:
  explicit ForwardingEventStore(std::unique_ptr<EventStore> inner) : inner_(std::move(inner)) {}

  using EventStore::Append;
  std::vector<util::Result<std::vector<Appended>>> Append(std::span<Batch> batches) override {
    return inner_->Append(batches);
  }
  std::unique_ptr<PreparedEvents> Prepare(const std::vector<core::Event>& events) const override {
    return inner_->Prepare(events);
  }
  util::Result<Page> Query(const core::Filter& filter, const std::optional<core::Cursor>& after,
                           size_t limit) override {
    return inner_->Query(filter, after, limit);
  }
  util::Result<Histogram> CountOverTime(const core::Filter& filter, int buckets) override {
    return inner_->CountOverTime(filter, buckets);
  }
  util::Result<StoredEvent> Get(std::string_view tenant, std::string_view id) override {
    return inner_->Get(tenant, id);
  }
  void WaitUntilIndexed() override { inner_->WaitUntilIndexed(); }
  util::Result<std::vector<TreeHead>> TreeHeads() override { return inner_->TreeHeads(); }
  util::Result<TreeView> OpenTree(std::string_view tenant) override {
    return inner_->OpenTree(tenant);
  }
  util::Result<std::vector<std::string>> Entries(std::string_view tenant, uint64_t start,
                                                 uint64_t end) override {
    return inner_->Entries(tenant, start, end);
  }
  util::Status AddCheckpoint(std::string_view tenant, const StoredCheckpoint& checkpoint) override {
    return inner_->AddCheckpoint(tenant, checkpoint);
  }
  util::Result<std::vector<StoredCheckpoint>> Checkpoints(std::string_view tenant,
                                                          std::optional<uint64_t> below_size,
                                                          size_t limit) override {
    return inner_->Checkpoints(tenant, below_size, limit);
  }
  StoreStats Stats() override { return inner_->Stats(); }
  DiskUsage Disk() override { return inner_->Disk(); }
  void Close() override { inner_->Close(); }

 protected:
  EventStore& inner() { return *inner_; }

 private:
  std::unique_ptr<EventStore> inner_;
};

}  // namespace evident::storage
