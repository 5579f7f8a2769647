// Random AWS-like ids (see gateway_ids.hpp).
#include "apps/gateway/gateway_ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <random>

#include "apps/gateway/base64.hpp"

namespace hibiki::apps::gateway {
namespace {

// 11 bytes are 88 bits: base64 gives 15 characters plus one '=' of padding, like AWS's ids.
constexpr std::size_t kIdBytes = 11;

std::string random_id() {
  std::array<unsigned char, kIdBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // OpenSSL's generator could not seed; the kernel's is still good enough for an id.
    std::random_device device;
    for (auto& byte : bytes)
      byte = static_cast<unsigned char>(device());
  }
  return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                       Base64Alphabet::url);
}

}  // namespace

std::string new_connection_id() {
  return random_id();
}

std::string new_request_id() {
  return random_id();
}

}  // namespace hibiki::apps::gateway
