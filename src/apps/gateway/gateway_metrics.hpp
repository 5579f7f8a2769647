// What the gateway counts for /metrics on its management port, in Prometheus text: integration
// calls by route and outcome with a latency histogram, management calls by operation and
// status, and every limit that refused or closed something. Labels come from the
// configuration (routes) and from small fixed sets, so the series stay few. Thread: any (the
// gateway's loops count into one set, under a mutex: once per call, never per frame).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace hibiki::apps::gateway {

class GatewayMetrics {
 public:
  // Upper bounds of the latency buckets, in seconds (the last bucket is +Inf).
  static constexpr std::array<double, 11> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5,   1,    2.5,   5,    10};

  // One call to a route's integration: its HTTP status, or a transport error (`error` set).
  void integration_call(std::string_view route, int http_status, std::string_view error,
                        std::int64_t elapsed_ms);
  // One management API call: the operation it asked for and the status it got.
  void management_call(std::string_view operation, int status);
  // One $connect authorization: "allow", "deny", "unauthorized" or "error".
  void authorizer_outcome(std::string_view outcome);
  // A limit refused or closed something ("connection_rate", "idle_timeout", ...).
  void limit_hit(std::string_view limit);

  // Every series, after the server's own (metrics_text of ServerStats).
  [[nodiscard]] std::string text(std::size_t open_connections) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kLatencyBuckets.size() + 1> counts{};  // per bucket, +Inf last
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };
  std::map<std::pair<std::string, std::string>, std::uint64_t>
      integration_calls_;                                                  // route, outcome
  std::map<std::string, Histogram> integration_latency_;                   // by route
  std::map<std::pair<std::string, int>, std::uint64_t> management_calls_;  // operation, status
  std::map<std::string, std::uint64_t> limits_;
  std::map<std::string, std::uint64_t> authorizer_;  // by outcome
  mutable std::mutex mutex_;
};

}  // namespace hibiki::apps::gateway
