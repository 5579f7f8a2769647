// The chat as one node of a cluster (hibiki chat --redis): rooms, names, presence and history
// shared by every node through Redis (docs/CLUSTER.md). Redis decides everything that must be
// ordered or unique (cluster_scripts.hpp); each room's changes come back to every node with
// members in it as numbered events on the room's channel, and each node mirrors the room from
// them (room_mirror.hpp), so all nodes see one history and one membership.
//
// Thread: the handlers run on any loop and hand their work to loop 0, where the chat's state
// lives without a lock; what a connection must get is handed back to its own loop with
// Server::dispatch, in order with the room broadcasts, which fan out on every loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apps/chat/chat_encode.hpp"
#include "apps/chat/chat_limits.hpp"
#include "apps/chat/chat_messages.hpp"
#include "apps/chat/cluster_scripts.hpp"
#include "apps/chat/id_pool.hpp"
#include "apps/chat/rate_limiter.hpp"
#include "apps/chat/room_mirror.hpp"
#include "hibiki/cluster.hpp"
#include "hibiki/server.hpp"

namespace hibiki::apps::chat {

struct ClusterChatOptions {
  std::string node_id;               // unique among the running nodes
  std::string prefix = "hibiki";     // keys and channels: "<prefix>:chat:…"
  std::size_t keep_history = 10000;  // messages kept per room in Redis (a capped stream)
  ChatLimits limits;
  // A node refreshes its heartbeat this often and is taken for dead (its members leave every
  // room) when it has not for dead_after_ms.
  std::uint32_t heartbeat_ms = 2000;
  std::uint32_t dead_after_ms = 9000;
};

class ClusterChatService {
 public:
  ClusterChatService(Server& server, ClusterBus& bus, ClusterChatOptions options);
  ~ClusterChatService();
  ClusterChatService(const ClusterChatService&) = delete;
  ClusterChatService& operator=(const ClusterChatService&) = delete;

  // Before the link starts (ClusterBus::start).
  void set_node_id(std::string id) { options_.node_id = std::move(id); }

  // WebSocket handlers; thread: any loop.
  void on_upgrade(PendingUpgrade upgrade);
  void on_open(WebSocket ws);
  void on_message(WebSocket ws, std::string_view message, MessageKind kind);
  void on_close(WebSocket ws);

  // Ready to serve: the link is up and this node is registered. Thread: any.
  [[nodiscard]] bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Why not ready ("Redis unreachable: Connection refused", ...); empty when ready.
  [[nodiscard]] std::string not_ready_reason() const;
  [[nodiscard]] std::size_t room_count() const { return room_count_.load(); }
  // Work a graceful stop should wait for (members leaving); thread: loop 0.
  [[nodiscard]] bool busy() const;
  // The chat's cluster counters in Prometheus text. Thread: any.
  [[nodiscard]] std::string metrics_text() const;

 private:
  struct Room;
  struct Member {
    WebSocket ws;
    std::uint64_t connection = 0;  // WebSocket::id(), the key of members_
    std::string id;                // the cluster-wide member id, in decimal
    std::string name;
    bool hello = false;
    std::vector<Room*> rooms;  // joined, in join order; back() is the current room
    TokenBucket bucket;
    std::deque<ClientMessage> queue;  // requests waiting for the one in progress
    bool busy = false;                // a request waits for Redis
    // The join in progress, if any.
    Room* joining = nullptr;
    bool join_sent = false;
    bool join_replied = false;
    bool join_silent = false;  // the lobby at connect: no `joined`/`history` frames
    std::uint64_t join_ev = 0;
    std::optional<std::uint64_t> join_since;
    [[nodiscard]] MemberView view() const { return {id, name}; }
  };
  struct Room {
    explicit Room(std::string room_name, std::string channel_name, std::size_t keep);
    std::string name;
    std::string topic;       // "room/<name>": local members that said hello
    std::string talk_topic;  // "talk/<name>": local members speaking the talk's JSON
    std::string channel;     // the room's Redis channel
    RoomMirror mirror;
    bool subscribed = false;       // the channel subscription is confirmed
    bool syncing = false;          // a baseline is on its way
    bool live = false;             // synced and current: events apply as they come
    bool history_lost = false;     // Redis lost data: the next baseline is a gap
    std::vector<Member*> members;  // local members, joined, in join order
    std::vector<Member*> joining;  // local members whose join is in progress
    std::size_t talk_members = 0;  // of `members`, those that did not say hello
    // Local connections on talk_topic: the talk's members, and the talk's clients whose join
    // at connect is on its way (they hear the room at once, as on a single node).
    std::size_t talk_listeners = 0;
  };

  // Requests (cluster_chat.cpp), on loop 0.
  void opened(WebSocket ws, std::uint64_t connection);
  void hand_out_ids();
  void received(std::uint64_t connection, const std::string& message, MessageKind kind);
  void closed(std::uint64_t connection);
  void process_queue(Member& member);
  void handle(Member& member, const ClientMessage& request);
  void on_hello(Member& member, const ClientMessage& request);
  void finish_hello(Member& member, const ClientMessage& request);
  void on_join(Member& member, const ClientMessage& request);
  void on_leave(Member& member, const ClientMessage& request);
  void on_nick(Member& member, const ClientMessage& request);
  void on_chat(Member& member, const ClientMessage& request);
  void on_history(Member& member, const ClientMessage& request);
  // Asks Redis for `requested` (or its -2, -3 … forms) and calls `then` with the name taken.
  void rename(Member& member, const std::string& requested, std::size_t first_suffix,
              std::function<void(Member&, bool ok)> then);
  void done(Member& member);  // the request in progress finished
  Member* member_of(std::uint64_t connection);
  Room* joined_room(Member& member, std::string_view name);
  void reply_error(const Member& member, ChatError error, ErrorDetail detail = {},
                   bool detailed = false);
  void send_to(const Member& member, std::string frame);
  void set_topic(const Member& member, const std::string& topic, bool subscribed);

  // Rooms (cluster_chat_rooms.cpp), on loop 0.
  Room& room_named(const std::string& name);
  void drop_room_if_unused(const std::string& name);
  void begin_join(Member& member, const std::string& room, std::optional<std::uint64_t> since,
                  bool silent);
  void send_join(Member& member);
  void complete_joins(Room& room);
  void complete_join(Member& member);
  void fail_join(Member& member, ChatError error);
  void exit_room(Member& member, Room& room);
  void on_channel_state(const std::string& room, bool subscribed);
  void on_room_event(const std::string& room, std::string_view payload);
  void process_event(Room& room, RoomEvent event);
  void start_sync(Room& room);
  void finish_sync(const std::string& room, const RedisReply* reply);
  void send_room_state(Member& member, const Room& room, std::optional<std::uint64_t> since);
  void send_latest(Member& member, const Room& room, std::uint64_t before_shown);
  void deliver(const Room& room, const store::HistoryMessage& message);
  void publish_presence(const Room& room, PresenceEvent event, const MirrorMember& member,
                        std::string_view previous_name = {});
  [[nodiscard]] bool is_local(const Room& room, std::string_view member_id) const;

  // The node (cluster_chat_node.cpp), on loop 0.
  void on_link(bool up);
  void register_node();
  void restore_members(std::uint64_t handshake);
  void become_ready(std::uint64_t handshake);
  void become_unready(const std::string& reason);
  void heartbeat();
  void refill_ids();
  void store_lost(const std::string& why);  // an EPOCH answer: register again

  Server& server_;
  ClusterBus& bus_;
  ClusterChatOptions options_;
  std::string prefix_;  // "<prefix>:chat"
  std::string token_;   // this process, so a restarted node is told from a duplicate one
  ScriptRunner scripts_;
  ChatMessageParser parser_;
  IdPool ids_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Member>> members_;  // by connection
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;        // rooms with members
  std::deque<std::uint64_t> awaiting_id_;  // connections opened while no id was at hand
  std::string epoch_;                      // Redis' epoch as last seen; empty before the first link
  std::uint64_t handshake_ = 0;  // registrations started; answers of older ones are ignored
  std::uint64_t heartbeat_timer_ = 0;
  std::string scratch_;

  std::atomic<bool> ready_{false};
  mutable std::mutex reason_mutex_;
  std::string not_ready_reason_ = "connecting to Redis";
  std::atomic<std::size_t> room_count_{0};
  std::atomic<std::uint64_t> history_gaps_{0};  // rooms reset on clients after a loss
  std::atomic<std::uint64_t> resyncs_{0};       // baselines read again (reconnect, gap)
  std::atomic<std::uint64_t> nodes_reaped_{0};  // dead nodes this node took out
  std::atomic<std::uint64_t> data_losses_{0};   // epochs that changed
  std::atomic<std::uint64_t> unavailable_{0};   // requests answered `unavailable`
};

}  // namespace hibiki::apps::chat
