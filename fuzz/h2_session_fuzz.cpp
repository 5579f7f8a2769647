// Feeds the HTTP/2 session plaintext client bytes (what TLS hands over once ALPN chose h2), in
// fuzzer-chosen chunks, with a WebSocket layer above it as the server has: every extended
// CONNECT for websocket opens a tunnel whose DATA goes through the RFC 6455 frame parser, and
// whose messages are echoed back through the tunnel; other requests are answered at once. The
// session's output is produced after every chunk (window updates, resets, GOAWAY), bounded.
//
// Layout: byte 0 the chunk tape length n, bytes 1..n the tape (chunk sizes, 0 = 1 byte), the
// rest the client's bytes (starting with the connection preface for anything interesting).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>

#include "fuzz_support.hpp"
#include "protocol/frame_parser.hpp"
#include "protocol/frame_writer.hpp"
#include "server/h2_session.hpp"

namespace {

using hibiki::fuzz::check;
using hibiki::protocol::FrameEvent;
using hibiki::protocol::FrameParser;
using hibiki::server::H2Request;
using hibiki::server::H2Session;

constexpr std::size_t kMaxOutput = 1u << 20;  // per session: the fuzzer's bytes are bounded too

struct WebSocketLayer final : H2Session::Handler {
  H2Session* session = nullptr;
  std::map<std::int32_t, FrameParser> parsers;
  std::map<std::int32_t, std::string> out;
  std::map<std::int32_t, bool> closing;

  void on_request(std::int32_t stream, H2Request& request) override {
    if (request.method == "CONNECT" && request.protocol == "websocket") {
      parsers[stream].set_max_message_bytes(1u << 16);
      session->open_tunnel(stream, {{"sec-websocket-protocol", "chat"}});
      return;
    }
    session->respond(stream, request.head_too_large ? 431 : 200, {{"content-type", "text/plain"}},
                     request.path, request.method == "HEAD");
  }

  void on_tunnel_data(std::int32_t stream, std::span<std::byte> bytes) override {
    const auto found = parsers.find(stream);
    check(found != parsers.end(), "DATA for a tunnel never opened");
    while (!bytes.empty() && !closing[stream]) {
      FrameEvent event;
      const std::size_t used = found->second.parse(bytes, event);
      check(used <= bytes.size(), "the parser consumed more than it was given");
      bytes = bytes.subspan(used);
      if (event.kind == FrameEvent::Kind::need_more) break;
      if (event.kind == FrameEvent::Kind::error) {
        closing[stream] = true;
        out[stream].append("\x88\x02\x03\xea", 4);  // close 1002
        session->resume(stream);
        return;
      }
      // Echo each chunk back as a frame of its own (enough to exercise the send path).
      if (event.opcode == hibiki::protocol::Opcode::text ||
          event.opcode == hibiki::protocol::Opcode::binary) {
        const auto header = hibiki::protocol::encode_frame_header(
            hibiki::protocol::Opcode::binary, event.payload.size(), {.fin = true});
        out[stream].append(reinterpret_cast<const char*>(header.bytes.data()), header.size);
        out[stream].append(reinterpret_cast<const char*>(event.payload.data()),
                           event.payload.size());
        session->resume(stream);
      }
      if (event.opcode == hibiki::protocol::Opcode::close) {
        closing[stream] = true;
        session->resume(stream);
      }
    }
  }

  void on_tunnel_end(std::int32_t stream) override {
    // Like a TCP FIN: our rest goes out, then END_STREAM.
    closing[stream] = true;
    session->end_tunnel(stream, std::move(out[stream]));
    out.erase(stream);
  }

  void on_stream_close(std::int32_t stream, std::uint32_t) override {
    parsers.erase(stream);
    out.erase(stream);
    closing.erase(stream);
  }

  std::size_t read_tunnel(std::int32_t stream, std::span<std::byte> buffer, bool& end) override {
    std::string& pending = out[stream];
    const std::size_t n = std::min(buffer.size(), pending.size());
    std::memcpy(buffer.data(), pending.data(), n);
    pending.erase(0, n);
    end = pending.empty() && closing[stream];
    return n;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t tape_length = std::min<std::size_t>(data[0], size - 1);
  const std::span<const std::uint8_t> tape(data + 1, tape_length);
  auto input =
      hibiki::fuzz::exact_copy<std::byte>({data + 1 + tape_length, size - 1 - tape_length});
  WebSocketLayer layer;
  H2Session session(
      layer,
      {.max_streams = 8, .max_header_bytes = 1024, .max_headers = 16, .max_body_bytes = 4096});
  layer.session = &session;
  std::size_t produced = 0;
  {
    // The server speaks first (its SETTINGS), as on a real connection.
    hibiki::server::SendQueue queue;
    check(session.produce(queue, 64 * 1024), "the first SETTINGS");
    produced += queue.size();
  }
  std::size_t at = 0;
  for (std::size_t chunk_index = 0; at < input.size(); ++chunk_index) {
    std::size_t chunk = tape.empty() ? input.size() : tape[chunk_index % tape.size()];
    if (chunk == 0) chunk = 1;
    chunk = std::min(chunk, input.size() - at);
    const bool ok = session.receive({input.data() + at, chunk});
    at += chunk;
    hibiki::server::SendQueue queue;
    check(session.produce(queue, 64 * 1024) || !ok, "produce failed on a healthy session");
    produced += queue.size();
    if (!ok || produced > kMaxOutput) break;
  }
  return 0;
}
