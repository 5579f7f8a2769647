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
  group_->add_http_route(std::move(path), std::move(handler));
  return *this;
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
  group_->request_stop();
}
void Server::reload_tls() {
  group_->request_tls_reload();
}

std::size_t Server::publish(std::string_view topic, std::string_view message, MessageKind kind) {
  return group_->publish(topic, message, kind);
}

ServerStats Server::stats() const {
  return group_->stats();
}

std::size_t Server::connection_count() const {
  return group_->connection_count();
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
