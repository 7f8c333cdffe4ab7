// Tests only: a full disk, or one that does not answer, on demand, for SQLite.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

namespace evident::storage::sqlite {

// A SQLite VFS over the default one that fails chosen writes as a full disk does (SQLITE_FULL),
// so that tests can see what the store does when a write fails at a given step. Filling a real
// disk would need a small file system mounted for the test (root), and SQLite's own I/O fault
// injection (test_vfs.c) is part of its test harness, not of the library; hence this shim. While it
// lives it is SQLite's default VFS, so every connection opened meanwhile goes through it; close
// them before it goes.
class FaultVfs {
 public:
  enum class Fail {
    kNothing,
    kEveryWrite,    // every write to a matching file
    kCommitFrames,  // in a matching WAL, the header of each frame that commits a transaction
    kStall,         // every write to a matching file waits, then succeeds, once disarmed
  };

  FaultVfs();
  ~FaultVfs();
  FaultVfs(const FaultVfs&) = delete;
  FaultVfs& operator=(const FaultVfs&) = delete;

  // Fails `what` in the files whose name ends with `suffix` (e.g. ".words.db-wal"), from now on.
  void Arm(std::string suffix, Fail what);
  void Disarm() { Arm("", Fail::kNothing); }
  // Waits until `count` writes have been failed (or stalled) since the start; false after
  // `timeout`.
  bool WaitForFailures(uint64_t count, std::chrono::seconds timeout);
  uint64_t failures();  // writes failed (or stalled) since the start

  // For the shim's callbacks: whether to fail this write to `file` (after waiting, while armed
  // to stall it).
  bool ShouldFail(const char* file, const void* data, int amount);
  sqlite3_vfs* real() const { return real_; }

 private:
  sqlite3_vfs* real_;
  sqlite3_vfs vfs_{};
  std::mutex mu_;
  std::condition_variable failed_;  // a write failed or stalled; or Arm changed what to do
  std::string suffix_;              // guarded by mu_
  Fail what_ = Fail::kNothing;      // guarded by mu_
  uint64_t failures_ = 0;           // guarded by mu_
};

}  // namespace evident::storage::sqlite
