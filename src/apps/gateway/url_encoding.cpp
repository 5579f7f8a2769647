// Percent-encoding and query splitting (see url_encoding.hpp).
#include "apps/gateway/url_encoding.hpp"

namespace hibiki::apps::gateway {
namespace {

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

bool is_unreserved(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

std::string decode_or_keep(std::string_view text) {
  if (auto decoded = percent_decode(text, PlusMeans::space)) return std::move(*decoded);
  return std::string(text);
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, PlusMeans plus) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '+' && plus == PlusMeans::space) {
      out += ' ';
    } else if (ch != '%') {
      out += ch;
    } else {
      if (i + 2 >= text.size()) return std::nullopt;  // needs two more characters
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

std::string uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    if (is_unreserved(ch) || (keep_slash && ch == '/')) {
      out += ch;
    } else {
      const auto byte = static_cast<unsigned char>(ch);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      params.emplace_back(decode_or_keep(piece), std::string());
    } else {
      params.emplace_back(decode_or_keep(piece.substr(0, eq)),
                          decode_or_keep(piece.substr(eq + 1)));
    }
  }
  return params;
}

}  // namespace hibiki::apps::gateway
