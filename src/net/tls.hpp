// TLS for the event loop (OpenSSL 3): a server context loaded from PEM files and non-blocking
// sessions whose I/O follows src/net's convention (bytes, or -EAGAIN, or another -errno).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "net/socket_bio.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace hibiki::net {

// A server-side SSL_CTX: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers, ALPN "h2" (when
// offered, preferred) and "http/1.1",
// buffers released while a connection is idle. Sessions keep the context they were made from
// alive (OpenSSL counts references), so a reload never disturbs open connections.
class TlsContext {
 public:
  // Throws std::runtime_error naming the file and OpenSSL's reason when the certificate chain or
  // the key cannot be loaded or do not match.
  // `offer_h2`: ALPN selects "h2" for clients that offer it; otherwise "http/1.1" only.
  TlsContext(const std::string& certificate_chain_file, const std::string& private_key_file,
             bool offer_h2 = false);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  [[nodiscard]] SSL_CTX* native() const { return context_; }
  [[nodiscard]] bool offers_h2() const { return offer_h2_; }

 private:
  SSL_CTX* context_ = nullptr;
  bool offer_h2_ = false;
};

// One TLS connection over a non-blocking socket the caller owns.
class TlsSession {
 public:
  TlsSession(const TlsContext& context, int fd);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Drives the handshake: 0 when done, -EAGAIN when it waits for the peer, -EPROTO on failure.
  int handshake();
  [[nodiscard]] bool established() const { return established_; }

  // Decrypted bytes, 0 at the peer's close_notify or EOF, -EAGAIN, or -errno. Fills `buffer`
  // with as many records as arrived (they are read ahead, many per recv(2)).
  long read(std::span<std::byte> buffer);
  // After a read that returned bytes: the socket was emptied and nothing decryptable is left,
  // so the next read would only say EAGAIN (edge-triggered epoll reports new bytes).
  [[nodiscard]] bool drained() const;
  // Writes from the front of the gathered buffers: bytes taken, -EAGAIN, or -errno. After an
  // -EAGAIN the next call offers the same bytes again (OpenSSL requires the retry to match).
  long write(const struct iovec* iov, int count);
  // ALPN chose "h2" in the handshake (valid once established()).
  [[nodiscard]] bool negotiated_h2() const;
  // Sends close_notify (best effort, non-blocking).
  void shutdown();

  // The last OpenSSL error as text, for logs.
  static std::string last_error();

 private:
  SocketBioState bio_state_;
  SSL* ssl_ = nullptr;
  bool established_ = false;
  std::size_t retry_bytes_ = 0;  // size of a write that must be retried as it was
};

}  // namespace hibiki::net
