// redis://[:PASSWORD@]HOST[:PORT][/DB] into its parts, with a reason for every refusal.
#include <charconv>

#include "hibiki/cluster.hpp"

namespace hibiki {
namespace {

std::optional<RedisAddress> refuse(std::string* error, std::string reason) {
  if (error != nullptr) *error = std::move(reason);
  return std::nullopt;
}

template <typename Number>
bool parse_number(std::string_view text, Number& out) {
  if (text.empty()) return false;
  const auto [end, status] = std::from_chars(text.data(), text.data() + text.size(), out);
  return status == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<RedisAddress> parse_redis_url(std::string_view url, std::string* error) {
  constexpr std::string_view kScheme = "redis://";
  if (url.starts_with("rediss://")) {
    return refuse(error, "TLS to Redis (rediss://) is not supported; use redis://");
  }
  if (!url.starts_with(kScheme)) return refuse(error, "must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress address;

  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // redis://:password@host, or redis://user:password@host (Redis 6 ACL users are not
    // supported: the user must be empty or "default").
    const auto colon = credentials.find(':');
    if (colon == std::string_view::npos) return refuse(error, "credentials must be :PASSWORD");
    const std::string_view user = credentials.substr(0, colon);
    if (!user.empty() && user != "default") {
      return refuse(error, "only the default user is supported (redis://:PASSWORD@HOST)");
    }
    address.password = std::string(credentials.substr(colon + 1));
    if (address.password.empty()) return refuse(error, "empty password");
  }

  std::string_view authority = rest;
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return refuse(error, "unclosed [ in the IPv6 address");
    address.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return refuse(error, "unexpected text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return refuse(error, "empty port");
    }
  } else {
    const auto colon = authority.find(':');
    address.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return refuse(error, "empty port");
    }
  }
  if (address.host.empty()) return refuse(error, "no host");
  for (const char c : address.host) {
    if (c <= ' ' || c == '/' || c == '?' || c == '#' || c == '@' || c == 0x7f) {
      return refuse(error, "invalid character in the host");
    }
  }
  if (!port_text.empty()) {
    std::uint32_t port = 0;
    if (!parse_number(port_text, port) || port == 0 || port > 65535) {
      return refuse(error, "port must be 1-65535");
    }
    address.port = static_cast<std::uint16_t>(port);
  }
  if (!path.empty()) {
    // Redis numbers its databases 0-15 by default; a server configured with more takes more.
    if (!parse_number(path, address.db) || address.db > 1'000'000) {
      return refuse(error, "database must be a number (redis://HOST:PORT/DB)");
    }
  }
  return address;
}

}  // namespace hibiki
