// A handle to one WebSocket connection, passed to handlers. Cheap to copy; stays safe to use
// after the connection is gone (calls then do nothing and report SendStatus::closed).
// Thread: only the thread of the loop that owns the connection may call these, i.e. its
// handlers (with ServerOptions::threads = 1, the thread running Server::run()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hibiki {

namespace detail {
class ServerCore;
}

enum class MessageKind : std::uint8_t { text, binary };

enum class SendStatus : std::uint8_t {
  sent,     // written to the socket (or queued behind earlier bytes under the buffer cap)
  dropped,  // not sent: the connection's buffer is full and the policy is drop
  closed,   // not sent: the connection is closing or gone (or the policy closed it now)
};

// RFC 6455 §7.4.1 status codes handlers commonly use.
namespace close_code {
inline constexpr std::uint16_t kNormal = 1000;
inline constexpr std::uint16_t kGoingAway = 1001;
inline constexpr std::uint16_t kProtocolError = 1002;
inline constexpr std::uint16_t kUnsupportedData = 1003;
inline constexpr std::uint16_t kNoStatus = 1005;  // reported to on_close, never sent
inline constexpr std::uint16_t kAbnormal = 1006;  // reported to on_close, never sent
inline constexpr std::uint16_t kInvalidPayload = 1007;
inline constexpr std::uint16_t kPolicyViolation = 1008;
inline constexpr std::uint16_t kMessageTooBig = 1009;
inline constexpr std::uint16_t kInternalError = 1011;
// The server is restarting: reconnect at once (its successor takes the connection).
inline constexpr std::uint16_t kServiceRestart = 1012;
}  // namespace close_code

class WebSocket {
 public:
  WebSocket() = default;

  // Queues one message. Text must be valid UTF-8 (it is not re-checked here).
  SendStatus send(std::string_view message, MessageKind kind = MessageKind::text) const;
  // Starts the closing handshake (RFC 6455 §7.1.2). The reason is cut to 123 bytes.
  void close(std::uint16_t code = close_code::kNormal, std::string_view reason = {}) const;

  // Topics: publish() on the server reaches every subscriber. Returns false if already
  // (un)subscribed or the connection is gone.
  bool subscribe(std::string_view topic) const;
  bool unsubscribe(std::string_view topic) const;

  // Bytes queued but not yet accepted by the kernel.
  [[nodiscard]] std::size_t buffered_amount() const;
  // Unique for the server's lifetime, starting at 1.
  [[nodiscard]] std::uint64_t id() const;
  [[nodiscard]] bool is_open() const;
  // "ip:port" of the peer; empty when the connection is gone.
  [[nodiscard]] std::string remote_address() const;
  // The subprotocol chosen in the handshake, or empty.
  [[nodiscard]] std::string_view protocol() const;

  // One pointer of application data per connection (not owned).
  void set_user_data(void* data) const;
  [[nodiscard]] void* user_data() const;

  friend bool operator==(const WebSocket& a, const WebSocket& b) {
    return a.core_ == b.core_ && a.slot_ == b.slot_ && a.generation_ == b.generation_;
  }

 private:
  friend class detail::ServerCore;
  WebSocket(detail::ServerCore* core, std::uint32_t slot, std::uint32_t generation)
      : core_(core), slot_(slot), generation_(generation) {}

  detail::ServerCore* core_ = nullptr;
  std::uint32_t slot_ = 0;
  std::uint32_t generation_ = 0;
};

}  // namespace hibiki
