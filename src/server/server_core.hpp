// One event loop of a Server: owns its listener (SO_REUSEPORT when there are several loops),
// its connection slab and topics, and drives each connection through
// http -> open -> closing/draining -> closed. Everything here runs on the loop's own thread,
// except post(), the request_*() calls and stats_snapshot().
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hibiki/server.hpp"
#include "net/event_loop.hpp"
#include "net/tls.hpp"
#include "net/unique_fd.hpp"
#include "protocol/frame_parser.hpp"
#include "protocol/http_request.hpp"
#include "protocol/opcode.hpp"
#include "server/compression.hpp"
#include "server/connection.hpp"
#include "server/h2_session.hpp"
#include "server/server_group.hpp"
#include "server/shared_frame.hpp"
#include "server/topic_registry.hpp"

namespace hibiki::detail {

class ServerCore final : public net::LoopHandler {
  struct Slot {
    std::unique_ptr<server::Connection> connection;
    std::uint32_t generation = 1;  // below 2^28: a token (generation << 32 | slot) fits 61 bits
  };

 public:
  ServerCore(ServerGroup& group, std::uint32_t index);
  ~ServerCore();

  // Binds this loop's listener; `port` 0 lets the kernel pick. Returns the port.
  std::uint16_t listen(std::uint16_t port, bool reuse_port);
  // Another listener served by the same routes: with the main listener's TLS when `own_tls` is
  // null, else with these files (both empty: plain). Returns its port.
  std::uint16_t add_listener(const std::string& host, std::uint16_t port, bool reuse_port,
                             const ListenerTls* own_tls = nullptr);
  [[nodiscard]] std::uint16_t local_port(const server::Connection& c) const {
    return listeners_[c.listener].port;
  }

  // Deferred upgrades (PendingUpgrade), descriptor watches and timers for the application.
  bool accept_upgrade(server::Connection& c, std::string_view protocol);
  bool reject_upgrade(server::Connection& c, int status, std::string_view body,
                      const std::vector<std::pair<std::string, std::string>>& headers);
  // A deferred HTTP answer (PendingResponse::respond): now on this loop, else posted to it.
  bool respond_later(std::uint32_t slot, std::uint32_t generation, HttpResponse response);
  void watch_descriptor(int fd, std::uint32_t interest,
                        std::function<void(std::uint32_t)> callback);
  void unwatch_descriptor(int fd);
  std::uint64_t set_timer(std::uint32_t delay_ms, std::function<void()> callback);
  void cancel_timer(std::uint64_t id);
  void set_busy_check(std::function<bool()> busy) { busy_check_ = std::move(busy); }
  [[nodiscard]] bool application_busy() const { return busy_check_ && busy_check_(); }
  int run();
  // Safe from any thread and from signal handlers.
  void request_stop(std::uint16_t code);
  void request_tls_reload();
  // Delivers to this loop's subscribers of `topic`; returns how many it was queued on.
  std::size_t publish_local(std::string_view topic, std::string_view message, MessageKind kind);
  // Hands a message published on another loop, or a task, to this one. Safe from any thread.
  // False when refused: the loop stopped, or the inbox is full (counted as a dropped message).
  // `bounded` false skips the size cap, for bookkeeping that is bounded by other means.
  bool post(InboxItem item, bool bounded = true);
  // Delivers what other loops posted and runs their tasks, in the order they posted them.
  void drain_inbox();
  [[nodiscard]] std::uint32_t index() const { return index_; }
  [[nodiscard]] const ServerStats& live_stats() const { return stats_; }
  // This loop's counters as of its last turn. Safe from any thread.
  [[nodiscard]] ServerStats stats_snapshot() const;
  // Messages other loops could not post here because the inbox was full.
  [[nodiscard]] std::uint64_t inbox_dropped() const {
    return inbox_dropped_.load(std::memory_order_relaxed);
  }
  // The loop running on the calling thread, or nullptr on a thread that runs none.
  static ServerCore* current();
  [[nodiscard]] const ServerGroup& group() const { return group_; }
  ServerGroup& group() { return group_; }

  void run_inbox_item(const InboxItem& item);

  // WebSocket handle operations.
  server::Connection* resolve(std::uint32_t slot, std::uint32_t generation) const;
  // The live connection behind a handle, or nullptr when it is gone (stale handle).
  static server::Connection* connection_of(const WebSocket& ws) {
    return ws.core_ ? ws.core_->resolve(ws.slot_, ws.generation_) : nullptr;
  }
  static ServerCore& core_of(const WebSocket& ws) { return *ws.core_; }
  static ServerCore* owner_of(const WebSocket& ws) { return ws.core_; }
  SendStatus send_message(server::Connection& c, std::string_view message, MessageKind kind);
  void close_connection(server::Connection& c, std::uint16_t code, std::string_view reason);
  bool subscribe(server::Connection& c, std::string_view topic);
  bool unsubscribe(server::Connection& c, std::string_view topic);

  // net::LoopHandler
  void on_io(std::uint64_t token, std::uint32_t events) override;
  void on_timer(std::uint32_t slot) override;
  void on_wake() override;
  bool before_sleep() override;
  bool keep_running() override;
  // Completions, when the loop runs on io_uring (ring_stage.cpp).
  void on_accepted(std::uint64_t token, int result, bool more) override;
  void on_received(std::uint64_t token, int result, std::span<std::byte> bytes, bool more) override;
  void on_sent(std::uint64_t token, int result) override;
  [[nodiscard]] net::IoKind io_kind() const { return loop_.io_kind(); }

 private:
  WebSocket handle(const server::Connection& c) { return WebSocket(this, c.slot, c.generation); }
  // What the loop reports a connection's events and completions with.
  static std::uint64_t token_of(const server::Connection& c) {
    return (static_cast<std::uint64_t>(c.generation) << 32) | c.slot;
  }

  // Lifecycle (server_core.cpp)
  void accept_all(std::uint8_t listener);
  // Takes a connection the listener accepted: admission, slot, timers, reads.
  void adopt(int fd, std::uint8_t listener);
  // Out of descriptors: frees the reserve to accept one pending connection and refuse it.
  // Returns whether there was one.
  bool refuse_one_pending(int listen_fd);
  void continue_tls_handshake(server::Connection& c);
  // Loads every listener's TLS files again (Server::reload_tls()).
  void reload_tls();
  // Answers 503 and closes; counts the refusal in `counter`.
  void refuse(int fd, const char* why, std::uint64_t& counter);
  // Token bucket of max_messages_per_second; false when the connection is over it.
  bool within_message_rate(server::Connection& c);
  server::Connection& allocate();
  void read_from(server::Connection& c);
  void handle_bytes(server::Connection& c, std::span<std::byte> bytes);
  void schedule_destroy(server::Connection& c, std::uint16_t code, std::string_view reason);
  void reclaim();
  // Frees a reclaimed connection's slot for reuse (its handles go stale).
  void free_slot(std::uint32_t slot);
  static void next_generation(Slot& s);
  void begin_shutdown();
  void arm_timer(server::Connection& c, std::uint32_t delay_ms);
  void notify_close(server::Connection& c);

  // HTTP stage (http_stage.cpp)
  void handle_http(server::Connection& c, std::span<std::byte> bytes);
  void answer_http_error(server::Connection& c, int status);
  bool handle_request(server::Connection& c, const protocol::HttpRequest& request,
                      std::string_view body);
  bool upgrade(server::Connection& c, const protocol::HttpRequest& request);
  // A checked WebSocket request (HTTP/1.1 upgrade or HTTP/2 extended CONNECT, whose `key` is
  // empty): route, extensions, subprotocol, on_upgrade, then the answer.
  bool open_websocket(server::Connection& c, const protocol::HttpRequest& request,
                      std::string_view key, std::string_view protocols);
  // Sends the 101 and opens the WebSocket. Returns whether it is still open afterwards.
  bool complete_upgrade(server::Connection& c, std::string_view key, std::string chosen,
                        protocol::DeflateNegotiation deflate, std::uint16_t route);
  // Reads Content-Length; false (after answering 400, 411 or 413) when the body is refused.
  bool body_length(server::Connection& c, const protocol::HttpRequest& request,
                   std::size_t& length);
  void serve_http(server::Connection& c, const protocol::HttpRequest& request,
                  std::string_view body);
  void answer_http(server::Connection& c, const HttpResponse& response, bool head_only);
  // Sends a deferred answer, then serves the requests pipelined behind it. False when the
  // connection was not waiting for one.
  bool complete_response(server::Connection& c, const HttpResponse& response);

  // HTTP/2 (h2_stage.cpp): a parent connection in state h2, its stream Connections.
  friend struct server::H2Connection;
  // ALPN chose h2: the connection speaks HTTP/2 from now on.
  void start_h2(server::Connection& c);
  void h2_receive(server::Connection& c, std::span<std::byte> bytes);
  // Moves the session's frames into the socket, within a budget so that bytes waiting for
  // the socket stay in the streams' own queues (and count against max_buffered_bytes).
  void h2_flush(server::Connection& c);
  void h2_on_timer(server::Connection& c);
  void h2_begin_shutdown(server::Connection& c);
  // The parent is going away: its streams close with 1006.
  void h2_close_streams(server::Connection& c);
  // A stream Connection: flush asks the parent's session to send; END_STREAM; reclaiming.
  void h2_stream_flush(server::Connection& s);
  void h2_end_stream(server::Connection& s);
  void h2_detach_stream(server::Connection& s);
  server::Connection* h2_parent(const server::Connection& s) const;
  // A request arrived on a stream of `parent`.
  void h2_request(server::Connection& parent, std::int32_t stream, server::H2Request& request);
  void h2_upgrade(server::Connection& s, const protocol::HttpRequest& request,
                  const server::H2Request& h2);
  // Answers on the stream and lets its Connection go.
  void h2_answer(server::Connection& s, const HttpResponse& response, bool head_only);
  // Sends the 200 of an extended CONNECT with the negotiated headers.
  void h2_open_tunnel(server::Connection& s, std::string_view chosen,
                      const std::string& extensions);
  // io_uring (ring_stage.cpp). Connections without TLS receive, send and are accepted through
  // the ring; TLS ones keep the readiness path (a poll on the ring), and HTTP/2 streams have no
  // socket of their own (their bytes go through the parent's TLS).
  [[nodiscard]] bool on_ring(const server::Connection& c) const {
    return loop_.ring() != nullptr && c.tls() == nullptr && !c.h2_stream;
  }
  void start_receiving(server::Connection& c);
  void rearm_receives();
  // A descriptor was freed: listeners that ran out (polling) accept through the ring again.
  void resume_ring_accepts();
  // The connection a completion's token names, reclaiming ones included; nullptr if none.
  server::Connection* completion_target(std::uint64_t token) const;
  // A closed connection with operations in flight: cancel them and keep its slot, descriptor
  // and buffers until their completions arrived. False when nothing was in flight.
  bool retire_on_ring(server::Connection& c);
  void reclaim_when_idle(server::Connection& c);

  // Application hooks (server_hooks.cpp)
  void run_watch(int fd, std::uint32_t events);
  // Runs the application timers that are due; returns the next deadline (UINT64_MAX: none).
  std::uint64_t run_due_timers();
  std::uint64_t next_timer_deadline();

  // WebSocket stage (websocket_stage.cpp)
  void handle_frames(server::Connection& c, std::span<std::byte> bytes);
  void handle_control(server::Connection& c, protocol::Opcode opcode,
                      std::span<const std::byte> payload);
  void deliver(server::Connection& c, std::string_view message, protocol::Opcode opcode);
  void fail(server::Connection& c, std::uint16_t code, std::string_view reason);
  void start_draining(server::Connection& c);
  // Ends our side of the stream: TLS close_notify if any, then shutdown(SHUT_WR).
  void shut_write(server::Connection& c);
  // Queues raw bytes (a frame, an HTTP response) to be written before the loop sleeps.
  // Returns false if the connection is already closed.
  // With `now`, bytes are written at once when nothing is queued (HTTP responses).
  bool write_raw(server::Connection& c, std::span<const std::byte> head,
                 std::span<const std::byte> body = {}, bool now = false);
  void mark_dirty(server::Connection& c);
  // The connection's send queue, from the loop's spares when it has none.
  server::SendQueue& out(server::Connection& c);
  // Gives an emptied queue back to the spares (or frees it): a quiet connection holds none.
  void release_queue(server::Connection& c);
  void flush(server::Connection& c);
  // Everything queued was written: the queue goes back, a draining connection shuts its
  // writes, a backpressured one gets on_drain.
  void flushed(server::Connection& c);
  void flush_dirty();
  // Whether one more frame of frame_bytes may be queued; applies the backpressure policy.
  SendStatus admit(server::Connection& c, std::size_t frame_bytes);
  bool send_frame(server::Connection& c, protocol::Opcode opcode,
                  std::span<const std::byte> payload, bool compressed = false);
  // A frame built once to be shared by several queues.
  server::FrameRef make_frame(protocol::Opcode opcode, std::span<const std::byte> payload,
                              bool compressed) const;
  // Calls visit(header, chunk) for each frame a message goes out as (max_send_frame_bytes).
  template <typename Visit>
  void for_each_fragment(protocol::Opcode opcode, std::span<const std::byte> payload,
                         bool compressed, Visit&& visit) const;
  void receive_compressed(server::Connection& c, const protocol::FrameEvent& event);
  void send_close(server::Connection& c, std::uint16_t code, std::string_view reason);
  bool over_buffer_cap(server::Connection& c, std::size_t extra) const;

  ServerGroup& group_;
  const std::uint32_t index_;  // 0 for the loop on the thread that called run()
  const ServerOptions& options_;
  const Routes& routes_;
  net::EventLoop loop_;
  struct Listener {
    net::UniqueFd fd;
    std::uint16_t port = 0;
    // False: the main listener's context (tls_context_), whatever it is after a reload. True:
    // its own files (`files`; none: plain).
    bool own_tls = false;
    ListenerTls files;
    std::shared_ptr<const net::TlsContext> tls;  // what new connections get; null: plain
    bool polling = false;  // io_uring, out of descriptors: readiness instead of multishot accept
  };
  std::vector<Listener> listeners_;  // a connection's `listener` indexes this
  net::UniqueFd reserve_fd_;         // spare descriptor released to refuse connections at EMFILE
  std::uint64_t next_refusal_log_ms_ = 0;
  std::uint16_t port_ = 0;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint32_t> graveyard_;
  std::vector<std::uint32_t> resume_reads_;
  std::vector<std::uint32_t> rearm_receives_;  // io_uring: multishot receives that ended
  std::size_t reclaiming_ = 0;                 // io_uring: closed, completions outstanding
  std::vector<std::uint32_t> dirty_;           // connections with bytes queued this turn
  // Emptied send queues kept for the next burst: a broadcast to 1,000 quiet connections would
  // otherwise allocate and free 1,000 queues per message.
  static constexpr std::size_t kMaxSpareQueues = 4096;
  static constexpr std::size_t kMaxSpareQueueBytes = 4096;  // owned capacity a spare may keep
  std::vector<std::unique_ptr<server::SendQueue>> spare_queues_;
  std::vector<std::uint32_t> flushing_;
  std::size_t live_connections_ = 0;
  ServerStats stats_;
  server::TopicRegistry topics_;
  server::Compressors compressors_;
  std::string compress_scratch_;  // one message compressed for one connection
  std::unique_ptr<std::byte[]> read_buffer_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::uint16_t> stop_close_code_{close_code::kGoingAway};
  std::uint16_t stop_code_ = close_code::kGoingAway;  // of the stop under way
  // Closed by a restart (stop with 1012): its data frames still reach on_message until the
  // peer's close frame.
  [[nodiscard]] bool delivers_while_closing(const server::Connection& c) const {
    return stopping_ && stop_code_ == close_code::kServiceRestart &&
           c.close_code == close_code::kServiceRestart;
  }
  static constexpr const char* kRestarting = "server restarting";
  std::atomic<bool> tls_reload_requested_{false};
  std::shared_ptr<const net::TlsContext> tls_context_;  // ServerOptions' files; null: plain
  bool stopping_ = false;
  bool stopped_ = false;
  std::uint64_t shutdown_deadline_ms_ = 0;

  // Descriptors and timers of the application (Server::watch_descriptor, set_timer).
  std::unordered_map<int, std::function<void(std::uint32_t)>> watches_;
  struct AppTimer {
    std::uint64_t deadline_ms;
    std::function<void()> callback;
  };
  std::unordered_map<std::uint64_t, AppTimer> app_timers_;
  // (deadline, id), soonest first; cancelled ids are skipped when they come up.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> app_timer_heap_;
  std::uint64_t next_app_timer_id_ = 1;
  std::function<bool()> busy_check_;  // Server::finish_before_stopping

  // Messages other loops published, waiting for this loop's next turn.
  static constexpr std::size_t kMaxInboxMessages = 1u << 16;
  std::mutex inbox_mutex_;
  std::vector<InboxItem> inbox_;
  std::vector<InboxItem> inbox_draining_;
  bool draining_ = false;  // inside drain_inbox (a task may publish, which drains again)
  std::atomic<bool> inbox_pending_{false};
  bool inbox_closed_ = false;                    // guarded by inbox_mutex_
  std::atomic<std::uint64_t> inbox_dropped_{0};  // posts refused while the inbox was full
  // stats_ as of the end of the last turn, for readers on other threads.
  mutable std::mutex snapshot_mutex_;
  ServerStats snapshot_;
};

}  // namespace hibiki::detail
