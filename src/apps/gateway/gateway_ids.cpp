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

// Random bytes are drawn 4 KiB at a time per thread: one RAND_bytes call per ~370 ids instead
// of one per id (each call costs several microseconds, a system call included, and a routed
// message needs two ids).
constexpr std::size_t kBatchBytes = 4096;

struct RandomBatch {
  std::array<unsigned char, kBatchBytes> bytes{};
  std::size_t used = kBatchBytes;  // empty until the first draw

  const unsigned char* take(std::size_t count) {
    if (used + count > bytes.size()) {
      if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        // OpenSSL's generator could not seed; the kernel's is still good enough for an id.
        std::random_device device;
        for (auto& byte : bytes)
          byte = static_cast<unsigned char>(device());
      }
      used = 0;
    }
    const unsigned char* out = bytes.data() + used;
    used += count;
    return out;
  }
};

std::string random_id() {
  thread_local RandomBatch batch;
  const unsigned char* bytes = batch.take(kIdBytes);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes), kIdBytes),
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
