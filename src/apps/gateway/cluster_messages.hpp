// What gateway nodes say to each other over Redis when a management call reaches a node that
// does not hold the connection: the call, forwarded to the node that does, and its answer.
// Each message is a sequence of netstrings ("<length>:<bytes>,"), so ids, topics and bodies
// cross byte for byte whatever they contain. No I/O.
//
//   request: "req", origin node, correlation, deadline, action, connection id, topic, body
//   answer:  "res", correlation, HTTP status, x-amzn-ErrorType (may be empty), body
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "apps/gateway/management_api.hpp"

namespace hibiki::apps::gateway {

struct ForwardedCall {
  std::string origin;  // the node waiting for the answer
  std::uint64_t correlation = 0;
  // Wall-clock milliseconds after which the origin has answered 503 already: the holder drops
  // a call that reaches it later (frozen, or stuck behind a slow link) rather than act on it
  // behind the caller's back. Assumes the nodes' clocks agree (NTP) to well under a second.
  std::int64_t deadline_ms = 0;
  ManagementAction action = ManagementAction::invalid;
  std::string connection_id;
  std::string topic;
  std::string body;
};

struct ForwardedAnswer {
  std::uint64_t correlation = 0;
  int status = 0;
  std::string error_type;
  std::string body;
};

[[nodiscard]] std::string encode(const ForwardedCall& call);
[[nodiscard]] std::string encode(const ForwardedAnswer& answer);

// One message off the channel: a call, an answer, or (nullopt) bytes that are neither, which the
// receiver drops.
[[nodiscard]] std::optional<ForwardedCall> decode_call(std::string_view message);
[[nodiscard]] std::optional<ForwardedAnswer> decode_answer(std::string_view message);

// "post_to_connection" … back to the action; invalid for anything else.
[[nodiscard]] ManagementAction action_from_string(std::string_view name);

}  // namespace hibiki::apps::gateway
