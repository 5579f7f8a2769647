// HTTP requests answered later (Server::route_deferred, PendingResponse): from another thread
// or the loop, in the handler's own call, with HEAD, in order with requests pipelined behind,
// once only, and 503 when nobody answers in time. Also built with ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
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

using testing::RunningServer;
using testing::TestClient;

// Requests to /later are kept; the test answers them.
struct Waiting {
  std::mutex mutex;
  std::vector<std::pair<std::string, PendingResponse>> requests;  // (path?query, answer)
  void add(const HttpRequestView& request, PendingResponse pending) {
    const std::lock_guard lock(mutex);
    requests.emplace_back(std::string(request.path()) + "?" + std::string(request.query()),
                          pending);
  }
  std::vector<std::pair<std::string, PendingResponse>> wait_for(std::size_t count) {
    for (int i = 0; i < 300; ++i) {
      {
        const std::lock_guard lock(mutex);
        if (requests.size() >= count) return requests;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const std::lock_guard lock(mutex);
    return requests;
  }
};

std::string body_of(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

TEST(DeferredResponse, answered_later_from_another_thread) {
  Server server(testing::on_test_io(testing::loopback_options(1)));
  Waiting waiting;
  server.route_deferred("POST", "/later",
                        [&](const HttpRequestView& request, PendingResponse pending) {
                          EXPECT_EQ(request.body(), "ping");
                          waiting.add(request, pending);
                        });
  RunningServer running(server);
  TestClient client(running.port());
  client.write("POST /later?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nping");
  const auto requests = waiting.wait_for(1);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].first, "/later?x=1");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(requests[0].second.respond(
      {.status = 202, .body = "pong", .headers = {{"X-Answered", "later"}}}));
  const std::string response = client.read_until("pong");
  EXPECT_TRUE(response.starts_with("HTTP/1.1 202 Accepted\r\n")) << response;
  EXPECT_NE(response.find("X-Answered: later\r\n"), std::string::npos) << response;
  EXPECT_EQ(body_of(response), "pong");
  // One answer only: on the loop, where it is known, a second one is refused.
  std::atomic<int> again{-1};
  server.dispatch([&] { again = requests[0].second.respond({.body = "again"}) ? 1 : 0; });
  for (int i = 0; i < 200 && again < 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(again.load(), 0);
  EXPECT_TRUE(client.read_until("again", 200).find("again") == std::string::npos);
}

TEST(DeferredResponse, requests_on_every_loop_are_answered_from_outside) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  Waiting waiting;
  server.route_deferred("GET", "*", [&](const HttpRequestView& request, PendingResponse pending) {
    waiting.add(request, pending);
  });
  RunningServer running(server);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 16; ++i) {
    clients.push_back(std::make_unique<TestClient>(running.port()));
    clients.back()->write("GET /c" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n");
  }
  const auto requests = waiting.wait_for(clients.size());
  ASSERT_EQ(requests.size(), clients.size());
  for (const auto& [path, pending] : requests)
    EXPECT_TRUE(pending.respond({.body = "for " + path.substr(0, path.find('?'))}));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const std::string expected = "for /c" + std::to_string(i);
    EXPECT_NE(clients[i]->read_until(expected).find(expected), std::string::npos) << i;
  }
}

TEST(DeferredResponse, answered_in_the_call_and_with_head) {
  Server server(testing::on_test_io(testing::loopback_options(1)));
  server.route_deferred("GET", "/now", [](const HttpRequestView&, PendingResponse pending) {
    EXPECT_TRUE(pending.respond({.body = "at once"}));
    EXPECT_FALSE(pending.respond({.body = "twice"}));
  });
  RunningServer running(server);
  TestClient client(running.port());
  // Two pipelined requests, the second a HEAD: answers in order, the second without a body.
  client.write("GET /now HTTP/1.1\r\nHost: h\r\n\r\nHEAD /now HTTP/1.1\r\nHost: h\r\n\r\n");
  const std::string both = client.read_until("at onceHTTP/1.1 200 OK");
  EXPECT_NE(both.find("at once"), std::string::npos) << both;
  const std::string rest = client.read_until("\r\n\r\n", 500);
  EXPECT_EQ(both.find("twice"), std::string::npos);
  EXPECT_EQ(rest.find("at once"), std::string::npos) << "a HEAD answer carries no body";
}

TEST(DeferredResponse, pipelined_requests_wait_for_the_one_answered_later) {
  Server server(testing::on_test_io(testing::loopback_options(1)));
  Waiting waiting;
  server.route_deferred("GET", "/later",
                        [&](const HttpRequestView& request, PendingResponse pending) {
                          waiting.add(request, pending);
                        });
  server.get("/now", [](const HttpRequestView&, HttpResponse& response) { response.body = "B"; });
  RunningServer running(server);
  TestClient client(running.port());
  client.write(
      "GET /later?1 HTTP/1.1\r\nHost: h\r\n\r\nGET /now HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /later?2 HTTP/1.1\r\nHost: h\r\n\r\n");
  auto requests = waiting.wait_for(1);
  ASSERT_EQ(requests.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(waiting.wait_for(1).size(), 1u) << "the next request waited for the first answer";
  requests[0].second.respond({.body = "A"});
  requests = waiting.wait_for(2);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].first, "/later?2");
  requests[1].second.respond({.body = "C"});
  const std::string all = client.read_until("Content-Length: 1\r\n\r\nC");
  const auto a = all.find("\r\n\r\nA");
  const auto b = all.find("\r\n\r\nB");
  const auto c = all.find("\r\n\r\nC");
  ASSERT_NE(a, std::string::npos) << all;
  ASSERT_NE(b, std::string::npos) << all;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(DeferredResponse, unanswered_gets_503_and_a_gone_client_is_no_harm) {
  ServerOptions options = testing::loopback_options(1);
  options.handshake_timeout_ms = 300;
  Server server(testing::on_test_io(options));
  Waiting waiting;
  server.route_deferred("GET", "/later",
                        [&](const HttpRequestView& request, PendingResponse pending) {
                          waiting.add(request, pending);
                        });
  RunningServer running(server);
  {
    TestClient client(running.port());
    client.write("GET /later?slow HTTP/1.1\r\nHost: h\r\n\r\n");
    const std::string response = client.read_until("in time", 3000);
    EXPECT_TRUE(response.starts_with("HTTP/1.1 503")) << response;
    EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos) << response;
  }
  {
    TestClient client(running.port());
    client.write("GET /later?gone HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_EQ(waiting.wait_for(2).size(), 2u);
  }  // the client leaves before the answer
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto requests = waiting.wait_for(2);
  std::atomic<int> late{-1};
  server.dispatch([&] {
    const bool answered = requests[0].second.respond({.body = "too late"});  // answered: 503
    requests[1].second.respond({.body = "nobody there"});                    // gone: no harm
    late = answered ? 1 : 0;  // last: the test goes on (and frees `requests`) once it is set
  });
  for (int i = 0; i < 200 && late < 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(late.load(), 0);
  requests[1].second.respond({.body = "from outside"});  // posted; must do no harm either
  TestClient after(running.port());
  after.write("GET /missing HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(after.read_until("\r\n\r\n").starts_with("HTTP/1.1 404"));
}

}  // namespace
}  // namespace hibiki
