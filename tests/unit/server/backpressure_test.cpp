// Backpressure as the handlers see it: past max_buffered_bytes, send() reports dropped (policy
// drop) or closed (policy close, then on_close gets 1008); after a drop, on_drain runs once the
// client has read the queue, with nothing left buffered. Also built with ThreadSanitizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hibiki/server.hpp"
#include "running_server.hpp"
#include "test_client.hpp"
#include "test_io.hpp"

namespace hibiki {
namespace {

using protocol::Opcode;
using testing::TestClient;

using testing::RunningServer;

constexpr std::size_t kMaxBuffered = 64 * 1024;
// Three fit under the cap (3 x 16,388 bytes framed), a fourth does not.
constexpr std::size_t kMessageBytes = 16 * 1024;
constexpr int kReceiveBuffer = 4096;

ServerOptions capped(BackpressurePolicy policy) {
  return ServerOptions{.host = "127.0.0.1",
                       .port = 0,
                       .max_buffered_bytes = kMaxBuffered,
                       .backpressure_policy = policy,
                       .close_timeout_ms = 2000,
                       .log_level = LogLevel::off};
}

std::string numbered(std::uint32_t number) {
  std::string message = std::to_string(number) + ":";
  message.resize(kMessageBytes, 'x');
  return message;
}

// Polls `done` (which takes the lock it needs) every millisecond for up to two seconds.
template <typename Predicate>
bool eventually(Predicate done) {
  for (int i = 0; i < 2000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

// What the handlers saw: written on the loop thread, read by the test, under the mutex.
struct Seen {
  std::mutex mutex;
  int bursts = 0;
  std::uint32_t next = 0;
  std::vector<std::uint32_t> sent;  // numbers send() accepted, in order
  SendStatus refused = SendStatus::sent;
  std::size_t buffered_when_refused = 0;
  bool saturated = false;
  int full_turns = 0;  // bursts in a row that found the queue at least half full
  int drains = 0;
  int drains_when_saturated = -1;
  std::size_t most_buffered_in_drain = 0;  // over every on_drain call, warm-up included
  bool drained_while_client_read = false;
};

TEST(Backpressure, drop_refuses_past_the_cap_and_on_drain_runs_once_after_the_client_reads) {
  Server server(testing::on_test_io(capped(BackpressurePolicy::drop)));
  Seen seen;
  std::atomic<bool> client_reading{false};
  server.ws("/", {.on_message =
                      [&](WebSocket ws, std::string_view, MessageKind) {
                        const std::lock_guard lock(seen.mutex);
                        // Left over by the last turn's flush: the kernel's buffers (the server's
                        // send buffer, the client's small receive buffer) are full. Twice in a
                        // row: on io_uring the bytes of a send still in flight count as
                        // buffered until its completion, though the kernel may yet take them.
                        if (ws.buffered_amount() >= kMaxBuffered / 2) {
                          if (++seen.full_turns == 2 && !seen.saturated) {
                            seen.saturated = true;
                            seen.drains_when_saturated = seen.drains;
                          }
                        } else {
                          seen.full_turns = 0;
                        }
                        // A burst: send until the cap refuses one (16 MiB at most, so a server
                        // without the cap fails the test instead of hanging it).
                        for (int i = 0; i < 1024; ++i) {
                          const std::uint32_t number = ++seen.next;
                          const SendStatus status = ws.send(numbered(number));
                          if (status != SendStatus::sent) {
                            seen.refused = status;
                            seen.buffered_when_refused = ws.buffered_amount();
                            break;
                          }
                          seen.sent.push_back(number);
                        }
                        ++seen.bursts;
                      },
                  .on_drain =
                      [&](WebSocket ws) {
                        const std::lock_guard lock(seen.mutex);
                        ++seen.drains;
                        seen.most_buffered_in_drain =
                            std::max(seen.most_buffered_in_drain, ws.buffered_amount());
                        seen.drained_while_client_read = client_reading.load();
                      }});
  RunningServer running(server);
  TestClient client(running.port(), kReceiveBuffer);
  ASSERT_NE(client.handshake().find("HTTP/1.1 101"), std::string::npos);

  // One burst per loop turn (the next is sent once the last one ran, so its flush happened in
  // between) until a flush leaves bytes behind. The client reads nothing meanwhile.
  bool saturated = false;
  for (int i = 0; i < 2000 && !saturated; ++i) {
    client.send(Opcode::text, "burst");
    ASSERT_TRUE(eventually([&] {
      const std::lock_guard lock(seen.mutex);
      return seen.bursts == i + 1;
    }));
    const std::lock_guard lock(seen.mutex);
    saturated = seen.saturated;
  }
  ASSERT_TRUE(saturated) << "the kernel took every burst";
  std::vector<std::uint32_t> sent;
  int drains_before_reading = 0;
  {
    const std::lock_guard lock(seen.mutex);
    EXPECT_EQ(seen.refused, SendStatus::dropped);
    EXPECT_GT(seen.buffered_when_refused, 0u);
    EXPECT_LE(seen.buffered_when_refused, kMaxBuffered);
    sent = seen.sent;
    drains_before_reading = seen.drains_when_saturated;
    EXPECT_EQ(seen.drains, drains_before_reading) << "a drain before the client read";
  }

  // Reading: exactly the accepted messages arrive, in order; the dropped ones never do.
  client_reading = true;
  for (std::uint32_t number : sent) {
    auto frame = client.next_frame();
    ASSERT_TRUE(frame) << "message " << number << " missing";
    ASSERT_EQ(frame->payload.substr(0, 12), numbered(number).substr(0, 12));
    ASSERT_EQ(frame->payload.size(), kMessageBytes);
  }
  EXPECT_FALSE(client.next_frame(200));

  ASSERT_TRUE(eventually([&] {
    const std::lock_guard lock(seen.mutex);
    return seen.drains > drains_before_reading;
  })) << "no on_drain after the client read everything";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.drains, drains_before_reading + 1);
  EXPECT_TRUE(seen.drained_while_client_read);
  EXPECT_EQ(seen.most_buffered_in_drain, 0u) << "on_drain with bytes still queued";
}

TEST(Backpressure, close_refuses_past_the_cap_and_on_close_reports_1008) {
  Server server(testing::on_test_io(capped(BackpressurePolicy::close)));
  std::mutex mutex;
  std::uint32_t accepted = 0;
  SendStatus refused = SendStatus::sent;
  SendStatus after_refusal = SendStatus::sent;
  bool open_after_refusal = true;
  std::atomic<int> closes{0};
  std::uint16_t code_seen = 0;
  std::string close_reason;
  std::uint64_t closed_buffer_full = 0;
  server.ws("/", {.on_message =
                      [&](WebSocket ws, std::string_view, MessageKind) {
                        const std::lock_guard lock(mutex);
                        for (int i = 0; i < 1024; ++i) {
                          const SendStatus status = ws.send(numbered(accepted + 1));
                          if (status != SendStatus::sent) {
                            refused = status;
                            break;
                          }
                          ++accepted;
                        }
                        open_after_refusal = ws.is_open();
                        after_refusal = ws.send("late");
                      },
                  .on_close =
                      [&](WebSocket, std::uint16_t code, std::string_view reason) {
                        const std::lock_guard lock(mutex);
                        code_seen = code;
                        close_reason = std::string(reason);
                        closed_buffer_full = server.stats().closed_buffer_full;
                        ++closes;
                      }});
  {
    RunningServer running(server);
    TestClient client(running.port(), kReceiveBuffer);
    ASSERT_NE(client.handshake().find("HTTP/1.1 101"), std::string::npos);
    client.send(Opcode::text, "burst");
    // The accepted messages, then the close frame, then the end of the stream.
    for (std::uint32_t number = 1;; ++number) {
      auto frame = client.next_frame();
      ASSERT_TRUE(frame);
      if (frame->opcode == Opcode::close) {
        EXPECT_EQ(frame->payload, std::string("\x03\xf0") + "send buffer full");
        const std::lock_guard lock(mutex);
        EXPECT_EQ(number - 1, accepted);
        break;
      }
      ASSERT_EQ(frame->payload.substr(0, 12), numbered(number).substr(0, 12));
    }
    EXPECT_TRUE(client.wait_eof());
  }  // the client's EOF ends the connection: on_close runs
  EXPECT_EQ(closes.load(), 1);
  const std::lock_guard lock(mutex);
  EXPECT_EQ(accepted, 3u);
  EXPECT_EQ(refused, SendStatus::closed);
  EXPECT_FALSE(open_after_refusal);
  EXPECT_EQ(after_refusal, SendStatus::closed);
  EXPECT_EQ(code_seen, close_code::kPolicyViolation);
  EXPECT_EQ(close_reason, "send buffer full");
  EXPECT_EQ(closed_buffer_full, 1u);
}

}  // namespace
}  // namespace hibiki
