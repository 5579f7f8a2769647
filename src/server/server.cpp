// The public hibiki::Server and hibiki::WebSocket, forwarding to ServerCore.
#include "hibiki/server.hpp"

#include "server/server_core.hpp"
#include "server/server_group.hpp"

namespace hibiki {

Server::Server(ServerOptions options)
    : group_(std::make_unique<detail::ServerGroup>(std::move(options))) {}

Server::~Server() = default;

Server& Server::ws(std::string path, WebSocketHandlers handlers) {
  group_->add_ws_route(std::move(path), std::move(handlers));
  return *this;
}

Server& Server::get(std::string path, HttpHandler handler) {
  group_->add_http_route("GET", std::move(path), {.now = std::move(handler), .later = {}});
  return *this;
}

Server& Server::route(std::string method, std::string path, HttpHandler handler) {
  group_->add_http_route(std::move(method), std::move(path),
                         {.now = std::move(handler), .later = {}});
  return *this;
}

Server& Server::route_deferred(std::string method, std::string path, DeferredHttpHandler handler) {
  group_->add_http_route(std::move(method), std::move(path),
                         {.now = {}, .later = std::move(handler)});
  return *this;
}

bool PendingResponse::respond(HttpResponse response) const {
  return core_ != nullptr && core_->respond_later(slot_, generation_, std::move(response));
}

std::uint16_t Server::listen(const std::string& host, std::uint16_t port) {
  return group_->listen(host, port);
}

std::size_t LoopHandle::index() const {
  return core_->index();
}

void LoopHandle::watch_descriptor(int fd, std::uint32_t interest,
                                  std::function<void(std::uint32_t)> callback) const {
  core_->watch_descriptor(fd, interest, std::move(callback));
}

void LoopHandle::unwatch_descriptor(int fd) const {
  core_->unwatch_descriptor(fd);
}

std::uint64_t LoopHandle::set_timer(std::uint32_t delay_ms, std::function<void()> callback) const {
  return core_->set_timer(delay_ms, std::move(callback));
}

void LoopHandle::cancel_timer(std::uint64_t id) const {
  core_->cancel_timer(id);
}

bool LoopHandle::dispatch(std::function<void()> task) const {
  return core_->group().dispatch(core_->index(), std::move(task));
}

void LoopHandle::finish_before_stopping(std::function<bool()> busy) const {
  core_->set_busy_check(std::move(busy));
}

std::size_t Server::loop_count() const {
  return group_->loop_count();
}

LoopHandle Server::loop(std::size_t index) const {
  return LoopHandle(&group_->core(index));
}

std::optional<LoopHandle> Server::current_loop() const {
  detail::ServerCore* here = detail::ServerCore::current();
  if (here == nullptr || &here->group() != group_.get()) return std::nullopt;
  return LoopHandle(here);
}

std::uint16_t Server::listen(const std::string& host, std::uint16_t port, const ListenerTls& tls) {
  return group_->listen(host, port, &tls);
}

void Server::watch_descriptor(int fd, std::uint32_t interest,
                              std::function<void(std::uint32_t)> callback) {
  group_->first_loop().watch_descriptor(fd, interest, std::move(callback));
}

void Server::unwatch_descriptor(int fd) {
  group_->first_loop().unwatch_descriptor(fd);
}

std::uint64_t Server::set_timer(std::uint32_t delay_ms, std::function<void()> callback) {
  return group_->first_loop().set_timer(delay_ms, std::move(callback));
}

void Server::cancel_timer(std::uint64_t id) {
  group_->first_loop().cancel_timer(id);
}

void Server::finish_before_stopping(std::function<bool()> busy) {
  group_->first_loop().set_busy_check(std::move(busy));
}

std::uint16_t Server::listen() {
  return group_->listen();
}
std::uint16_t Server::port() const {
  return group_->port();
}
int Server::run() {
  return group_->run();
}
void Server::stop() {
  group_->request_stop(close_code::kGoingAway);
}
void Server::stop(std::uint16_t code) {
  group_->request_stop(code);
}
void Server::reload_tls() {
  group_->request_tls_reload();
}

std::size_t Server::publish(std::string_view topic, std::string_view message, MessageKind kind) {
  return group_->publish(topic, message, kind);
}

bool Server::dispatch(std::function<void()> task) {
  return group_->dispatch(0, std::move(task));
}

bool Server::dispatch(WebSocket ws, std::function<void(WebSocket)> task) {
  return group_->dispatch(ws, std::move(task));
}

void Server::watch_topics(
    std::function<void(std::string_view topic, bool has_subscribers)> watcher) {
  group_->topic_activity().set_watcher(std::move(watcher));
}

ServerStats Server::stats() const {
  return group_->stats();
}

std::size_t Server::connection_count() const {
  return group_->connection_count();
}

bool PendingUpgrade::accept(std::string_view protocol) const {
  server::Connection* c = core_ ? core_->resolve(slot_, generation_) : nullptr;
  return c && core_->accept_upgrade(*c, protocol);
}

bool PendingUpgrade::reject(int status, std::string_view body,
                            const std::vector<std::pair<std::string, std::string>>& headers) const {
  server::Connection* c = core_ ? core_->resolve(slot_, generation_) : nullptr;
  return c && core_->reject_upgrade(*c, status, body, headers);
}

bool PendingUpgrade::is_pending() const {
  server::Connection* c = core_ ? core_->resolve(slot_, generation_) : nullptr;
  return c && c->state == server::ConnectionState::upgrading;
}

std::uint64_t PendingUpgrade::id() const {
  server::Connection* c = core_ ? core_->resolve(slot_, generation_) : nullptr;
  return c ? c->id : 0;
}

SendStatus WebSocket::send(std::string_view message, MessageKind kind) const {
  server::Connection* c = detail::ServerCore::connection_of(*this);
  return c ? core_->send_message(*c, message, kind) : SendStatus::closed;
}

void WebSocket::close(std::uint16_t code, std::string_view reason) const {
  if (server::Connection* c = detail::ServerCore::connection_of(*this)) {
    core_->close_connection(*c, code, reason);
  }
}

bool WebSocket::subscribe(std::string_view topic) const {
  server::Connection* c = detail::ServerCore::connection_of(*this);
  return c && core_->subscribe(*c, topic);
}

bool WebSocket::unsubscribe(std::string_view topic) const {
  server::Connection* c = detail::ServerCore::connection_of(*this);
  return c && core_->unsubscribe(*c, topic);
}

std::size_t WebSocket::buffered_amount() const {
  server::Connection* c = detail::ServerCore::connection_of(*this);
  return c ? c->buffered() : 0;
}

std::uint64_t WebSocket::id() const {
  server::Connection* c = detail::ServerCore::connection_of(*this);
  return c ? c->id : 0;
}

bool WebSocket::is_open() const {
  server::Connection* c = detail::ServerCore::connection_of(*this);
  return c && c->state == server::ConnectionState::open;
}

std::string WebSocket::remote_address() const {
  server::Connection* c = detail::ServerCore::connection_of(*this);
  return c ? c->peer.to_string() : std::string();
}

std::string_view WebSocket::protocol() const {
  server::Connection* c = detail::ServerCore::connection_of(*this);
  return c ? c->protocol() : std::string_view();
}

void WebSocket::set_user_data(void* data) const {
  if (server::Connection* c = detail::ServerCore::connection_of(*this)) {
    c->user_data = data;
  }
}

void* WebSocket::user_data() const {
  server::Connection* c = detail::ServerCore::connection_of(*this);
  return c ? c->user_data : nullptr;
}

}  // namespace hibiki
