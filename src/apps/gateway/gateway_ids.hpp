// AWS-like identifiers: 16 characters of URL-safe base64 ending in '=' (11 random bytes), the
// form API Gateway gives connectionId, requestId, extendedRequestId and messageId, e.g.
// "L0SM9cOFvHcCIhw=" or "HXT_RfBnPHcCIIg=". Random from OpenSSL's RAND_bytes; thread-safe.
//
// In a management path the id's '=' is sent percent-encoded (%3D) by the AWS SDKs;
// parse_management_request decodes it. '-' and '_' need no encoding.
#pragma once

#include <string>

namespace hibiki::apps::gateway {

[[nodiscard]] std::string new_connection_id();
// For requestId, extendedRequestId and messageId alike.
[[nodiscard]] std::string new_request_id();

}  // namespace hibiki::apps::gateway
