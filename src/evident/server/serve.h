// `evident serve`: wires the SQLite store, the ledger writer, the API and the HTTP transport.
#pragma once

#include <iosfwd>

#include "evident/server/config.h"

namespace evident::server {

// Runs the server until SIGTERM or SIGINT, then shuts down gracefully: stops accepting, answers
// every request already received (POSTs once the writer has committed them), closes the store.
//
// Once listening it prints to `out` (flushed), one line each:
//   listening on http://HOST:PORT        (the real port when the configured one is 0)
//   data directory: /absolute/path
//   admin token: evd_...                  (first start only, when the token was generated)
// Logs (spdlog) go to stderr. Returns 0 after a clean shutdown, 1 when start-up fails (the reason
// is logged). Never throws.
int RunServe(const ServeConfig& config, std::ostream& out);
int RunServe(const ServeConfig& config);  // prints to std::cout

}  // namespace evident::server
