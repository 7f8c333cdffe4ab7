#include "evident/api/event_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "evident/api/query_string.h"

namespace evident::api {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;
using ::testing::ElementsAre;
using ::testing::Pair;

TEST(ParseQueryString, DecodesEscapesPlusAndRepeatedKeys) {
  auto pairs = ParseQueryString("q=a+b%20c&tenant=acme&&tenant=beta%2Cgamma&flag&e=%C3%A9");
  ASSERT_TRUE(pairs) << pairs.error().ToString();
  EXPECT_THAT(*pairs,
              ElementsAre(Pair("q", "a b c"), Pair("tenant", "acme"), Pair("tenant", "beta,gamma"),
                          Pair("flag", ""), Pair("e", "\xC3\xA9")));
}

TEST(ParseQueryString, EmptyQueryHasNoPairs) {
  auto pairs = ParseQueryString("");
  ASSERT_TRUE(pairs);
  EXPECT_TRUE(pairs->empty());
}

TEST(ParseQueryString, RejectsMalformedEscapes) {
  for (const char* query : {"q=%", "q=%4", "q=%zz", "%g1=x"}) {
    auto pairs = ParseQueryString(query);
    ASSERT_FALSE(pairs) << query;
    EXPECT_EQ(pairs.error().code(), util::ErrorCode::kInvalidArgument);
  }
}

TEST(ParseQueryString, RejectsInvalidUtf8) {
  auto pairs = ParseQueryString("user=%FF%FE");
  ASSERT_FALSE(pairs);
  ASSERT_EQ(pairs.error().fields().size(), 1u);
  EXPECT_EQ(pairs.error().fields()[0].field, "user");
}

TEST(PercentDecode, KeepsPlusInPaths) {
  auto decoded = PercentDecode("a+b%2Fc");
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, "a+b/c");
}

TEST(ParseEventQuery, DefaultsWithoutParameters) {
  auto query = ParseEventQuery({}, QueryKind::kList);
  ASSERT_TRUE(query);
  EXPECT_EQ(query->limit, kDefaultLimit);
  EXPECT_FALSE(query->cursor);
  EXPECT_EQ(query->filter.tenants.size(), 0u);
  EXPECT_FALSE(query->filter.from);
}

TEST(ParseEventQuery, ListsAreCommaSeparatedAndRepeatedKeysAdd) {
  auto query = ParseEventQuery({{"tenant", "acme, beta"},
                                {"tenant", "gamma"},
                                {"type", "activity,session"},
                                {"status", "failure"},
                                {"method", "post,get"},
                                {"ip", "2001:DB8:0:0::1,203.0.113.9"},
                                {"user", "Ana@Acme.test"},
                                {"action", "create"},
                                {"resource_type", "wireguard"},
                                {"workspace", "prod"}},
                               QueryKind::kList);
  ASSERT_TRUE(query) << query.error().ToString();
  const core::Filter& filter = query->filter;
  EXPECT_THAT(filter.tenants, ElementsAre("acme", "beta", "gamma"));
  EXPECT_THAT(filter.types, ElementsAre(core::EventType::kActivity, core::EventType::kSession));
  EXPECT_THAT(filter.statuses, ElementsAre(core::EventStatus::kFailure));
  EXPECT_THAT(filter.methods, ElementsAre("POST", "GET"));
  EXPECT_THAT(filter.ips, ElementsAre("2001:db8::1", "203.0.113.9"));
  EXPECT_THAT(filter.users, ElementsAre("Ana@Acme.test"));
  EXPECT_THAT(filter.actions, ElementsAre("create"));
  EXPECT_THAT(filter.resource_types, ElementsAre("wireguard"));
  EXPECT_THAT(filter.workspaces, ElementsAre("prod"));
}

TEST(ParseEventQuery, TimesAcceptRfc3339AndEpochMillis) {
  auto query = ParseEventQuery({{"from", "2025-05-09T07:27:06.123Z"}, {"to", "1746775627000"}},
                               QueryKind::kList);
  ASSERT_TRUE(query) << query.error().ToString();
  EXPECT_EQ(query->filter.from, 1746775626123);
  EXPECT_EQ(query->filter.to, 1746775627000);
}

TEST(ParseEventQuery, SearchLimitCursorAndBuckets) {
  const std::string cursor = core::EncodeCursor({1746775626123, 42});
  auto list = ParseEventQuery(
      {{"q", "\"office tunnel\" wg"}, {"limit", "1000"}, {"cursor", cursor}}, QueryKind::kList);
  ASSERT_TRUE(list) << list.error().ToString();
  EXPECT_EQ(list->limit, 1000u);
  EXPECT_EQ(list->cursor, (core::Cursor{1746775626123, 42}));
  ASSERT_EQ(list->filter.search.size(), 2u);
  EXPECT_THAT(list->filter.search[0].words, ElementsAre("office", "tunnel"));

  auto histogram = ParseEventQuery({{"buckets", "7"}}, QueryKind::kHistogram);
  ASSERT_TRUE(histogram);
  EXPECT_EQ(histogram->buckets, 7);
}

TEST(ParseEventQuery, EmptyValuesMeanNotGiven) {
  auto query = ParseEventQuery({{"from", ""}, {"limit", ""}, {"tenant", ""}}, QueryKind::kList);
  ASSERT_TRUE(query);
  EXPECT_FALSE(query->filter.from);
  EXPECT_EQ(query->limit, kDefaultLimit);
  EXPECT_TRUE(query->filter.tenants.empty());
}

// Each bad parameter is named in the errors, as {index -1, field = parameter}.
TEST(ParseEventQuery, RejectsBadValuesNamingTheParameter) {
  const std::vector<std::pair<Params, std::string>> cases = {
      {{{"limit", "0"}}, "limit"},
      {{{"limit", "1001"}}, "limit"},
      {{{"limit", "ten"}}, "limit"},
      {{{"limit", "5x"}}, "limit"},
      {{{"cursor", "not-a-cursor"}}, "cursor"},
      {{{"from", "yesterday"}}, "from"},
      {{{"to", "2025-13-01T00:00:00Z"}}, "to"},
      {{{"type", "activity,bogus"}}, "type"},
      {{{"status", "ok"}}, "status"},
      {{{"ip", "1.2.3"}}, "ip"},
      {{{"tenant", "Acme"}}, "tenant"},
      {{{"q", "\"unterminated"}}, "q"},
      {{{"colour", "red"}}, "colour"},
      {{{"buckets", "10"}}, "buckets"},
      {{{"limit", "5"}, {"limit", "6"}}, "limit"},
      {{{"from", "2025-05-10T00:00:00Z"}, {"to", "2025-05-09T00:00:00Z"}}, "from"},
  };
  for (const auto& [params, field] : cases) {
    auto query = ParseEventQuery(params, QueryKind::kList);
    ASSERT_FALSE(query) << field;
    EXPECT_EQ(query.error().code(), util::ErrorCode::kInvalidArgument);
    ASSERT_EQ(query.error().fields().size(), 1u) << field;
    EXPECT_EQ(query.error().fields()[0].field, field);
    EXPECT_EQ(query.error().fields()[0].index, -1);
    EXPECT_FALSE(query.error().fields()[0].message.empty());
  }
}

TEST(ParseEventQuery, HistogramRejectsPagingAndBadBuckets) {
  for (const Params& params : std::vector<Params>{
           {{"buckets", "0"}}, {{"buckets", "1001"}}, {{"limit", "10"}}, {{"cursor", "x"}}}) {
    auto query = ParseEventQuery(params, QueryKind::kHistogram);
    ASSERT_FALSE(query) << params[0].first;
    EXPECT_EQ(query.error().fields().at(0).field, params[0].first);
  }
}

TEST(ParseEventQuery, ReportsEveryBadParameter) {
  auto query = ParseEventQuery({{"limit", "0"}, {"ip", "nope"}, {"x", "1"}}, QueryKind::kList);
  ASSERT_FALSE(query);
  ASSERT_EQ(query.error().fields().size(), 3u);
  EXPECT_EQ(query.error().fields()[0].field, "limit");
  EXPECT_EQ(query.error().fields()[1].field, "ip");
  EXPECT_EQ(query.error().fields()[2].field, "x");
}

}  // namespace
}  // namespace evident::api
