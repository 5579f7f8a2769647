// Fuzzes the chat's JSON: ChatMessageParser::parse on any input (a reused parser must agree
// with a fresh one), and encode_talk_message must escape any UTF-8 text so it parses back.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "apps/chat/chat_encode.hpp"
#include "apps/chat/chat_messages.hpp"
#include "fuzz_support.hpp"

namespace {

using hibiki::apps::chat::ChatAction;
using hibiki::apps::chat::ChatError;
using hibiki::apps::chat::ClientMessage;
using hibiki::fuzz::check;

bool same(const ClientMessage& a, const ClientMessage& b) {
  return a.error == b.error && a.action == b.action && a.action_known == b.action_known &&
         a.text == b.text && a.room == b.room && a.name == b.name && a.since == b.since &&
         a.before == b.before;
}

bool is_utf8(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

// The talk's broadcast is {"type":"message","body":"Client <label>: <text>"}: a JSON parser
// must read label and text back unchanged.
void check_round_trip(std::string_view label, std::string_view text) {
  static simdjson::dom::parser parser;
  const std::string encoded = hibiki::apps::chat::encode_talk_message(label, text);
  simdjson::dom::element root;
  check(parser.parse(encoded).get(root) == simdjson::SUCCESS, "encoded message is not JSON");
  std::string_view type;
  std::string_view body;
  check(root["type"].get_string().get(type) == simdjson::SUCCESS && type == "message",
        "encoded message without \"type\":\"message\"");
  check(root["body"].get_string().get(body) == simdjson::SUCCESS, "encoded message without body");
  const std::string expected = "Client " + std::string(label) + ": " + std::string(text);
  check(body == expected, "encoded body does not parse back to the text");
}

}  // namespace

// Layout: the bytes of one client text message; the first 8 (little-endian) also give the
// sender id the round trip labels it with.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<char> copy = hibiki::fuzz::exact_copy<char>({data, size});
  const std::string_view input(copy.data(), copy.size());

  // The server keeps one parser for all messages; its reused buffers must not leak state.
  static hibiki::apps::chat::ChatMessageParser reused;
  const ClientMessage message = reused.parse(input);
  hibiki::apps::chat::ChatMessageParser fresh;
  check(same(message, fresh.parse(input)), "reused and fresh parsers disagree");
  check(std::string_view(hibiki::apps::chat::to_string(message.error)) != "unknown",
        "chat error without a name");
  // Strings come out of a validating JSON parser, unescaped: always UTF-8.
  check(is_utf8(message.text) && is_utf8(message.room) && is_utf8(message.name),
        "parsed strings are not UTF-8");

  std::uint64_t sender_id = 0;
  for (std::size_t i = 0; i < size && i < sizeof(sender_id); ++i) {
    sender_id |= std::uint64_t{data[i]} << (8 * i);
  }
  const std::string id_label = std::to_string(sender_id);
  if (message.error == ChatError::none && message.action == ChatAction::message) {
    check_round_trip(message.name.empty() ? std::string_view(id_label) : message.name,
                     message.text);
  }
  // The server validates UTF-8 before the chat sees a message, so only UTF-8 reaches encoding.
  if (is_utf8(input)) {
    check_round_trip(id_label, input);
    check_round_trip(input, input);
  }
  return 0;
}
