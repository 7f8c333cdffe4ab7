// How an event's canonical JSON is stored in the log's `body` column (docs/storage.md):
// byte 0 names the codec, the rest is its output.
//   0x00: the JSON as is.
//   0x01: zstd (level 1) with the built-in raw-content dictionary, version 1.
// Bytes 0x02 and 0x03 name log_block.h's layout of events numbered after they were compressed.
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

// The codec's two halves without the codec byte, for layouts that put more before the data
// (log_block.h). AppendCompressed appends the zstd frame (dictionary version 1) of `data` to `out`
// and returns true, or appends nothing and returns false when the frame would not be smaller.
bool AppendCompressed(std::string_view data, std::string& out);
// Errors: Corruption when `frame` is not one frame AppendCompressed wrote.
util::Result<std::string> DecompressFrame(std::string_view frame);
// The same into `buffer`, which only grows (a reader that decompresses many frames neither
// allocates nor zero-fills one each time); the data is the view returned.
util::Result<std::string_view> DecompressFrameInto(std::string_view frame, std::string& buffer);

}  // namespace evident::storage::sqlite
