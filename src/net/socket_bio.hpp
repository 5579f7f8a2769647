// An OpenSSL BIO over a non-blocking socket that sends with MSG_NOSIGNAL: OpenSSL's own socket
// BIO writes with write(2), which raises SIGPIPE (fatal unless the program ignores it) when the
// peer has reset the connection. Through this one a vanished peer is an EPIPE or ECONNRESET
// like any other, and the process's signal disposition is left alone.
#pragma once

typedef struct bio_st BIO;

namespace hibiki::net {

// What the BIO works on, owned by the caller and outliving the BIO.
struct SocketBioState {
  int fd = -1;
  // The last recv(2) came back short of what was asked, or with EAGAIN: the socket held no
  // more bytes then, and edge-triggered epoll reports the next ones. Lets a reader stop
  // without one more recv(2) that would only say EAGAIN.
  bool drained = false;
};

// A BIO reading with recv(2) and writing with send(2, MSG_NOSIGNAL) on `state->fd`, which the
// caller keeps owning (freeing the BIO does not close it). EAGAIN sets the retry flags OpenSSL
// expects of a non-blocking BIO; other failures leave errno for SSL_ERROR_SYSCALL. nullptr when
// OpenSSL is out of memory.
BIO* new_socket_bio(SocketBioState* state);

}  // namespace hibiki::net
