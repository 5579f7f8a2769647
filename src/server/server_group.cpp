// Loops of one Server: creating them, running them on their threads, stopping them, and
// carrying publishes from one loop to the others.
#include "server/server_group.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "hibiki/log.hpp"
#include "server/server_core.hpp"

namespace hibiki::detail {

Admission::Verdict Admission::admit(const Ip& ip) {
  const std::lock_guard lock(mutex_);
  if (open_.load(std::memory_order_relaxed) >= max_total_) return Verdict::over_total;
  std::uint32_t& from_this_ip = per_ip_[ip];
  if (max_per_ip_ != 0 && from_this_ip >= max_per_ip_) return Verdict::over_per_ip;
  ++from_this_ip;
  open_.fetch_add(1, std::memory_order_relaxed);
  return Verdict::admitted;
}

void Admission::release(const Ip& ip) {
  const std::lock_guard lock(mutex_);
  if (auto it = per_ip_.find(ip); it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  open_.fetch_sub(1, std::memory_order_relaxed);
}

namespace {

std::uint32_t loops_wanted(std::uint32_t threads) {
  if (threads != 0) return threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

ServerGroup::ServerGroup(ServerOptions options)
    : options_(std::move(options)), admission_(options_) {
  set_log_level(options_.log_level);
  set_log_format(options_.log_format);
  io_kind_ = choose_io_backend(options_.io);
  const std::uint32_t loops = loops_wanted(options_.threads);
  cores_.reserve(loops);
  for (std::uint32_t i = 0; i < loops; ++i) {
    cores_.push_back(std::make_unique<ServerCore>(*this, i));
  }
}

ServerGroup::~ServerGroup() = default;

void ServerGroup::add_ws_route(std::string path, WebSocketHandlers handlers) {
  routes_.ws_handlers.push_back(std::move(handlers));
  routes_.ws[std::move(path)] = static_cast<std::uint16_t>(routes_.ws_handlers.size() - 1);
}

void ServerGroup::add_http_route(std::string method, std::string path, HttpRoute route) {
  std::string key = std::move(method);
  key += ' ';
  key += path;
  routes_.http[std::move(key)] = std::move(route);
}

std::uint16_t ServerGroup::listen() {
  // One listener per loop on the same port; the kernel spreads new connections among them.
  // A single loop does without SO_REUSEPORT, so no other process can share its port, unless
  // the application asks for it (a successor started while this process runs).
  const bool reuse_port = cores_.size() > 1 || options_.reuse_port;
  port_ = cores_.front()->listen(options_.port, reuse_port);
  for (std::size_t i = 1; i < cores_.size(); ++i)
    cores_[i]->listen(port_, reuse_port);
  return port_;
}

std::uint16_t ServerGroup::listen(const std::string& host, std::uint16_t port,
                                  const ListenerTls* own_tls) {
  if (own_tls != nullptr &&
      own_tls->certificate_file.empty() != own_tls->private_key_file.empty()) {
    throw std::runtime_error(
        "a listener's TLS needs both a certificate file and a private key file");
  }
  const bool reuse_port = cores_.size() > 1 || options_.reuse_port;
  const std::uint16_t bound = cores_.front()->add_listener(host, port, reuse_port, own_tls);
  for (std::size_t i = 1; i < cores_.size(); ++i)
    cores_[i]->add_listener(host, bound, reuse_port, own_tls);
  return bound;
}

int ServerGroup::run() {
  std::vector<std::thread> threads;
  threads.reserve(cores_.size() - 1);
  for (std::size_t i = 1; i < cores_.size(); ++i) {
    threads.emplace_back([core = cores_[i].get()] { core->run(); });
  }
  const int result = cores_.front()->run();
  for (std::thread& thread : threads)
    thread.join();
  return result;
}

void ServerGroup::request_stop(std::uint16_t code) {
  for (const auto& core : cores_)
    core->request_stop(code);
}

void ServerGroup::request_tls_reload() {
  for (const auto& core : cores_)
    core->request_tls_reload();
}

std::size_t ServerGroup::publish(std::string_view topic, std::string_view message,
                                 MessageKind kind) {
  ServerCore* here = ServerCore::current();
  if (here != nullptr && &here->group() != this) here = nullptr;  // another Server's loop
  if (here != nullptr && cores_.size() == 1) return here->publish_local(topic, message, kind);
  // One copy of the message for all other loops; each frames it once for its subscribers.
  auto shared = std::make_shared<const PublishedMessage>(
      PublishedMessage{std::string(topic), std::string(message), kind});
  std::size_t queued = 0;
  if (here != nullptr) {
    // What other loops posted earlier goes out first, so every loop sees one order.
    here->drain_inbox();
    queued = here->publish_local(topic, message, kind);
  }
  for (const auto& core : cores_) {
    if (core.get() != here) core->post(InboxItem{shared, {}});
  }
  return queued;
}

bool ServerGroup::dispatch(std::uint32_t index, std::function<void()> task) {
  ServerCore& core = *cores_.at(index);
  if (ServerCore::current() == &core) {
    task();
    return true;
  }
  return core.post(InboxItem{nullptr, std::move(task)});
}

bool ServerGroup::dispatch(WebSocket ws, std::function<void(WebSocket)> task) {
  ServerCore* owner = ServerCore::owner_of(ws);
  if (owner == nullptr || &owner->group() != this) return false;
  if (ServerCore::current() == owner) {
    if (ServerCore::connection_of(ws) == nullptr) return false;
    task(ws);
    return true;
  }
  return owner->post(InboxItem{nullptr, [ws, task = std::move(task)] {
                                 if (ServerCore::connection_of(ws) != nullptr) task(ws);
                               }});
}

void TopicActivity::loop_changed(ServerGroup& group, std::string_view topic, bool active) {
  const std::lock_guard lock(mutex_);
  auto found = loops_with_subscribers_.find(topic);
  if (found == loops_with_subscribers_.end()) {
    found = loops_with_subscribers_.emplace(std::string(topic), 0).first;
  }
  const bool edge = active ? found->second++ == 0 : --found->second == 0;
  if (found->second == 0) loops_with_subscribers_.erase(found);
  if (!edge) return;
  // Posted under the lock, so loop 0 hears the edges in the order they happened; never run
  // in place, so a watcher that subscribes cannot re-enter this lock. Bounded by the topics.
  group.first_loop().post(
      InboxItem{nullptr, [this, name = std::string(topic), active] { watcher_(name, active); }},
      /*bounded=*/false);
}

ServerStats ServerGroup::stats() const {
  const ServerCore* here = ServerCore::current();
  ServerStats total;
  for (const auto& core : cores_) {
    const ServerStats one =
        (core.get() == here || cores_.size() == 1) ? core->live_stats() : core->stats_snapshot();
    total.connections_accepted += one.connections_accepted;
    total.websocket_upgrades += one.websocket_upgrades;
    total.messages_received += one.messages_received;
    total.messages_sent += one.messages_sent;
    total.refused_max_connections += one.refused_max_connections;
    total.refused_max_connections_per_ip += one.refused_max_connections_per_ip;
    total.refused_out_of_descriptors += one.refused_out_of_descriptors;
    total.handshake_rejected += one.handshake_rejected;
    total.handshake_timeouts += one.handshake_timeouts;
    total.tls_handshake_failures += one.tls_handshake_failures;
    total.protocol_errors += one.protocol_errors;
    total.closed_buffer_full += one.closed_buffer_full;
    total.messages_dropped += one.messages_dropped + core->inbox_dropped();
    total.closed_message_rate += one.closed_message_rate;
    total.idle_timeouts += one.idle_timeouts;
    total.http2_connections += one.http2_connections;
    total.http2_websocket_streams += one.http2_websocket_streams;
    if (core->io_kind() == net::IoKind::io_uring) ++total.io_uring_loops;
  }
  total.connections_open = admission_.open();
  return total;
}

}  // namespace hibiki::detail
