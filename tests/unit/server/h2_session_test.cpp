// H2Session byte by byte: a client made with nghttp2's own client session talks to it through
// memory; the server's output is parsed back by that client.
#include "server/h2_session.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <array>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace hibiki::server {
namespace {

std::span<std::byte> writable(std::string& s) {
  return {reinterpret_cast<std::byte*>(s.data()), s.size()};
}

// What a server application would do, recorded.
struct RecordingHandler final : H2Session::Handler {
  std::vector<std::pair<std::int32_t, H2Request>> requests;
  std::map<std::int32_t, std::string> tunnel_in;
  std::map<std::int32_t, std::string> tunnel_out;  // what read_tunnel hands out
  std::map<std::int32_t, bool> tunnel_done;
  std::vector<std::int32_t> ended;
  std::vector<std::pair<std::int32_t, std::uint32_t>> closed;

  void on_request(std::int32_t stream, H2Request& request) override {
    requests.emplace_back(stream, request);
  }
  void on_tunnel_data(std::int32_t stream, std::span<std::byte> bytes) override {
    tunnel_in[stream].append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void on_tunnel_end(std::int32_t stream) override { ended.push_back(stream); }
  void on_stream_close(std::int32_t stream, std::uint32_t code) override {
    closed.emplace_back(stream, code);
  }
  std::size_t read_tunnel(std::int32_t stream, std::span<std::byte> out, bool& end) override {
    std::string& pending = tunnel_out[stream];
    const std::size_t n = std::min(out.size(), pending.size());
    std::memcpy(out.data(), pending.data(), n);
    pending.erase(0, n);
    end = pending.empty() && tunnel_done[stream];
    return n;
  }
};

// The client side: nghttp2's client session, recording what the server sent.
class Client {
 public:
  Client() {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                      std::uint8_t, void* self) {
          static_cast<Client*>(self)->headers[frame->hd.stream_id][std::string(
              reinterpret_cast<const char*>(name), name_length)] =
              std::string(reinterpret_cast<const char*>(value), value_length);
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        callbacks, [](nghttp2_session*, std::uint8_t, std::int32_t stream, const std::uint8_t* data,
                      std::size_t length, void* self) {
          static_cast<Client*>(self)->data[stream].append(reinterpret_cast<const char*>(data),
                                                          length);
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* self) {
          auto& client = *static_cast<Client*>(self);
          if (frame->hd.type == NGHTTP2_GOAWAY) client.goaway_code = frame->goaway.error_code;
          if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
            client.ended.push_back(frame->hd.stream_id);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        callbacks, [](nghttp2_session*, std::int32_t stream, std::uint32_t code, void* self) {
          static_cast<Client*>(self)->closed[stream] = code;
          return 0;
        });
    nghttp2_session_client_new(&session, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Client() { nghttp2_session_del(session); }

  std::string output() {
    std::string out;
    for (;;) {
      const std::uint8_t* bytes = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session, &bytes);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(n));
    }
    return out;
  }
  void input(const std::string& bytes) {
    ASSERT_EQ(nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                       bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  std::int32_t request(const std::vector<std::pair<std::string, std::string>>& fields,
                       bool end_stream, nghttp2_data_provider* body = nullptr) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : fields) {
      nva.push_back({const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
                     const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())),
                     name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    if (end_stream || body != nullptr) {
      return nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), body, nullptr);
    }
    return nghttp2_submit_headers(session, NGHTTP2_FLAG_NONE, -1, nullptr, nva.data(), nva.size(),
                                  nullptr);
  }

  nghttp2_session* session = nullptr;
  std::map<std::int32_t, std::map<std::string, std::string>> headers;
  std::map<std::int32_t, std::string> data;
  std::map<std::int32_t, std::uint32_t> closed;
  std::vector<std::int32_t> ended;
  std::int64_t goaway_code = -1;
};

// Moves bytes both ways until neither side has anything to say.
void pump(Client& client, H2Session& server) {
  for (int round = 0; round < 16; ++round) {
    std::string to_server = client.output();
    if (!to_server.empty()) {
      ASSERT_TRUE(server.receive(writable(to_server)));
    }
    SendQueue queue;
    ASSERT_TRUE(server.produce(queue, 1u << 20));
    std::string to_client(queue.size(), '\0');
    queue.take(writable(to_client));
    if (!to_client.empty()) client.input(to_client);
    if (to_server.empty() && to_client.empty()) return;
  }
}

const std::vector<std::pair<std::string, std::string>> kConnect = {
    {":method", "CONNECT"},
    {":protocol", "websocket"},
    {":scheme", "https"},
    {":path", "/chat?room=a"},
    {":authority", "example.test"},
    {"sec-websocket-version", "13"},
    {"sec-websocket-protocol", "v1"}};

TEST(H2Session, AnnouncesExtendedConnectAndTheStreamLimit) {
  RecordingHandler handler;
  H2Session server(handler, {.max_streams = 128});
  Client client;
  pump(client, server);
  EXPECT_EQ(
      nghttp2_session_get_remote_settings(client.session, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL),
      1u);
  EXPECT_EQ(
      nghttp2_session_get_remote_settings(client.session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
      128u);
}

TEST(H2Session, ExtendedConnectOpensATunnelBothWays) {
  RecordingHandler handler;
  H2Session server(handler, {});
  Client client;
  pump(client, server);  // SETTINGS both ways first: :protocol needs the server's
  const std::int32_t id = client.request(kConnect, /*end_stream=*/false);
  ASSERT_GT(id, 0);
  pump(client, server);
  ASSERT_EQ(handler.requests.size(), 1u);
  const H2Request& request = handler.requests[0].second;
  EXPECT_EQ(request.method, "CONNECT");
  EXPECT_EQ(request.protocol, "websocket");
  EXPECT_EQ(request.path, "/chat?room=a");
  EXPECT_EQ(request.authority, "example.test");
  ASSERT_EQ(request.headers.size(), 2u);
  EXPECT_EQ(request.headers[0].first, "sec-websocket-version");

  server.open_tunnel(id, {{"sec-websocket-protocol", "v1"}});
  handler.tunnel_out[id] = "\x81\x02hi";  // an unmasked server text frame
  pump(client, server);
  EXPECT_EQ(client.headers[id][":status"], "200");
  EXPECT_EQ(client.headers[id]["sec-websocket-protocol"], "v1");
  EXPECT_EQ(client.headers[id].count("sec-websocket-accept"), 0u);
  EXPECT_EQ(client.data[id], "\x81\x02hi");

  // Client DATA reaches the handler, in order, as sent.
  static std::string frames = std::string("\x81\x82\x01\x02\x03\x04", 6) + "ik";
  nghttp2_data_provider body{};
  body.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                          std::uint32_t* flags, nghttp2_data_source*, void*) -> ssize_t {
    const std::size_t n = std::min(length, frames.size());
    std::memcpy(buffer, frames.data(), n);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  };
  ASSERT_EQ(nghttp2_submit_data(client.session, NGHTTP2_FLAG_END_STREAM, id, &body), 0);
  pump(client, server);
  EXPECT_EQ(handler.tunnel_in[id], frames);
  EXPECT_EQ(handler.ended, std::vector<std::int32_t>{id});  // END_STREAM = the WebSocket's FIN

  // Our side ends: END_STREAM after the last byte, and the stream closes cleanly.
  handler.tunnel_out[id] = "\x88\x02\x03\xe8";
  handler.tunnel_done[id] = true;
  server.resume(id);
  pump(client, server);
  EXPECT_EQ(client.data[id], std::string("\x81\x02hi\x88\x02\x03\xe8", 8));
  EXPECT_EQ(client.closed.at(id), 0u);
  ASSERT_EQ(handler.closed.size(), 1u);
  EXPECT_EQ(handler.closed[0].second, 0u);
}

TEST(H2Session, AnswersAGetWithHeadersAndBody) {
  RecordingHandler handler;
  H2Session server(handler, {});
  Client client;
  const std::int32_t id = client.request(
      {{":method", "GET"}, {":scheme", "https"}, {":path", "/metrics"}, {":authority", "x"}},
      /*end_stream=*/true);
  pump(client, server);
  ASSERT_EQ(handler.requests.size(), 1u);
  EXPECT_EQ(handler.requests[0].second.method, "GET");
  const std::string body(100'000, 'b');  // more than one DATA frame, more than one window
  server.respond(id, 200, {{"content-type", "text/plain"}}, body);
  pump(client, server);
  for (int i = 0; i < 8 && client.data[id].size() < body.size(); ++i)
    pump(client, server);
  EXPECT_EQ(client.headers[id][":status"], "200");
  EXPECT_EQ(client.headers[id]["content-length"], "100000");
  EXPECT_EQ(client.data[id], body);
}

TEST(H2Session, HeadersOverTheLimitAreFlaggedFor431) {
  RecordingHandler handler;
  H2Session server(handler, {.max_header_bytes = 100});
  Client client;
  client.request({{":method", "GET"},
                  {":scheme", "https"},
                  {":path", "/"},
                  {":authority", "x"},
                  {"x-big", std::string(200, 'a')}},
                 /*end_stream=*/true);
  pump(client, server);
  ASSERT_EQ(handler.requests.size(), 1u);
  EXPECT_TRUE(handler.requests[0].second.head_too_large);
}

TEST(H2Session, AResetStreamIsReported) {
  RecordingHandler handler;
  H2Session server(handler, {});
  Client client;
  pump(client, server);
  const std::int32_t id = client.request(kConnect, /*end_stream=*/false);
  pump(client, server);
  server.open_tunnel(id, {});
  pump(client, server);
  nghttp2_submit_rst_stream(client.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  pump(client, server);
  ASSERT_EQ(handler.closed.size(), 1u);
  EXPECT_EQ(handler.closed[0], std::make_pair(id, std::uint32_t{NGHTTP2_CANCEL}));
}

TEST(H2Session, ABadPrefaceFailsTheSession) {
  RecordingHandler handler;
  H2Session server(handler, {});
  std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_FALSE(server.receive(writable(garbage)));
  EXPECT_TRUE(handler.requests.empty());
}

TEST(H2Session, AFrameOnStreamZeroGetsGoawayProtocolError) {
  RecordingHandler handler;
  H2Session server(handler, {});
  Client client;
  pump(client, server);
  // DATA on stream 0 is a connection error (RFC 9113 §6.1): type 0, flags 0, stream 0.
  std::string bad("\x00\x00\x01\x00\x00\x00\x00\x00\x00x", 10);
  server.receive(writable(bad));
  SendQueue queue;
  ASSERT_TRUE(server.produce(queue, 1u << 20));
  std::string out(queue.size(), '\0');
  queue.take(writable(out));
  client.input(out);
  EXPECT_EQ(client.goaway_code, NGHTTP2_PROTOCOL_ERROR);
  EXPECT_FALSE(server.alive());
}

TEST(H2Session, GoAwayEndsAnIdleSession) {
  RecordingHandler handler;
  H2Session server(handler, {});
  Client client;
  pump(client, server);
  EXPECT_TRUE(server.alive());
  server.go_away();
  pump(client, server);
  EXPECT_EQ(client.goaway_code, NGHTTP2_NO_ERROR);
  EXPECT_FALSE(server.alive());
}

}  // namespace
}  // namespace hibiki::server
