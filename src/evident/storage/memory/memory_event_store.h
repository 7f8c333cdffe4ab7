// The in-memory EventStore: the reference implementation of every semantic in event_store.h,
// kept simple enough to be obviously correct (one mutex, vectors, Filter::Matches). Used as the
// test fake by other modules and as the oracle the conformance suite holds real backends to.
#pragma once

#include <memory>

#include "evident/storage/event_store.h"

namespace evident::storage::memory {

// Thread-safe (one mutex around everything). Nothing survives the object; there is no index, so
// WaitUntilIndexed returns at once and Stats reports indexed_position == log_position.
std::unique_ptr<EventStore> NewMemoryEventStore();

}  // namespace evident::storage::memory
