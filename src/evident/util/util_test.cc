#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "evident/util/encoding.h"
#include "evident/util/result.h"
#include "evident/util/strings.h"
#include "evident/util/thread.h"
#include "evident/util/time.h"
#include "evident/util/uuid.h"

namespace evident::util {
namespace {

Result<int> Half(int value) {
  if (value % 2 != 0) return Error::InvalidArgument("odd");
  return value / 2;
}

Result<int> Quarter(int value) {
  EVIDENT_ASSIGN_OR_RETURN(int half, Half(value));
  return Half(half);
}

TEST(Result, CarriesValueOrError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> odd = Quarter(6);
  ASSERT_FALSE(odd.has_value());
  EXPECT_EQ(odd.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(odd.error().message(), "odd");
  Status ok;
  EXPECT_TRUE(ok.has_value());
  Status bad = Error::NotFound("gone");
  EXPECT_EQ(bad.error().ToString(), "NotFound: gone");
}

TEST(Time, ParsesRfc3339Forms) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339("2025-05-09T07:27:06.123Z"), 1746775626123);
  EXPECT_EQ(*ParseRfc3339("2025-05-09T09:27:06.123+02:00"), 1746775626123);
  EXPECT_EQ(*ParseRfc3339("2025-05-09t07:27:06.1234567z"), 1746775626123);
  EXPECT_EQ(*ParseRfc3339("1969-12-31T23:59:59.999Z"), -1);
  EXPECT_EQ(*ParseRfc3339("2024-02-29T00:00:00Z"), 1709164800000);
}

TEST(Time, RejectsMalformedRfc3339) {
  for (const char* bad : {"", "2025-05-09", "2025-05-09T07:27:06", "2025-13-09T07:27:06Z",
                          "2025-02-29T00:00:00Z", "2025-05-09T24:00:00Z", "2025-05-09T07:27:06.Z",
                          "2025-05-09T07:27:06Zjunk", "2025-05-09T07:27:06+2:00", "yesterday"}) {
    Result<UnixMillis> parsed = ParseRfc3339(bad);
    EXPECT_FALSE(parsed.has_value()) << bad;
    if (!parsed) {
      EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    }
  }
}

TEST(Time, ParsesEpochMillis) {
  EXPECT_EQ(*ParseTimestamp("1746775626123"), 1746775626123);
  EXPECT_FALSE(ParseTimestamp("99999999999999999999").has_value());
  EXPECT_FALSE(ParseTimestamp("12ab").has_value());
}

TEST(Time, FormatsAndRoundTrips) {
  EXPECT_EQ(FormatRfc3339Millis(1746775626123), "2025-05-09T07:27:06.123Z");
  EXPECT_EQ(FormatRfc3339Millis(-1), "1969-12-31T23:59:59.999Z");
  for (int64_t millis : {int64_t{0}, int64_t{951782400000}, int64_t{4102444799999}, kMinUnixMillis,
                         kMaxUnixMillis}) {
    EXPECT_EQ(*ParseRfc3339(FormatRfc3339Millis(millis)), millis);
  }
}

TEST(Encoding, Base64BothVariants) {
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("\xfb\xff", Base64Variant::kUrlNoPadding), "-_8");
  EXPECT_EQ(*Base64Decode("Zm8="), "fo");
  EXPECT_EQ(*Base64Decode("-_8", Base64Variant::kUrlNoPadding), "\xfb\xff");
  EXPECT_FALSE(Base64Decode("Zm8").has_value());
  EXPECT_FALSE(Base64Decode("!!!!").has_value());
  EXPECT_EQ(HexEncode("\x01\xab"), "01ab");
}

TEST(Uuid, V7IsWellFormedAndIncreasing) {
  std::string previous;
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewUuidV7(1746775626123);
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '7');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
    EXPECT_GT(id, previous);
    previous = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10000u);
  // The first 48 bits are the milliseconds: 1746776626123 = 0x0196b40013cb.
  EXPECT_EQ(NewUuidV7(1746776626123).substr(0, 13), "0196b400-13cb");
}

TEST(Uuid, V7RandomBitsNeverRepeat) {
  // Past many refills of the random pool: the last 48 bits are random, never reused or zero.
  std::set<std::string> tails;
  for (int i = 0; i < 5000; ++i) {
    const std::string id = NewUuidV7(1846775626123 + i);
    tails.insert(id.substr(24));
  }
  EXPECT_EQ(tails.size(), 5000u);
  EXPECT_EQ(tails.count("000000000000"), 0u);
}

TEST(Strings, Helpers) {
  EXPECT_EQ(AsciiLower("AbC-Ü"), "abc-Ü");
  std::string scratch = "a longer value than the next one, so the buffer shrinks";
  EXPECT_EQ(AsciiLowerInto("MiXeD", scratch), "mixed");
  EXPECT_EQ(scratch, "mixed");
  EXPECT_TRUE(EqualsIgnoreCase("Set-Cookie", "set-cookie"));
  EXPECT_FALSE(EqualsIgnoreCase("token", "tokens"));
  EXPECT_EQ(SplitList(" a, b ,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(SplitList(" , ").empty());
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidUtf8("caf\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // a UTF-16 surrogate
}

// Lowering one thread's priority leaves the others' as they were; the nice value is capped at 19.
TEST(Thread, LowersOnlyTheCallingThreadsPriority) {
  const int own = ThisThreadNice();
  int lowered = -100;
  int capped = -100;
  Status first, second;
  std::thread([&] {
    first = LowerThisThreadPriority(2);
    lowered = ThisThreadNice();
    second = LowerThisThreadPriority(40);
    capped = ThisThreadNice();
  }).join();
  ASSERT_TRUE(first) << first.error().ToString();
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(lowered, std::min(19, own + 2));
  EXPECT_EQ(capped, 19);
  EXPECT_EQ(ThisThreadNice(), own);
  // No steps, no change.
  EXPECT_TRUE(LowerThisThreadPriority(0));
  EXPECT_EQ(ThisThreadNice(), own);
}

// A pass every interval, and one more on Stop: with an interval no test reaches, Stop's pass is
// the only one, and a second Stop adds none. Then a short interval passes again and again.
TEST(Thread, PeriodicThreadPassesEveryIntervalAndOnceMoreWhenStopped) {
  std::atomic<int> passes{0};
  {
    PeriodicThread idle("test-periodic", std::chrono::hours(1), [&] { ++passes; });
    idle.Stop();
    EXPECT_EQ(passes.load(), 1);
    idle.Stop();
  }
  EXPECT_EQ(passes.load(), 1);
  std::mutex mu;
  std::condition_variable three;
  passes = 0;
  PeriodicThread busy("test-periodic", std::chrono::milliseconds(1), [&] {
    std::lock_guard lock(mu);
    ++passes;
    three.notify_all();
  });
  std::unique_lock lock(mu);
  EXPECT_TRUE(three.wait_for(lock, std::chrono::minutes(1), [&] { return passes.load() >= 3; }));
}

}  // namespace
}  // namespace evident::util
