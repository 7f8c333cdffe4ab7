#include "bench/thread_usage.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace evident::bench {

std::optional<ThreadTotals> ParseTaskStat(std::string_view line, long ticks_per_second) {
  const size_t open = line.find('(');
  const size_t close = line.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open ||
      ticks_per_second <= 0) {
    return std::nullopt;
  }
  ThreadTotals totals;
  totals.name = std::string(line.substr(open + 1, close - open - 1));
  // After the name come the state (field 3) and fields 4 onwards: utime and stime are fields 14
  // and 15, the 12th and 13th after the name, and nice is field 19, the 17th.
  std::string_view rest = line.substr(close + 1);
  uint64_t ticks = 0;
  for (int field = 1; field <= 17; ++field) {
    const size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(start);
    const std::string_view text = rest.substr(0, rest.find(' '));
    rest.remove_prefix(text.size());
    if (field != 12 && field != 13 && field != 17) continue;
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    if (field == 17) {
      totals.nice = static_cast<int>(value);
    } else if (value >= 0) {
      ticks += static_cast<uint64_t>(value);
    } else {
      return std::nullopt;
    }
  }
  totals.cpu_seconds = static_cast<double>(ticks) / static_cast<double>(ticks_per_second);
  return totals;
}

std::optional<uint64_t> ParseWrittenBytes(std::string_view io) {
  constexpr std::string_view kKey = "wchar:";
  for (size_t at = 0; at < io.size();) {
    const size_t end = std::min(io.find('\n', at), io.size());
    std::string_view line = io.substr(at, end - at);
    at = end + 1;
    if (line.substr(0, kKey.size()) != kKey) continue;
    line.remove_prefix(kKey.size());
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    uint64_t value = 0;
    const auto [stop, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
    if (ec != std::errc() || stop != line.data() + line.size()) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

std::map<pid_t, ThreadTotals> ReadThreads(pid_t pid) {
  namespace fs = std::filesystem;
  const long ticks = sysconf(_SC_CLK_TCK);
  std::map<pid_t, ThreadTotals> threads;
  std::error_code error;
  for (const auto& entry :
       fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
    const std::string tid_text = entry.path().filename().string();
    pid_t tid = 0;
    if (std::from_chars(tid_text.data(), tid_text.data() + tid_text.size(), tid).ec !=
        std::errc()) {
      continue;
    }
    std::string stat_line;
    std::ifstream stat(entry.path() / "stat");
    if (!std::getline(stat, stat_line)) continue;  // ended meanwhile
    std::optional<ThreadTotals> totals = ParseTaskStat(stat_line, ticks);
    if (!totals) continue;
    std::ostringstream io;
    io << std::ifstream(entry.path() / "io").rdbuf();
    totals->written_bytes = ParseWrittenBytes(io.str()).value_or(0);
    threads.emplace(tid, std::move(*totals));
  }
  return threads;
}

std::map<std::string, ThreadUsage> UsageBetween(const std::map<pid_t, ThreadTotals>& before,
                                                const std::map<pid_t, ThreadTotals>& after) {
  std::map<std::string, ThreadUsage> usage;
  for (const auto& [tid, now] : after) {
    const auto then = before.find(tid);
    ThreadUsage& sum = usage[now.name];
    // A thread id reused by a thread of another name is a new thread.
    if (then == before.end() || then->second.name != now.name) {
      sum.cpu_seconds += now.cpu_seconds;
      sum.written_bytes += now.written_bytes;
    } else {
      sum.cpu_seconds += now.cpu_seconds - then->second.cpu_seconds;
      sum.written_bytes += now.written_bytes - then->second.written_bytes;
    }
  }
  return usage;
}

}  // namespace evident::bench
