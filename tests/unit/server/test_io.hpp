// The I/O backend the server unit tests run on: HIBIKI_IO (auto, epoll, io_uring) when set, as
// ctest sets it for each of the two runs of every test (tests/unit/server/CMakeLists.txt).
#pragma once

#include <cstdlib>
#include <string_view>

#include "hibiki/options.hpp"

namespace hibiki::testing {

inline IoBackend test_io() {
  const char* name = std::getenv("HIBIKI_IO");
  if (name == nullptr) return IoBackend::automatic;
  const std::string_view text(name);
  if (text == "epoll") return IoBackend::epoll;
  if (text == "io_uring") return IoBackend::io_uring;
  return IoBackend::automatic;
}

// `options` on the backend under test.
inline ServerOptions on_test_io(ServerOptions options) {
  options.io = test_io();
  return options;
}

}  // namespace hibiki::testing
