// OpenSSL server context and non-blocking sessions.
#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "net/socket_bio.hpp"

namespace hibiki::net {
namespace {

// TLS records carry at most 16 KiB: gathering that much per SSL_write fills one record.
constexpr std::size_t kMaxRecordBytes = 16 * 1024;

// TLS 1.3 suites in the server's order: AES-128-GCM first (AES-NI; four fewer rounds per block
// than AES-256 and SHA-256 for the key schedule), then the client's other usual choices.
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
// TLS 1.2 suites with forward secrecy and AEAD only.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// ALPN protocol lists in wire format, the server's preference first.
constexpr unsigned char kHttp11Only[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kH2First[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// `offer_h2` is the context's http2 flag (non-null: on).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void* offer_h2) {
  const unsigned char* ours = offer_h2 != nullptr ? kH2First : kHttp11Only;
  const unsigned int ours_length = offer_h2 != nullptr ? sizeof kH2First : sizeof kHttp11Only;
  unsigned char* selected = nullptr;
  // SSL_select_next_proto walks the server's list first: h2 wins whenever both sides have it.
  if (SSL_select_next_proto(&selected, out_length, ours, ours_length, offered, offered_length) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  // A client that offers only h2 still gets HTTP/1.1 rather than a failed handshake.
  return SSL_TLSEXT_ERR_NOACK;
}

// SSL_get_error needs an empty error queue before each call it judges. ERR_clear_error wipes
// all sixteen slots whether or not they hold anything (about a tenth of a small echo's
// instructions when called before every read and write); peeking first is nearly free.
void empty_error_queue() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + TlsSession::last_error());
}

}  // namespace

std::string TlsSession::last_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  std::array<char, 256> text{};
  ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

TlsContext::TlsContext(const std::string& certificate_chain_file,
                       const std::string& private_key_file, bool offer_h2)
    : offer_h2_(offer_h2) {
  context_ = SSL_CTX_new(TLS_server_method());
  if (context_ == nullptr) fail("cannot create a TLS context");
  SSL_CTX_set_min_proto_version(context_, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(context_, kTls12Ciphers);
  SSL_CTX_set_ciphersuites(context_, kTls13Suites);
  SSL_CTX_set_options(
      context_, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their read/write buffers back (about 34 KiB each otherwise): OpenSSL
  // frees each once it is empty, and the next read or write takes the same block back from the
  // allocator (cheaper, measured, than keeping a buffer per connection warm in the cache).
  // Partial writes let a full socket take what it can.
  SSL_CTX_set_mode(context_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read-ahead: one recv(2) brings every record that arrived instead of two per record (its
  // 5-byte header, then its body).
  SSL_CTX_set_read_ahead(context_, 1);
  // The callback's argument is only tested for null: no lifetime to manage.
  static int on = 1;
  SSL_CTX_set_alpn_select_cb(context_, select_alpn, offer_h2 ? &on : nullptr);
  // No server-side session cache: each cached session costs memory per client that ever
  // connected. Clients resume with stateless tickets instead.
  SSL_CTX_set_session_cache_mode(context_, SSL_SESS_CACHE_OFF);
  // One ticket, not OpenSSL's two: a client resumes a connection with one, and each ticket
  // costs the handshake a session copy, its encoding and its encryption.
  SSL_CTX_set_num_tickets(context_, 1);
  if (SSL_CTX_use_certificate_chain_file(context_, certificate_chain_file.c_str()) != 1) {
    SSL_CTX_free(context_);
    fail("cannot load the certificate chain " + certificate_chain_file);
  }
  if (SSL_CTX_use_PrivateKey_file(context_, private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    SSL_CTX_free(context_);
    fail("cannot load the private key " + private_key_file);
  }
  if (SSL_CTX_check_private_key(context_) != 1) {
    SSL_CTX_free(context_);
    fail("the private key " + private_key_file + " does not match the certificate");
  }
}

TlsContext::~TlsContext() {
  SSL_CTX_free(context_);
}

TlsSession::TlsSession(const TlsContext& context, int fd)
    : bio_state_{fd}, ssl_(SSL_new(context.native())) {
  if (ssl_ == nullptr) return;
  // Not SSL_set_fd: OpenSSL's socket BIO writes with write(2), which raises SIGPIPE when the
  // peer has reset the connection. This one sends with MSG_NOSIGNAL.
  BIO* bio = new_socket_bio(&bio_state_);
  if (bio == nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;  // handshake() reports -ENOMEM
    return;
  }
  SSL_set_bio(ssl_, bio, bio);  // one reference, for both directions, owned by ssl_
  SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

int TlsSession::handshake() {
  if (ssl_ == nullptr) return -ENOMEM;
  if (established_) return 0;
  empty_error_queue();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    return 0;
  }
  const int error = SSL_get_error(ssl_, rc);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return -EAGAIN;
  return -EPROTO;
}

long TlsSession::read(std::span<std::byte> buffer) {
  empty_error_queue();
  // SSL_read gives one record at a time: gather what was read ahead into one buffer, so the
  // caller parses a batch of frames at once, as it does over plain TCP.
  std::size_t total = 0;
  while (total < buffer.size()) {
    std::size_t got = 0;
    if (SSL_read_ex(ssl_, buffer.data() + total, buffer.size() - total, &got) == 1) {
      total += got;
      if (drained()) break;
      continue;
    }
    if (total == 0) break;
    // Hand over what was decrypted; a failure other than "wait" is reported by the next call
    // (OpenSSL's error state persists), which the caller makes since this is not drained.
    const int error = SSL_get_error(ssl_, 0);
    if (error != SSL_ERROR_WANT_READ) bio_state_.drained = false;
    empty_error_queue();
    return static_cast<long>(total);
  }
  if (total > 0) return static_cast<long>(total);
  switch (SSL_get_error(ssl_, 0)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
      return 0;  // close_notify
    case SSL_ERROR_SYSCALL:
      return errno != 0 ? -errno : 0;  // EOF without close_notify
    default:
      return -EPROTO;
  }
}

bool TlsSession::drained() const {
  return bio_state_.drained && SSL_has_pending(ssl_) == 0;
}

long TlsSession::write(const struct iovec* iov, int count) {
  if (count <= 0) return 0;
  // SSL_write takes one buffer and makes one record (one send(2)) of up to 16 KiB: gather the
  // front of the queue (a turn's frames for this connection) into one record's worth.
  std::size_t want = retry_bytes_;
  if (want == 0) {
    for (int i = 0; i < count && want < kMaxRecordBytes; ++i)
      want += iov[i].iov_len;
    want = std::min(want, kMaxRecordBytes);
  }
  std::array<std::byte, kMaxRecordBytes> gathered;
  const void* data = iov[0].iov_base;
  std::size_t filled = want;
  if (iov[0].iov_len < want) {  // the first buffer alone is written as it is, without a copy
    filled = 0;
    for (int i = 0; i < count && filled < want; ++i) {
      const std::size_t take = std::min(iov[i].iov_len, want - filled);
      std::memcpy(gathered.data() + filled, iov[i].iov_base, take);
      filled += take;
    }
    data = gathered.data();
  }
  empty_error_queue();
  std::size_t written = 0;
  if (SSL_write_ex(ssl_, data, filled, &written) == 1) {
    retry_bytes_ = 0;
    return static_cast<long>(written);
  }
  switch (SSL_get_error(ssl_, 0)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      retry_bytes_ = filled;
      return -EAGAIN;
    case SSL_ERROR_SYSCALL:
      return errno != 0 ? -errno : -EPIPE;
    default:
      return -EPROTO;
  }
}

bool TlsSession::negotiated_h2() const {
  if (ssl_ == nullptr) return false;
  const unsigned char* chosen = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &chosen, &length);
  return length == 2 && chosen[0] == 'h' && chosen[1] == '2';
}

void TlsSession::shutdown() {
  if (ssl_ != nullptr && established_) {
    empty_error_queue();
    SSL_shutdown(ssl_);
  }
}

}  // namespace hibiki::net
