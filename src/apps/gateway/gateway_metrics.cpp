// The gateway's counters and their Prometheus text (see gateway_metrics.hpp).
#include "apps/gateway/gateway_metrics.hpp"

#include <charconv>

namespace hibiki::apps::gateway {
namespace {

// A label value: backslash, quote and newline escaped (Prometheus text format).
std::string label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double value) {
  char text[32];
  const auto [end, status] = std::to_chars(text, text + sizeof text, value);
  return status == std::errc() ? std::string(text, end) : "0";
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

}  // namespace

void GatewayMetrics::integration_call(std::string_view route, int http_status,
                                      std::string_view error, std::int64_t elapsed_ms) {
  std::string outcome;
  if (!error.empty()) {
    // A transport failure: its kind, not its text (which could be anything).
    // The integration client says "timeout after N ms".
    outcome = error.starts_with("timeout") ? "timeout" : "error";
  } else {
    outcome = std::to_string(http_status);
  }
  const std::lock_guard lock(mutex_);
  ++integration_calls_[{std::string(route), outcome}];
  Histogram& histogram = integration_latency_[std::string(route)];
  const double seconds = static_cast<double>(elapsed_ms) / 1000.0;
  std::size_t bucket = 0;
  while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket])
    ++bucket;
  ++histogram.counts[bucket];
  ++histogram.count;
  histogram.sum_seconds += seconds;
}

void GatewayMetrics::management_call(std::string_view operation, int status) {
  const std::lock_guard lock(mutex_);
  ++management_calls_[{std::string(operation), status}];
}

void GatewayMetrics::authorizer_outcome(std::string_view outcome) {
  const std::lock_guard lock(mutex_);
  ++authorizer_[std::string(outcome)];
}

void GatewayMetrics::limit_hit(std::string_view limit) {
  const std::lock_guard lock(mutex_);
  ++limits_[std::string(limit)];
}

std::string GatewayMetrics::text(std::size_t open_connections) const {
  const std::lock_guard lock(mutex_);
  std::string out;
  header(out, "hibiki_gateway_connections", "gauge", "WebSocket clients connected now.");
  out.append("hibiki_gateway_connections ").append(std::to_string(open_connections)).append("\n");

  header(out, "hibiki_gateway_integration_calls_total", "counter",
         "Integration calls by route and outcome (HTTP status, timeout or error).");
  for (const auto& [key, count] : integration_calls_) {
    out.append("hibiki_gateway_integration_calls_total{route=\"")
        .append(label(key.first))
        .append("\",outcome=\"")
        .append(label(key.second))
        .append("\"} ")
        .append(std::to_string(count))
        .append("\n");
  }
  header(out, "hibiki_gateway_integration_duration_seconds", "histogram",
         "Time from sending an integration call to its answer, by route.");
  for (const auto& [route, histogram] : integration_latency_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= kLatencyBuckets.size(); ++i) {
      cumulative += histogram.counts[i];
      const std::string le = i < kLatencyBuckets.size() ? number(kLatencyBuckets[i]) : "+Inf";
      out.append("hibiki_gateway_integration_duration_seconds_bucket{route=\"")
          .append(label(route))
          .append("\",le=\"")
          .append(le)
          .append("\"} ")
          .append(std::to_string(cumulative))
          .append("\n");
    }
    out.append("hibiki_gateway_integration_duration_seconds_sum{route=\"")
        .append(label(route))
        .append("\"} ")
        .append(number(histogram.sum_seconds))
        .append("\n");
    out.append("hibiki_gateway_integration_duration_seconds_count{route=\"")
        .append(label(route))
        .append("\"} ")
        .append(std::to_string(histogram.count))
        .append("\n");
  }
  header(out, "hibiki_gateway_management_calls_total", "counter",
         "Management API calls by operation and the status answered.");
  for (const auto& [key, count] : management_calls_) {
    out.append("hibiki_gateway_management_calls_total{operation=\"")
        .append(label(key.first))
        .append("\",status=\"")
        .append(std::to_string(key.second))
        .append("\"} ")
        .append(std::to_string(count))
        .append("\n");
  }
  header(out, "hibiki_gateway_limits_total", "counter",
         "Connections and calls a gateway limit refused or closed, by limit.");
  for (const auto& [limit, count] : limits_) {
    out.append("hibiki_gateway_limits_total{limit=\"")
        .append(label(limit))
        .append("\"} ")
        .append(std::to_string(count))
        .append("\n");
  }
  header(out, "hibiki_gateway_authorizer_total", "counter",
         "$connect authorizations by outcome (allow, deny, unauthorized, error).");
  for (const auto& [outcome, count] : authorizer_) {
    out.append("hibiki_gateway_authorizer_total{outcome=\"")
        .append(label(outcome))
        .append("\"} ")
        .append(std::to_string(count))
        .append("\n");
  }
  return out;
}

}  // namespace hibiki::apps::gateway
