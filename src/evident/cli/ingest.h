// `evident ingest FILE|-`: sends NDJSON events to POST /api/v1/events in batches, over a few
// connections at once so that the server's group commit sees several requests together.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "evident/cli/common.h"
#include "evident/cli/http_client.h"

namespace CLI {
class App;
}  // namespace CLI

namespace evident::cli {

enum class ShowProgress { kNo, kYes };

struct IngestOptions {
  ServerOptions server;
  std::string input = "-";  // a path, or "-" for standard input
  size_t batch_size = 1000;
  int parallel = 4;
  int max_attempts = 5;  // per batch, for 429/502/503/504
  std::chrono::milliseconds max_retry_wait{30'000};
};

// Adds the `ingest` subcommand to `app`, bound to `options` (which must outlive parsing).
CLI::App* AddIngestCommand(CLI::App& app, IngestOptions& options);

// Consecutive lines of NDJSON, ready to post.
struct NdjsonBatch {
  int64_t number = 0;                 // 0-based, in input order
  std::string body;                   // the events, each line ending in '\n'
  std::vector<int64_t> line_numbers;  // 1-based input line of each event in `body`
  uint64_t input_bytes = 0;           // bytes of input consumed, blank lines included
  size_t event_count() const { return line_numbers.size(); }
};

// Cuts a stream into batches of at most `batch_size` events, one per non-blank line. Blank
// lines are skipped (the server would refuse them); a trailing '\r' and a UTF-8 byte-order mark
// are dropped. Lines are not parsed: the server is the one judge of validity. Not thread-safe.
class NdjsonBatcher {
 public:
  NdjsonBatcher(std::istream& input, size_t batch_size);
  NdjsonBatcher(const NdjsonBatcher&) = delete;
  NdjsonBatcher& operator=(const NdjsonBatcher&) = delete;

  // The next batch, or nullopt at the end of the input (or on a read error: see failed()).
  std::optional<NdjsonBatch> Next();
  bool failed() const;
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  std::istream& input_;
  size_t batch_size_;
  int64_t line_number_ = 0;
  int64_t batch_number_ = 0;
  uint64_t bytes_read_ = 0;
};

struct IngestSummary {
  uint64_t accepted = 0;   // newly stored
  uint64_t duplicate = 0;  // acknowledged again: identical (tenant, id) already stored
  uint64_t refused = 0;    // in batches answered 4xx: nothing of such a batch was stored
  // "line 12: request.status_code: must be an integer", for the first refused batches.
  std::vector<std::string> problems;
  std::string Format() const;  // "accepted N, duplicate N, refused N"
};

// What to do with one batch's answer.
struct BatchVerdict {
  enum class Kind {
    kDone,   // counted into accepted/duplicate or refused
    kRetry,  // 429/502/503/504: send again after retry_after
    kFatal,  // no later batch can succeed (401, 403, 404, other 5xx): stop
  };
  Kind kind = Kind::kDone;
  uint64_t accepted = 0;
  uint64_t duplicate = 0;
  uint64_t refused = 0;
  std::vector<std::string> problems;  // with input line numbers
  std::chrono::milliseconds retry_after{0};
  std::string message;  // for kFatal
};

// Interprets the answer to posting `batch` on attempt `attempt` (1-based). Retry-After (in
// seconds) is honoured up to `max_retry_wait`; without it the wait doubles from 250 ms.
BatchVerdict JudgeBatchResponse(const NdjsonBatch& batch, const HttpResponse& response, int attempt,
                                std::chrono::milliseconds max_retry_wait);

// "[#########           ]  45%  12,345 events  6,789/s", or without a bar when the input size
// is unknown (total_bytes == 0).
std::string FormatProgress(uint64_t bytes_done, uint64_t total_bytes, uint64_t events_done,
                           std::chrono::milliseconds elapsed);

// Runs the command: reads `input`, posts its batches, prints the summary on `out` and problems
// on `err`, plus a progress line on `err` when `progress` is kYes (a terminal). `total_bytes` is
// the input size when known, for the progress bar. Returns the exit code: kExitOk when nothing
// was refused, kExitRefused when something was, kExitUsage when the server could not be reached,
// refused the credential, or failed.
int RunIngest(const IngestOptions& options, std::istream& input, uint64_t total_bytes,
              std::ostream& out, std::ostream& err, ShowProgress progress);

// Opens options.input (or uses `standard_input` for "-") and runs the command, showing progress
// when standard error is a terminal.
int RunIngestCommand(const IngestOptions& options, std::istream& standard_input, std::ostream& out,
                     std::ostream& err);

}  // namespace evident::cli
