#include "evident/core/filter.h"

#include <gtest/gtest.h>

namespace evident::core {
namespace {

TEST(Search, ParsesWordsAndPhrases) {
  auto terms = ParseSearch(R"(Login "office tunnel" wg_42)");
  ASSERT_TRUE(terms.has_value());
  const std::vector<SearchTerm> expected = {{{"login"}}, {{"office", "tunnel"}}, {{"wg", "42"}}};
  EXPECT_EQ(*terms, expected);
  EXPECT_FALSE(ParseSearch(R"("open)").has_value());
  EXPECT_TRUE(ParseSearch("  ")->empty());
}

Event Sample() {
  Event event;
  event.tenant = "acme";
  event.workspace = "prod";
  event.action = "create";
  event.occurred_at = 1000;
  event.actor.email = "Ana@Acme.test";
  event.actor.id = "u_1";
  event.resource = {"wireguard", "wg_42", "Office Tunnel"};
  event.request.method = "POST";
  event.request.ip = "203.0.113.9";
  event.details = R"({"note":"rotated keys","nested":{"label":"blue moon"}})";
  return event;
}

TEST(Filter, MatchesEachField) {
  const Event event = Sample();
  EXPECT_TRUE(Filter{}.Matches(event));
  Filter filter;
  filter.tenants = {"other", "acme"};
  filter.users = {"ana@acme.TEST"};
  filter.methods = {"POST"};
  filter.from = 1000;
  filter.to = 1001;
  EXPECT_TRUE(filter.Matches(event));
  filter.to = 1000;  // exclusive
  EXPECT_FALSE(filter.Matches(event));
  Filter by_id;
  by_id.users = {"u_1"};
  EXPECT_TRUE(by_id.Matches(event));
  by_id.users = {"U_1"};  // ids are exact
  EXPECT_FALSE(by_id.Matches(event));
  Filter statuses;
  statuses.statuses = {EventStatus::kFailure};
  EXPECT_FALSE(statuses.Matches(event));
}

bool MatchesSearch(const Event& event, std::string_view q) {
  Filter filter;
  filter.search = *ParseSearch(q);
  return filter.Matches(event);
}

TEST(Filter, SearchMatchesWholeWordsAndPhrases) {
  const Event event = Sample();
  auto matches = [&](std::string_view q) { return MatchesSearch(event, q); };
  EXPECT_TRUE(matches("tunnel"));
  EXPECT_TRUE(matches("ROTATED create"));
  EXPECT_TRUE(matches("\"blue moon\""));
  EXPECT_TRUE(matches("acme"));   // from the email
  EXPECT_FALSE(matches("tunn"));  // whole words only
  EXPECT_FALSE(matches("\"moon blue\""));
  EXPECT_FALSE(matches("tunnel missing"));
  EXPECT_FALSE(matches("note"));  // keys are not searched
}

TEST(Filter, SearchMatchesWithinOneText) {
  Filter filter;
  filter.search = *ParseSearch(R"(ana@ACME.test "acme test")");
  EXPECT_TRUE(filter.SearchMatchesWithin("Ana@Acme.test"));
  EXPECT_TRUE(filter.SearchMatchesWithin("x ana acme test y"));
  EXPECT_FALSE(filter.SearchMatchesWithin("ana@acme.example"));  // every term, each whole
  EXPECT_FALSE(filter.SearchMatchesWithin("acme test ana"));     // a phrase keeps its order
  filter.search.clear();
  EXPECT_TRUE(filter.SearchMatchesWithin(""));
}

TEST(Filter, SearchSplitsWordsAtEveryControlCharacter) {
  Event event = Sample();
  event.details = R"({"log":"first\rsecond\bthird\ffourth"})";  // as canonical JSON escapes them
  EXPECT_TRUE(MatchesSearch(event, "first second third fourth"));
  EXPECT_FALSE(MatchesSearch(event, "firstrsecond"));
}

TEST(Cursor, RoundTripsAndRejectsForgeries) {
  const Cursor cursor{1746775626123, 42};
  auto decoded = DecodeCursor(EncodeCursor(cursor));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, cursor);
  EXPECT_FALSE(DecodeCursor("").has_value());
  EXPECT_FALSE(DecodeCursor("not-a-cursor").has_value());
  EXPECT_FALSE(DecodeCursor("MTIz").has_value());
}

}  // namespace
}  // namespace evident::core
