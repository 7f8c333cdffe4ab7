#include "evident/util/thread.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace evident::util {

void NameThisThread(const char* name) {
  const std::string cut = std::string(name).substr(0, 15);
  (void)pthread_setname_np(pthread_self(), cut.c_str());
}

// PRIO_PROCESS with a thread id addresses that one thread on Linux (setpriority(2), "BUGS"):
// POSIX would have it change the whole process, which is not what glibc and the kernel do.
int ThisThreadNice() {
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  return errno == 0 ? nice : 0;
}

Status LowerThisThreadPriority(int steps) {
  if (steps <= 0) return {};
  const int target = std::min(19, ThisThreadNice() + steps);
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), target) != 0) {
    return Error::IOError(std::string("cannot lower the thread's priority: ") +
                          std::strerror(errno));
  }
  return {};
}

PeriodicThread::PeriodicThread(const char* name, std::chrono::milliseconds interval,
                               std::function<void()> pass) {
  thread_ = std::thread([this, name, interval, pass = std::move(pass)] {
    NameThisThread(name);
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait_for(lock, interval, [&] { return stopping_; });
      const bool last = stopping_;
      lock.unlock();
      pass();
      lock.lock();
      if (last) break;
    }
  });
}

PeriodicThread::~PeriodicThread() { Stop(); }

void PeriodicThread::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace evident::util
