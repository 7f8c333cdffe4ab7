// Derives Agent {os, browser} from a User-Agent header with the uap-core rules
// (github.com/ua-parser/uap-core regexes.yaml), embedded into the binary at build time.
#pragma once

#include <memory>
#include <string_view>

#include "evident/core/event.h"
#include "evident/util/result.h"

namespace evident::core {

// Thread-safe. Results are cached per user-agent string: a full parse runs ~1,175 regexes.
class UserAgentParser {
 public:
  virtual ~UserAgentParser() = default;
  // os is one of Windows, macOS, Linux, iOS, Android, ChromeOS, Other; browser a uap-core family
  // folded to a short list (Chrome, Firefox, Safari, Edge, Opera, ...) or Other.
  virtual Agent Parse(std::string_view user_agent) const = 0;

  // The embedded uap-core rules. Errors: Internal if the embedded rules do not load.
  static util::Result<std::unique_ptr<UserAgentParser>> CreateDefault();
};

}  // namespace evident::core
