// The error frames API Gateway sends a WebSocket client instead of an answer, byte for byte:
//   {"message": "Forbidden", "connectionId":"L0SM9cOFvHcCIhw=", "requestId":"L0SM9F5VvHcFhUQ="}
// "Forbidden" when a message matches no route and there is no $default route; "Internal server
// error" when the integration failed (unreachable, timed out, or an unusable answer). The odd
// spacing is API Gateway's own. No I/O.
#pragma once

#include <string>
#include <string_view>

namespace hibiki::apps::gateway {

inline constexpr std::string_view kForbiddenMessage = "Forbidden";
inline constexpr std::string_view kInternalServerErrorMessage = "Internal server error";

[[nodiscard]] std::string aws_error_frame(std::string_view message, std::string_view connection_id,
                                          std::string_view request_id);

}  // namespace hibiki::apps::gateway
