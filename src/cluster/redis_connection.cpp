// hiredis' asynchronous API on the server's loop 0 (see redis_connection.hpp).
#include "cluster/redis_connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <utility>

namespace hibiki::cluster {
RedisReply copy_reply(const redisReply& reply) {
  RedisReply copy;
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      copy.type = RedisReply::Type::integer;
      copy.integer = reply.integer;
      break;
    case REDIS_REPLY_STRING:
      copy.type = RedisReply::Type::string;
      copy.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      copy.type = RedisReply::Type::status;
      copy.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ERROR:
      copy.type = RedisReply::Type::error;
      copy.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ARRAY:
      copy.type = RedisReply::Type::array;
      copy.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i)
        copy.elements.push_back(copy_reply(*reply.element[i]));
      break;
    default:
      copy.type = RedisReply::Type::nil;
      break;
  }
  return copy;
}

RedisConnection::RedisConnection(Server& server, std::string name)
    : server_(server), name_(std::move(name)) {}

RedisConnection::~RedisConnection() {
  close();
}

std::size_t RedisConnection::in_flight() const {
  return current_ != nullptr ? current_->in_flight : 0;
}

bool RedisConnection::open(const std::string& ip, std::uint16_t port, Events events,
                           std::string* error) {
  close();
  redisAsyncContext* context = redisAsyncConnect(ip.c_str(), port);
  if (context == nullptr) {
    *error = "out of memory";
    return false;
  }
  if (context->err != 0) {
    *error = context->errstr != nullptr ? context->errstr : "cannot connect";
    redisAsyncFree(context);
    return false;
  }
  events_ = std::move(events);
  auto* attachment = new Attachment{
      .owner = this, .context = context, .fd = context->c.fd, .generation = ++generation_};
  current_ = attachment;
  context->data = attachment;
  context->ev.data = attachment;
  context->ev.addRead = &RedisConnection::add_read;
  context->ev.delRead = &RedisConnection::del_read;
  context->ev.addWrite = &RedisConnection::add_write;
  context->ev.delWrite = &RedisConnection::del_write;
  context->ev.cleanup = &RedisConnection::cleanup;
  // No disconnect callback: hiredis calls it after cleanup(), which says all there is to say.
  redisAsyncSetConnectCallback(context, &RedisConnection::connected);
  // The non-blocking connect completes when the socket turns writable.
  set_interest(*attachment, Server::kWritable);
  return true;
}

void RedisConnection::close() {
  if (current_ == nullptr) return;
  Attachment* attachment = current_;
  // From now on nothing reaches that context through this object, and its end is ours, not
  // reported as lost. Inside one of its callbacks hiredis frees it when the callback returns.
  current_ = nullptr;
  attachment->owner = nullptr;
  if (attachment->watching) server_.unwatch_descriptor(attachment->fd);
  attachment->watching = false;
  redisAsyncFree(attachment->context);
}

bool RedisConnection::send(const std::vector<std::string>& arguments,
                           std::function<void(const redisReply*)> done) {
  if (current_ == nullptr || arguments.empty()) return false;
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  pointers.reserve(arguments.size());
  lengths.reserve(arguments.size());
  for (const std::string& argument : arguments) {
    pointers.push_back(argument.data());
    lengths.push_back(argument.size());
  }
  auto callback = std::make_unique<std::function<void(const redisReply*)>>(std::move(done));
  if (redisAsyncCommandArgv(current_->context, &RedisConnection::reply_done, callback.get(),
                            static_cast<int>(arguments.size()), pointers.data(),
                            lengths.data()) != REDIS_OK) {
    return false;
  }
  callback.release();  // reply_done owns it now
  ++current_->in_flight;
  return true;
}

bool RedisConnection::send_subscription(bool subscribe, const std::string& channel) {
  if (current_ == nullptr) return false;
  const char* pointers[2] = {subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE", channel.data()};
  const std::size_t lengths[2] = {subscribe ? 9u : 11u, channel.size()};
  // Every subscription shares one callback; on_push sorts the traffic by channel.
  return redisAsyncCommandArgv(current_->context, &RedisConnection::push_received, current_, 2,
                               pointers, lengths) == REDIS_OK;
}

void RedisConnection::reply_done(redisAsyncContext* context, void* reply, void* privdata) {
  std::unique_ptr<std::function<void(const redisReply*)>> callback(
      static_cast<std::function<void(const redisReply*)>*>(privdata));
  auto* attachment = static_cast<Attachment*>(context->data);
  if (attachment->in_flight > 0) --attachment->in_flight;
  if (*callback) (*callback)(static_cast<const redisReply*>(reply));
}

void RedisConnection::push_received(redisAsyncContext*, void* reply, void* privdata) {
  // hiredis calls subscription callbacks with nullptr as the connection is freed.
  auto* attachment = static_cast<Attachment*>(privdata);
  if (reply == nullptr || attachment->owner == nullptr) return;
  const auto& on_push = attachment->owner->events_.on_push;
  if (on_push) on_push(*static_cast<const redisReply*>(reply));
}

void RedisConnection::connected(const redisAsyncContext* context, int status) {
  auto* attachment = static_cast<Attachment*>(context->data);
  if (status != REDIS_OK) {
    // hiredis frees the context next; cleanup() reports the reason.
    attachment->lost_reason = context->errstr != nullptr ? context->errstr : "connect failed";
    return;
  }
  if (attachment->owner != nullptr && attachment->owner->events_.on_connected) {
    attachment->owner->events_.on_connected();
  }
}

void RedisConnection::add_read(void* data) {
  auto& attachment = *static_cast<Attachment*>(data);
  set_interest(attachment, attachment.interest | Server::kReadable);
}
void RedisConnection::del_read(void* data) {
  auto& attachment = *static_cast<Attachment*>(data);
  set_interest(attachment, attachment.interest & ~Server::kReadable);
}
void RedisConnection::add_write(void* data) {
  auto& attachment = *static_cast<Attachment*>(data);
  set_interest(attachment, attachment.interest | Server::kWritable);
}
void RedisConnection::del_write(void* data) {
  auto& attachment = *static_cast<Attachment*>(data);
  set_interest(attachment, attachment.interest & ~Server::kWritable);
}

void RedisConnection::cleanup(void* data) {
  // hiredis is freeing the context (close(), an error, or the peer closing) and has run the
  // pending callbacks with nullptr. Stop watching before it closes the descriptor.
  std::unique_ptr<Attachment> attachment(static_cast<Attachment*>(data));
  redisAsyncContext* context = attachment->context;
  context->data = nullptr;  // nothing may reach the attachment once it is gone
  if (attachment->lost_reason.empty()) {
    attachment->lost_reason =
        context->err != 0 && context->errstr != nullptr ? context->errstr : "connection closed";
  }
  RedisConnection* owner = attachment->owner;
  if (owner == nullptr) return;  // closed by its owner, who stopped watching it then
  if (attachment->watching) owner->server_.unwatch_descriptor(attachment->fd);
  owner->current_ = nullptr;
  if (owner->events_.on_lost) owner->events_.on_lost(attachment->lost_reason);
}

void RedisConnection::set_interest(Attachment& attachment, std::uint32_t interest) {
  RedisConnection* owner = attachment.owner;
  if (owner == nullptr) return;
  if (interest == attachment.interest && attachment.watching) return;
  attachment.interest = interest;
  // Level-triggered: readiness is reported again until hiredis has read or written it all.
  // With no interest left the descriptor stays watched for errors and hang-ups.
  Attachment* target = &attachment;
  owner->server_.watch_descriptor(attachment.fd, interest,
                                  [target](std::uint32_t ready) { on_ready(*target, ready); });
  attachment.watching = true;
}

void RedisConnection::on_ready(Attachment& attachment, std::uint32_t ready) {
  // Copies: a read can end in hiredis freeing the context and this attachment with it.
  redisAsyncContext* context = attachment.context;
  RedisConnection* owner = attachment.owner;
  const std::uint64_t generation = attachment.generation;
  if (owner == nullptr) return;
  if ((ready & (Server::kReadable | Server::kError)) != 0) {
    redisAsyncHandleRead(context);
    // Freed or closed meanwhile (the attachment may be gone: compare, never dereference).
    if (owner->current_ == nullptr || owner->generation_ != generation) return;
  }
  if ((ready & Server::kWritable) != 0) redisAsyncHandleWrite(context);
}

}  // namespace hibiki::cluster
