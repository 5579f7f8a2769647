#include "apps/chat/chat_messages.hpp"

#include <gtest/gtest.h>

namespace hibiki::apps::chat {
namespace {

TEST(ChatMessages, parses_the_talks_message) {
  ChatMessageParser parser;
  const ClientMessage m = parser.parse(R"({"action":"message","message":"Hello"})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.text, "Hello");
}

TEST(ChatMessages, parses_hello) {
  ChatMessageParser parser;
  const ClientMessage m = parser.parse(R"({"action":"hello"})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.action, ChatAction::hello);
  EXPECT_EQ(parser.parse(R"({"action":"message","message":"x"})").action, ChatAction::message);
}

TEST(ChatMessages, unescapes_json_strings) {
  ChatMessageParser parser;
  const ClientMessage m =
      parser.parse(R"({"message":"a\"b\\c\n\u3042","action":"message","extra":[1,2]})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.text, "a\"b\\c\n\xE3\x81\x82");
}

TEST(ChatMessages, reports_each_kind_of_bad_input) {
  ChatMessageParser parser;
  EXPECT_EQ(parser.parse("{").error, ChatError::invalid_json);
  EXPECT_EQ(parser.parse("").error, ChatError::invalid_json);
  EXPECT_EQ(parser.parse(R"({"action":"message","message":"x"} trailing)").error,
            ChatError::invalid_json);
  EXPECT_EQ(parser.parse("[1,2]").error, ChatError::invalid_json);
  EXPECT_EQ(parser.parse(R"({"message":"x"})").error, ChatError::unknown_action);
  EXPECT_EQ(parser.parse(R"({"action":"dance","message":"x"})").error, ChatError::unknown_action);
  EXPECT_EQ(parser.parse(R"({"action":7})").error, ChatError::unknown_action);
  EXPECT_EQ(parser.parse(R"({"action":"message"})").error, ChatError::invalid_message);
  EXPECT_EQ(parser.parse(R"({"action":"message","message":42})").error, ChatError::invalid_message);
}

TEST(ChatMessages, encodes_the_seed_broadcast_byte_exact) {
  EXPECT_EQ(encode_chat_message(3, "Hello"), R"({"type":"message","body":"Client 3: Hello"})");
}

TEST(ChatMessages, escapes_quotes_controls_and_keeps_utf8) {
  EXPECT_EQ(encode_chat_message(12, "a\"<b>\\\n\x01\xE3\x81\x82"),
            R"({"type":"message","body":"Client 12: a\"<b>\\\n\u0001)"
            "\xE3\x81\x82\"}");
}

TEST(ChatMessages, encodes_welcome_and_errors) {
  EXPECT_EQ(encode_welcome(5), R"({"type":"welcome","id":"5"})");
  EXPECT_EQ(encode_error(ChatError::invalid_json), R"({"type":"error","error":"invalid_json"})");
  EXPECT_EQ(encode_error(ChatError::binary_not_supported),
            R"({"type":"error","error":"binary_not_supported"})");
}

}  // namespace
}  // namespace hibiki::apps::chat
