#include "evident/core/decode.h"

#include <gtest/gtest.h>

namespace evident::util {
void PrintTo(const FieldError& error, std::ostream* out) {
  *out << "{" << error.index << ", \"" << error.field << "\", \"" << error.message << "\"}";
}
}  // namespace evident::util

namespace evident::core {
namespace {

using util::FieldError;

class DecodeTest : public ::testing::Test {
 protected:
  util::Result<std::vector<Event>> Decode(std::string_view body,
                                          BodyFormat format = BodyFormat::kJson,
                                          std::string_view bound_tenant = "") {
    DecodeOptions options;
    options.redactor = &redactor_;
    options.bound_tenant = bound_tenant;
    options.received_at = 1746775627000;
    return DecodeEvents(body, format, options);
  }
  std::vector<FieldError> Problems(std::string_view body, BodyFormat format = BodyFormat::kJson) {
    auto result = Decode(body, format);
    if (result) return {};
    EXPECT_EQ(result.error().code(), util::ErrorCode::kInvalidArgument);
    return result.error().fields();
  }
  Redactor redactor_{Redactor::DefaultKeys()};
};

TEST_F(DecodeTest, FillsDefaults) {
  auto events = Decode(R"({"tenant":"acme","action":"create"})");
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  ASSERT_EQ(events->size(), 1u);
  const Event& event = (*events)[0];
  EXPECT_EQ(event.type, EventType::kActivity);
  EXPECT_EQ(event.status, EventStatus::kSuccess);
  EXPECT_EQ(event.occurred_at, 1746775627000);
  EXPECT_FALSE(event.occurred_at_from_client);
  EXPECT_EQ(event.id.size(), 36u);
  EXPECT_FALSE(event.id_from_client);
  EXPECT_EQ(event.details, "{}");
}

TEST_F(DecodeTest, ReadsEveryField) {
  auto events = Decode(R"([{"id":"k:1","tenant":"acme","workspace":"prod","type":"session",
    "action":"revoke","status":"failure","occurred_at":1746775626123,
    "actor":{"id":"u_1","email":"ana@acme.test","name":"Ana","role":"admin","assumed_by":"r@x"},
    "resource":{"type":"session","id":"s_1","name":"n"},
    "request":{"method":"delete","path":"/s/1","status_code":403,"duration_ms":7,
               "ip":"2001:DB8::0:1","user_agent":"Mozilla/5.0"},
    "details":{"z":1,"password":"hunter2"}},
    {"tenant":"acme","action":"x","occurred_at":"2025-05-09T09:27:06+02:00"}])");
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  ASSERT_EQ(events->size(), 2u);
  const Event& event = (*events)[0];
  EXPECT_EQ(event.id, "k:1");
  EXPECT_TRUE(event.id_from_client);
  EXPECT_EQ(event.type, EventType::kSession);
  EXPECT_EQ(event.status, EventStatus::kFailure);
  EXPECT_EQ(event.occurred_at, 1746775626123);
  EXPECT_EQ(event.actor.assumed_by, "r@x");
  EXPECT_EQ(event.request.method, "DELETE");
  EXPECT_EQ(event.request.ip, "2001:db8::1");
  EXPECT_EQ(*event.request.status_code, 403);
  EXPECT_EQ(event.details, R"({"password":"[REDACTED]","z":1})");
  EXPECT_EQ((*events)[1].occurred_at, 1746775626000);
}

TEST_F(DecodeTest, ReportsEveryProblemWithIndexAndField) {
  auto problems = Problems(R"([{"tenant":"acme","action":"ok"},
    {"tenant":"Acme!","action":"x","bogus":1,"request":{"status_code":"201","ip":"999.1.1.1"},
     "details":[1]},
    {"tenant":"acme"}])");
  const std::vector<FieldError> expected = {
      {1, "tenant", "must match [a-z0-9][a-z0-9_-]{0,62}"},
      {1, "bogus", "unknown field"},
      {1, "request.status_code", "must be an integer"},
      {1, "request.ip", "'999.1.1.1' is not an IPv4 or IPv6 address"},
      {1, "details", "must be a JSON object"},
      {2, "action", "is required"}};
  EXPECT_EQ(problems, expected);
}

TEST_F(DecodeTest, RejectsWrongTypesAndValues) {
  struct Case {
    const char* body;
    FieldError expected;
  } cases[] = {
      {R"({"tenant":"a","action":"x","type":"other"})",
       {0, "type", "must be one of activity, authentication, token, session"}},
      {R"({"tenant":"a","action":"x","status":"ok"})",
       {0, "status", "must be one of success, failure, initiated, pending, blocked"}},
      {R"({"tenant":"a","action":""})", {0, "action", "must not be empty"}},
      {R"({"tenant":"a","action":5})", {0, "action", "must be a string"}},
      {R"({"tenant":"a","action":"x","request":{"status_code":201.5}})",
       {0, "request.status_code", "must be an integer"}},
      {R"({"tenant":"a","action":"x","request":{"status_code":42}})",
       {0, "request.status_code", "must be between 100 and 599"}},
      {R"({"tenant":"a","action":"x","request":{"agent":{}}})",
       {0, "request.agent", "is derived from user_agent and cannot be sent"}},
      {R"({"tenant":"a","action":"x","occurred_at":"yesterday"})",
       {0, "occurred_at", "must be RFC 3339 (2025-05-09T07:27:06.123Z) or epoch ms"}},
      {R"({"tenant":"a","action":"x","id":"has space"})",
       {0, "id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -"}},
      {R"({"tenant":"a","action":"x","actor":{"email":"a","x":1}})",
       {0, "actor.x", "unknown field"}},
      {R"({"tenant":"a","action":"x","details":{"k":1,"k":2}})",
       {0, "details", "duplicate key 'k'"}},
      {R"({"tenant":"a","action":"x","request":{"ip":"010.0.0.1"}})",
       {0, "request.ip", "'010.0.0.1' is not an IPv4 or IPv6 address"}},
      {R"({"tenant":"a","action":"x","request":{"ip":"10.0.0.1\u0000x"}})",
       {0, "request.ip", std::string("'10.0.0.1") + '\0' + "x' is not an IPv4 or IPv6 address"}},
      {R"(42)", {-1, "", "the body must be an event object or an array of them"}},
      {R"({"tenant":"a","action":"x"} {})", {-1, "", "trailing content after the JSON value"}},
      {"{\"tenant\":\"a\",\"action\":\"caf\xc3\"}", {-1, "", "invalid UTF-8 at byte 27"}},
  };
  for (const Case& c : cases) {
    auto problems = Problems(c.body);
    ASSERT_EQ(problems.size(), 1u) << c.body;
    EXPECT_EQ(problems[0], c.expected) << c.body;
  }
}

// Details are made canonical in place, inside the request's own parse: a problem deep inside them
// is reported, and the fields after them are still read.
TEST_F(DecodeTest, DetailsProblemsLeaveTheRestOfTheEventRead) {
  std::string deep;
  for (int i = 0; i < 70; ++i) deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 70; ++i) deep += "}";
  auto problems = Problems(R"([{"tenant":"a","action":"x","details":{"n":{"b":1,"b":2}},"x":1},
    {"tenant":"a","details":)" +
                           deep + R"(,"action":"y","y":2}])");
  const std::vector<FieldError> expected = {{0, "details", "duplicate key 'b'"},
                                            {0, "x", "unknown field"},
                                            {1, "details", "nested deeper than 64 levels"},
                                            {1, "y", "unknown field"}};
  EXPECT_EQ(problems, expected);
  auto events = Decode(
      R"({"tenant":"a","action":"x","request":{"ip":"10.0.0.1"},"details":{"b":{"d":1,"c":[{"z":1,"y":2}]},"a":"x"}})");
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ((*events)[0].details, R"({"a":"x","b":{"c":[{"y":2,"z":1}],"d":1}})");
  EXPECT_EQ((*events)[0].request.ip, "10.0.0.1");
}

TEST_F(DecodeTest, NdjsonReportsLineIndexes) {
  auto events =
      Decode("{\"tenant\":\"a\",\"action\":\"x\"}\r\n\n{\"tenant\":\"b\",\"action\":\"y\"}\n",
             BodyFormat::kNdjson);
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ(events->size(), 2u);
  auto problems = Problems("{\"tenant\":\"a\",\"action\":\"x\"}\n{oops\n[]\n", BodyFormat::kNdjson);
  const std::vector<FieldError> expected = {{1, "", "malformed JSON"},
                                            {2, "", "each line must be an event object"}};
  EXPECT_EQ(problems, expected);
}

TEST_F(DecodeTest, BoundTenant) {
  auto events = Decode(R"({"action":"x"})", BodyFormat::kJson, "acme");
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ((*events)[0].tenant, "acme");
  auto refused = Decode(R"({"action":"x","tenant":"other"})", BodyFormat::kJson, "acme");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().fields()[0].field, "tenant");
  auto unbound = Problems(R"({"action":"x"})");
  ASSERT_EQ(unbound.size(), 1u);
  EXPECT_EQ(unbound[0].message, "is required");
}

TEST_F(DecodeTest, EmptyBodyIsAnError) {
  EXPECT_EQ(Problems("[]")[0].message, "no events in the request");
  EXPECT_EQ(Problems("\n\n", BodyFormat::kNdjson)[0].message, "no events in the request");
}

TEST(Ids, TenantAndEventIdRules) {
  EXPECT_TRUE(IsValidTenantId("acme"));
  EXPECT_TRUE(IsValidTenantId("0a_b-c"));
  EXPECT_FALSE(IsValidTenantId("-acme"));
  EXPECT_FALSE(IsValidTenantId("Acme"));
  EXPECT_FALSE(IsValidTenantId(std::string(64, 'a')));
  EXPECT_TRUE(IsValidTenantId(std::string(63, 'a')));
  EXPECT_TRUE(IsValidEventId("A.b_c:d-1"));
  EXPECT_FALSE(IsValidEventId(""));
  EXPECT_FALSE(IsValidEventId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidEventId("a/b"));
}

}  // namespace
}  // namespace evident::core
