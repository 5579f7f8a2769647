// Integration URL parsing (see integration_url.hpp).
#include "apps/gateway/integration_url.hpp"

#include <charconv>

namespace hibiki::apps::gateway {

std::optional<IntegrationUrl> parse_integration_url(std::string_view url, std::string& error) {
  IntegrationUrl result;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    result.tls = true;
    result.port = 443;
    rest = url.substr(8);
  } else {
    error = "must start with http:// or https://";
    return std::nullopt;
  }
  for (char ch : url) {
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7F) {
      error = "must not contain spaces or control characters";
      return std::nullopt;
    }
  }
  if (url.find('#') != std::string_view::npos) {
    error = "must not have a fragment (#...)";
    return std::nullopt;
  }
  const std::size_t target_at = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, target_at);
  // A query with no path gets the root path; built by appending (g++ 12 -O3 warns falsely
  // about insert(0, ...) here).
  const std::string_view target =
      target_at == std::string_view::npos ? std::string_view() : rest.substr(target_at);
  if (target.empty() || target.front() == '?') result.target = "/";
  result.target.append(target);
  if (authority.find('@') != std::string_view::npos) {
    error = "must not carry user info (user@host)";
    return std::nullopt;
  }
  result.host_header = std::string(authority);

  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "has an IPv6 address without its closing ']'";
      return std::nullopt;
    }
    result.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      error = "has characters after the IPv6 address";
      return std::nullopt;
    }
    if (!after.empty()) port_text = after.substr(1);
    if (!after.empty() && port_text.empty()) {
      error = "has an empty port";
      return std::nullopt;
    }
  } else {
    const std::size_t colon = authority.find(':');
    result.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) {
        error = "has an empty port";
        return std::nullopt;
      }
    }
  }
  if (result.host.empty()) {
    error = "has no host";
    return std::nullopt;
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      error = "has a port outside 1-65535";
      return std::nullopt;
    }
    result.port = static_cast<std::uint16_t>(port);
  }
  return result;
}

}  // namespace hibiki::apps::gateway
