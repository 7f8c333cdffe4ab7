#include "evident/util/uuid.h"

#include <sodium.h>

#include <cstring>
#include <mutex>

namespace evident::util {

void RandomBytes(void* out, size_t size) { randombytes_buf(out, size); }

namespace {

// Random bits for ids, drawn from the system CSPRNG a page at a time: one getrandom call per 256
// ids instead of one per id (ingest makes an id for every event that comes without one).
void IdRandomBytes(uint8_t* out, size_t size) {
  thread_local uint8_t pool[4096];
  thread_local size_t used = sizeof pool;
  if (used + size > sizeof pool) {
    RandomBytes(pool, sizeof pool);
    used = 0;
  }
  std::memcpy(out, pool + used, size);
  std::memset(pool + used, 0, size);  // each random byte is handed out once
  used += size;
}

}  // namespace

std::string NewUuidV7(int64_t unix_millis) {
  static std::mutex mu;
  static int64_t last_millis = 0;
  static uint16_t counter = 0;
  uint8_t bytes[16];
  IdRandomBytes(bytes, sizeof bytes);
  {
    std::lock_guard lock(mu);
    if (unix_millis <= last_millis) {
      unix_millis = last_millis;
      if (++counter > 0x0fff) {  // counter exhausted: borrow the next millisecond
        ++unix_millis;
        counter = bytes[6] & 0x07;
      }
    } else {
      counter = static_cast<uint16_t>(((bytes[6] & 0x07) << 8) | bytes[7]);  // leaves headroom
    }
    last_millis = unix_millis;
  }
  const auto ms = static_cast<uint64_t>(unix_millis);
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  bytes[6] = static_cast<uint8_t>(0x70 | ((counter >> 8) & 0x0f));
  bytes[7] = static_cast<uint8_t>(counter & 0xff);
  bytes[8] = static_cast<uint8_t>(0x80 | (bytes[8] & 0x3f));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0x0f];
  }
  return out;
}

}  // namespace evident::util
