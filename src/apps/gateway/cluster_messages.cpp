#include "apps/gateway/cluster_messages.hpp"

#include <charconv>
#include <vector>

namespace hibiki::apps::gateway {
namespace {

constexpr std::size_t kMaxLengthDigits = 10;

void put(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
  out += ',';
}

// Splits `message` into exactly `count` netstrings; nullopt on anything malformed.
std::optional<std::vector<std::string_view>> fields(std::string_view message, std::size_t count) {
  std::vector<std::string_view> out;
  while (!message.empty()) {
    const std::size_t colon = message.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > kMaxLengthDigits) {
      return std::nullopt;
    }
    std::size_t length = 0;
    const auto [end, error] = std::from_chars(message.data(), message.data() + colon, length);
    if (error != std::errc() || end != message.data() + colon) return std::nullopt;
    if (message.size() - colon - 1 < length + 1 || message[colon + 1 + length] != ',') {
      return std::nullopt;
    }
    out.push_back(message.substr(colon + 1, length));
    message.remove_prefix(colon + 2 + length);
    if (out.size() > count) return std::nullopt;
  }
  if (out.size() != count) return std::nullopt;
  return out;
}

template <typename Int>
std::optional<Int> number(std::string_view text) {
  Int value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string encode(const ForwardedCall& call) {
  std::string out;
  out.reserve(call.body.size() + call.connection_id.size() + call.topic.size() + 96);
  put(out, "req");
  put(out, call.origin);
  put(out, std::to_string(call.correlation));
  put(out, std::to_string(call.deadline_ms));
  put(out, to_string(call.action));
  put(out, call.connection_id);
  put(out, call.topic);
  put(out, call.body);
  return out;
}

std::string encode(const ForwardedAnswer& answer) {
  std::string out;
  out.reserve(answer.body.size() + answer.error_type.size() + 48);
  put(out, "res");
  put(out, std::to_string(answer.correlation));
  put(out, std::to_string(answer.status));
  put(out, answer.error_type);
  put(out, answer.body);
  return out;
}

std::optional<ForwardedCall> decode_call(std::string_view message) {
  const auto parts = fields(message, 8);
  if (!parts || (*parts)[0] != "req") return std::nullopt;
  const auto correlation = number<std::uint64_t>((*parts)[2]);
  const auto deadline = number<std::int64_t>((*parts)[3]);
  const ManagementAction action = action_from_string((*parts)[4]);
  if (!correlation || !deadline || action == ManagementAction::invalid || (*parts)[1].empty()) {
    return std::nullopt;
  }
  return ForwardedCall{.origin = std::string((*parts)[1]),
                       .correlation = *correlation,
                       .deadline_ms = *deadline,
                       .action = action,
                       .connection_id = std::string((*parts)[5]),
                       .topic = std::string((*parts)[6]),
                       .body = std::string((*parts)[7])};
}

std::optional<ForwardedAnswer> decode_answer(std::string_view message) {
  const auto parts = fields(message, 5);
  if (!parts || (*parts)[0] != "res") return std::nullopt;
  const auto correlation = number<std::uint64_t>((*parts)[1]);
  const auto status = number<int>((*parts)[2]);
  if (!correlation || !status || *status < 100 || *status > 599) return std::nullopt;
  return ForwardedAnswer{.correlation = *correlation,
                         .status = *status,
                         .error_type = std::string((*parts)[3]),
                         .body = std::string((*parts)[4])};
}

ManagementAction action_from_string(std::string_view name) {
  for (const ManagementAction action :
       {ManagementAction::post_to_connection, ManagementAction::get_connection,
        ManagementAction::delete_connection, ManagementAction::publish_topic,
        ManagementAction::subscribe_topic, ManagementAction::unsubscribe_topic}) {
    if (name == to_string(action)) return action;
  }
  return ManagementAction::invalid;
}

}  // namespace hibiki::apps::gateway
