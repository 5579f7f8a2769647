#include "apps/chat/chat_encode.hpp"

#include "apps/common/json_text.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace hibiki::apps::chat {
namespace {

TEST(ChatEncode, encodes_the_seed_broadcast_byte_exact) {
  EXPECT_EQ(encode_talk_message("3", "Hello"), R"({"type":"message","body":"Client 3: Hello"})");
  EXPECT_EQ(encode_talk_message("alice", "Hi"), R"({"type":"message","body":"Client alice: Hi"})");
}

TEST(ChatEncode, escapes_quotes_controls_and_keeps_utf8) {
  EXPECT_EQ(encode_talk_message("12", "a\"<b>\\\n\x01\xE3\x81\x82"),
            R"({"type":"message","body":"Client 12: a\"<b>\\\n\u0001)"
            "\xE3\x81\x82\"}");
  std::string all_controls;
  for (char c = 0; c < 0x20; ++c)
    all_controls += c;
  std::string out;
  append_json_escaped(out, all_controls);
  EXPECT_EQ(out.find_first_of(all_controls), std::string::npos);
  EXPECT_EQ(out.substr(0, 12), "\\u0000\\u0001");
}

TEST(ChatEncode, structured_message_keeps_the_talks_body_first) {
  const MessageView m{.room = "lobby",
                      .id = 12,
                      .from = {.id = "7", .name = "alice"},
                      .text = "hi \"you\"",
                      .ts_ms = 1'700'000'000'123};
  EXPECT_EQ(encode_message(m),
            R"({"type":"message","body":"Client alice: hi \"you\"","id":12,"room":"lobby",)"
            R"("from":{"id":"7","name":"alice"},"text":"hi \"you\"","ts":1700000000123})");
}

TEST(ChatEncode, a_sender_without_a_name_is_its_id_in_the_body_and_null_in_from) {
  const MessageView m{
      .room = "dev", .id = 1, .from = {.id = "9", .name = ""}, .text = "x", .ts_ms = 5};
  EXPECT_EQ(encode_message(m), R"({"type":"message","body":"Client 9: x","id":1,"room":"dev",)"
                               R"("from":{"id":"9","name":null},"text":"x","ts":5})");
}

TEST(ChatEncode, welcome_carries_identity_room_and_limits) {
  ChatLimits limits;
  limits.rate = {.rate_per_s = 0.5, .burst = 3};
  EXPECT_EQ(encode_welcome({.id = "5", .name = ""}, "lobby", limits),
            R"({"type":"welcome","id":"5","name":null,"room":"lobby","limits":{"text":4000,)"
            R"("rooms":10,"history":50,"rate":0.5,"burst":3,"name":24,"room":32}})");
  EXPECT_NE(
      encode_welcome({.id = "5", .name = "bo"}, "", limits).find(R"("name":"bo","room":null,)"),
      std::string::npos);
}

TEST(ChatEncode, joined_lists_members_and_history_wraps_messages) {
  const std::array<MemberView, 2> members{{{.id = "1", .name = "a"}, {.id = "2", .name = ""}}};
  EXPECT_EQ(encode_joined("dev", members),
            R"({"type":"joined","room":"dev","members":[{"id":"1","name":"a"},)"
            R"({"id":"2","name":null}]})");
  EXPECT_EQ(encode_joined("dev", {}), R"({"type":"joined","room":"dev","members":[]})");

  std::string items;
  append_message(items, {.room = "dev", .id = 3, .from = {"1", "a"}, .text = "t", .ts_ms = 9});
  EXPECT_EQ(encode_history("dev", items, 3, 0),
            R"({"type":"history","room":"dev","messages":[{"type":"message",)"
            R"("body":"Client a: t","id":3,"room":"dev","from":{"id":"1","name":"a"},)"
            R"("text":"t","ts":9}],"latest":3})");
  EXPECT_EQ(encode_history("dev", "", 0, 0),
            R"({"type":"history","room":"dev","messages":[],"latest":0})");
  EXPECT_EQ(encode_history("dev", "", 50, 20),
            R"({"type":"history","room":"dev","messages":[],"latest":50,"before":20})");
}

TEST(ChatEncode, presence_left_and_nick) {
  EXPECT_EQ(encode_presence("lobby", PresenceEvent::join, {"4", ""}, 2),
            R"({"type":"presence","room":"lobby","event":"join",)"
            R"("member":{"id":"4","name":null},"count":2})");
  EXPECT_EQ(encode_presence("lobby", PresenceEvent::leave, {"4", "bo"}, 1),
            R"({"type":"presence","room":"lobby","event":"leave",)"
            R"("member":{"id":"4","name":"bo"},"count":1})");
  EXPECT_EQ(encode_presence("lobby", PresenceEvent::nick, {"4", "bo"}, 3, ""),
            R"({"type":"presence","room":"lobby","event":"nick",)"
            R"("member":{"id":"4","name":"bo"},"count":3,"previous":null})");
  EXPECT_TRUE(encode_presence("x", PresenceEvent::nick, {"4", "b"}, 1, "a")
                  .ends_with(R"("count":1,"previous":"a"})"));
  EXPECT_EQ(encode_left("dev"), R"({"type":"left","room":"dev"})");
  EXPECT_EQ(encode_nick({"4", "bo"}), R"({"type":"nick","id":"4","name":"bo"})");
}

TEST(ChatEncode, talk_errors_are_the_bare_shape) {
  EXPECT_EQ(encode_error(ChatError::invalid_json), R"({"type":"error","error":"invalid_json"})");
  EXPECT_EQ(encode_error(ChatError::binary_not_supported),
            R"({"type":"error","error":"binary_not_supported"})");
  EXPECT_EQ(encode_error(ChatError::rate_limited), R"({"type":"error","error":"rate_limited"})");
}

TEST(ChatEncode, detailed_errors_carry_a_description_and_context) {
  const std::string gap = encode_error(
      ChatError::history_gap,
      {.action = "join", .room = "dev", .max = 50, .has_since = true, .since = 3, .latest = 90});
  EXPECT_TRUE(gap.starts_with(R"({"type":"error","error":"history_gap","detail":")")) << gap;
  EXPECT_TRUE(gap.ends_with(R"(,"action":"join","room":"dev","max":50,"since":3,"latest":90})"))
      << gap;
  const std::string rate = encode_error(ChatError::rate_limited, {.retry_ms = 250});
  EXPECT_TRUE(rate.ends_with(R"(,"retry_ms":250})")) << rate;
  EXPECT_EQ(rate.find("action"), std::string::npos);
  for (int e = 1; e <= static_cast<int>(ChatError::unavailable); ++e) {
    const std::string out = encode_error(static_cast<ChatError>(e), {});
    EXPECT_EQ(out.find(R"("detail":"")"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace hibiki::apps::chat
