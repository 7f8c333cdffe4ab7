// Thread names, as `top -H`, `perf` and debuggers show them, and thread priorities.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "evident/util/result.h"

namespace evident::util {

// Names the calling thread; Linux keeps the first 15 bytes. Never call it on the main thread,
// whose name is the process's.
void NameThisThread(const char* name);

// Lowers the calling thread's scheduling priority by `steps` nice levels (capped at 19), leaving
// the process's other threads as they are: on Linux a nice value belongs to a thread. Lowering
// needs no privilege. Errors: IOError from setpriority.
Status LowerThisThreadPriority(int steps);

// The calling thread's nice value.
int ThisThreadNice();

// Calls `pass` on a thread of its own, named `name`, every `interval` until stopped, and once more
// when stopped, so that what came in since the last pass is not left out. The destructor stops.
// `name` must outlive the thread (a string literal).
class PeriodicThread {
 public:
  PeriodicThread(const char* name, std::chrono::milliseconds interval, std::function<void()> pass);
  ~PeriodicThread();  // Stop()
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Wakes the thread for its last pass and waits for it. Idempotent.
  void Stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace evident::util
