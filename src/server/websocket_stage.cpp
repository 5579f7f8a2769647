// The WebSocket stage of a connection: frames in (RFC 6455 §5-§7), messages to handlers,
// frames out with backpressure, the closing handshake and topics.
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "hibiki/log.hpp"
#include "net/socket.hpp"
#include "protocol/close_code.hpp"
#include "protocol/frame_parser.hpp"
#include "protocol/frame_writer.hpp"
#include "server/server_core.hpp"
#include "server/shared_frame.hpp"

namespace hibiki::detail {
namespace {

using protocol::Opcode;
using server::Connection;
using server::ConnectionState;

std::span<const std::byte> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

std::string_view as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// A message buffer that grew for one large message is released once it is delivered, so an
// idle connection does not keep the peak of its history.
constexpr std::size_t kKeepInboxCapacity = 64 * 1024;

}  // namespace

void ServerCore::handle_frames(Connection& c, std::span<std::byte> bytes) {
  while (!bytes.empty() &&
         (c.state == ConnectionState::open || c.state == ConnectionState::closing)) {
    protocol::FrameEvent event;
    const std::size_t consumed = c.parser.parse(bytes, event);
    bytes = bytes.subspan(consumed);
    if (event.kind == protocol::FrameEvent::Kind::need_more) return;
    if (event.kind == protocol::FrameEvent::Kind::error) {
      fail(c, static_cast<std::uint16_t>(protocol::close_code_for(event.error)),
           protocol::to_string(event.error));
      return;
    }
    if (event.frame_start && options_.max_frame_bytes != 0 &&
        event.frame_length > options_.max_frame_bytes && !protocol::is_control(event.opcode)) {
      ++stats_.protocol_errors;
      fail(c, close_code::kMessageTooBig, "frame too big");
      return;
    }
    c.ping_outstanding = false;
    // Every message and every ping counts against the rate, once, at its first chunk.
    if (event.message_start && (event.opcode != Opcode::pong && event.opcode != Opcode::close) &&
        !within_message_rate(c)) {
      ++stats_.closed_message_rate;
      fail(c, close_code::kPolicyViolation, "message rate exceeded");
      return;
    }
    if (protocol::is_control(event.opcode)) {
      if (event.message_start && event.message_end) {
        handle_control(c, event.opcode, event.payload);
      } else {
        std::string& control = c.more().control;
        if (event.message_start) control.clear();
        control.append(as_text(event.payload));
        if (event.message_end) {
          std::string payload = std::move(control);
          control = std::string();
          handle_control(c, event.opcode, as_bytes(payload));
        }
      }
      continue;
    }
    // After our close frame, data is discarded (RFC 6455 §7.1.2) but still parsed so the
    // peer's close frame is found. Not during a restart (a stop with 1012): what the client
    // sent before it saw our close still reaches the application, so a message typed at that
    // moment is handled (the chat stores it; the successor's history has it), not lost.
    if (c.state != ConnectionState::open && !delivers_while_closing(c)) continue;
    if (event.compressed) {
      receive_compressed(c, event);
      continue;
    }
    if (event.message_start && event.message_end) {
      deliver(c, as_text(event.payload), event.opcode);  // whole message in this read: no copy
      continue;
    }
    if (event.message_start) c.inbox.clear();
    c.inbox.append(as_text(event.payload));
    if (event.message_end) {
      deliver(c, c.inbox, event.opcode);
      c.inbox.clear();
      if (c.inbox.capacity() > kKeepInboxCapacity) c.inbox.shrink_to_fit();
    }
  }
}

bool ServerCore::within_message_rate(Connection& c) {
  const std::uint32_t rate = options_.max_messages_per_second;
  if (rate == 0) return true;
  const auto now = static_cast<std::uint32_t>(loop_.now_ms());
  const std::uint32_t elapsed_ms = now - c.rate_refill_ms;  // wraps safely
  c.rate_refill_ms = now;
  const float burst = 2.0f * static_cast<float>(rate);
  c.rate_tokens = std::min(
      burst, c.rate_tokens + static_cast<float>(elapsed_ms) * static_cast<float>(rate) / 1000.0f);
  if (c.rate_tokens < 1.0f) return false;
  c.rate_tokens -= 1.0f;
  return true;
}

void ServerCore::receive_compressed(Connection& c, const protocol::FrameEvent& event) {
  server::CompressionState& z = *c.extras->compression;
  if (event.message_start) {
    c.inbox.clear();
    z.utf8.reset();
    z.validated_bytes = 0;
  }
  // RFC 7692 §7.2.2: inflate as the fragments arrive, capped at the message limit (1009), so a
  // small frame that inflates to gigabytes never gets the memory.
  protocol::Inflater::Status status =
      z.inflater.feed(event.payload, c.inbox, options_.max_message_bytes);
  if (status == protocol::Inflater::Status::ok && event.message_end) {
    status = z.inflater.finish(c.inbox, options_.max_message_bytes);
  }
  if (status != protocol::Inflater::Status::ok) {
    fail(c, static_cast<std::uint16_t>(protocol::close_code_for(status)),
         protocol::to_string(status));
    return;
  }
  if (event.opcode == Opcode::text) {
    // The inflated text is checked as it comes out: fail fast, as for plain text (§8.1).
    const std::string_view fresh = std::string_view(c.inbox).substr(z.validated_bytes);
    if (!z.utf8.feed(fresh) || (event.message_end && !z.utf8.complete())) {
      fail(c, close_code::kInvalidPayload, "invalid_utf8");
      return;
    }
    z.validated_bytes = c.inbox.size();
  }
  if (!event.message_end) return;
  deliver(c, c.inbox, event.opcode);
  c.inbox.clear();
  if (c.inbox.capacity() > kKeepInboxCapacity) c.inbox.shrink_to_fit();
  z.inflater.release();  // frees zlib state when the peer keeps no context between messages
}

void ServerCore::deliver(Connection& c, std::string_view message, Opcode opcode) {
  ++stats_.messages_received;
  if (auto& on_message = routes_.ws_handlers[c.route].on_message) {
    on_message(handle(c), message,
               opcode == Opcode::text ? MessageKind::text : MessageKind::binary);
  }
}

void ServerCore::handle_control(Connection& c, Opcode opcode, std::span<const std::byte> payload) {
  switch (opcode) {
    case Opcode::ping:
      // RFC 6455 §5.5.3: the pong carries the ping's payload. Pongs count against the buffer
      // cap like messages, so a ping flood from a client that never reads is stopped too.
      if (admit(c, protocol::frame_size(payload.size())) == SendStatus::sent) {
        send_frame(c, Opcode::pong, payload);
      }
      return;
    case Opcode::pong:
      return;  // any frame already cleared ping_outstanding
    case Opcode::close:
      break;
    default:
      return;
  }
  const protocol::ParsedClose parsed = protocol::parse_close_payload(payload);
  if (parsed.error != protocol::ClosePayloadError::none) {
    fail(c, static_cast<std::uint16_t>(protocol::close_code_for(parsed.error)),
         "invalid close frame");
    return;
  }
  if (c.state == ConnectionState::open) {
    // RFC 6455 §5.5.1: answer with a close frame echoing the status code.
    c.close_code = parsed.code;
    c.more().close_reason = std::string(parsed.reason);
    // An empty close (1005) is answered with an empty close; otherwise code and reason echo.
    const protocol::ClosePayload reply = protocol::make_close_payload(parsed.code, parsed.reason);
    send_frame(c, Opcode::close, reply.view());
  }
  // Both close frames have crossed: the server ends the TCP connection first (§7.1.1).
  start_draining(c);
}

void ServerCore::fail(Connection& c, std::uint16_t code, std::string_view reason) {
  if (code == close_code::kProtocolError || code == close_code::kInvalidPayload ||
      code == close_code::kMessageTooBig) {
    ++stats_.protocol_errors;
  }
  log(LogLevel::info,
      "conn " + std::to_string(c.id) + " " + c.peer.to_string() + ": closing " +
          std::to_string(code) + ": " + std::string(reason),
      {{"conn", c.id}, {"peer", c.peer.to_string()}, {"code", code}, {"reason", reason}});
  if (c.state == ConnectionState::open) {
    c.close_code = code;
    c.more().close_reason = std::string(reason);
    send_close(c, code, reason);
  }
  // The stream can no longer be parsed: say goodbye and wait only for the peer's EOF.
  start_draining(c);
}

void ServerCore::shut_write(Connection& c) {
  if (c.h2_stream) {
    h2_end_stream(c);  // END_STREAM once the stream's queue is sent
    return;
  }
  c.write_shut = true;
  if (c.tls()) c.tls()->shutdown();  // close_notify before the FIN
  net::shutdown_write(c.fd.get());
}

void ServerCore::start_draining(Connection& c) {
  if (c.state == ConnectionState::closed) return;
  c.state = ConnectionState::draining;
  c.inbox.clear();
  c.inbox.shrink_to_fit();
  if (!c.has_queued() && !c.write_shut) {
    shut_write(c);
  }
  arm_timer(c, options_.close_timeout_ms);
}

bool ServerCore::write_raw(Connection& c, std::span<const std::byte> head,
                           std::span<const std::byte> body, bool now) {
  if (c.state == ConnectionState::closed) return false;
  // On io_uring the response goes out with the turn's other sends, in the same system call.
  if (now && !c.has_queued() && !c.h2_stream && !on_ring(c)) {
    // HTTP responses gain nothing from waiting for the end of the turn, and writing them at
    // once spares an idle connection its queue.
    std::array<iovec, 2> iov{{{const_cast<std::byte*>(head.data()), head.size()},
                              {const_cast<std::byte*>(body.data()), body.size()}}};
    const int count = body.empty() ? 1 : 2;
    const long written = c.tls() ? c.tls()->write(iov.data(), count)
                                 : net::writev_some(c.fd.get(), iov.data(), count);
    if (written < 0 && written != -EAGAIN) {
      schedule_destroy(c, close_code::kAbnormal, std::strerror(static_cast<int>(-written)));
      return false;
    }
    const std::size_t sent = written < 0 ? 0 : static_cast<std::size_t>(written);
    if (sent >= head.size() + body.size()) return true;
    if (sent < head.size()) {
      out(c).push(head.subspan(sent), body);
    } else {
      out(c).push(body.subspan(sent - head.size()));
    }
    mark_dirty(c);
    return true;
  }
  out(c).push(head, body);
  mark_dirty(c);
  return true;
}

void ServerCore::mark_dirty(Connection& c) {
  // Everything queued during this loop turn leaves in one writev before the loop sleeps.
  if (c.flush_queued) return;
  c.flush_queued = true;
  dirty_.push_back(c.slot);
}

bool ServerCore::send_frame(Connection& c, Opcode opcode, std::span<const std::byte> payload,
                            bool compressed) {
  bool written = true;
  for_each_fragment(opcode, payload, compressed,
                    [&](const protocol::FrameHeader& header, std::span<const std::byte> chunk) {
                      written = written && write_raw(c, header.view(), chunk);
                    });
  return written;
}

void ServerCore::send_close(Connection& c, std::uint16_t code, std::string_view reason) {
  const protocol::ClosePayload payload = protocol::make_close_payload(code, reason);
  send_frame(c, Opcode::close, payload.view());
}

bool ServerCore::over_buffer_cap(Connection& c, std::size_t extra) const {
  return c.buffered() + extra > options_.max_buffered_bytes;
}

SendStatus ServerCore::admit(Connection& c, std::size_t frame_bytes) {
  if (c.state != ConnectionState::open) return SendStatus::closed;
  // One message always fits in an empty queue, whatever its size.
  if (!c.has_queued() || !over_buffer_cap(c, frame_bytes)) return SendStatus::sent;
  c.backpressured = true;
  if (options_.backpressure_policy == BackpressurePolicy::drop) {
    ++stats_.messages_dropped;
    return SendStatus::dropped;
  }
  ++stats_.closed_buffer_full;
  log(LogLevel::info,
      "conn " + std::to_string(c.id) + " " + c.peer.to_string() + ": send buffer over " +
          std::to_string(options_.max_buffered_bytes) + " bytes, closing 1008",
      {{"conn", c.id},
       {"peer", c.peer.to_string()},
       {"code", 1008},
       {"max_buffered", options_.max_buffered_bytes}});
  fail(c, close_code::kPolicyViolation, "send buffer full");
  return SendStatus::closed;
}

SendStatus ServerCore::send_message(Connection& c, std::string_view message, MessageKind kind) {
  // Admit before compressing: a compressor with context must not advance for a message that
  // is then dropped. The uncompressed size bounds the compressed one closely enough.
  const SendStatus admitted = admit(c, protocol::frame_size(message.size()));
  if (admitted != SendStatus::sent) return admitted;
  const Opcode opcode = kind == MessageKind::text ? Opcode::text : Opcode::binary;
  if (c.compressed && compressors_.worth_compressing(message.size())) {
    compress_scratch_.clear();
    if (compressors_.compress(*c.extras->compression, message, compress_scratch_)) {
      send_frame(c, opcode, as_bytes(compress_scratch_), /*compressed=*/true);
      ++stats_.messages_sent;
      return SendStatus::sent;
    }
  }
  send_frame(c, opcode, as_bytes(message));
  ++stats_.messages_sent;
  return SendStatus::sent;
}

void ServerCore::close_connection(Connection& c, std::uint16_t code, std::string_view reason) {
  if (c.state != ConnectionState::open) return;
  c.close_code = code;
  c.more().close_reason = std::string(reason.substr(0, protocol::kMaxCloseReason));
  send_close(c, code, reason);
  if (c.state == ConnectionState::closed) return;
  c.state = ConnectionState::closing;
  arm_timer(c, options_.close_timeout_ms);
}

bool ServerCore::subscribe(Connection& c, std::string_view topic) {
  if (c.state != ConnectionState::open) return false;
  return topics_.subscribe(c, topic);
}

bool ServerCore::unsubscribe(Connection& c, std::string_view topic) {
  return topics_.unsubscribe(c, topic);
}

std::size_t ServerCore::publish_local(std::string_view topic_name, std::string_view message,
                                      MessageKind kind) {
  const server::Topic* topic = topics_.find(topic_name);
  if (topic == nullptr) return 0;
  const Opcode opcode = kind == MessageKind::text ? Opcode::text : Opcode::binary;
  // Encode once (DESIGN §5): one plain frame, and one compressed frame per window size for the
  // subscribers that keep no compression context; each queue takes a reference. Only
  // subscribers with a context of their own get a compression of their own.
  server::FrameRef plain;
  std::array<server::FrameRef, server::Compressors::kShareKeys> compressed;
  const bool worth = compressors_.worth_compressing(message.size());
  std::size_t queued = 0;
  // Queueing never runs handlers or erases subscribers (closing is deferred to the end of the
  // turn), so the subscriber vector is stable during this loop.
  for (std::uint32_t slot : topic->subscribers) {
    Connection* c = slots_[slot].connection.get();
    if (c == nullptr || admit(*c, protocol::frame_size(message.size())) != SendStatus::sent) {
      continue;
    }
    ++queued;
    if (c->compressed && worth) {
      server::CompressionState& z = *c->extras->compression;
      if (server::Compressors::shares_output(z)) {
        server::FrameRef& frame = compressed[server::Compressors::share_key(z)];
        if (!frame.get()) {
          compress_scratch_.clear();
          if (compressors_.compress(z, message, compress_scratch_)) {
            frame = make_frame(opcode, as_bytes(compress_scratch_), /*compressed=*/true);
          }
        }
        if (frame.get()) {
          out(*c).push(frame.get());
          mark_dirty(*c);
          continue;
        }
      } else {
        compress_scratch_.clear();
        if (compressors_.compress(z, message, compress_scratch_)) {
          send_frame(*c, opcode, as_bytes(compress_scratch_), /*compressed=*/true);
          continue;
        }
      }
    }
    if (!plain.get()) plain = make_frame(opcode, as_bytes(message), /*compressed=*/false);
    out(*c).push(plain.get());
    mark_dirty(*c);
  }
  stats_.messages_sent += queued;
  return queued;
}

server::FrameRef ServerCore::make_frame(Opcode opcode, std::span<const std::byte> payload,
                                        bool compressed) const {
  // One buffer for the whole message (its fragments back to back), shared by every queue.
  std::size_t total = 0;
  for_each_fragment(opcode, payload, compressed,
                    [&](const protocol::FrameHeader& header, std::span<const std::byte> chunk) {
                      total += header.size + chunk.size();
                    });
  server::FrameRef frame(server::SharedFrame::create(total));
  std::byte* out = frame->data();
  for_each_fragment(opcode, payload, compressed,
                    [&](const protocol::FrameHeader& header, std::span<const std::byte> chunk) {
                      std::memcpy(out, header.bytes.data(), header.size);
                      if (!chunk.empty())
                        std::memcpy(out + header.size, chunk.data(), chunk.size());
                      out += header.size + chunk.size();
                    });
  return frame;
}

template <typename Visit>
void ServerCore::for_each_fragment(Opcode opcode, std::span<const std::byte> payload,
                                   bool compressed, Visit&& visit) const {
  // One frame, or, past max_send_frame_bytes, fragments of that size: the first carries the
  // opcode (and RSV1 for a compressed message, RFC 7692 §6.1), the others are continuations,
  // the last has FIN. Control frames are never fragmented (RFC 6455 §5.5).
  const std::size_t limit = options_.max_send_frame_bytes;
  const std::size_t step = limit == 0 || protocol::is_control(opcode) ? payload.size() : limit;
  for (bool first = true;; first = false) {
    const std::span<const std::byte> chunk = payload.first(std::min(step, payload.size()));
    payload = payload.subspan(chunk.size());
    visit(protocol::encode_frame_header(first ? opcode : Opcode::continuation, chunk.size(),
                                        {.fin = payload.empty(), .rsv1 = compressed && first}),
          chunk);
    if (payload.empty()) return;
  }
}

}  // namespace hibiki::detail
