#include "apps/gateway/integration_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace hibiki::apps::gateway {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A poll()-based loop implementing Reactor the way the server's loop does: level-triggered
// watches, one-shot timers by id, zero-delay timers at the end of the turn. Callbacks are held
// by shared_ptr so that one may replace or remove itself while it runs.
class TestReactor final : public Reactor {
 public:
  void watch(int fd, std::uint32_t interest, std::function<void(std::uint32_t)> callback) override {
    watches_[fd] = Watch{interest, std::make_shared<decltype(callback)>(std::move(callback))};
  }
  void unwatch(int fd) override { watches_.erase(fd); }
  void set_timer(std::uint64_t id, std::uint32_t delay_ms,
                 std::function<void()> callback) override {
    timers_[id] = Timer{Clock::now() + std::chrono::milliseconds(delay_ms), ++timer_generation_,
                        std::make_shared<decltype(callback)>(std::move(callback))};
  }
  void cancel_timer(std::uint64_t id) override { timers_.erase(id); }

  // Runs loop turns until `done()` holds or `limit` passed; returns done().
  bool run_until(const std::function<bool()>& done, Clock::duration limit = 2s) {
    const Clock::time_point deadline = Clock::now() + limit;
    while (!done() && Clock::now() < deadline)
      turn(deadline);
    return done();
  }
  void run_for(Clock::duration duration) {
    run_until([] { return false; }, duration);
  }

  std::size_t watch_count() const { return watches_.size(); }
  std::size_t timer_count() const { return timers_.size(); }

 private:
  struct Watch {
    std::uint32_t interest = 0;
    std::shared_ptr<std::function<void(std::uint32_t)>> callback;
  };
  struct Timer {
    Clock::time_point due;
    std::uint64_t generation = 0;
    std::shared_ptr<std::function<void()>> callback;
  };

  void turn(Clock::time_point deadline) {
    // Short naps, so that conditions set by the server's threads are noticed soon.
    Clock::time_point wake = std::min(deadline, Clock::now() + kMaxNap);
    for (const auto& [id, timer] : timers_)
      wake = std::min(wake, timer.due);
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now()).count();
    std::vector<pollfd> fds;
    for (const auto& [fd, watch] : watches_) {
      const short events = static_cast<short>(((watch.interest & 1) != 0 ? POLLIN : 0) |
                                              ((watch.interest & 2) != 0 ? POLLOUT : 0));
      fds.push_back(pollfd{.fd = fd, .events = events, .revents = 0});
    }
    ASSERT_GE(::poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(wait, 0))), 0);
    for (const pollfd& p : fds) {
      const auto it = watches_.find(p.fd);
      if (p.revents == 0 || it == watches_.end()) continue;
      std::uint32_t ready = 0;
      if ((p.revents & POLLIN) != 0) ready |= 1;
      if ((p.revents & POLLOUT) != 0) ready |= 2;
      if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) ready |= 4;
      const auto callback = it->second.callback;
      (*callback)(ready);
    }
    // Timers due now; those set while these run wait for the next turn.
    const Clock::time_point now = Clock::now();
    std::vector<std::pair<std::uint64_t, std::uint64_t>> due;
    for (const auto& [id, timer] : timers_)
      if (timer.due <= now) due.emplace_back(id, timer.generation);
    for (const auto& [id, generation] : due) {
      const auto it = timers_.find(id);
      if (it == timers_.end() || it->second.generation != generation) continue;
      const auto callback = it->second.callback;
      timers_.erase(it);
      (*callback)();
    }
  }

  static constexpr Clock::duration kMaxNap = 5ms;

  std::map<int, Watch> watches_;
  std::map<std::uint64_t, Timer> timers_;
  std::uint64_t timer_generation_ = 0;
};

// A loopback HTTP/1.1 server on a thread per connection, with keep-alive. Paths:
//   /echo         200, the request body back, plus what it saw in X-Saw-* headers
//   /delay/<ms>   200 after <ms> milliseconds
//   /status/<n>   status n
//   /close        closes the connection without answering
//   /big/<n>      200 with a Content-Length body of n bytes
//   /stream/<n>   200 with n bytes and no Content-Length, then closes
class TestHttpServer {
 public:
  TestHttpServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 256) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        ::pipe(stop_pipe_) != 0) {
      throw std::runtime_error("test server setup failed");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~TestHttpServer() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      for (const int fd : open_)
        ::shutdown(fd, SHUT_RDWR);  // wakes the threads blocked in recv()
    }
    wake_.notify_all();
    const char byte = 0;
    (void)!::write(stop_pipe_[1], &byte, 1);
    acceptor_.join();
    for (std::thread& thread : threads_)
      thread.join();
    ::close(listener_);
    ::close(stop_pipe_[0]);
    ::close(stop_pipe_[1]);
  }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  int accepted() const { return accepted_.load(); }

 private:
  void accept_loop() {
    pollfd fds[2] = {{.fd = listener_, .events = POLLIN, .revents = 0},
                     {.fd = stop_pipe_[0], .events = POLLIN, .revents = 0}};
    while (::poll(fds, 2, -1) > 0 && fds[1].revents == 0) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      const std::lock_guard lock(mutex_);
      accepted_.fetch_add(1);
      open_.insert(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string buffer;
    while (handle_one(fd, buffer)) {
    }
    const std::lock_guard lock(mutex_);
    open_.erase(fd);
    ::close(fd);
  }

  bool read_more(int fd, std::string& buffer) {
    char chunk[16384];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  static std::string header(const std::string& head, std::string name) {
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    name = "\r\n" + name + ":";
    const std::size_t at = lower.find(name);
    if (at == std::string::npos) return {};
    std::size_t start = at + name.size();
    while (head[start] == ' ')
      ++start;
    return head.substr(start, head.find("\r\n", start) - start);
  }

  // Serves one request; false when the connection is over.
  bool handle_one(int fd, std::string& buffer) {
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos)
      if (!read_more(fd, buffer)) return false;
    const std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    const std::string length = header(head, "content-length");
    const std::size_t body_size = length.empty() ? 0 : std::stoul(length);
    while (buffer.size() < body_size)
      if (!read_more(fd, buffer)) return false;
    const std::string body = buffer.substr(0, body_size);
    buffer.erase(0, body_size);
    const std::size_t path_start = head.find(' ') + 1;
    const std::string path = head.substr(path_start, head.find(' ', path_start) - path_start);
    const auto number_after = [&](std::string_view prefix) {
      return std::stoul(path.substr(prefix.size()));
    };

    if (path == "/echo") {
      return reply(
          fd, 200,
          "Content-Type: application/json\r\nX-Saw-Content-Type: " + header(head, "content-type") +
              "\r\nX-Saw-Custom: " + header(head, "x-custom") +
              "\r\nX-Saw-Expect: " + (header(head, "expect").empty() ? "no" : "yes") + "\r\n",
          body);
    }
    if (path.starts_with("/delay/")) {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(number_after("/delay/")),
                     [this] { return stopping_; });
      if (stopping_) return false;
      lock.unlock();
      return reply(fd, 200, "", "late");
    }
    if (path.starts_with("/status/")) {
      return reply(fd, static_cast<int>(number_after("/status/")), "",
                   R"({"message":"Internal server error"})");
    }
    if (path == "/close") return false;
    if (path.starts_with("/big/"))
      return reply(fd, 200, "", std::string(number_after("/big/"), 'x'));
    if (path.starts_with("/stream/")) {
      const std::string response = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" +
                                   std::string(number_after("/stream/"), 'y');
      send_all(fd, response);
      return false;
    }
    return reply(fd, 404, "", "");
  }

  static bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  static bool reply(int fd, int status, const std::string& headers, const std::string& body) {
    return send_all(fd, "HTTP/1.1 " + std::to_string(status) + " X\r\n" + headers +
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  int listener_ = -1;
  int stop_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::set<int> open_;
  std::vector<std::thread> threads_;
};

const std::string* find_header(const IntegrationResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers)
    if (key == name) return &value;
  return nullptr;
}

class IntegrationClientTest : public ::testing::Test {
 protected:
  // Posts and runs the loop until the call completes; checks that `done` ran exactly once and
  // not inside post().
  IntegrationResponse post(IntegrationClient& client, const std::string& url, std::string body,
                           std::vector<std::string> headers = {}, std::uint32_t timeout_ms = 2000) {
    std::optional<IntegrationResponse> result;
    int calls = 0;
    client.post(url, std::move(body), std::move(headers), timeout_ms,
                [&](const IntegrationResponse& r) {
                  ++calls;
                  result = r;
                });
    EXPECT_EQ(calls, 0) << "done ran inside post()";
    EXPECT_TRUE(reactor_.run_until([&] { return result.has_value(); }));
    reactor_.run_for(5ms);
    EXPECT_EQ(calls, 1);
    return result.value_or(IntegrationResponse{.error = "no completion"});
  }

  TestReactor reactor_;
  TestHttpServer server_;
};

TEST_F(IntegrationClientTest, posts_json_and_returns_status_body_and_headers) {
  IntegrationClient client(reactor_);
  // Over 1 KiB, where libcurl would otherwise ask for 100-continue.
  const std::string body = R"({"message":")" + std::string(2000, 'a') + R"("})";
  const IntegrationResponse response = post(client, server_.url("/echo"), body, {"X-Custom: 42"});
  EXPECT_EQ(response.error, "");
  EXPECT_EQ(response.http_status, 200);
  EXPECT_EQ(response.body, body);
  ASSERT_TRUE(find_header(response, "Content-Type"));
  EXPECT_EQ(*find_header(response, "Content-Type"), "application/json");
  EXPECT_EQ(*find_header(response, "X-Saw-Content-Type"), "application/json");
  EXPECT_EQ(*find_header(response, "X-Saw-Custom"), "42");
  EXPECT_EQ(*find_header(response, "X-Saw-Expect"), "no");
  EXPECT_LT(response.elapsed_ms, 2000u);
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(IntegrationClientTest, a_content_type_header_replaces_the_default) {
  IntegrationClient client(reactor_);
  const IntegrationResponse response =
      post(client, server_.url("/echo"), "plain", {"content-type: text/plain"});
  EXPECT_EQ(*find_header(response, "X-Saw-Content-Type"), "text/plain");
}

TEST_F(IntegrationClientTest, an_http_error_status_is_a_response_not_an_error) {
  IntegrationClient client(reactor_);
  const IntegrationResponse response = post(client, server_.url("/status/500"), "{}");
  EXPECT_EQ(response.http_status, 500);
  EXPECT_EQ(response.error, "");
  EXPECT_EQ(response.body, R"({"message":"Internal server error"})");
}

TEST_F(IntegrationClientTest, sequential_posts_reuse_one_connection) {
  IntegrationClient client(reactor_);
  int completed = 0;
  int failures = 0;
  // Each call starts the next from its `done`, as a backend conversation would.
  std::function<void(const IntegrationResponse&)> next = [&](const IntegrationResponse& r) {
    if (r.http_status != 200 || r.body != std::to_string(completed)) ++failures;
    if (++completed < 20) {
      client.post(server_.url("/echo"), std::to_string(completed), {}, 2000, next);
    }
  };
  client.post(server_.url("/echo"), "0", {}, 2000, next);
  ASSERT_TRUE(reactor_.run_until([&] { return completed == 20; }));
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(server_.accepted(), 1);
}

TEST_F(IntegrationClientTest, a_slow_backend_times_out) {
  IntegrationClient client(reactor_);
  const IntegrationResponse response = post(client, server_.url("/delay/500"), "{}", {}, 50);
  EXPECT_EQ(response.http_status, 0);
  EXPECT_NE(response.error.find("timeout"), std::string::npos) << response.error;
  EXPECT_EQ(response.error, "timeout after 50 ms");
  EXPECT_GE(response.elapsed_ms, 45u);
  EXPECT_LT(response.elapsed_ms, 400u);
}

TEST_F(IntegrationClientTest, a_closed_port_is_connection_refused) {
  // A port that was just free: bound, never listened on, closed.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  IntegrationClient client(reactor_);
  const IntegrationResponse response =
      post(client, "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/", "{}");
  EXPECT_EQ(response.http_status, 0);
  EXPECT_EQ(response.error, "connection refused");
}

TEST_F(IntegrationClientTest, a_backend_that_closes_without_answering_is_an_error) {
  IntegrationClient client(reactor_);
  const IntegrationResponse response = post(client, server_.url("/close"), "{}");
  EXPECT_EQ(response.http_status, 0);
  EXPECT_EQ(response.error, "connection closed without a response");
}

TEST_F(IntegrationClientTest, completes_100_concurrent_posts) {
  IntegrationClient client(reactor_);
  int completed = 0;
  int wrong = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string body = "{\"n\":" + std::to_string(i) + "}";
    client.post(server_.url("/echo"), body, {}, 2000, [&, body](const IntegrationResponse& r) {
      ++completed;
      if (r.http_status != 200 || r.body != body) ++wrong;
    });
  }
  EXPECT_EQ(client.in_flight(), 100u);
  ASSERT_TRUE(reactor_.run_until([&] { return completed == 100; }));
  EXPECT_EQ(wrong, 0);
  EXPECT_LE(server_.accepted(), 64);  // max_connections_per_host
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(IntegrationClientTest, a_response_over_the_size_limit_fails) {
  IntegrationClient client(reactor_, {.max_response_bytes = 1024});
  EXPECT_EQ(post(client, server_.url("/big/1024"), "{}").body.size(), 1024u);
  // Announced by Content-Length, and discovered while reading.
  for (const char* path : {"/big/4096", "/stream/4096"}) {
    const IntegrationResponse response = post(client, server_.url(path), "{}");
    EXPECT_EQ(response.http_status, 0) << path;
    EXPECT_EQ(response.error, "response larger than 1024 bytes") << path;
    EXPECT_EQ(response.body, "") << path;
  }
}

TEST_F(IntegrationClientTest, past_max_in_flight_a_call_fails_at_once_but_not_inside_post) {
  IntegrationClient client(reactor_, {.max_in_flight = 2});
  std::vector<IntegrationResponse> responses(3);
  int completed = 0;
  for (int i = 0; i < 3; ++i) {
    client.post(server_.url("/echo"), "{}", {}, 2000, [&, i](const IntegrationResponse& r) {
      responses[i] = r;
      ++completed;
    });
  }
  EXPECT_EQ(completed, 0);
  ASSERT_TRUE(reactor_.run_until([&] { return completed == 3; }));
  EXPECT_EQ(responses[0].http_status, 200);
  EXPECT_EQ(responses[1].http_status, 200);
  EXPECT_EQ(responses[2].http_status, 0);
  EXPECT_EQ(responses[2].error, "too many integration calls in flight (limit 2)");
}

TEST_F(IntegrationClientTest, only_http_urls_are_allowed) {
  IntegrationClient client(reactor_);
  const IntegrationResponse response = post(client, "file:///etc/hostname", "{}");
  EXPECT_EQ(response.http_status, 0);
  EXPECT_TRUE(response.error.starts_with("bad integration URL")) << response.error;
}

TEST_F(IntegrationClientTest, ignores_proxy_settings_in_the_environment) {
  const char* saved = std::getenv("http_proxy");
  const std::string previous = saved != nullptr ? saved : "";
  ::setenv("http_proxy", "http://127.0.0.1:9/", 1);
  IntegrationClient client(reactor_);
  const IntegrationResponse response = post(client, server_.url("/echo"), "{}");
  if (saved != nullptr) {
    ::setenv("http_proxy", previous.c_str(), 1);
  } else {
    ::unsetenv("http_proxy");
  }
  EXPECT_EQ(response.http_status, 200) << response.error;
}

TEST_F(IntegrationClientTest, destroying_the_client_cancels_calls_and_leaves_nothing_behind) {
  auto client =
      std::make_unique<IntegrationClient>(reactor_, IntegrationLimits{.max_in_flight = 3});
  int called = 0;
  for (int i = 0; i < 3; ++i)
    client->post(server_.url("/delay/500"), "{}", {}, 2000, [&](const auto&) { ++called; });
  ASSERT_TRUE(reactor_.run_until([&] { return server_.accepted() == 3; }));
  // One more fails at once; its completion is pending on the reactor.
  client->post(server_.url("/echo"), "{}", {}, 2000, [&](const auto&) { ++called; });
  client.reset();
  EXPECT_EQ(reactor_.watch_count(), 0u);
  EXPECT_EQ(reactor_.timer_count(), 0u);
  reactor_.run_for(50ms);
  EXPECT_EQ(called, 0);
}

TEST_F(IntegrationClientTest, a_done_callback_may_destroy_the_client) {
  auto client = std::make_unique<IntegrationClient>(reactor_);
  int called = 0;
  for (int i = 0; i < 5; ++i) {
    client->post(server_.url("/echo"), "{}", {}, 2000, [&](const auto&) {
      ++called;
      client.reset();
    });
  }
  ASSERT_TRUE(reactor_.run_until([&] { return client == nullptr; }));
  reactor_.run_for(50ms);
  EXPECT_EQ(called, 1);
  EXPECT_EQ(reactor_.watch_count(), 0u);
  EXPECT_EQ(reactor_.timer_count(), 0u);
}

}  // namespace
}  // namespace hibiki::apps::gateway
