// How TLS records reach the server's WebSocket parser: the server reads records ahead (many per
// recv) and stops reading once the socket is empty, so these check that nothing is held back or
// lost at the edges: many records in one segment, a record cut across two segments with a pause
// between them, the upgrade request in the same segment as the client's Finished, a message
// larger than the server's read buffer. Clients keep their OpenSSL state in memory BIOs and
// decide themselves which bytes go out in which send(2) (tls_test_client.hpp). Also what the server
// negotiates: the TLS 1.3 suite it prefers and one session ticket per connection.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "hibiki/server.hpp"
#include "running_server.hpp"
#include "throwaway_certificate.hpp"
#include "tls_test_client.hpp"

namespace hibiki {
namespace {

using testing::Certificate;
using testing::make_certificate;
using testing::RunningServer;
using testing::TempDir;
using testing::TlsTestClient;

constexpr std::string_view kUpgrade =
    "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// FIN, the text opcode and the payload length, with the MASK bit for a client's frame.
std::string text_frame_head(std::size_t n, bool masked) {
  const std::size_t mask_bit = masked ? 0x80 : 0;
  std::string head(1, '\x81');
  if (n < 126) {
    head += static_cast<char>(mask_bit | n);
  } else if (n <= 0xFFFF) {
    head += static_cast<char>(mask_bit | 126);
    head += static_cast<char>(n >> 8);
    head += static_cast<char>(n & 0xFF);
  } else {
    head += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      head += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF);
  }
  return head;
}

// A masked client text frame (key 01 02 03 04).
std::string masked_text_frame(std::string_view payload) {
  std::string frame = text_frame_head(payload.size(), true);
  const std::array<char, 4> key{1, 2, 3, 4};
  frame.append(key.data(), key.size());
  for (std::size_t i = 0; i < payload.size(); ++i)
    frame += static_cast<char>(payload[i] ^ key[i % 4]);
  return frame;
}

// The server's unmasked frame for a text message, as an echo sends it back.
std::string server_text_frame(std::string_view payload) {
  return text_frame_head(payload.size(), false) + std::string(payload);
}

// A TLS 1.3 client whose records are made in memory and sent when it says so (TCP_NODELAY: each
// send(2) goes out at once), counting the session tickets it is sent.
class RecordClient : public TlsTestClient {
 public:
  explicit RecordClient(std::uint16_t port)
      : TlsTestClient(port, {.no_delay = true, .tls13_only = true, .count_tickets = true}) {}
};

class TlsRecords : public ::testing::Test {
 protected:
  void SetUp() override {
    certificate_ = make_certificate(dir_.path(), "server");
    ServerOptions options = testing::loopback_options(1);
    options.tls_certificate_file = certificate_.cert;
    options.tls_private_key_file = certificate_.key;
    server_ = std::make_unique<Server>(options);
    server_->ws("/echo", {.on_message = [](WebSocket ws, std::string_view message,
                                           MessageKind kind) { ws.send(message, kind); }});
    running_ = std::make_unique<RunningServer>(*server_);
  }

  // A client through the handshake and the upgrade, each sent on its own.
  std::unique_ptr<RecordClient> open_client() {
    auto client = std::make_unique<RecordClient>(running_->port());
    EXPECT_TRUE(client->connected());
    EXPECT_TRUE(client->handshake_keeping_finished());
    client->send();
    client->record(kUpgrade);
    client->send();
    EXPECT_TRUE(client->read_head().starts_with("HTTP/1.1 101"));
    return client;
  }

  TempDir dir_;
  Certificate certificate_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<RunningServer> running_;
};

TEST_F(TlsRecords, many_records_in_one_segment_are_all_answered) {
  auto client = open_client();
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    const std::string message = "message " + std::to_string(i);
    client->record(masked_text_frame(message));
    expected += server_text_frame(message);
  }
  client->send();
  EXPECT_EQ(client->read(expected.size()), expected);
}

TEST_F(TlsRecords, a_record_cut_across_two_segments_is_answered_when_its_end_arrives) {
  auto client = open_client();
  const std::string message(300, 'a');
  client->record(masked_text_frame("first"));
  client->record(masked_text_frame(message));
  const std::size_t total = client->unsent();
  // The first record whole and a few bytes of the second, then a pause the server must wait
  // out without losing the start of the second record.
  client->send(total - 100, std::chrono::milliseconds(200));
  const std::string expected = server_text_frame("first") + server_text_frame(message);
  EXPECT_EQ(client->read(expected.size()), expected);
}

TEST_F(TlsRecords, a_record_header_cut_in_two_is_answered_when_its_end_arrives) {
  auto client = open_client();
  client->record(masked_text_frame("hello"));
  client->send(3, std::chrono::milliseconds(200));  // 3 of the 5 header bytes, then the rest
  EXPECT_EQ(client->read(7), server_text_frame("hello"));
}

TEST_F(TlsRecords, an_upgrade_sent_with_the_clients_finished_is_answered) {
  RecordClient client(running_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.handshake_keeping_finished());
  // The Finished, the upgrade and a first message in one segment: the server reads them all
  // while it completes its handshake, and must not wait for more bytes before answering.
  client.record(kUpgrade);
  client.record(masked_text_frame("early"));
  client.send();
  EXPECT_TRUE(client.read_head().starts_with("HTTP/1.1 101"));
  EXPECT_EQ(client.read(7), server_text_frame("early"));
}

TEST_F(TlsRecords, a_message_larger_than_the_read_buffer_comes_back_whole) {
  auto client = open_client();
  std::string message(300 * 1024, ' ');
  for (std::size_t i = 0; i < message.size(); ++i)
    message[i] = static_cast<char>('a' + i % 26);
  const std::string frame = masked_text_frame(message);
  for (std::size_t at = 0; at < frame.size(); at += 16 * 1024)
    client->record(std::string_view(frame).substr(at, 16 * 1024));
  client->send();
  const std::string expected = server_text_frame(message);
  EXPECT_EQ(client->read(expected.size()), expected);
}

TEST_F(TlsRecords, tls13_prefers_aes128_gcm_and_sends_one_ticket) {
  auto client = open_client();
  // A client offering OpenSSL's default order (AES-256 first) gets the server's preference.
  EXPECT_EQ(client->suite(), "TLS_AES_128_GCM_SHA256");
  client->record(masked_text_frame("x"));
  client->send();
  EXPECT_EQ(client->read(3), server_text_frame("x"));  // tickets came before, and were read
  EXPECT_EQ(client->tickets(), 1);
}

}  // namespace
}  // namespace hibiki
