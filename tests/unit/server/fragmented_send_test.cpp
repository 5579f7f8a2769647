// ServerOptions::max_send_frame_bytes: messages longer than the limit go out as a fragmented
// message (RFC 6455 §5.4), byte for byte: the first frame carries the opcode, the others are
// continuations, only the last has FIN; sent and published alike; control frames stay whole.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hibiki/server.hpp"
#include "running_server.hpp"
#include "test_client.hpp"
#include "test_io.hpp"

namespace hibiki {
namespace {

using protocol::Opcode;
using testing::RunningServer;
using testing::TestClient;

struct RawFrame {
  bool fin = false;
  bool rsv1 = false;
  std::uint8_t opcode = 0;
  std::string payload;
};

// Reads one unmasked server frame off the wire, header byte by header byte.
RawFrame read_frame(TestClient& client) {
  RawFrame frame;
  const std::string head = client.read_bytes(2);
  EXPECT_EQ(head.size(), 2u);
  if (head.size() < 2) return frame;
  const auto b0 = static_cast<std::uint8_t>(head[0]);
  const auto b1 = static_cast<std::uint8_t>(head[1]);
  frame.fin = (b0 & 0x80) != 0;
  frame.rsv1 = (b0 & 0x40) != 0;
  frame.opcode = b0 & 0x0F;
  EXPECT_EQ(b1 & 0x80, 0) << "server frames are not masked";
  std::uint64_t length = b1 & 0x7F;
  if (length == 126) {
    const std::string ext = client.read_bytes(2);
    length = (static_cast<std::uint8_t>(ext[0]) << 8) | static_cast<std::uint8_t>(ext[1]);
  } else if (length == 127) {
    const std::string ext = client.read_bytes(8);
    length = 0;
    for (char c : ext)
      length = (length << 8) | static_cast<std::uint8_t>(c);
  }
  frame.payload = client.read_bytes(length);
  return frame;
}

std::string pattern(std::size_t size) {
  std::string text(size, 'a');
  for (std::size_t i = 0; i < size; ++i)
    text[i] = static_cast<char>('a' + i % 26);
  return text;
}

ServerOptions with_limit(std::size_t limit) {
  ServerOptions options = testing::loopback_options(1);
  options.max_send_frame_bytes = limit;
  return options;
}

// Clients send "send:N" or "publish:N"; the server answers with an N-byte message.
void mount(Server& server) {
  server.ws("/", {.on_open = [](WebSocket ws) { ws.subscribe("all"); },
                  .on_message =
                      [&server](WebSocket ws, std::string_view message, MessageKind) {
                        const std::size_t size =
                            std::stoul(std::string(message.substr(message.find(':') + 1)));
                        if (message.starts_with("send:")) {
                          ws.send(pattern(size), MessageKind::binary);
                        } else {
                          server.publish("all", pattern(size));
                        }
                      }});
}

TEST(FragmentedSend, a_long_message_goes_out_in_frames_of_the_limit) {
  Server server(testing::on_test_io(with_limit(1000)));
  mount(server);
  RunningServer running(server);
  TestClient client(running.port());
  ASSERT_NE(client.handshake().find("101"), std::string::npos);
  for (const char* how : {"send", "publish"}) {
    client.send(Opcode::text, std::string(how) + ":2500");
    const std::vector<RawFrame> frames = {read_frame(client), read_frame(client),
                                          read_frame(client)};
    const std::uint8_t first = std::string(how) == "send" ? 0x2 : 0x1;  // binary / text
    EXPECT_EQ(frames[0].opcode, first) << how;
    EXPECT_FALSE(frames[0].fin) << how;
    EXPECT_EQ(frames[0].payload.size(), 1000u) << how;
    EXPECT_EQ(frames[1].opcode, 0x0) << how;
    EXPECT_FALSE(frames[1].fin) << how;
    EXPECT_EQ(frames[1].payload.size(), 1000u) << how;
    EXPECT_EQ(frames[2].opcode, 0x0) << how;
    EXPECT_TRUE(frames[2].fin) << how;
    EXPECT_EQ(frames[2].payload.size(), 500u) << how;
    EXPECT_EQ(frames[0].payload + frames[1].payload + frames[2].payload, pattern(2500)) << how;
    for (const RawFrame& frame : frames)
      EXPECT_FALSE(frame.rsv1);
  }
  // Up to the limit: one frame. Empty: one empty frame.
  for (const std::size_t size : {1000u, 0u}) {
    client.send(Opcode::text, "send:" + std::to_string(size));
    const RawFrame whole = read_frame(client);
    EXPECT_TRUE(whole.fin);
    EXPECT_EQ(whole.opcode, 0x2);
    EXPECT_EQ(whole.payload.size(), size);
  }
  // Control frames are never fragmented: a 125-byte ping is answered by one pong.
  client.send(Opcode::ping, std::string(125, 'p'));
  const RawFrame pong = read_frame(client);
  EXPECT_EQ(pong.opcode, 0xA);
  EXPECT_TRUE(pong.fin);
  EXPECT_EQ(pong.payload.size(), 125u);
}

TEST(FragmentedSend, without_a_limit_a_message_is_one_frame) {
  Server server(testing::on_test_io(with_limit(0)));
  mount(server);
  RunningServer running(server);
  TestClient client(running.port());
  ASSERT_NE(client.handshake().find("101"), std::string::npos);
  client.send(Opcode::text, "publish:100000");
  const RawFrame frame = read_frame(client);
  EXPECT_TRUE(frame.fin);
  EXPECT_EQ(frame.opcode, 0x1);
  EXPECT_EQ(frame.payload, pattern(100000));
}

TEST(FragmentedSend, a_compressed_message_marks_only_its_first_fragment) {
  ServerOptions options = with_limit(8);  // the pattern compresses to a few dozen bytes
  options.compression = CompressionMode::dedicated;
  options.compression_threshold_bytes = 0;
  Server server(testing::on_test_io(options));
  mount(server);
  RunningServer running(server);
  TestClient client(running.port());
  ASSERT_NE(client.handshake("/", "Sec-WebSocket-Extensions: permessage-deflate\r\n")
                .find("permessage-deflate"),
            std::string::npos);
  client.send(Opcode::text, "send:5000");
  std::vector<RawFrame> frames;
  do {
    frames.push_back(read_frame(client));
  } while (!frames.back().fin && frames.size() < 100);
  ASSERT_GE(frames.size(), 2u);
  EXPECT_TRUE(frames.front().rsv1);
  for (std::size_t i = 1; i < frames.size(); ++i) {
    EXPECT_FALSE(frames[i].rsv1) << i;
    EXPECT_EQ(frames[i].opcode, 0x0) << i;
    EXPECT_LE(frames[i].payload.size(), 8u) << i;
  }
}

}  // namespace
}  // namespace hibiki
