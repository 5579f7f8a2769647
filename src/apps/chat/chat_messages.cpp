// Chat JSON parsing with simdjson and encoding by hand (the shapes are fixed and byte-exact).
#include "apps/chat/chat_messages.hpp"

#include <simdjson.h>

#include <array>
#include <cstdio>

namespace hibiki::apps::chat {

struct ChatMessageParser::Impl {
  simdjson::dom::parser parser;
  std::string padded;  // the input copied with SIMDJSON_PADDING bytes of slack
};

ChatMessageParser::ChatMessageParser() : impl_(new Impl) {}
ChatMessageParser::~ChatMessageParser() {
  delete impl_;
}

const char* to_string(ChatError error) {
  switch (error) {
    case ChatError::none:
      return "none";
    case ChatError::invalid_json:
      return "invalid_json";
    case ChatError::unknown_action:
      return "unknown_action";
    case ChatError::invalid_message:
      return "invalid_message";
    case ChatError::binary_not_supported:
      return "binary_not_supported";
  }
  return "unknown";
}

ClientMessage ChatMessageParser::parse(std::string_view json) {
  ClientMessage result;
  std::string& padded = impl_->padded;
  padded.assign(json);
  padded.resize(json.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  // The DOM parser validates the whole document, unlike on-demand parsing.
  if (impl_->parser.parse(padded.data(), json.size(), false).get(root) != simdjson::SUCCESS) {
    result.error = ChatError::invalid_json;
    return result;
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    result.error = ChatError::invalid_json;
    return result;
  }
  std::string_view action;
  if (object["action"].get_string().get(action) != simdjson::SUCCESS) {
    result.error = ChatError::unknown_action;
    return result;
  }
  if (action == "hello") {
    result.action = ChatAction::hello;
    return result;
  }
  if (action != "message") {
    result.error = ChatError::unknown_action;
    return result;
  }
  std::string_view text;
  if (object["message"].get_string().get(text) != simdjson::SUCCESS) {
    result.error = ChatError::invalid_message;
    return result;
  }
  result.text.assign(text);
  return result;
}

void append_json_escaped(std::string& out, std::string_view text) {
  for (char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (byte < 0x20) {
          std::array<char, 8> escaped{};
          std::snprintf(escaped.data(), escaped.size(), "\\u%04x", byte);
          out += escaped.data();
        } else {
          out += ch;  // UTF-8 passes through: the server already validated it
        }
    }
  }
}

std::string encode_chat_message(std::uint64_t sender_id, std::string_view text) {
  std::string out;
  out.reserve(40 + text.size());
  out += R"({"type":"message","body":"Client )";
  out += std::to_string(sender_id);
  out += ": ";
  append_json_escaped(out, text);
  out += "\"}";
  return out;
}

std::string encode_welcome(std::uint64_t id) {
  return R"({"type":"welcome","id":")" + std::to_string(id) + "\"}";
}

std::string encode_error(ChatError error) {
  return std::string(R"({"type":"error","error":")") + to_string(error) + "\"}";
}

}  // namespace hibiki::apps::chat
