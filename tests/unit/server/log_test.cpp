// Log lines in both formats, byte for byte; JSON strings whatever the bytes.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "hibiki/log.hpp"

namespace hibiki {
namespace {

std::string json(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(LogTest, TextLineIsUnchangedAndLeavesFieldsOut) {
  EXPECT_EQ(format_log_line(LogFormat::text, "2026-12-05T07:30:00.123Z", LogLevel::info,
                            "conn 1 127.0.0.1:5000: closing 1009: too big",
                            {{"conn", 1}, {"code", 1009}}),
            "2026-12-05T07:30:00.123Z INFO  conn 1 127.0.0.1:5000: closing 1009: too big");
  EXPECT_EQ(format_log_line(LogFormat::text, "T", LogLevel::error, "x"), "T ERROR x");
}

TEST(LogTest, JsonLineHasTimeLevelMessageThenFieldsInOrder) {
  const std::string peer = "10.0.0.1:5000";
  EXPECT_EQ(
      format_log_line(LogFormat::json, "2026-12-05T07:30:00.123Z", LogLevel::warn, "m",
                      {{"conn", std::uint64_t{42}},
                       {"peer", peer},
                       {"code", 1009},
                       {"delta", -3},
                       {"ratio", 0.5},
                       {"tls", true},
                       {"path", "/ws"}}),
      R"({"time":"2026-12-05T07:30:00.123Z","level":"warn","message":"m","conn":42,)"
      R"("peer":"10.0.0.1:5000","code":1009,"delta":-3,"ratio":0.5,"tls":true,"path":"/ws"})");
  EXPECT_EQ(format_log_line(LogFormat::json, "T", LogLevel::debug, ""),
            R"({"time":"T","level":"debug","message":""})");
}

TEST(LogTest, JsonNonFiniteNumbersAreNull) {
  EXPECT_EQ(format_log_line(LogFormat::json, "T", LogLevel::info, "m",
                            {{"x", std::numeric_limits<double>::infinity()}}),
            R"({"time":"T","level":"info","message":"m","x":null})");
}

TEST(LogTest, JsonEscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(json(std::string("\x00\x01\x1f\x7f", 4)), R"("\u0000\u0001\u001f\u007f")");
  EXPECT_EQ(json("/</script>"), R"("/</script>")");
}

TEST(LogTest, JsonKeepsValidUtf8) {
  EXPECT_EQ(json("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE2\x80\xA8"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE2\x80\xA8\"");
}

TEST(LogTest, JsonReplacesEachMaximalInvalidUtf8SequenceWithOneReplacementCharacter) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(json("\xFF"), "\"" + fffd + "\"");
  EXPECT_EQ(json("a\x80z"), "\"a" + fffd + "z\"");
  // A truncated three-byte sequence is one replacement, the next byte is kept.
  EXPECT_EQ(json("\xE2\x82z"), "\"" + fffd + "z\"");
  EXPECT_EQ(json("\xE2\x82"), "\"" + fffd + "\"");
  // Overlong forms, surrogates and code points past U+10FFFF.
  EXPECT_EQ(json("\xC0\xAF"), "\"" + fffd + fffd + "\"");
  EXPECT_EQ(json("\xE0\x80\xAF"), "\"" + fffd + fffd + fffd + "\"");
  EXPECT_EQ(json("\xED\xA0\x80"), "\"" + fffd + fffd + fffd + "\"");
  EXPECT_EQ(json("\xF4\x90\x80\x80"), "\"" + fffd + fffd + fffd + fffd + "\"");
  EXPECT_EQ(json("\xF5"), "\"" + fffd + "\"");
}

TEST(LogTest, JsonEscapesKeysToo) {
  EXPECT_EQ(format_log_line(LogFormat::json, "T", LogLevel::info, "m", {{"a\"b", "\n"}}),
            R"({"time":"T","level":"info","message":"m","a\"b":"\n"})");
}

}  // namespace
}  // namespace hibiki
