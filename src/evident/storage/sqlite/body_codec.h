// How an event's canonical JSON is stored in the log's `body` column (docs/storage.md):
// byte 0 names the codec, the rest is its output.
//   0x00: the JSON as is.
//   0x01: zstd (level 3) with the built-in raw-content dictionary, version 1.
// Why zstd with a dictionary: events are ~700 bytes, too small for a compressor to learn from one
// event alone; the dictionary holds the keys and common values, so a body shrinks 3-4x. zstd
// prepares the dictionary once (ZSTD_CDict), which zlib cannot (deflateSetDictionary re-hashes it
// for every event), and compresses several times faster at a better ratio.
#pragma once

#include <string>
#include <string_view>

#include "evident/util/result.h"

namespace evident::storage::sqlite {

// Thread-safe (per-thread contexts over a shared, immutable dictionary).
void CompressBody(std::string_view json, std::string& out);

// Errors: Corruption when `body` is not something CompressBody wrote.
util::Result<std::string> DecompressBody(std::string_view body);

}  // namespace evident::storage::sqlite
