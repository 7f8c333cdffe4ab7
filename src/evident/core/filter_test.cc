#include "evident/core/filter.h"

#include <gtest/gtest.h>

namespace evident::core {
namespace {

TEST(Search, ParsesWordsAndPhrases) {
  auto terms = ParseSearch(R"(Login "office tunnel" wg_42)");
  ASSERT_TRUE(terms.has_value());
  const std::vector<SearchTerm> expected = {
      {{"login"}, ""}, {{"office", "tunnel"}, ""}, {{"wg", "42"}, ""}};
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
  filter.search = *ParseSearch(R"("ana acme" "acme test")");
  EXPECT_TRUE(filter.SearchMatchesWithin("Ana@Acme.test"));
  EXPECT_TRUE(filter.SearchMatchesWithin("x ana acme test y"));
  EXPECT_FALSE(filter.SearchMatchesWithin("ana@acme.example"));  // every term, each whole
  EXPECT_FALSE(filter.SearchMatchesWithin("acme test ana"));     // a phrase keeps its order
  filter.search = *ParseSearch("ana@ACME.test");
  EXPECT_TRUE(filter.SearchMatchesWithin("Ana@Acme.test"));
  EXPECT_FALSE(filter.SearchMatchesWithin("x ana acme test y"));  // the address itself
  filter.search.clear();
  EXPECT_TRUE(filter.SearchMatchesWithin(""));
}

std::vector<std::string> Addresses(std::string_view text) {
  std::vector<std::string> found;
  ForEachAddress(text, [&](std::string_view address) { found.emplace_back(address); });
  return found;
}

TEST(Search, FindsAddressesWhole) {
  using List = std::vector<std::string>;
  EXPECT_EQ(Addresses("Ana.0@Tenant-0.test"), List{"Ana.0@Tenant-0.test"});
  EXPECT_EQ(Addresses("write to <ana+ops@acme.test>, or bob_k@x."),
            (List{"ana+ops@acme.test", "bob_k@x"}));
  EXPECT_EQ(Addresses("mail ana@acme.test."), List{"ana@acme.test"});
  EXPECT_EQ(Addresses("...@x -@y a@-b a@.b a@ @"), List{});
  EXPECT_EQ(Addresses("--ana@acme.test--"), List{"ana@acme.test"});
  EXPECT_EQ(Addresses("a@b@c"), (List{"a@b", "b@c"}));
  EXPECT_EQ(Addresses("josé@café.test"), List{"josé@café.test"});  // UTF-8 bytes are word bytes
  const std::string longest = std::string(kMaxAddressSize - 7, 'a') + "@b.test";
  EXPECT_EQ(Addresses(longest), List{longest});
  EXPECT_EQ(Addresses("a" + longest), List{});  // past SMTP's limit: no address
  EXPECT_EQ(SearchAddresses("To: ANA@Acme.Test"), List{"ana@acme.test"});
}

TEST(Search, ParsesAnAddressAloneAsOneTerm) {
  auto terms = ParseSearch(R"(<Ana.0@Acme.test>, "ana.0@acme.test" user:ana@acme.test a@b@c)");
  ASSERT_TRUE(terms.has_value());
  const std::vector<SearchTerm> expected = {
      {{"ana", "0", "acme", "test"}, "ana.0@acme.test"},
      {{"ana", "0", "acme", "test"}, ""},  // quoted: the phrase of its words
      {{"user", "ana", "acme", "test"}, ""},
      {{"a", "b", "c"}, ""},
  };
  EXPECT_EQ(*terms, expected);
}

TEST(Filter, AnAddressMatchesOnlyItselfInAnyField) {
  Event event = Sample();
  event.details = R"({"invitee":"Bob.Ana@acme.test","cc":["x chen@globex.test."]})";
  auto matches = [&](std::string_view q) { return MatchesSearch(event, q); };
  EXPECT_TRUE(matches("ANA@acme.test"));  // the actor's, in any case
  EXPECT_TRUE(matches("bob.ana@acme.test"));
  EXPECT_TRUE(matches("chen@globex.test"));  // a string in details, the sentence's dot aside
  EXPECT_TRUE(matches("chen@globex.test tunnel"));
  EXPECT_FALSE(matches("chen@globex.test nothing"));
  EXPECT_FALSE(matches("ana@acme"));            // not the whole address
  EXPECT_FALSE(matches("bob@acme.test"));       // words of the event, not its address
  EXPECT_FALSE(matches("x.chen@globex.test"));  // a space is no part of an address
  EXPECT_TRUE(matches("\"ana acme\""));         // the phrase still finds the words
  event.actor.email = "bob.ana@acme.test";
  EXPECT_FALSE(matches("ana@acme.test"));     // someone else's address holds it
  EXPECT_TRUE(matches("\"ana@acme.test\""));  // as a phrase, it does
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
