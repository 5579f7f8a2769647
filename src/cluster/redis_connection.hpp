// One hiredis asynchronous connection whose socket is watched by the server's loop 0
// (Server::watch_descriptor): hiredis asks for read and write readiness through its event
// hooks and is called back when the loop sees them. Commands queued during a loop turn leave
// in one write: pipelining comes for free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hibiki/cluster.hpp"
#include "hibiki/server.hpp"

struct redisAsyncContext;
struct redisReply;

namespace hibiki::cluster {

// A copy of a hiredis reply that outlives it.
RedisReply copy_reply(const redisReply& reply);

class RedisConnection {
 public:
  struct Events {
    std::function<void()> on_connected;
    // Subscription traffic: ["subscribe"|"message"|"unsubscribe", channel, payload|count].
    std::function<void(const redisReply& push)> on_push;
    // The connection ended without close() being called (error, peer closed, refused). Pending
    // commands have had their callbacks with nullptr by then.
    std::function<void(const std::string& reason)> on_lost;
  };

  RedisConnection(Server& server, std::string name);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Starts a non-blocking connect to a numeric address. False, with the reason, when it cannot
  // even start. Thread: loop 0.
  bool open(const std::string& ip, std::uint16_t port, Events events, std::string* error);
  // Ends the connection now: pending commands get nullptr, on_lost is not called.
  void close();
  [[nodiscard]] bool is_open() const { return current_ != nullptr; }

  // Queues one command; `done` gets the reply or nullptr when the connection ends first.
  bool send(const std::vector<std::string>& arguments, std::function<void(const redisReply*)> done);
  // SUBSCRIBE or UNSUBSCRIBE one channel; the answers come to on_push.
  bool send_subscription(bool subscribe, const std::string& channel);
  [[nodiscard]] std::size_t in_flight() const;

 private:
  // What one hiredis context is tied to. It lives until hiredis has freed the context, which
  // may be after close() (when close() is called inside a hiredis callback) and so after this
  // object has opened the next one.
  struct Attachment {
    RedisConnection* owner;  // nullptr once the owner has moved on (close())
    redisAsyncContext* context;
    int fd;
    std::uint64_t generation;  // the owner's open() count when it was made
    std::uint32_t interest = 0;
    bool watching = false;
    std::size_t in_flight = 0;
    std::string lost_reason;
  };

  // hiredis hooks (C callbacks); their data is the Attachment.
  static void add_read(void* attachment);
  static void del_read(void* attachment);
  static void add_write(void* attachment);
  static void del_write(void* attachment);
  static void cleanup(void* attachment);
  static void connected(const redisAsyncContext* context, int status);
  static void reply_done(redisAsyncContext* context, void* reply, void* privdata);
  static void push_received(redisAsyncContext* context, void* reply, void* privdata);

  static void set_interest(Attachment& attachment, std::uint32_t interest);
  static void on_ready(Attachment& attachment, std::uint32_t ready);

  Server& server_;
  std::string name_;
  Events events_;
  Attachment* current_ = nullptr;  // the open context's, or nullptr
  std::uint64_t generation_ = 0;
};

}  // namespace hibiki::cluster
