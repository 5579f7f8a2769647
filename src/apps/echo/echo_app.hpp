// `hibiki echo`: every text and binary message goes back unchanged, on any path. Built for
// conformance suites and load generators.
#pragma once

#include "hibiki/server.hpp"

namespace hibiki::apps {

// Defaults for the echo job: 16 MiB messages, room to buffer two of them per connection.
ServerOptions echo_server_defaults();

// The echo endpoint on every path, GET /healthz and /readyz (JSON), and GET /metrics
// (Prometheus text).
void mount_echo(Server& server);

}  // namespace hibiki::apps
