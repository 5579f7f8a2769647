// Route selection as API Gateway does it for WebSocket messages: evaluate the API's
// route_selection_expression against the message and pick the route whose key equals the value,
// else $default, else none. No I/O.
//
// Supported expressions: `$request.body.<key>[.<key>...]` only, e.g. `$request.body.action` or
// `$request.body.meta.type`. AWS also accepts templates such as `${request.body.action}` and
// mixed literals (`$request.body.action-${request.body.version}`); those are refused at config
// load with an error that says so.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hibiki::apps::gateway {

inline constexpr std::string_view kConnectRoute = "$connect";
inline constexpr std::string_view kDisconnectRoute = "$disconnect";
inline constexpr std::string_view kDefaultRoute = "$default";

// A parsed route_selection_expression: the JSON keys to walk into the message body. A
// default-constructed selector has no path and never yields a value (every message defaults).
class RouteSelector {
 public:
  // Nothing, with `error` naming the problem, unless `expression` is `$request.body.` followed
  // by one or more non-empty keys separated by dots (no spaces, brackets, quotes, '$' or '{}').
  [[nodiscard]] static std::optional<RouteSelector> parse(std::string_view expression,
                                                          std::string& error);

  [[nodiscard]] const std::string& expression() const { return expression_; }
  [[nodiscard]] const std::vector<std::string>& path() const { return path_; }

 private:
  std::string expression_;
  std::vector<std::string> path_;
};

// `$request.body.action`, API Gateway's usual expression and the gateway's default.
[[nodiscard]] RouteSelector default_route_selector();

// The route keys an API has (as configured, $connect/$disconnect/$default included or not).
class RouteTable {
 public:
  RouteTable() = default;
  explicit RouteTable(std::vector<std::string> keys);

  [[nodiscard]] bool contains(std::string_view key) const;
  [[nodiscard]] const std::vector<std::string>& keys() const { return keys_; }  // sorted

 private:
  std::vector<std::string> keys_;
};

struct RouteChoice {
  enum class Outcome : std::uint8_t {
    matched,    // the expression's value is a route key
    defaulted,  // no value, no such route, or not JSON: the $default route
    no_route,   // as defaulted, but there is no $default: AWS answers {"message": "Forbidden", …}
  };
  std::string route_key;  // the route to invoke; empty for no_route
  Outcome outcome = Outcome::no_route;
  // What the expression evaluated to ("" when it had no value), for logs.
  std::string selected;
};

// The value is taken from the message parsed as JSON (the whole message must be valid JSON):
// a string gives its text, a number its JSON text as written (3 → "3", 1.50 → "1.50"), true and
// false give "true" and "false"; null, objects, arrays and missing keys give no value. Binary
// messages and text that is not JSON go to $default. $connect and $disconnect are never chosen
// by a message. Thread-safe: each thread reuses its own parser and buffer.
[[nodiscard]] RouteChoice select_route(const RouteSelector& selector, std::string_view message,
                                       const RouteTable& keys, bool binary = false);

}  // namespace hibiki::apps::gateway
