// Server side of the RFC 6455 §4.2 opening handshake: request checks, accept key, responses.
#include "protocol/handshake.hpp"

#include <openssl/evp.h>

#include <cstring>

namespace hibiki::protocol {
namespace {

// §1.3 / §4.2.2 item 5.4: the GUID appended to the client's key before hashing.
constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::size_t kSha1Bytes = 20;
// base64 of 16 bytes: 22 data characters and "==" padding.
constexpr std::size_t kKeyChars = 24;

constexpr bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// §4.2.1 item 5: the key is base64 that decodes to exactly 16 bytes.
bool is_valid_key(std::string_view key) {
  if (key.size() != kKeyChars || key.substr(kKeyChars - 2) != "==") return false;
  for (std::size_t i = 0; i < kKeyChars - 2; ++i) {
    if (!is_base64_char(key[i])) return false;
  }
  return true;
}

// True when any header named `name` lists `token` (repeated fields form one list,
// RFC 9110 §5.3).
bool any_header_has_token(const HttpRequest& request, std::string_view name,
                          std::string_view token) {
  for (const HttpHeader& h : request.headers) {
    if (iequals(h.name, name) && has_token(h.value, token)) return true;
  }
  return false;
}

}  // namespace

int http_status_for(HandshakeError error) {
  switch (error) {
    case HandshakeError::not_get:
      return 405;
    case HandshakeError::origin_not_allowed:
      return 403;
    case HandshakeError::unsupported_version:
      return 426;
    default:
      return 400;
  }
}

const char* to_string(HandshakeError error) {
  switch (error) {
    case HandshakeError::none:
      return "none";
    case HandshakeError::not_get:
      return "not_get";
    case HandshakeError::bad_http_version:
      return "bad_http_version";
    case HandshakeError::missing_host:
      return "missing_host";
    case HandshakeError::missing_upgrade:
      return "missing_upgrade";
    case HandshakeError::missing_connection:
      return "missing_connection";
    case HandshakeError::bad_key:
      return "bad_key";
    case HandshakeError::unsupported_version:
      return "unsupported_version";
    case HandshakeError::origin_not_allowed:
      return "origin_not_allowed";
  }
  return "unknown";
}

bool wants_websocket(const HttpRequest& request) {
  return any_header_has_token(request, "Upgrade", "websocket");
}

HandshakeCheck check_upgrade(const HttpRequest& request, const HandshakeOptions& options) {
  HandshakeCheck check;
  auto fail = [&check](HandshakeError error) {
    check.error = error;
    return check;
  };
  // §4.2.1 item 1: an HTTP/1.1 or higher GET request (methods are case-sensitive,
  // RFC 9110 §9.1).
  if (request.method != "GET") return fail(HandshakeError::not_get);
  if (request.version_minor < 1) return fail(HandshakeError::bad_http_version);
  // Item 2: a Host header with the server's authority; exactly one (RFC 9112 §3.2).
  const auto host = request.header("Host");
  if (!host || host->empty() || request.header_count("Host") != 1) {
    return fail(HandshakeError::missing_host);
  }
  // Items 3 and 4: Upgrade includes "websocket", Connection includes "Upgrade" (tokens are
  // case-insensitive).
  if (!wants_websocket(request)) return fail(HandshakeError::missing_upgrade);
  if (!any_header_has_token(request, "Connection", "upgrade")) {
    return fail(HandshakeError::missing_connection);
  }
  // Item 5: exactly one Sec-WebSocket-Key, 16 bytes base64-encoded.
  const auto key = request.header("Sec-WebSocket-Key");
  if (!key || request.header_count("Sec-WebSocket-Key") != 1 || !is_valid_key(*key)) {
    return fail(HandshakeError::bad_key);
  }
  // Item 6 and §4.4: version 13 only; anything else gets 426 listing the supported version.
  const auto version = request.header("Sec-WebSocket-Version");
  if (!version || *version != "13" || request.header_count("Sec-WebSocket-Version") != 1) {
    return fail(HandshakeError::unsupported_version);
  }
  // §4.2.2 item 4 / §10.2: the server may refuse origins it does not serve.
  const auto origin = request.header("Origin");
  if (!options.allowed_origins.empty()) {
    bool allowed = false;
    if (origin) {
      for (const std::string& candidate : options.allowed_origins) {
        if (iequals(candidate, *origin)) {
          allowed = true;
          break;
        }
      }
    }
    if (!allowed) return fail(HandshakeError::origin_not_allowed);
  }

  check.upgrade.key = *key;
  check.upgrade.origin = origin.value_or(std::string_view{});
  check.upgrade.protocols = request.header("Sec-WebSocket-Protocol").value_or(std::string_view{});
  check.upgrade.extensions =
      request.header("Sec-WebSocket-Extensions").value_or(std::string_view{});
  return check;
}

AcceptKey compute_accept_key(std::string_view key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, key.data(), key.size()) == 1 &&
                  EVP_DigestUpdate(ctx, kAcceptGuid.data(), kAcceptGuid.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &digest_size) == 1 && digest_size == kSha1Bytes;
  EVP_MD_CTX_free(ctx);
  AcceptKey accept{};
  if (!ok) {
    // Only on allocation failure inside OpenSSL; a wrong key makes the client fail the
    // handshake, which is the right outcome for a server that cannot hash.
    accept.fill('=');
    return accept;
  }
  // 20 bytes -> 28 base64 characters plus the NUL EVP_EncodeBlock writes.
  unsigned char encoded[std::tuple_size_v<AcceptKey> + 1];
  EVP_EncodeBlock(encoded, digest, static_cast<int>(kSha1Bytes));
  std::memcpy(accept.data(), encoded, accept.size());
  return accept;
}

std::vector<std::string_view> split_protocols(std::string_view header_value) {
  std::vector<std::string_view> protocols;
  for_each_list_element(header_value,
                        [&protocols](std::string_view element) { protocols.push_back(element); });
  return protocols;
}

std::string build_upgrade_response(std::string_view key, std::string_view protocol,
                                   std::string_view extra_headers) {
  const AcceptKey accept = compute_accept_key(key);
  std::string out;
  out.reserve(160 + protocol.size() + extra_headers.size());
  out.append(
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  out.append(accept.data(), accept.size());
  out.append("\r\n");
  if (!protocol.empty()) {
    out.append("Sec-WebSocket-Protocol: ");
    out.append(protocol);
    out.append("\r\n");
  }
  out.append(extra_headers);
  out.append("\r\n");
  return out;
}

std::string build_error_response(int status, std::string_view body) {
  const std::string_view reason = reason_phrase(status);
  std::string default_body;
  if (body.empty()) {
    default_body.reserve(reason.size() + 1);
    default_body.append(reason);
    default_body.push_back('\n');
    body = default_body;
  }
  std::string out;
  out.reserve(160 + body.size());
  out.append("HTTP/1.1 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(reason);
  out.append(
      "\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: ");
  out.append(std::to_string(body.size()));
  out.append(
      "\r\n"
      "Connection: close\r\n");
  // RFC 6455 §4.4: a version mismatch answer lists the versions the server speaks.
  if (status == 426) out.append("Sec-WebSocket-Version: 13\r\n");
  // RFC 9110 §15.5.6: a 405 response must carry Allow.
  if (status == 405) out.append("Allow: GET\r\n");
  out.append("\r\n");
  out.append(body);
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace hibiki::protocol
