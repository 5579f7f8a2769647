// Connections on the io_uring backend: accepts, receives and sends come back as completions.
// A connection closed with operations in flight keeps its slot, descriptor and send queue
// (marked reclaiming, its handles already stale) until the last completion is in.
#include <cerrno>
#include <cstring>
#include <string>

#include "hibiki/log.hpp"
#include "net/io_uring.hpp"
#include "server/server_core.hpp"

namespace hibiki::detail {

using server::Connection;
using server::ConnectionState;

void ServerCore::start_receiving(Connection& c) {
  loop_.ring()->receive(c.fd.get(), token_of(c));
  c.receiving = true;
}

Connection* ServerCore::completion_target(std::uint64_t token) const {
  const auto slot = static_cast<std::uint32_t>(token);
  if (slot >= slots_.size()) return nullptr;
  Connection* c = slots_[slot].connection.get();
  if (c == nullptr || c->generation != static_cast<std::uint32_t>(token >> 32)) return nullptr;
  return c;
}

void ServerCore::on_accepted(std::uint64_t token, int result, bool more) {
  const bool listening = token < listeners_.size() && listeners_[token].fd.valid();
  const auto index = static_cast<std::uint8_t>(token);
  if (result >= 0) {
    if (listening) {
      adopt(result, index);
    } else {
      ::close(result);  // accepted while the listener was being closed
    }
  } else if (result == -EMFILE || result == -ENFILE) {
    // io_uring takes the descriptor before it looks for a connection: armed again now, the
    // accept would fail at once, forever. Until a connection closes, the listener goes back
    // to readiness (accept_all, which refuses with the reserve descriptor).
    if (!listening) return;
    refuse_one_pending(listeners_[index].fd.get());
    if (!listeners_[index].polling) {
      listeners_[index].polling = true;
      loop_.watch_readable(listeners_[index].fd.get(), token);
    }
    return;
  } else if (result != -ECANCELED && result != -ECONNABORTED && result != -EAGAIN &&
             result != -EINTR) {
    log(LogLevel::warn, std::string("accept failed: ") + std::strerror(-result),
        {{"error", std::strerror(-result)}});
  }
  // A multishot accept ends on an error (or when the kernel says so): start another.
  if (!more && listening) loop_.ring()->accept(listeners_[index].fd.get(), token);
}

void ServerCore::on_received(std::uint64_t token, int result, std::span<std::byte> bytes,
                             bool more) {
  Connection* c = completion_target(token);
  if (c == nullptr) return;
  if (!more) c->receiving = false;
  if (c->reclaiming) {
    reclaim_when_idle(*c);
    return;
  }
  if (c->state == ConnectionState::closed) return;  // reclaimed at the end of the turn
  if (result > 0) {
    c->last_read_ms = static_cast<std::uint32_t>(loop_.now_ms());
    handle_bytes(*c, bytes);
  } else if (result == 0) {
    schedule_destroy(*c, close_code::kAbnormal, "connection closed without a close frame");
  } else if (result != -ENOBUFS && result != -EAGAIN && result != -EINTR && result != -ECANCELED) {
    schedule_destroy(*c, close_code::kAbnormal, std::strerror(-result));  // ECONNRESET...
  }
  // Armed again before the loop sleeps: by then this batch's buffers are back in the ring,
  // so a receive that ended for want of buffers (ENOBUFS) finds some.
  if (!c->receiving && c->state != ConnectionState::closed) rearm_receives_.push_back(c->slot);
}

void ServerCore::rearm_receives() {
  for (std::uint32_t slot : rearm_receives_) {
    Connection* c = slots_[slot].connection.get();
    if (c != nullptr && !c->receiving && !c->reclaiming && c->state != ConnectionState::closed) {
      start_receiving(*c);
    }
  }
  rearm_receives_.clear();
}

void ServerCore::on_sent(std::uint64_t token, int result) {
  Connection* c = completion_target(token);
  if (c == nullptr || !c->sending()) return;
  c->queue->finish_send(result > 0 ? static_cast<std::size_t>(result) : 0);
  if (c->reclaiming) {
    reclaim_when_idle(*c);
    return;
  }
  if (c->state == ConnectionState::closed) return;
  if (result < 0 && result != -EAGAIN && result != -EINTR) {
    schedule_destroy(*c, close_code::kAbnormal, std::strerror(-result));  // EPIPE, ECONNRESET
    return;
  }
  if (c->has_queued()) {
    mark_dirty(*c);  // a short send: the rest leaves with this turn's other sends
  } else {
    flushed(*c);
  }
}

bool ServerCore::retire_on_ring(Connection& c) {
  // Best effort for bytes queued this turn (a close frame answering a peer that already sent
  // its FIN); the cancel right behind it ends the send if the socket cannot take them now.
  if (c.has_queued() && !c.sending()) {
    loop_.ring()->send(c.fd.get(), token_of(c), c.queue->begin_send());
  }
  if (!c.receiving && !c.sending()) return false;
  loop_.ring()->cancel(c.fd.get());
  c.reclaiming = true;
  ++reclaiming_;
  next_generation(slots_[c.slot]);  // handles go stale now; completions match c.generation
  return true;
}

void ServerCore::resume_ring_accepts() {
  for (std::size_t index = 0; index < listeners_.size(); ++index) {
    Listener& listener = listeners_[index];
    if (!listener.polling || !listener.fd.valid()) continue;
    listener.polling = false;
    loop_.unwatch(listener.fd.get());
    loop_.ring()->accept(listener.fd.get(), index);
  }
}

void ServerCore::reclaim_when_idle(Connection& c) {
  if (c.receiving || c.sending()) return;
  --reclaiming_;
  free_slot(c.slot);
}

}  // namespace hibiki::detail
