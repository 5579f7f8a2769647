#include "apps/gateway/json_writer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hibiki::apps::gateway {
namespace {

std::string escaped(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(GatewayJsonWriter, escapes_quotes_backslashes_and_short_form_controls) {
  EXPECT_EQ(escaped(""), R"("")");
  EXPECT_EQ(escaped("plain / text"), R"("plain / text")");
  EXPECT_EQ(escaped("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(escaped("\b\f\n\r\t"), R"("\b\f\n\r\t")");
}

TEST(GatewayJsonWriter, escapes_every_other_control_character_as_u00XX) {
  for (int byte = 0; byte < 0x20; ++byte) {
    const std::string in(1, static_cast<char>(byte));
    const std::string out = escaped(in);
    if (byte == '\b' || byte == '\f' || byte == '\n' || byte == '\r' || byte == '\t') continue;
    char expected[16];
    std::snprintf(expected, sizeof expected, "\"\\u%04X\"", byte);
    EXPECT_EQ(out, expected) << byte;
  }
  EXPECT_EQ(escaped(std::string("a\0b", 3)), R"("a\u0000b")");
  EXPECT_EQ(escaped("\x1f\x7f"), "\"\\u001F\x7f\"");  // DEL is not a JSON control character
}

TEST(GatewayJsonWriter, passes_valid_utf8_through) {
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBF";
  EXPECT_EQ(escaped(text), "\"" + text + "\"");
}

TEST(GatewayJsonWriter, replaces_each_byte_of_invalid_utf8_with_u_fffd) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(escaped("\xFF"), "\"" + fffd + "\"");
  EXPECT_EQ(escaped("a\x80z"), "\"a" + fffd + "z\"");                    // lone continuation
  EXPECT_EQ(escaped("\xC0\xAF"), "\"" + fffd + fffd + "\"");             // overlong '/'
  EXPECT_EQ(escaped("\xED\xA0\x80"), "\"" + fffd + fffd + fffd + "\"");  // surrogate
  EXPECT_EQ(escaped("\xF4\x90\x80\x80"), "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
  EXPECT_EQ(escaped("\xE2\x82"), "\"" + fffd + fffd + "\"");  // truncated at the end
}

TEST(GatewayJsonWriter, places_commas_and_colons) {
  JsonWriter json;
  json.begin_object();
  json.key("a").number(-12);
  json.key("b").begin_array().string("x").boolean(true).null().begin_object().end_object();
  json.end_array();
  json.key("c").begin_object().key("d").boolean(false).end_object();
  json.key("e").raw(R"({"f":1})");
  json.key("g").number(9007199254740993);
  json.end_object();
  EXPECT_EQ(json.str(),
            R"({"a":-12,"b":["x",true,null,{}],"c":{"d":false},"e":{"f":1},"g":9007199254740993})");
  const std::string taken = json.take();
  EXPECT_TRUE(json.str().empty());
  json.begin_array().end_array();
  EXPECT_EQ(json.str(), "[]");
}

TEST(GatewayJsonWriter, escapes_keys_too) {
  JsonWriter json;
  json.begin_object().key("X-\"Odd\"\n").string("v").end_object();
  EXPECT_EQ(json.str(), R"({"X-\"Odd\"\n":"v"})");
}

}  // namespace
}  // namespace hibiki::apps::gateway
