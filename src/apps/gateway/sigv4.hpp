// AWS Signature Version 4 verification for the management API, so AWS SDKs pointed at the
// gateway can sign their calls as they would for execute-api. Follows the AWS documentation
// ("Create a signed AWS API request"); pure functions over the request, OpenSSL for SHA-256 and
// HMAC. No I/O, no clock: check the date's freshness with sigv4_date_within.
//
// Canonical request, as built here:
//   method \n canonical URI \n canonical query \n canonical headers \n signed headers \n hash
// - URI: the path as received (already percent-encoded once by the client), with empty and "."
//   segments removed and ".." applied, then each segment URI-encoded again: for every service
//   but S3 the path is encoded twice, so an id's "%3D" on the wire is "%253D" here.
// - Query: each name and value decoded, then URI-encoded, sorted by name then value.
// - Headers: the signed ones, lowercased names, values trimmed with inner runs of spaces
//   collapsed to one, repeated headers joined with ','.
// - Hash: x-amz-content-sha256 when present (it must then equal the body's SHA-256), else the
//   SHA-256 of the body, lowercase hex.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apps/gateway/headers.hpp"

namespace hibiki::apps::gateway {

// "AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/<service>/aws4_request,
//  SignedHeaders=<h1>;<h2>…, Signature=<64 hex>"
struct SigV4Authorization {
  std::string access_key_id;
  std::string date;  // the credential scope's YYYYMMDD
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;  // lowercase, in the order given
  std::string signature;                    // lowercase hex
};

// Nothing unless `header` is an Authorization value of that form (the three parts in any order,
// separated by commas with optional spaces).
[[nodiscard]] std::optional<SigV4Authorization> parse_sigv4_authorization(std::string_view header);

// True when the Authorization header starts with the SigV4 algorithm name (a cheap test to tell
// it from "Bearer …").
[[nodiscard]] bool is_sigv4_authorization(std::string_view header);

enum class SigV4Status : std::uint8_t {
  ok,
  missing_authorization,    // no Authorization header
  malformed_authorization,  // not SigV4, scope not ending in aws4_request, host not signed, or
                            // the scope's date is not X-Amz-Date's
  missing_date,             // no valid X-Amz-Date header
  missing_signed_header,    // a header named in SignedHeaders is not in the request
  payload_hash_mismatch,    // x-amz-content-sha256 is not the body's hash
  signature_mismatch,       // the signature is not the one the secret gives
};

[[nodiscard]] const char* to_string(SigV4Status status);

// Checks the request's Authorization header against `secret_access_key`. `path` is the request
// path as received (without the query), `query` the raw query string without '?'. The caller
// compares the access key id (parse_sigv4_authorization) with the one it expects.
[[nodiscard]] SigV4Status check_sigv4(std::string_view method, std::string_view path,
                                      std::string_view query, const HeaderList& headers,
                                      std::string_view body, std::string_view secret_access_key);

// check_sigv4(...) == SigV4Status::ok.
[[nodiscard]] bool verify_sigv4(std::string_view method, std::string_view path,
                                std::string_view query, const HeaderList& headers,
                                std::string_view body, std::string_view secret_access_key);

// True when X-Amz-Date "20150830T123600Z" is within `max_skew_s` of `now_s` (epoch seconds).
// The management API uses five minutes, AWS's window for signed requests.
[[nodiscard]] bool sigv4_date_within(std::string_view amz_date, std::int64_t now_s,
                                     std::int64_t max_skew_s = 900);

// The steps, exposed for tests and for logging what was expected.
// Nothing when a signed header is missing from `headers`.
[[nodiscard]] std::optional<std::string> sigv4_canonical_request(
    std::string_view method, std::string_view path, std::string_view query,
    const HeaderList& headers, const std::vector<std::string>& signed_headers,
    std::string_view payload_hash);
[[nodiscard]] std::string sigv4_string_to_sign(std::string_view amz_date, std::string_view date,
                                               std::string_view region, std::string_view service,
                                               std::string_view canonical_request);
[[nodiscard]] std::string sigv4_signature(std::string_view secret_access_key, std::string_view date,
                                          std::string_view region, std::string_view service,
                                          std::string_view string_to_sign);
// Lowercase hex SHA-256.
[[nodiscard]] std::string sha256_hex(std::string_view data);

}  // namespace hibiki::apps::gateway
