#include "evident/core/event.h"

#include <gtest/gtest.h>

namespace evident::core {
namespace {

Event Sample() {
  Event event;
  event.id = "evt-1";
  event.id_from_client = true;
  event.tenant = "acme";
  event.workspace = "prod";
  event.type = EventType::kAuthentication;
  event.action = "login";
  event.status = EventStatus::kBlocked;
  event.occurred_at = 1746775626123;
  event.occurred_at_from_client = true;
  event.received_at = 1746775627000;
  event.actor = {"u_1", "ana@acme.test", "Ana", "admin", "root@evident.test"};
  event.resource = {"wireguard", "wg_42", "office tunnel"};
  event.request.method = "POST";
  event.request.path = "/api/wireguard";
  event.request.status_code = 201;
  event.request.duration_ms = 12;
  event.request.ip = "203.0.113.9";
  event.request.user_agent = "curl/8.0";
  event.request.agent = {"Other", "Other"};
  event.details = R"({"a":1})";
  event.seq = 7;
  return event;
}

TEST(Event, EncodesCanonicallyInStoredForm) {
  EXPECT_EQ(
      EncodeEvent(Sample()),
      R"({"action":"login","actor":{"assumed_by":"root@evident.test","email":"ana@acme.test",)"
      R"("id":"u_1","name":"Ana","role":"admin"},"details":{"a":1},"id":"evt-1",)"
      R"("occurred_at":"2025-05-09T07:27:06.123Z","received_at":"2025-05-09T07:27:07.000Z",)"
      R"("request":{"agent":{"browser":"Other","os":"Other"},"duration_ms":12,)"
      R"("ip":"203.0.113.9","method":"POST","path":"/api/wireguard","status_code":201,)"
      R"("user_agent":"curl/8.0"},"resource":{"id":"wg_42","name":"office tunnel",)"
      R"("type":"wireguard"},"seq":7,"status":"blocked","tenant":"acme",)"
      R"("type":"authentication","workspace":"prod"})");
}

TEST(Event, SeqlessJsonTakesTheSeqWhereStoredFormHasIt) {
  Event minimal;
  minimal.id = "x";
  minimal.tenant = "t";
  minimal.action = "a";
  for (Event event : {Sample(), minimal}) {
    SeqlessJson seqless;
    seqless.json = "earlier bytes";
    EncodeStoredWithoutSeq(event, seqless);
    ASSERT_EQ(seqless.json.substr(0, 13), "earlier bytes");
    EXPECT_EQ(seqless.json.substr(seqless.seq_at - 6, 6), R"("seq":)");
    for (uint64_t seq : {uint64_t{0}, uint64_t{7}, uint64_t{1234567}, ~uint64_t{0} >> 11}) {
      event.seq = seq;
      std::string stored = "earlier bytes";
      AppendWithSeq(std::string_view(seqless.json).substr(13), seqless.seq_at - 13, seq, stored);
      EXPECT_EQ(stored, "earlier bytes" + EncodeEvent(event)) << seq;
    }
  }
}

TEST(Event, ContentLeavesOutWhatEvidentAdds) {
  Event event = Sample();
  Event again = event;
  again.received_at += 5000;
  again.seq = 99;
  again.request.agent = {"Linux", "Chrome"};
  EXPECT_TRUE(SameContent(again, event));
  again.details = R"({"a":2})";
  EXPECT_FALSE(SameContent(again, event));
}

TEST(Event, ResendWithoutOccurredAtMatchesTheStoredDefault) {
  Event stored = Sample();
  stored.occurred_at_from_client = true;  // as DecodeStoredEvent reads it back
  Event resend = stored;
  resend.occurred_at_from_client = false;
  resend.occurred_at = stored.occurred_at + 60'000;  // defaulted to a later received_at
  EXPECT_TRUE(SameContent(resend, stored));
  resend.occurred_at_from_client = true;
  EXPECT_FALSE(SameContent(resend, stored)) << "a sent occurred_at must match";
}

TEST(Event, StoredFormRoundTrips) {
  const Event event = Sample();
  auto decoded = DecodeStoredEvent(EncodeEvent(event));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, event);
  Event minimal;
  minimal.id = "x";
  minimal.id_from_client = true;
  minimal.occurred_at_from_client = true;
  minimal.tenant = "t";
  minimal.action = "a";
  auto decoded_minimal = DecodeStoredEvent(EncodeEvent(minimal));
  ASSERT_TRUE(decoded_minimal.has_value());
  EXPECT_EQ(*decoded_minimal, minimal);
}

TEST(Event, StoredDecodeReportsCorruption) {
  for (const char* bad : {"", "[]", R"({"action":"a"})",
                          R"({"action":"a","tenant":"t","details":{},"status":"odd"})"}) {
    auto decoded = DecodeStoredEvent(bad);
    ASSERT_FALSE(decoded.has_value()) << bad;
    EXPECT_EQ(decoded.error().code(), util::ErrorCode::kCorruption);
  }
}

}  // namespace
}  // namespace evident::core
