// Connection lifecycle on the event loop: accept, read, write readiness, timers, reclaiming
// closed connections at the end of a loop turn, and graceful shutdown.
#include "server/server_core.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include "hibiki/log.hpp"
#include "net/io_uring.hpp"
#include "net/socket.hpp"
#include "protocol/handshake.hpp"

namespace hibiki::detail {
namespace {

using server::Connection;
using server::ConnectionState;

// Per-loop receive buffer. 64 KiB holds many small frames per read; 16 reads per turn caps
// what one busy connection takes before others get a turn.
constexpr std::size_t kReadBufferBytes = 64 * 1024;
constexpr int kMaxReadsPerTurn = 16;
constexpr int kMaxAcceptsPerTurn = 64;
// Tokens: listeners are their index (below kMaxListeners), descriptors watched for the
// application kWatchTokenBase + fd, connections (generation << 32 | slot) with generation >= 1.
constexpr std::size_t kMaxListeners = 16;
constexpr std::uint64_t kWatchTokenBase = 1u << 16;  // as in server_hooks.cpp
constexpr std::uint64_t kConnectionTokenBase = std::uint64_t{1} << 32;

}  // namespace

namespace {
thread_local ServerCore* current_core = nullptr;
}  // namespace

ServerCore::ServerCore(ServerGroup& group, std::uint32_t index)
    : group_(group),
      index_(index),
      options_(group.options()),
      routes_(group.routes()),
      loop_(group.io_kind()),
      compressors_(options_),
      read_buffer_(new std::byte[kReadBufferBytes]) {}

ServerCore::~ServerCore() {
  // A connection still waiting for its completions (run() gave up on them) points the kernel at
  // its buffers: leak it rather than free memory the ring may still read.
  for (Slot& s : slots_) {
    if (s.connection && s.connection->reclaiming) [[maybe_unused]]
      auto* leaked = s.connection.release();
  }
}

ServerCore* ServerCore::current() {
  return current_core;
}

std::uint16_t ServerCore::listen(std::uint16_t port, bool reuse_port) {
  if (!options_.tls_certificate_file.empty() || !options_.tls_private_key_file.empty()) {
    tls_context_ = std::make_shared<const net::TlsContext>(
        options_.tls_certificate_file, options_.tls_private_key_file, options_.http2);
  }
  reserve_fd_ = net::reserve_descriptor();
  // The first SHA-1 makes OpenSSL load and initialise its provider (about 2 MB of code pages):
  // pay it now rather than in the first client's handshake.
  [[maybe_unused]] const protocol::AcceptKey warm_up = protocol::compute_accept_key("warm-up");
  port_ = add_listener(options_.host, port, reuse_port);
  return port_;
}

std::uint16_t ServerCore::add_listener(const std::string& host, std::uint16_t port, bool reuse_port,
                                       const ListenerTls* own_tls) {
  if (listeners_.size() >= kMaxListeners) {
    throw std::system_error(EMFILE, std::generic_category(), "too many listeners");
  }
  Listener listener;
  if (own_tls != nullptr) {
    listener.own_tls = true;
    listener.files = *own_tls;
    if (!own_tls->certificate_file.empty()) {
      listener.tls = std::make_shared<const net::TlsContext>(
          own_tls->certificate_file, own_tls->private_key_file, options_.http2);
    }
  } else {
    listener.tls = tls_context_;
  }
  listener.fd = net::listen_tcp({.host = host, .port = port, .reuse_port = reuse_port});
  listener.port = net::local_port(listener.fd.get());
  if (net::UringBackend* ring = loop_.ring()) {
    ring->accept(listener.fd.get(), listeners_.size());
  } else {
    loop_.watch_readable(listener.fd.get(), listeners_.size());
  }
  listeners_.push_back(std::move(listener));
  return listeners_.back().port;
}

int ServerCore::run() {
  current_core = this;
  if (group_.topic_activity().watched()) {
    topics_.set_activity_hook([this](std::string_view topic, bool has_subscribers) {
      group_.topic_activity().loop_changed(group_, topic, has_subscribers);
    });
  }
  loop_.run(*this);
  // Whatever is left after the shutdown timeout is dropped.
  for (auto& slot : slots_) {
    if (slot.connection && slot.connection->state != ConnectionState::closed) {
      schedule_destroy(*slot.connection, close_code::kAbnormal, "server stopped");
    }
  }
  reclaim();
  // Operations cancelled there still point at their connections' buffers: collect their
  // completions (they come at once) before anything is freed.
  for (int wait = 0; reclaiming_ > 0 && wait < 100; ++wait)
    loop_.poll(*this, 10);
  loop_.close_io();
  stopped_ = true;
  {
    const std::lock_guard lock(inbox_mutex_);
    inbox_closed_ = true;  // nobody would deliver what is posted from now on
    inbox_.clear();
  }
  {
    const std::lock_guard lock(snapshot_mutex_);
    snapshot_ = stats_;
  }
  current_core = nullptr;
  return 0;
}

bool ServerCore::post(InboxItem item, bool bounded) {
  bool was_empty;
  {
    const std::lock_guard lock(inbox_mutex_);
    // A loop that cannot keep up must not make the others' memory grow without bound.
    if ((bounded && inbox_.size() >= kMaxInboxMessages) || inbox_closed_) {
      inbox_dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    was_empty = inbox_.empty();
    inbox_.push_back(std::move(item));
    inbox_pending_.store(true, std::memory_order_release);
  }
  // One wake-up per batch: the loop takes everything queued when it wakes.
  if (was_empty) loop_.wake();
  return true;
}

void ServerCore::drain_inbox() {
  // A task that publishes lands here: what was posted before the task is out already, and
  // what was posted after it waits its turn.
  if (draining_) return;
  if (!inbox_pending_.load(std::memory_order_acquire)) return;
  {
    const std::lock_guard lock(inbox_mutex_);
    inbox_draining_.swap(inbox_);
    inbox_pending_.store(false, std::memory_order_relaxed);
  }
  draining_ = true;
  for (const InboxItem& item : inbox_draining_)
    run_inbox_item(item);
  draining_ = false;
  inbox_draining_.clear();
}

void ServerCore::run_inbox_item(const InboxItem& item) {
  if (item.message) {
    publish_local(item.message->topic, item.message->message, item.message->kind);
  } else {
    item.task();
  }
}

ServerStats ServerCore::stats_snapshot() const {
  const std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

void ServerCore::request_tls_reload() {
  tls_reload_requested_.store(true, std::memory_order_release);
  loop_.wake();
}

void ServerCore::request_stop(std::uint16_t code) {
  // Before the flag: the loop reads the code once it sees the request.
  stop_close_code_.store(code, std::memory_order_relaxed);
  stop_requested_.store(true, std::memory_order_release);
  loop_.wake();
}

bool ServerCore::keep_running() {
  if (!stopping_) return true;
  // Work the application says is in flight (a gateway's $disconnect calls for the connections
  // just closed) gets the same deadline as the close handshakes.
  return (live_connections_ > 0 || application_busy()) && loop_.now_ms() < shutdown_deadline_ms_;
}

void ServerCore::on_wake() {
  drain_inbox();
  if (tls_reload_requested_.exchange(false, std::memory_order_acq_rel)) reload_tls();
  if (stop_requested_.load(std::memory_order_acquire) && !stopping_) begin_shutdown();
}

namespace {

// A fresh context from the files, or null (logged) when they cannot be used.
std::shared_ptr<const net::TlsContext> reload_context(const std::string& certificate_file,
                                                      const std::string& private_key_file,
                                                      bool offer_h2) {
  try {
    auto context =
        std::make_shared<const net::TlsContext>(certificate_file, private_key_file, offer_h2);
    log(LogLevel::info, "TLS certificate reloaded from " + certificate_file,
        {{"cert", certificate_file}, {"key", private_key_file}});
    return context;
  } catch (const std::exception& error) {
    log(LogLevel::error,
        std::string("TLS reload failed, keeping the current certificate: ") + error.what(),
        {{"error", error.what()}, {"cert", certificate_file}, {"key", private_key_file}});
    return nullptr;
  }
}

}  // namespace

void ServerCore::reload_tls() {
  if (tls_context_) {
    if (auto fresh = reload_context(options_.tls_certificate_file, options_.tls_private_key_file,
                                    options_.http2)) {
      tls_context_ = std::move(fresh);
    }
  }
  for (Listener& listener : listeners_) {
    if (!listener.own_tls) {
      listener.tls = tls_context_;
    } else if (listener.tls) {
      if (auto fresh = reload_context(listener.files.certificate_file,
                                      listener.files.private_key_file, options_.http2)) {
        listener.tls = std::move(fresh);
      }
    }
  }
}

void ServerCore::begin_shutdown() {
  stopping_ = true;
  shutdown_deadline_ms_ = loop_.now_ms() + options_.shutdown_timeout_ms;
  for (Listener& listener : listeners_) {
    if (!listener.fd.valid()) continue;
    loop_.unwatch(listener.fd.get());
    if (net::UringBackend* ring = loop_.ring()) {
      ring->cancel_accept(static_cast<std::uint64_t>(&listener - listeners_.data()));
    }
    listener.fd.reset();
  }
  const std::uint16_t code = stop_close_code_.load(std::memory_order_relaxed);
  stop_code_ = code;
  const bool restart = code == close_code::kServiceRestart;
  const char* reason = restart ? kRestarting : "server shutting down";
  // Every loop stops at once; the first speaks for all of them.
  if (index_ == 0) {
    log(LogLevel::info,
        "shutting down: closing " + std::to_string(group_.connection_count()) +
            " connection(s) with " + std::to_string(code),
        {{"connections", group_.connection_count()}, {"code", code}});
  }
  for (auto& slot : slots_) {
    Connection* c = slot.connection.get();
    if (c == nullptr) continue;
    if (c->state == ConnectionState::open) {
      close_connection(*c, code, reason);
    } else if (c->state == ConnectionState::h2) {
      h2_begin_shutdown(*c);  // GOAWAY once its WebSocket streams have closed
    } else if (restart && c->state == ConnectionState::http && !c->served) {
      // A successor listens: a handshake under way (accepted, its request not read yet)
      // finishes here within the shutdown timeout, then closes with 1012, instead of a reset
      // the client would see as a failed connection. Idle keep-alive connections just close.
      continue;
    } else if (c->state == ConnectionState::http || c->state == ConnectionState::upgrading ||
               c->state == ConnectionState::responding) {
      schedule_destroy(*c, code, reason);
    }
  }
}

Connection* ServerCore::resolve(std::uint32_t slot, std::uint32_t generation) const {
  if (slot >= slots_.size()) return nullptr;
  const Slot& s = slots_[slot];
  if (s.generation != generation || !s.connection) return nullptr;
  return s.connection.get();
}

Connection& ServerCore::allocate() {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.connection = std::make_unique<Connection>();
  s.connection->slot = slot;
  s.connection->generation = s.generation;
  s.connection->id = group_.admission().next_id();
  ++live_connections_;
  return *s.connection;
}

void ServerCore::arm_timer(Connection& c, std::uint32_t delay_ms) {
  loop_.timers().arm(c.slot, loop_.now_ms() + delay_ms);
}

void ServerCore::refuse(int fd, const char* why, std::uint64_t& counter) {
  ++counter;
  // Refused before any upgrade: the client learns why instead of seeing a reset.
  const std::string response = protocol::build_error_response(503);
  [[maybe_unused]] long n =
      net::write_some(fd, {reinterpret_cast<const std::byte*>(response.data()), response.size()});
  ::close(fd);
  // One line per second at most: a flood of refusals must not flood the log too.
  if (loop_.now_ms() >= next_refusal_log_ms_) {
    next_refusal_log_ms_ = loop_.now_ms() + 1000;
    log(LogLevel::warn, std::string("connection refused with 503: ") + why,
        {{"status", 503}, {"reason", why}});
  }
}

bool ServerCore::refuse_one_pending(int listen_fd) {
  reserve_fd_.reset();
  const int fd = net::accept_connection(listen_fd);
  if (fd >= 0) refuse(fd, "out of file descriptors", stats_.refused_out_of_descriptors);
  reserve_fd_ = net::reserve_descriptor();
  return fd >= 0;
}

void ServerCore::accept_all(std::uint8_t index) {
  const int listen_fd = listeners_[index].fd.get();
  for (int i = 0; i < kMaxAcceptsPerTurn; ++i) {
    const int fd = net::accept_connection(listen_fd);
    if (fd == -EMFILE || fd == -ENFILE) {
      // Out of descriptors: the pending connection would keep the level-triggered listener
      // ready forever. Free the reserve descriptor, take the connection, refuse it, re-arm.
      if (!refuse_one_pending(listen_fd)) return;
      continue;
    }
    if (fd < 0) {
      if (fd != -EAGAIN && fd != -ECONNABORTED) {
        log(LogLevel::warn, std::string("accept failed: ") + std::strerror(-fd),
            {{"error", std::strerror(-fd)}});
      }
      return;
    }
    adopt(fd, index);
  }
}

void ServerCore::adopt(int fd, std::uint8_t index) {
  const net::PeerAddress peer = net::peer_address(fd);
  switch (group_.admission().admit(peer.ip)) {
    case Admission::Verdict::admitted:
      break;
    case Admission::Verdict::over_total:
      refuse(fd, "max_connections reached", stats_.refused_max_connections);
      return;
    case Admission::Verdict::over_per_ip:
      refuse(fd, "max_connections_per_ip reached", stats_.refused_max_connections_per_ip);
      return;
  }
  ++stats_.connections_accepted;
  Connection& c = allocate();
  c.fd.reset(fd);
  c.peer = peer;
  c.listener = index;
  c.rate_tokens = 2.0f * static_cast<float>(options_.max_messages_per_second);
  c.last_read_ms = static_cast<std::uint32_t>(loop_.now_ms());
  c.rate_refill_ms = c.last_read_ms;
  c.parser.set_max_message_bytes(options_.max_message_bytes);
  const net::TlsContext* tls = listeners_[index].tls.get();
  if (loop_.ring() != nullptr && tls == nullptr) {
    start_receiving(c);
  } else if (int rc = loop_.watch(fd, token_of(c)); rc < 0) {
    schedule_destroy(c, close_code::kAbnormal, "epoll_ctl failed");
    return;
  }
  if (tls != nullptr) {
    c.more().tls = std::make_unique<net::TlsSession>(*tls, fd);
    arm_timer(c, options_.tls_handshake_timeout_ms);
  } else {
    arm_timer(c, options_.handshake_timeout_ms);
  }
}

void ServerCore::continue_tls_handshake(Connection& c) {
  const int rc = c.tls()->handshake();
  if (rc == -EAGAIN) return;
  if (rc < 0) {
    const std::string error = net::TlsSession::last_error();
    log(LogLevel::info,
        "conn " + std::to_string(c.id) + " " + c.peer.to_string() +
            ": TLS handshake failed: " + error,
        {{"conn", c.id}, {"peer", c.peer.to_string()}, {"error", error}});
    ++stats_.tls_handshake_failures;
    schedule_destroy(c, close_code::kAbnormal, "TLS handshake failed");
    return;
  }
  if (c.tls()->negotiated_h2()) {
    start_h2(c);
    return;
  }
  arm_timer(c, options_.handshake_timeout_ms);  // now the HTTP request's turn
}

void ServerCore::on_io(std::uint64_t token, std::uint32_t events) {
  if (token < kConnectionTokenBase) {
    if (token < listeners_.size()) {
      if (listeners_[token].fd.valid()) accept_all(static_cast<std::uint8_t>(token));
    } else if (token >= kWatchTokenBase) {
      run_watch(static_cast<int>(token - kWatchTokenBase), events);
    }
    return;
  }
  Connection* c =
      resolve(static_cast<std::uint32_t>(token), static_cast<std::uint32_t>(token >> 32));
  if (c == nullptr || c->state == ConnectionState::closed) return;  // reclaimed or dying
  if (c->tls() && !c->tls()->established()) {
    continue_tls_handshake(*c);
    if (c->state == ConnectionState::closed || !c->tls()->established()) return;
    // TLS reads ahead: the request after the client's Finished may already have left the
    // socket for TLS's buffer, and then no readable edge will come for it.
    events |= net::io_event::kReadable;
  }
  if (events & net::io_event::kWritable) flush(*c);
  if (c->state == ConnectionState::closed) return;
  if (events & net::io_event::kHangup) c->peer_hung_up = true;
  if (events & (net::io_event::kReadable | net::io_event::kHangup)) read_from(*c);
}

void ServerCore::read_from(Connection& c) {
  for (int reads = 0; reads < kMaxReadsPerTurn; ++reads) {
    const std::span<std::byte> buffer(read_buffer_.get(), kReadBufferBytes);
    const long n = c.tls() ? c.tls()->read(buffer) : net::read_some(c.fd.get(), buffer);
    if (n == -EAGAIN) return;
    if (n < 0) {
      schedule_destroy(c, close_code::kAbnormal, std::strerror(static_cast<int>(-n)));
      return;
    }
    if (n == 0) {
      schedule_destroy(c, close_code::kAbnormal, "connection closed without a close frame");
      return;
    }
    c.last_read_ms = static_cast<std::uint32_t>(loop_.now_ms());
    handle_bytes(c, {read_buffer_.get(), static_cast<std::size_t>(n)});
    if (c.state == ConnectionState::closed) return;
    // A short read drained the socket; edge-triggered epoll reports the next arrival. Not so
    // for a FIN that came with the last bytes: its edge is this one, so read on to the EOF.
    // (TLS says itself whether it holds records back or left bytes in the socket.)
    const bool drained =
        c.tls() ? c.tls()->drained() : static_cast<std::size_t>(n) < kReadBufferBytes;
    if (drained && !c.peer_hung_up) return;
  }
  // The cap was hit with bytes possibly left: come back next turn without waiting for an edge.
  if (!c.read_resume_queued) {
    c.read_resume_queued = true;
    resume_reads_.push_back(c.slot);
  }
}

void ServerCore::handle_bytes(Connection& c, std::span<std::byte> bytes) {
  switch (c.state) {
    case ConnectionState::http:
      handle_http(c, bytes);
      break;
    case ConnectionState::upgrading:
      // Frames sent before our 101 (a client that does not wait) are kept for after it, within
      // the HTTP head's bound.
      if (c.inbox.size() + bytes.size() > options_.max_header_bytes) {
        schedule_destroy(c, close_code::kAbnormal, "sent too much before the upgrade answer");
        break;
      }
      c.inbox.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      break;
    case ConnectionState::responding:
      // Requests pipelined behind one answered later wait for it, within one request's bound.
      if (c.inbox.size() + bytes.size() >
          options_.max_header_bytes + options_.max_http_body_bytes) {
        schedule_destroy(c, close_code::kAbnormal, "pipelined too much behind a pending answer");
        break;
      }
      c.inbox.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      break;
    case ConnectionState::open:
    case ConnectionState::closing:
      handle_frames(c, bytes);
      break;
    case ConnectionState::h2:
      h2_receive(c, bytes);
      break;
    case ConnectionState::draining:
    case ConnectionState::closed:
      break;  // discarded: the conversation is over
  }
}

void ServerCore::flush(Connection& c) {
  if (c.state == ConnectionState::closed) return;
  if (c.state == ConnectionState::h2) {
    h2_flush(c);
    return;
  }
  if (c.h2_stream) {
    h2_stream_flush(c);
    return;
  }
  if (on_ring(c)) {
    if (c.sending()) return;  // its completion goes on with the rest
    if (c.has_queued()) {
      loop_.ring()->send(c.fd.get(), token_of(c), c.queue->begin_send());
      return;
    }
  } else if (c.has_queued()) {
    const int rc = c.queue->flush(c.fd.get(), c.tls());
    if (rc == -EAGAIN) return;  // the writable edge brings us back
    if (rc < 0) {
      schedule_destroy(c, close_code::kAbnormal, std::strerror(-rc));
      return;
    }
  }
  flushed(c);
}

void ServerCore::flushed(Connection& c) {
  release_queue(c);
  if (c.state == ConnectionState::draining && !c.write_shut) {
    shut_write(c);
  }
  if (c.backpressured && c.state == ConnectionState::open) {
    c.backpressured = false;
    if (auto& on_drain = routes_.ws_handlers[c.route].on_drain) on_drain(handle(c));
  }
}

server::SendQueue& ServerCore::out(Connection& c) {
  if (!c.queue) {
    if (spare_queues_.empty()) {
      c.queue = std::make_unique<server::SendQueue>();
    } else {
      c.queue = std::move(spare_queues_.back());
      spare_queues_.pop_back();
    }
  }
  return *c.queue;
}

void ServerCore::release_queue(Connection& c) {
  if (!c.queue) return;
  if (c.queue->empty() && c.queue->owned_capacity() <= kMaxSpareQueueBytes &&
      spare_queues_.size() < kMaxSpareQueues) {
    spare_queues_.push_back(std::move(c.queue));
  }
  c.queue.reset();
}

void ServerCore::flush_dirty() {
  // on_drain may queue more and add to dirty_: take the list, then loop over it.
  flushing_.swap(dirty_);
  for (std::uint32_t slot : flushing_) {
    Connection* c = slots_[slot].connection.get();
    if (c == nullptr) continue;
    c->flush_queued = false;
    flush(*c);
  }
  flushing_.clear();
}

void ServerCore::on_timer(std::uint32_t slot) {
  if (slot >= slots_.size() || !slots_[slot].connection) return;
  Connection& c = *slots_[slot].connection;
  const std::uint64_t now = loop_.now_ms();
  switch (c.state) {
    case ConnectionState::http:
      if (c.tls() && !c.tls()->established()) {
        ++stats_.handshake_timeouts;
        schedule_destroy(c, close_code::kAbnormal, "TLS handshake timeout");
        break;
      }
      log(LogLevel::info,
          "conn " + std::to_string(c.id) + " " + c.peer.to_string() + ": handshake timeout",
          {{"conn", c.id}, {"peer", c.peer.to_string()}, {"status", 408}});
      ++stats_.handshake_timeouts;
      answer_http_error(c, 408);
      break;
    case ConnectionState::upgrading:
      log(LogLevel::warn,
          "conn " + std::to_string(c.id) + " " + c.peer.to_string() +
              ": the upgrade was not answered in time",
          {{"conn", c.id}, {"peer", c.peer.to_string()}, {"status", 503}});
      ++stats_.handshake_timeouts;
      reject_upgrade(c, 503, "The upgrade was not answered in time.\n", {});
      break;
    case ConnectionState::responding:
      log(LogLevel::warn,
          "conn " + std::to_string(c.id) + " " + c.peer.to_string() +
              ": the request was not answered in time",
          {{"conn", c.id}, {"peer", c.peer.to_string()}, {"status", 503}});
      ++stats_.handshake_timeouts;
      c.keep_alive = false;
      complete_response(c, {.status = 503, .body = "The request was not answered in time.\n"});
      break;
    case ConnectionState::open: {
      if (options_.idle_timeout_ms == 0) return;
      // 32-bit milliseconds wrap every 49 days; the difference stays right across a wrap.
      const std::uint32_t idle_ms = static_cast<std::uint32_t>(now) - c.last_read_ms;
      if (idle_ms < options_.idle_timeout_ms) {
        c.ping_outstanding = false;
        arm_timer(c, options_.idle_timeout_ms - idle_ms);
      } else if (!c.ping_outstanding) {
        c.ping_outstanding = true;
        send_frame(c, protocol::Opcode::ping, {});
        arm_timer(c, options_.idle_timeout_ms);
      } else {
        ++stats_.idle_timeouts;
        close_connection(c, close_code::kGoingAway, "idle timeout");
      }
      break;
    }
    case ConnectionState::h2:
      h2_on_timer(c);
      break;
    case ConnectionState::closing:
    case ConnectionState::draining:
      schedule_destroy(c, c.close_code ? c.close_code : close_code::kAbnormal,
                       "close handshake timed out");
      break;
    case ConnectionState::closed:
      break;
  }
}

// on_close runs when the connection is reclaimed, never in the middle of a send or a publish,
// so handlers may publish or close others freely.
void ServerCore::notify_close(Connection& c) {
  if (!c.opened || c.close_notified) return;
  c.close_notified = true;
  topics_.unsubscribe_all(c);
  log(LogLevel::debug,
      "conn " + std::to_string(c.id) + " " + c.peer.to_string() + ": closed " +
          std::to_string(c.close_code),
      {{"conn", c.id},
       {"peer", c.peer.to_string()},
       {"code", c.close_code},
       {"reason", c.close_reason()}});
  if (auto& on_close = routes_.ws_handlers[c.route].on_close)
    on_close(handle(c), c.close_code, c.close_reason());
}

void ServerCore::schedule_destroy(Connection& c, std::uint16_t code, std::string_view reason) {
  if (c.state == ConnectionState::closed) return;
  if (c.close_code == 0) {
    c.close_code = code;
    if (!reason.empty()) c.more().close_reason = std::string(reason);
  }
  c.state = ConnectionState::closed;
  graveyard_.push_back(c.slot);
}

void ServerCore::reclaim() {
  // on_close may close or publish to other connections, adding to the graveyard: loop by index.
  for (std::size_t i = 0; i < graveyard_.size(); ++i) {
    Slot& s = slots_[graveyard_[i]];
    if (!s.connection || s.connection->reclaiming) continue;
    Connection& c = *s.connection;
    notify_close(c);
    if (c.h2_stream) h2_detach_stream(c);  // its parent's session ends or resets the stream
    if (c.extras && c.extras->h2) h2_close_streams(c);
    loop_.timers().disarm(c.slot);
    group_.admission().release(c.peer.ip);
    --live_connections_;
    if (on_ring(c)) {
      if (retire_on_ring(c)) continue;  // freed when its completions are in
    } else if (!c.h2_stream) {  // a stream has no socket: h2_detach_stream handed its bytes on
      // Best effort for bytes queued this turn (a close frame answering a peer that already
      // sent its FIN): the socket may still take them.
      if (c.has_queued()) c.queue->flush(c.fd.get(), c.tls());
      // epoll forgets the descriptor when it is closed; a poll on io_uring must be cancelled.
      loop_.forget(c.fd.get());
    }
    free_slot(c.slot);
  }
  graveyard_.clear();
}

void ServerCore::next_generation(Slot& s) {
  s.generation = s.generation + 1 < (1u << 28) ? s.generation + 1 : 1;
}

void ServerCore::free_slot(std::uint32_t slot) {
  Slot& s = slots_[slot];
  release_queue(*s.connection);
  // Closing the descriptor also takes it out of epoll; stale events carry the old generation.
  s.connection.reset();
  next_generation(s);
  free_slots_.push_back(slot);
  if (loop_.ring() != nullptr) resume_ring_accepts();
}

bool ServerCore::before_sleep() {
  if (!rearm_receives_.empty()) rearm_receives();
  if (!app_timers_.empty()) run_due_timers();
  if (!resume_reads_.empty()) {
    std::vector<std::uint32_t> pending;
    pending.swap(resume_reads_);
    for (std::uint32_t slot : pending) {
      Connection* c = slots_[slot].connection.get();
      if (c == nullptr) continue;
      c->read_resume_queued = false;
      if (c->state != ConnectionState::closed) read_from(*c);
    }
  }
  // Flushing may fail connections and reclaiming runs on_close, which may send again.
  for (int round = 0; round < 4 && (!dirty_.empty() || !graveyard_.empty()); ++round) {
    flush_dirty();
    reclaim();
  }
  if (group_.loop_count() > 1) {
    // Other loops read these for /metrics; a copy per turn keeps the hot path free of atomics.
    const std::lock_guard lock(snapshot_mutex_);
    snapshot_ = stats_;
  }
  if (stopping_ && live_connections_ == 0 && !application_busy()) return false;
  if (!app_timers_.empty()) {
    // Handlers that ran above (on_close, say) may have set timers: sleep no longer than the
    // next one, and not at all when it is already due.
    const std::uint64_t next = next_timer_deadline();
    if (next <= net::EventLoop::monotonic_ms()) return true;
    if (next != UINT64_MAX) loop_.sleep_until(next);
  }
  return !resume_reads_.empty() || !dirty_.empty();
}

}  // namespace hibiki::detail
