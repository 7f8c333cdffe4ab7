#include "evident/core/user_agent.h"

#include <gtest/gtest.h>

namespace evident::core {
namespace {

TEST(UserAgent, FoldsUapCoreFamilies) {
  auto parser = UserAgentParser::CreateDefault();
  ASSERT_TRUE(parser.has_value()) << parser.error().ToString();
  const struct {
    const char* user_agent;
    Agent expected;
  } cases[] = {
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/124.0.0.0 Safari/537.36",
       {"Windows", "Chrome"}},
      {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/17.4 Safari/605.1.15",
       {"macOS", "Safari"}},
      {"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
       {"Linux", "Firefox"}},
      {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
       "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
       {"iOS", "Safari"}},
      {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/124.0.0.0 Mobile Safari/537.36",
       {"Android", "Chrome"}},
      {"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/124.0.0.0 Safari/537.36",
       {"ChromeOS", "Chrome"}},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
       {"Windows", "Edge"}},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
       {"Windows", "Opera"}},
      {"curl/8.5.0", {"Other", "Other"}},
      {"", {"Other", "Other"}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ((*parser)->Parse(c.user_agent), c.expected) << c.user_agent;
    EXPECT_EQ((*parser)->Parse(c.user_agent), c.expected) << "cached: " << c.user_agent;
  }
}

}  // namespace
}  // namespace evident::core
