// SigV4 verification (see sigv4.hpp) with OpenSSL's SHA-256 and HMAC.
#include "apps/gateway/sigv4.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <utility>

#include "apps/gateway/time_format.hpp"
#include "apps/gateway/url_encoding.hpp"

namespace hibiki::apps::gateway {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
constexpr std::size_t kSignatureHexChars = 64;

using Digest = std::array<unsigned char, 32>;

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0x0F];
  }
  return out;
}

Digest hmac(std::string_view key, std::string_view data) {
  Digest out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &length);
  return out;
}

std::string_view as_view(const Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

// Trimmed, with each run of spaces inside collapsed to one (AWS: "sequential spaces").
std::string canonical_value(std::string_view value) {
  value = trim_ows(value);
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    if (ch == ' ' && !out.empty() && out.back() == ' ') continue;
    out += ch;
  }
  return out;
}

// Splits on `separator`, trimming each piece.
std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  while (true) {
    const std::size_t at = text.find(separator);
    pieces.push_back(trim_ows(text.substr(0, at)));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return pieces;
}

std::string canonical_uri(std::string_view path) {
  std::vector<std::string_view> segments;
  for (std::string_view segment : split(path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  std::string normalized = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) normalized += '/';
    normalized += segments[i];
  }
  if (!segments.empty() && path.ends_with('/')) normalized += '/';
  return uri_encode(normalized, true);
}

std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  const auto encode = [](std::string_view raw) {
    const auto decoded = percent_decode(raw, PlusMeans::plus);
    return uri_encode(decoded ? std::string_view(*decoded) : raw, false);
  };
  for (std::string_view piece : split(query, '&')) {
    if (piece.empty()) continue;
    const std::size_t eq = piece.find('=');
    params.emplace_back(encode(piece.substr(0, eq)), eq == std::string_view::npos
                                                         ? std::string()
                                                         : encode(piece.substr(eq + 1)));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'); });
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  Digest digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return to_hex(digest.data(), digest.size());
}

bool is_sigv4_authorization(std::string_view header) {
  header = trim_ows(header);
  return header.starts_with(kAlgorithm) &&
         (header.size() == kAlgorithm.size() || header[kAlgorithm.size()] == ' ');
}

std::optional<SigV4Authorization> parse_sigv4_authorization(std::string_view header) {
  header = trim_ows(header);
  if (!is_sigv4_authorization(header)) return std::nullopt;
  SigV4Authorization auth;
  bool has_credential = false;
  bool has_headers = false;
  bool has_signature = false;
  for (std::string_view part : split(header.substr(kAlgorithm.size()), ',')) {
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view name = part.substr(0, eq);
    const std::string_view value = part.substr(eq + 1);
    if (name == "Credential" && !has_credential) {
      const auto scope = split(value, '/');
      if (scope.size() != 5 || scope[4] != kTerminator ||
          std::any_of(scope.begin(), scope.begin() + 4,
                      [](std::string_view piece) { return piece.empty(); })) {
        return std::nullopt;
      }
      auth.access_key_id = std::string(scope[0]);
      auth.date = std::string(scope[1]);
      auth.region = std::string(scope[2]);
      auth.service = std::string(scope[3]);
      has_credential = true;
    } else if (name == "SignedHeaders" && !has_headers) {
      for (std::string_view signed_header : split(value, ';')) {
        if (signed_header.empty()) return std::nullopt;
        auth.signed_headers.push_back(lowercase(signed_header));
      }
      has_headers = true;
    } else if (name == "Signature" && !has_signature) {
      auth.signature = lowercase(value);
      if (auth.signature.size() != kSignatureHexChars || !is_lower_hex(auth.signature)) {
        return std::nullopt;
      }
      has_signature = true;
    } else {
      return std::nullopt;
    }
  }
  if (!has_credential || !has_headers || !has_signature) return std::nullopt;
  return auth;
}

std::optional<std::string> sigv4_canonical_request(std::string_view method, std::string_view path,
                                                   std::string_view query,
                                                   const HeaderList& headers,
                                                   const std::vector<std::string>& signed_headers,
                                                   std::string_view payload_hash) {
  std::string out(method);
  out += '\n';
  out += canonical_uri(path);
  out += '\n';
  out += canonical_query(query);
  out += '\n';
  std::string signed_list;
  for (const std::string& name : signed_headers) {
    std::string values;
    bool found = false;
    for (const auto& [key, value] : headers) {
      if (!iequals(key, name)) continue;
      if (found) values += ',';
      values += canonical_value(value);
      found = true;
    }
    if (!found) return std::nullopt;
    out += name;
    out += ':';
    out += values;
    out += '\n';
    if (!signed_list.empty()) signed_list += ';';
    signed_list += name;
  }
  out += '\n';
  out += signed_list;
  out += '\n';
  out += payload_hash;
  return out;
}

std::string sigv4_string_to_sign(std::string_view amz_date, std::string_view date,
                                 std::string_view region, std::string_view service,
                                 std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += date;
  out += '/';
  out += region;
  out += '/';
  out += service;
  out += '/';
  out += kTerminator;
  out += '\n';
  out += sha256_hex(canonical_request);
  return out;
}

std::string sigv4_signature(std::string_view secret_access_key, std::string_view date,
                            std::string_view region, std::string_view service,
                            std::string_view string_to_sign) {
  const std::string secret = "AWS4" + std::string(secret_access_key);
  const Digest date_key = hmac(secret, date);
  const Digest region_key = hmac(as_view(date_key), region);
  const Digest service_key = hmac(as_view(region_key), service);
  const Digest signing_key = hmac(as_view(service_key), kTerminator);
  const Digest signature = hmac(as_view(signing_key), string_to_sign);
  return to_hex(signature.data(), signature.size());
}

SigV4Status check_sigv4(std::string_view method, std::string_view path, std::string_view query,
                        const HeaderList& headers, std::string_view body,
                        std::string_view secret_access_key) {
  const auto authorization = find_header(headers, "authorization");
  if (!authorization) return SigV4Status::missing_authorization;
  const auto auth = parse_sigv4_authorization(*authorization);
  if (!auth || std::find(auth->signed_headers.begin(), auth->signed_headers.end(), "host") ==
                   auth->signed_headers.end()) {
    return SigV4Status::malformed_authorization;
  }
  const auto amz_date = find_header(headers, "x-amz-date");
  if (!amz_date || !parse_amz_date(trim_ows(*amz_date))) return SigV4Status::missing_date;
  const std::string_view date_time = trim_ows(*amz_date);
  if (date_time.substr(0, 8) != auth->date) return SigV4Status::malformed_authorization;

  // A client-declared payload hash is signed in place of the body, so it must be the body's.
  const std::string body_hash = sha256_hex(body);
  std::string payload_hash = body_hash;
  if (const auto declared = find_header(headers, "x-amz-content-sha256")) {
    payload_hash = std::string(trim_ows(*declared));
    if (lowercase(payload_hash) != body_hash) return SigV4Status::payload_hash_mismatch;
  }

  const auto canonical =
      sigv4_canonical_request(method, path, query, headers, auth->signed_headers, payload_hash);
  if (!canonical) return SigV4Status::missing_signed_header;
  const std::string expected = sigv4_signature(
      secret_access_key, auth->date, auth->region, auth->service,
      sigv4_string_to_sign(date_time, auth->date, auth->region, auth->service, *canonical));
  // Both are 64 lowercase hex characters here; compare without an early exit.
  if (CRYPTO_memcmp(expected.data(), auth->signature.data(), kSignatureHexChars) != 0) {
    return SigV4Status::signature_mismatch;
  }
  return SigV4Status::ok;
}

bool verify_sigv4(std::string_view method, std::string_view path, std::string_view query,
                  const HeaderList& headers, std::string_view body,
                  std::string_view secret_access_key) {
  return check_sigv4(method, path, query, headers, body, secret_access_key) == SigV4Status::ok;
}

bool sigv4_date_within(std::string_view amz_date, std::int64_t now_s, std::int64_t max_skew_s) {
  const auto seconds = parse_amz_date(amz_date);
  if (!seconds) return false;
  const std::int64_t skew = *seconds > now_s ? *seconds - now_s : now_s - *seconds;
  return skew <= max_skew_s;
}

const char* to_string(SigV4Status status) {
  switch (status) {
    case SigV4Status::ok:
      return "ok";
    case SigV4Status::missing_authorization:
      return "missing_authorization";
    case SigV4Status::malformed_authorization:
      return "malformed_authorization";
    case SigV4Status::missing_date:
      return "missing_date";
    case SigV4Status::missing_signed_header:
      return "missing_signed_header";
    case SigV4Status::payload_hash_mismatch:
      return "payload_hash_mismatch";
    case SigV4Status::signature_mismatch:
      return "signature_mismatch";
  }
  return "unknown";
}

}  // namespace hibiki::apps::gateway
