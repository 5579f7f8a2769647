// Error messages that name a user's input (a config key, a file's text) kept to one line:
// control characters escaped, so a hostile value cannot forge or split log and error lines.
#pragma once

#include <string>
#include <string_view>

namespace hibiki::apps {

// `text` with \n, \r and \t written as such and other control characters (and DEL) as \xHH.
[[nodiscard]] std::string one_line(std::string_view text);

}  // namespace hibiki::apps
