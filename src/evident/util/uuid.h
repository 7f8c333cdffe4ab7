// UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds, then randomness, so that ids sort by time and
// a unique index over them stays append-mostly.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace evident::util {

// Thread-safe. Ids made by one process are strictly increasing, even within one millisecond
// (RFC 9562 §6.2 method 1: a 12-bit counter in rand_a, re-seeded each millisecond).
std::string NewUuidV7(int64_t unix_millis);

// Fills `out` with cryptographically secure random bytes.
void RandomBytes(void* out, size_t size);

}  // namespace evident::util
