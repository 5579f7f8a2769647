// Checks shared by the chat services (see chat_requests.hpp).
#include "apps/chat/chat_requests.hpp"

#include <chrono>
#include <random>

#include "apps/chat/chat_text.hpp"

namespace hibiki::apps::chat {

std::variant<ClientMessage, Refusal> screen_request(TokenBucket& bucket, const ChatLimits& limits,
                                                    ChatMessageParser& parser,
                                                    std::string_view message, MessageKind kind,
                                                    bool hello, std::int64_t now_ms) {
  // Every frame costs a token, valid or not: bad input must not be a free way to load us.
  if (!bucket.try_take(limits.rate, now_ms)) {
    return Refusal{.error = ChatError::rate_limited,
                   .detail = {.retry_ms = bucket.retry_after_ms(limits.rate)}};
  }
  if (kind == MessageKind::binary) return Refusal{.error = ChatError::binary_not_supported};
  ClientMessage request = parser.parse(message);
  if (request.error != ChatError::none) {
    // A refused hello still comes from a client that reads details.
    return Refusal{
        .error = request.error,
        .detail = {.action = request.action_known ? to_string(request.action) : nullptr},
        .detailed = hello || (request.action_known && request.action == ChatAction::hello)};
  }
  if (!hello && request.action != ChatAction::message && request.action != ChatAction::hello) {
    return Refusal{.error = ChatError::hello_required};
  }
  return request;
}

std::optional<Refusal> check_text(std::string_view text, std::string_view room,
                                  const ChatLimits& limits) {
  if (is_blank(text)) {
    return Refusal{.error = ChatError::empty_message,
                   .detail = {.action = "message", .room = room}};
  }
  if (count_code_points(text) > limits.max_text_chars) {
    return Refusal{.error = ChatError::message_too_long,
                   .detail = {.action = "message", .room = room, .max = limits.max_text_chars}};
  }
  return std::nullopt;
}

std::string name_candidate(std::string_view requested, std::size_t n) {
  if (n < 2) return std::string(requested);
  // Built by appending: g++ 12 at -O3 misreads `"-" + std::string` (a false -Wrestrict).
  std::string suffix = "-";
  suffix += std::to_string(n);
  std::string candidate(truncate_code_points(requested, kMaxNameChars - suffix.size()));
  candidate += suffix;
  return candidate;
}

std::string random_decimal() {
  std::random_device device;
  std::mt19937_64 random((static_cast<std::uint64_t>(device()) << 32) ^ device());
  return std::to_string(random());
}

std::int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace hibiki::apps::chat
