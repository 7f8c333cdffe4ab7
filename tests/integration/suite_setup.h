// A test suite's shared set-up (SetUpTestSuite) that fails must fail its tests. gtest marks every
// test of such a suite as skipped, and ctest counts a skipped test as one that did not fail
// (gtest_discover_tests sets SKIP_REGULAR_EXPRESSION, and no later property can take it back):
// a server that did not start, or a test dependency npm did not install, would have left the run
// green. So suites run their set-up through CaptureFailures and each test's SetUp asserts that it
// caught nothing.
#pragma once

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <string>

namespace evident::integration {

// Runs `setup`, intercepting the failures its assertions report (on any thread) rather than
// letting them reach the suite; returns them as text, empty when there were none.
template <typename Setup>
std::string CaptureFailures(Setup&& setup) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS, &results);
    setup();
  }
  std::string failures;
  for (int i = 0; i < results.size(); ++i) {
    const ::testing::TestPartResult& result = results.GetTestPartResult(i);
    if (!result.failed()) continue;
    failures += std::string(result.file_name() != nullptr ? result.file_name() : "?") + ":" +
                std::to_string(result.line_number()) + ": " + result.message() + "\n";
  }
  return failures;
}

}  // namespace evident::integration
