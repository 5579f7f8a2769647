// Non-blocking HTTP POSTs to the gateway's backends (integrations), on libcurl's multi-socket
// interface driven by a Reactor: no thread, no blocking call, connections kept alive and reused.
// Must never block the loop or call a completion from inside post().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "apps/gateway/reactor.hpp"

namespace hibiki::apps::gateway {

struct IntegrationLimits {
  // Calls waiting for a response at once; past it post() fails the call (without blocking).
  std::size_t max_in_flight = 1000;
  // TCP connections to one host:port at once; further calls wait in libcurl for a free one
  // (their timeout runs while they wait).
  std::size_t max_connections_per_host = 64;
  // Largest response body; a larger one fails the call.
  std::size_t max_response_bytes = 10 * 1024 * 1024;
};

struct IntegrationResponse {
  int http_status = 0;  // 0 on a transport error
  std::string body;     // empty on a transport error
  // In the order received; names as the backend spelled them. Empty on a transport error.
  std::vector<std::pair<std::string, std::string>> headers;
  // Empty on success (any HTTP status counts); else why no response arrived, e.g.
  // "timeout after 50 ms", "connection refused", "response larger than 1024 bytes".
  std::string error;
  std::uint32_t elapsed_ms = 0;  // from post() to completion
};

class IntegrationClient {
 public:
  using Limits = IntegrationLimits;
  using Done = std::function<void(const IntegrationResponse&)>;

  // Uses `reactor` (which must outlive the client) for its sockets and for two timers whose
  // ids come from a process-wide range starting at kTimerIdBase, so they never collide with
  // ids below it.
  explicit IntegrationClient(Reactor& reactor, Limits limits = {});
  // Cancels every call in flight: their `done` is never called, their connections are closed,
  // and every watch and timer the client set on the reactor is removed. Destroying the client
  // from inside a `done` callback is allowed.
  ~IntegrationClient();
  IntegrationClient(const IntegrationClient&) = delete;
  IntegrationClient& operator=(const IntegrationClient&) = delete;
  IntegrationClient(IntegrationClient&&) = delete;
  IntegrationClient& operator=(IntegrationClient&&) = delete;

  // POSTs `body` to `url` (http:// or https:// only) over HTTP/1.1 with
  // `Content-Type: application/json` (unless `headers` has its own), no `Expect: 100-continue`
  // and no proxy. `headers` are "Name: value" lines. `timeout_ms` bounds the whole call,
  // waiting for a connection included; 0 means no limit. `done` is called exactly once, on the
  // loop, never from inside post(): with the response, or with `error` set when the call could
  // not start (past max_in_flight, a bad URL), timed out, or failed on the network. Call from
  // the loop's thread only.
  void post(const std::string& url, std::string body, std::vector<std::string> headers,
            std::uint32_t timeout_ms, Done done);

  // Calls started and not yet completed (failed-at-once calls waiting for their turn excluded).
  [[nodiscard]] std::size_t in_flight() const;

  // The client's two timer ids are kTimerIdBase + 2n and kTimerIdBase + 2n + 1, n counting the
  // clients created in the process.
  static constexpr std::uint64_t kTimerIdBase = 0x6874'7470'0000'0000;  // "http" << 32

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hibiki::apps::gateway
