// Time as Evident sees it, injectable so that tests never sleep.
#pragma once

#include <atomic>

#include "evident/util/time.h"

namespace evident::core {

// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual util::UnixMillis NowMillis() const = 0;
};

class SystemClock final : public Clock {
 public:
  util::UnixMillis NowMillis() const override;
  static const SystemClock& Instance();
};

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(util::UnixMillis now) : now_(now) {}
  util::UnixMillis NowMillis() const override { return now_.load(); }
  void Set(util::UnixMillis now) { now_.store(now); }
  void Advance(util::UnixMillis by) { now_.fetch_add(by); }

 private:
  std::atomic<util::UnixMillis> now_;
};

}  // namespace evident::core
