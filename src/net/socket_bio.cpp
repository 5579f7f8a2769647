// A BIO method over the socket calls of net/socket (recv, send with MSG_NOSIGNAL).
#include "net/socket_bio.hpp"

#include <openssl/bio.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>

#include "net/socket.hpp"

namespace hibiki::net {
namespace {

// The caller's state rides in the BIO's data pointer: no allocation per connection.
SocketBioState& state_of(BIO* bio) {
  return *static_cast<SocketBioState*>(BIO_get_data(bio));
}

int descriptor(BIO* bio) {
  return state_of(bio).fd;
}

// A net/socket result (bytes or -errno) as a BIO answer: 1 with the bytes moved, or 0 with
// errno set for SSL_ERROR_SYSCALL (0 at the end of the stream: no error to report).
int answer(long result, std::size_t* moved) {
  *moved = result > 0 ? static_cast<std::size_t>(result) : 0;
  if (result > 0) return 1;
  errno = static_cast<int>(-result);
  return 0;
}

int socket_read(BIO* bio, char* data, std::size_t size, std::size_t* got) {
  const long n = read_some(descriptor(bio), {reinterpret_cast<std::byte*>(data), size});
  // With read-ahead OpenSSL asks for a whole buffer's worth: less than that empties the socket.
  state_of(bio).drained = n == -EAGAIN || (n > 0 && static_cast<std::size_t>(n) < size);
  BIO_clear_retry_flags(bio);
  if (n == -EAGAIN) BIO_set_retry_read(bio);
  // The end of the stream is remembered for BIO_CTRL_EOF: OpenSSL then reports an EOF without
  // close_notify as such, the way it does over its own socket BIO.
  if (n == 0 && size > 0) BIO_set_flags(bio, BIO_FLAGS_IN_EOF);
  return answer(n, got);
}

int socket_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  BIO_clear_retry_flags(bio);
  if (size == 0) {
    *written = 0;
    return 1;  // send(2) of nothing would look like a failure to answer()
  }
  const long n = write_some(descriptor(bio), {reinterpret_cast<const std::byte*>(data), size});
  if (n == -EAGAIN) BIO_set_retry_write(bio);
  return answer(n, written);
}

long socket_ctrl(BIO* bio, int command, long, void* pointer) {
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;  // nothing is buffered here: send(2) hands the bytes to the kernel
    case BIO_CTRL_EOF:
      return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
    case BIO_C_GET_FD:
      if (pointer != nullptr) *static_cast<int*>(pointer) = descriptor(bio);
      return descriptor(bio);
    case BIO_CTRL_GET_CLOSE:
      return BIO_NOCLOSE;  // the connection owns the descriptor
    default:
      return 0;  // pending bytes, kTLS and the rest: none here
  }
}

const BIO_METHOD* socket_method() {
  // Made once, shared by every loop's sessions and kept for the life of the process.
  static BIO_METHOD* const method = [] {
    BIO_METHOD* made = BIO_meth_new(
        BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "hibiki socket");
    if (made != nullptr) {
      BIO_meth_set_read_ex(made, socket_read);
      BIO_meth_set_write_ex(made, socket_write);
      BIO_meth_set_ctrl(made, socket_ctrl);
    }
    return made;
  }();
  return method;
}

}  // namespace

BIO* new_socket_bio(SocketBioState* state) {
  const BIO_METHOD* method = socket_method();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return nullptr;
  BIO_set_data(bio, state);
  BIO_set_init(bio, 1);
  return bio;
}

}  // namespace hibiki::net
