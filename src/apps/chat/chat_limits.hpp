// The chat's configurable limits, shared by the service, the welcome message and the CLI.
#pragma once

#include <cstddef>

#include "apps/chat/rate_limiter.hpp"

namespace hibiki::apps::chat {

struct ChatLimits {
  std::size_t history = 50;           // messages sent on join; the most a resume can catch up
  std::size_t max_text_chars = 4000;  // characters (code points) in one message
  std::size_t max_rooms = 10;         // rooms one connection may be in at once
  RateLimit rate;                     // requests per connection (every frame counts)
};

}  // namespace hibiki::apps::chat
