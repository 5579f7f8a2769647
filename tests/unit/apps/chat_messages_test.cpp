#include "apps/chat/chat_messages.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hibiki::apps::chat {
namespace {

TEST(ChatMessages, parses_the_talks_message) {
  ChatMessageParser parser;
  const ClientMessage m = parser.parse(R"({"action":"message","message":"Hello"})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.action, ChatAction::message);
  EXPECT_EQ(m.text, "Hello");
  EXPECT_EQ(m.room, "");
}

TEST(ChatMessages, parses_every_action_with_its_fields) {
  ChatMessageParser parser;
  ClientMessage m = parser.parse(R"({"action":"hello"})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.action, ChatAction::hello);
  EXPECT_FALSE(m.since.has_value());

  m = parser.parse(R"({"action":"hello","name":"alice","since":12})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.name, "alice");
  EXPECT_EQ(m.since, 12u);

  m = parser.parse(R"({"action":"join","room":"dev","since":0})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.action, ChatAction::join);
  EXPECT_EQ(m.room, "dev");
  EXPECT_EQ(m.since, 0u);

  m = parser.parse(R"({"action":"leave","room":"dev"})");
  EXPECT_EQ(m.action, ChatAction::leave);
  EXPECT_EQ(m.room, "dev");

  m = parser.parse(R"({"action":"nick","name":"bob"})");
  EXPECT_EQ(m.action, ChatAction::nick);
  EXPECT_EQ(m.name, "bob");

  m = parser.parse(R"({"action":"history","room":"lobby","before":40})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.action, ChatAction::history);
  EXPECT_EQ(m.before, 40u);

  m = parser.parse(R"({"action":"message","message":"x","room":"dev"})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.room, "dev");
}

TEST(ChatMessages, null_optional_fields_count_as_absent) {
  ChatMessageParser parser;
  ClientMessage m = parser.parse(R"({"action":"message","message":"x","room":null})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.room, "");
  m = parser.parse(R"({"action":"join","room":"dev","since":null})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_FALSE(m.since.has_value());
  m = parser.parse(R"({"action":"hello","name":null})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.name, "");
}

TEST(ChatMessages, unescapes_json_strings_and_ignores_unknown_keys) {
  ChatMessageParser parser;
  const ClientMessage m =
      parser.parse(R"({"message":"a\"b\\c\n\u3042","action":"message","extra":[1,2]})");
  EXPECT_EQ(m.error, ChatError::none);
  EXPECT_EQ(m.text, "a\"b\\c\n\xE3\x81\x82");
}

TEST(ChatMessages, reports_each_kind_of_bad_input) {
  ChatMessageParser parser;
  const auto error = [&](const std::string& json) { return parser.parse(json).error; };
  EXPECT_EQ(error("{"), ChatError::invalid_json);
  EXPECT_EQ(error(""), ChatError::invalid_json);
  EXPECT_EQ(error(R"({"action":"message","message":"x"} trailing)"), ChatError::invalid_json);
  EXPECT_EQ(error("[1,2]"), ChatError::invalid_json);
  EXPECT_EQ(error(R"({"message":"x"})"), ChatError::unknown_action);
  EXPECT_EQ(error(R"({"action":"dance","message":"x"})"), ChatError::unknown_action);
  EXPECT_EQ(error(R"({"action":"Join","room":"x"})"), ChatError::unknown_action);
  EXPECT_EQ(error(R"({"action":7})"), ChatError::unknown_action);
  EXPECT_EQ(error(R"({"action":"message"})"), ChatError::invalid_message);
  EXPECT_EQ(error(R"({"action":"message","message":42})"), ChatError::invalid_message);
  EXPECT_EQ(error(R"({"action":"message","message":null})"), ChatError::invalid_message);
  EXPECT_EQ(error(R"({"action":"message","message":"x","room":5})"), ChatError::invalid_room);
  EXPECT_EQ(error(R"({"action":"message","message":"x","room":"No Way"})"),
            ChatError::invalid_room);
  EXPECT_EQ(error(R"({"action":"join"})"), ChatError::invalid_room);
  EXPECT_EQ(error(R"({"action":"join","room":""})"), ChatError::invalid_room);
  EXPECT_EQ(error(R"({"action":"join","room":"Dev"})"), ChatError::invalid_room);
  EXPECT_EQ(error(R"({"action":"join","room":"dev","since":-1})"), ChatError::invalid_since);
  EXPECT_EQ(error(R"({"action":"join","room":"dev","since":1.5})"), ChatError::invalid_since);
  EXPECT_EQ(error(R"({"action":"join","room":"dev","since":"3"})"), ChatError::invalid_since);
  EXPECT_EQ(error(R"({"action":"hello","since":true})"), ChatError::invalid_since);
  EXPECT_EQ(error(R"({"action":"leave","room":["dev"]})"), ChatError::invalid_room);
  EXPECT_EQ(error(R"({"action":"nick"})"), ChatError::invalid_name);
  EXPECT_EQ(error(R"({"action":"nick","name":7})"), ChatError::invalid_name);
  EXPECT_EQ(error(R"({"action":"nick","name":"two words"})"), ChatError::invalid_name);
  EXPECT_EQ(error(R"({"action":"hello","name":"42"})"), ChatError::invalid_name);
  EXPECT_EQ(error(R"({"action":"nick","name":")" + std::string(25, 'a') + "\"}"),
            ChatError::invalid_name);
  EXPECT_EQ(error(R"({"action":"history","room":"dev","before":0})"), ChatError::invalid_before);
  EXPECT_EQ(error(R"({"action":"history","room":"dev","before":"x"})"), ChatError::invalid_before);
}

TEST(ChatMessages, refused_fields_are_not_kept_for_echoing) {
  ChatMessageParser parser;
  const ClientMessage m = parser.parse(R"({"action":"join","room":"<script>"})");
  EXPECT_EQ(m.error, ChatError::invalid_room);
  EXPECT_TRUE(m.action_known);
  EXPECT_EQ(m.action, ChatAction::join);
  EXPECT_EQ(m.room, "");
}

TEST(ChatMessages, every_error_and_action_has_a_wire_name) {
  EXPECT_STREQ(to_string(ChatError::history_gap), "history_gap");
  EXPECT_STREQ(to_string(ChatError::rate_limited), "rate_limited");
  EXPECT_STREQ(to_string(ChatError::store_failed), "store_failed");
  EXPECT_STREQ(to_string(ChatError::unavailable), "unavailable");
  for (int e = 0; e <= static_cast<int>(ChatError::unavailable); ++e) {
    EXPECT_STRNE(to_string(static_cast<ChatError>(e)), "unknown") << e;
  }
  for (int a = 0; a <= static_cast<int>(ChatAction::history); ++a) {
    EXPECT_STRNE(to_string(static_cast<ChatAction>(a)), "unknown") << a;
  }
}

}  // namespace
}  // namespace hibiki::apps::chat
