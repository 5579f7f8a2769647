// The three clock formats the gateway speaks, all UTC: the Lambda event's requestTime, the
// management API's ISO 8601 timestamps and SigV4's X-Amz-Date. Pure functions of their input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hibiki::apps::gateway {

// requestContext.requestTime: "25/Nov/2026:15:57:38 +0000" (seconds; the milliseconds go in
// requestTimeEpoch).
[[nodiscard]] std::string format_request_time(std::int64_t epoch_ms);

// "2026-11-25T15:57:38.123Z": GetConnection's connectedAt and lastActiveAt.
[[nodiscard]] std::string format_iso8601_ms(std::int64_t epoch_ms);

// X-Amz-Date "20150830T123600Z" → seconds since the epoch; nothing unless exactly that form
// with a real date and time.
[[nodiscard]] std::optional<std::int64_t> parse_amz_date(std::string_view text);

}  // namespace hibiki::apps::gateway
