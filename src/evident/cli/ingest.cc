#include "evident/cli/ingest.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <istream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>

#include "evident/util/strings.h"

namespace evident::cli {
namespace {

constexpr size_t kMaxProblemsShown = 10;
constexpr std::chrono::milliseconds kFirstBackoff{250};
constexpr std::chrono::milliseconds kProgressInterval{100};

std::string LineRange(const NdjsonBatch& batch) {
  if (batch.line_numbers.empty()) return "no lines";
  if (batch.line_numbers.size() == 1) return "line " + std::to_string(batch.line_numbers.front());
  return "lines " + std::to_string(batch.line_numbers.front()) + "-" +
         std::to_string(batch.line_numbers.back());
}

std::string StringField(const nlohmann::json& object, const char* name) {
  auto found = object.find(name);
  if (found == object.end() || !found->is_string()) return {};
  return SanitizeForTerminal(found->get<std::string>());
}

// "line 12: request.status_code: must be an integer" for each error naming an event, and one
// "lines 5-8: 409 Conflict: ..." line for the batch otherwise.
std::vector<std::string> RefusalProblems(const NdjsonBatch& batch, const HttpResponse& response) {
  std::vector<std::string> problems;
  nlohmann::json problem = nlohmann::json::parse(response.body, nullptr, false);
  if (problem.is_object()) {
    auto errors = problem.find("errors");
    if (errors != problem.end() && errors->is_array()) {
      for (const nlohmann::json& entry : *errors) {
        if (!entry.is_object()) continue;
        auto index = entry.find("index");
        std::string where = LineRange(batch);
        if (index != entry.end() && index->is_number_integer()) {
          auto event_index = index->get<int64_t>();
          if (event_index >= 0 && static_cast<size_t>(event_index) < batch.event_count()) {
            where = "line " + std::to_string(batch.line_numbers[event_index]);
          }
        }
        std::string field = StringField(entry, "field");
        problems.push_back(where + ": " + (field.empty() ? "" : field + ": ") +
                           StringField(entry, "message"));
      }
    }
  }
  if (problems.empty()) {
    std::string text = LineRange(batch) + ": " + DescribeErrorResponse(response);
    if (response.status == 413) text += " (try a smaller --batch)";
    problems.push_back(std::move(text));
  }
  return problems;
}

std::chrono::milliseconds RetryDelay(const HttpResponse& response, int attempt,
                                     std::chrono::milliseconds max_wait) {
  std::chrono::milliseconds delay = kFirstBackoff * (1 << std::min(attempt - 1, 16));
  if (auto retry_after = response.Header("retry-after")) {
    // Only the delay-seconds form: Evident sends no HTTP-date, and a proxy that does gets the
    // default backoff.
    std::string_view text = util::Trim(*retry_after);
    if (!text.empty() && text.size() < 9 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      delay = std::chrono::seconds(std::stol(std::string(text)));
    }
  }
  return std::min(delay, max_wait);
}

// Batches from the reading thread to the senders; bounded so that reading never runs far ahead.
class BatchQueue {
 public:
  explicit BatchQueue(size_t capacity) : capacity_(capacity) {}

  // Blocks while full. False when the run is stopping (nothing was queued).
  bool Push(NdjsonBatch batch) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return stopping_ || batches_.size() < capacity_; });
    if (stopping_) return false;
    batches_.push_back(std::move(batch));
    not_empty_.notify_one();
    return true;
  }
  // Blocks until a batch is there; nullopt once closed and drained, or stopping.
  std::optional<NdjsonBatch> Pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return stopping_ || closed_ || !batches_.empty(); });
    if (stopping_ || batches_.empty()) return std::nullopt;
    NdjsonBatch batch = std::move(batches_.front());
    batches_.pop_front();
    not_full_.notify_one();
    return batch;
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }
  // Wakes every waiter, including WaitFor, and makes Push and Pop give up.
  void Stop() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
    stop_.notify_all();
  }
  // Waits for `delay` unless Stop comes first; false when stopping.
  bool WaitFor(std::chrono::milliseconds delay) {
    std::unique_lock lock(mu_);
    return !stop_.wait_for(lock, delay, [&] { return stopping_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::condition_variable stop_;
  std::deque<NdjsonBatch> batches_;
  size_t capacity_;
  bool closed_ = false;
  bool stopping_ = false;
};

// The shared tally of a run. Thread-safe.
class Tally {
 public:
  Tally(std::ostream& err, ShowProgress progress, uint64_t total_bytes)
      : err_(err), progress_(progress), total_bytes_(total_bytes) {}

  void Add(const NdjsonBatch& batch, BatchVerdict verdict) {
    std::lock_guard lock(mu_);
    summary_.accepted += verdict.accepted;
    summary_.duplicate += verdict.duplicate;
    summary_.refused += verdict.refused;
    if (!verdict.problems.empty()) problems_[batch.number] = std::move(verdict.problems);
    bytes_done_ += batch.input_bytes;
    events_done_ += batch.event_count();
    auto now = std::chrono::steady_clock::now();
    if (progress_ == ShowProgress::kYes && now - last_shown_ >= kProgressInterval) {
      last_shown_ = now;
      ShowLocked(now);
    }
  }
  void Fail(std::string message) {
    std::lock_guard lock(mu_);
    if (fatal_.empty()) fatal_ = std::move(message);
  }
  bool failed() {
    std::lock_guard lock(mu_);
    return !fatal_.empty();
  }
  std::string fatal() {
    std::lock_guard lock(mu_);
    return fatal_;
  }
  void FinishProgress() {
    std::lock_guard lock(mu_);
    if (progress_ != ShowProgress::kYes) return;
    ShowLocked(std::chrono::steady_clock::now());
    err_ << '\n' << std::flush;
  }
  IngestSummary Summary() {
    std::lock_guard lock(mu_);
    IngestSummary summary = summary_;
    for (auto& [number, problems] : problems_) {
      for (std::string& problem : problems) summary.problems.push_back(problem);
    }
    return summary;
  }

 private:
  void ShowLocked(std::chrono::steady_clock::time_point now) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - start_);
    err_ << '\r' << FormatProgress(bytes_done_, total_bytes_, events_done_, elapsed) << "\x1b[K"
         << std::flush;
  }

  std::mutex mu_;
  std::ostream& err_;
  const ShowProgress progress_;
  const uint64_t total_bytes_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_shown_;
  IngestSummary summary_;
  std::map<int64_t, std::vector<std::string>> problems_;  // by batch number: input order
  uint64_t bytes_done_ = 0;
  uint64_t events_done_ = 0;
  std::string fatal_;
};

void SendBatches(const IngestOptions& options, BatchQueue& queue, Tally& tally) {
  HttpClient client;
  const std::string url = BuildUrl(options.server.url, "/api/v1/events");
  const std::vector<HttpHeader> headers = AuthHeaders(options.server);
  while (std::optional<NdjsonBatch> batch = queue.Pop()) {
    for (int attempt = 1;; ++attempt) {
      util::Result<HttpResponse> response =
          client.Post(url, batch->body, "application/x-ndjson", headers);
      if (!response) {
        // Not retried: the batch may have been stored, and only events with ids make a second
        // send harmless.
        tally.Fail("cannot reach the server: " + response.error().message());
        queue.Stop();
        return;
      }
      BatchVerdict verdict = JudgeBatchResponse(*batch, *response, attempt, options.max_retry_wait);
      if (verdict.kind == BatchVerdict::Kind::kRetry) {
        if (attempt < options.max_attempts) {
          if (!queue.WaitFor(verdict.retry_after)) return;
          continue;
        }
        verdict.kind = BatchVerdict::Kind::kFatal;
        verdict.message = "server still busy after " + std::to_string(attempt) + " attempts at " +
                          LineRange(*batch) + ": " + DescribeErrorResponse(*response);
      }
      if (verdict.kind == BatchVerdict::Kind::kFatal) {
        tally.Fail(std::move(verdict.message));
        queue.Stop();
        return;
      }
      tally.Add(*batch, std::move(verdict));
      break;
    }
  }
}

std::string WithThousands(uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  for (size_t pos = 0; pos < digits.size(); ++pos) {
    if (pos > 0 && (digits.size() - pos) % 3 == 0) out += ',';
    out += digits[pos];
  }
  return out;
}

}  // namespace

CLI::App* AddIngestCommand(CLI::App& app, IngestOptions& options) {
  CLI::App* command = app.add_subcommand("ingest", "Send NDJSON events to an Evident server");
  command->footer(
      "One JSON object per line; blank lines are skipped. Each batch is stored all-or-nothing;\n"
      "a refused batch is reported with its line numbers. Busy answers (429/502/503/504) are\n"
      "retried after Retry-After. Retrying, and running ingest again after an interruption,\n"
      "stores nothing twice only for events that carry an \"id\" (their idempotency key);\n"
      "events without one may then be stored twice.\n"
      "Exit status: 0 all accepted, 1 some refused, 2 usage, connection or credential error.");
  command->add_option("file", options.input, "NDJSON file, or - for standard input")->required();
  AddServerOptions(*command, options.server);
  command->add_option("--batch", options.batch_size, "Events per request")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100'000}));
  command->add_option("--parallel", options.parallel, "Requests in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  command->add_option("--attempts", options.max_attempts, "Attempts per batch when busy")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  return command;
}

NdjsonBatcher::NdjsonBatcher(std::istream& input, size_t batch_size)
    : input_(input), batch_size_(std::max<size_t>(batch_size, 1)) {}

bool NdjsonBatcher::failed() const { return input_.bad(); }

std::optional<NdjsonBatch> NdjsonBatcher::Next() {
  NdjsonBatch batch;
  batch.number = batch_number_;
  std::string line;
  while (batch.event_count() < batch_size_ && std::getline(input_, line)) {
    ++line_number_;
    uint64_t consumed = line.size() + (input_.eof() ? 0 : 1);
    bytes_read_ += consumed;
    batch.input_bytes += consumed;
    std::string_view text = line;
    if (line_number_ == 1 && text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (util::Trim(text).empty()) continue;
    batch.body.append(text);
    batch.body += '\n';
    batch.line_numbers.push_back(line_number_);
  }
  if (batch.event_count() == 0) return std::nullopt;
  ++batch_number_;
  return batch;
}

std::string IngestSummary::Format() const {
  return "accepted " + std::to_string(accepted) + ", duplicate " + std::to_string(duplicate) +
         ", refused " + std::to_string(refused);
}

BatchVerdict JudgeBatchResponse(const NdjsonBatch& batch, const HttpResponse& response, int attempt,
                                std::chrono::milliseconds max_retry_wait) {
  BatchVerdict verdict;
  const long status = response.status;  // NOLINT(google-runtime-int)
  if (status >= 200 && status < 300) {
    nlohmann::json answer = nlohmann::json::parse(response.body, nullptr, false);
    auto events = answer.is_object() ? answer.find("events") : answer.end();
    if (!answer.is_object() || events == answer.end() || !events->is_array() ||
        events->size() != batch.event_count()) {
      verdict.kind = BatchVerdict::Kind::kFatal;
      verdict.message =
          "unexpected answer to " + LineRange(batch) + ": " + DescribeErrorResponse(response);
      return verdict;
    }
    for (const nlohmann::json& event : *events) {
      auto duplicate = event.is_object() ? event.find("duplicate") : event.end();
      if (event.is_object() && duplicate != event.end() && duplicate->is_boolean() &&
          duplicate->get<bool>()) {
        ++verdict.duplicate;
      } else {
        ++verdict.accepted;
      }
    }
    return verdict;
  }
  if (status == 429 || status == 502 || status == 503 || status == 504) {
    verdict.kind = BatchVerdict::Kind::kRetry;
    verdict.retry_after = RetryDelay(response, attempt, max_retry_wait);
    return verdict;
  }
  if (status == 401 || status == 403) {
    verdict.kind = BatchVerdict::Kind::kFatal;
    verdict.message = "the server refused the credential: " + DescribeErrorResponse(response) +
                      "\n(check --token or EVIDENT_TOKEN)";
    return verdict;
  }
  if (status == 404 || status == 405) {
    verdict.kind = BatchVerdict::Kind::kFatal;
    verdict.message =
        "no Evident event API at this URL (check --url): " + DescribeErrorResponse(response);
    return verdict;
  }
  if (status >= 400 && status < 500) {
    verdict.refused = batch.event_count();
    verdict.problems = RefusalProblems(batch, response);
    return verdict;
  }
  verdict.kind = BatchVerdict::Kind::kFatal;
  verdict.message = "server error at " + LineRange(batch) + ": " + DescribeErrorResponse(response);
  return verdict;
}

std::string FormatProgress(uint64_t bytes_done, uint64_t total_bytes, uint64_t events_done,
                           std::chrono::milliseconds elapsed) {
  constexpr int kBarWidth = 30;
  std::string text;
  if (total_bytes > 0) {
    uint64_t percent = std::min<uint64_t>(100, bytes_done * 100 / total_bytes);
    int filled = static_cast<int>(percent * kBarWidth / 100);
    text = "[" + std::string(filled, '#') + std::string(kBarWidth - filled, ' ') + "] ";
    std::string percent_text = std::to_string(percent) + "%";
    text += std::string(4 - std::min<size_t>(4, percent_text.size()), ' ') + percent_text + "  ";
  }
  text += WithThousands(events_done) + " events";
  if (elapsed.count() > 0) {
    text +=
        "  " + WithThousands(events_done * 1000 / static_cast<uint64_t>(elapsed.count())) + "/s";
  }
  return text;
}

int RunIngest(const IngestOptions& options, std::istream& input, uint64_t total_bytes,
              std::ostream& out, std::ostream& err, ShowProgress progress) {
  const int senders = std::max(1, options.parallel);
  BatchQueue queue(static_cast<size_t>(senders) * 2);
  Tally tally(err, progress, total_bytes);
  std::vector<std::thread> threads;
  threads.reserve(senders);
  for (int sender = 0; sender < senders; ++sender) {
    threads.emplace_back([&] { SendBatches(options, queue, tally); });
  }
  NdjsonBatcher batcher(input, options.batch_size);
  while (std::optional<NdjsonBatch> batch = batcher.Next()) {
    if (!queue.Push(std::move(*batch))) break;
  }
  bool read_failed = batcher.failed();
  if (read_failed) tally.Fail(std::string("cannot read the input: ") + std::strerror(errno));
  queue.Close();
  for (std::thread& thread : threads) thread.join();
  tally.FinishProgress();

  IngestSummary summary = tally.Summary();
  size_t shown = std::min(summary.problems.size(), kMaxProblemsShown);
  for (size_t pos = 0; pos < shown; ++pos) err << "refused: " << summary.problems[pos] << '\n';
  if (summary.problems.size() > shown) {
    err << "refused: ... and " << summary.problems.size() - shown << " more problems\n";
  }
  std::string fatal = tally.fatal();
  if (!fatal.empty()) err << "error: " << fatal << '\n';
  out << summary.Format() << '\n' << std::flush;
  if (!fatal.empty()) return kExitUsage;
  return summary.refused > 0 ? kExitRefused : kExitOk;
}

int RunIngestCommand(const IngestOptions& options, std::istream& standard_input, std::ostream& out,
                     std::ostream& err) {
  ShowProgress progress = isatty(STDERR_FILENO) ? ShowProgress::kYes : ShowProgress::kNo;
  if (options.input == "-") return RunIngest(options, standard_input, 0, out, err, progress);
  std::ifstream file(options.input, std::ios::binary);
  if (!file) {
    err << "error: cannot open " << options.input << ": " << std::strerror(errno) << '\n';
    return kExitUsage;
  }
  std::error_code ignored;
  uint64_t total_bytes = 0;
  if (std::filesystem::is_regular_file(options.input, ignored)) {
    total_bytes = std::filesystem::file_size(options.input, ignored);
    if (ignored) total_bytes = 0;
  }
  return RunIngest(options, file, total_bytes, out, err, progress);
}

}  // namespace evident::cli
