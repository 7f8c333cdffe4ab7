// Where a process's CPU and writes go, thread by thread: read from /proc/PID/task/*/stat and
// /proc/PID/task/*/io (proc(5)) at two moments and subtracted, then summed by thread name. The
// benchmark reports it for the window from the start of ingest until the index has caught up, so
// that every run says what each part of the write path costs an event, not only the rates.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace evident::bench {

// One thread's totals since it started.
struct ThreadTotals {
  std::string name;            // its comm, e.g. "evident-writer"
  double cpu_seconds = 0;      // user + system
  uint64_t written_bytes = 0;  // passed to write(2) and pwrite(2): proc(5)'s wchar
  int nice = 0;                // its nice value (proc(5)'s field 19)
};

// What a thread used over a window, summed over the threads of one name.
struct ThreadUsage {
  double cpu_seconds = 0;
  uint64_t written_bytes = 0;
};

// A /proc/PID/task/TID/stat line: the thread's name, its CPU seconds, from utime and stime in
// clock ticks (`ticks_per_second`), and its nice value. The name is the text between the first '('
// and the last ')', since a name may hold spaces and parentheses itself. nullopt for a line not of
// that shape.
std::optional<ThreadTotals> ParseTaskStat(std::string_view line, long ticks_per_second);

// The bytes a /proc/PID/task/TID/io text says were written (its `wchar:` line), or nullopt.
std::optional<uint64_t> ParseWrittenBytes(std::string_view io);

// Every thread of `pid` now, by thread id. A thread that ends while it is read is left out.
std::map<pid_t, ThreadTotals> ReadThreads(pid_t pid);

// What each thread name used between `before` and `after`, by thread id: a thread that started
// in between counts from zero; one that ended before `after` was read is not counted.
std::map<std::string, ThreadUsage> UsageBetween(const std::map<pid_t, ThreadTotals>& before,
                                                const std::map<pid_t, ThreadTotals>& after);

}  // namespace evident::bench
