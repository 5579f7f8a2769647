// API Gateway's error frame (see error_frame.hpp).
#include "apps/gateway/error_frame.hpp"

#include "apps/gateway/json_writer.hpp"

namespace hibiki::apps::gateway {

std::string aws_error_frame(std::string_view message, std::string_view connection_id,
                            std::string_view request_id) {
  std::string out = R"({"message": )";
  append_json_string(out, message);
  out += R"(, "connectionId":)";
  append_json_string(out, connection_id);
  out += R"(, "requestId":)";
  append_json_string(out, request_id);
  out += '}';
  return out;
}

}  // namespace hibiki::apps::gateway
