// What an integration answered, read the way API Gateway reads a Lambda-proxy result, while
// still accepting plain HTTP backends. No I/O.
#pragma once

#include <string>
#include <string_view>

#include "apps/gateway/headers.hpp"

namespace hibiki::apps::gateway {

struct IntegrationResult {
  int status = 200;    // decides $connect (2xx accepts the upgrade)
  std::string body;    // for a two-way route, what goes back to the client
  HeaderList headers;  // for $connect, headers to add to the 101 (e.g. Sec-WebSocket-Protocol)
};

// - HTTP status not 2xx: that status and the body as is, no headers.
// - 2xx and the body a JSON object with a numeric "statusCode" (a Lambda-proxy result, such as a
//   Bref handler's ['statusCode' => 200, 'body' => '...', 'headers' => [...]] JSON-encoded by a
//   front controller): statusCode; "body" (a string; other JSON is passed as its JSON text;
//   missing or null is empty), base64-decoded when "isBase64Encoded" is true; "headers" (an
//   object; numbers and booleans become their JSON text) followed by "multiValueHeaders" (an
//   object of arrays). A statusCode outside 100-599, or a base64 body that does not decode, is an
//   unusable answer: status 502 with an empty body (API Gateway's "Internal server error").
// - Any other 2xx body (a plain HTTP backend): the HTTP status and the raw body.
// Thread-safe: each thread reuses its own parser.
[[nodiscard]] IntegrationResult parse_integration_response(int http_status, std::string_view body);

}  // namespace hibiki::apps::gateway
