// Unsigned LEB128 varints, the framing of log blocks (log_block.h) and of the leaf positions in
// level-0 tiles (tiles.h). Hand-written: a dozen lines, and no library in our stack exposes one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace evident::storage::sqlite {

inline void AppendVarint(uint64_t value, std::string& out) {
  do {
    const auto low = static_cast<unsigned char>(value & 0x7f);
    value >>= 7;
    out.push_back(static_cast<char>(value != 0 ? (low | 0x80) : low));
  } while (value != 0);
}

// Reads the varint at bytes[at], advancing `at` past it. False when it is cut short or longer
// than 64 bits.
inline bool ReadVarint(std::string_view bytes, size_t& at, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift <= 63; shift += 7) {
    if (at == bytes.size()) return false;
    const auto byte = static_cast<unsigned char>(bytes[at++]);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace evident::storage::sqlite
