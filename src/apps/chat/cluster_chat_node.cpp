// The clustered chat's node: registering with Redis each time the link comes up (the epoch
// that reveals lost data, this node's members put back as the node holds them), heartbeats
// that take dead nodes' members out of every room, connection ids, readiness and counters
// (see cluster_chat.hpp).
#include <memory>
#include <string>
#include <vector>

#include "apps/chat/chat_requests.hpp"
#include "apps/chat/chat_text.hpp"
#include "apps/chat/cluster_chat.hpp"
#include "hibiki/log.hpp"
#include "hibiki/stats.hpp"

namespace hibiki::apps::chat {
namespace {

constexpr std::uint32_t kRetryMs = 1000;
// Names a member tries to get back after its node was taken for dead meanwhile.
constexpr std::size_t kRestoreCandidates = 16;

}  // namespace

void ClusterChatService::on_link(bool up) {
  if (!up) {
    become_unready("Redis link down");
    return;
  }
  scripts_.load_all();
  register_node();
}

void ClusterChatService::register_node() {
  const std::uint64_t handshake = ++handshake_;
  become_unready("registering with Redis");
  const bool sent = scripts_.run(
      Script::register_node, {prefix_, options_.node_id, token_, random_decimal()},
      [this, handshake](const RedisReply* reply) {
        if (handshake != handshake_ || reply == nullptr) return;  // a newer one, or link down
        if (reply->is_error() || reply->elements.empty()) {
          log(LogLevel::warn, "cluster: registering node " + options_.node_id +
                                  " failed: " + reply->text + "; retrying");
          server_.set_timer(kRetryMs, [this, handshake] {
            if (handshake == handshake_ && bus_.link_up()) register_node();
          });
          return;
        }
        const std::string epoch = reply->elements[0].text;
        if (!epoch_.empty() && epoch != epoch_) {
          // Redis came back without its data (no persistence, or within the loss window):
          // ids go on from what this node saw, and clients reset their rooms.
          data_losses_.fetch_add(1, std::memory_order_relaxed);
          log(LogLevel::warn,
              "cluster: Redis lost its data (its epoch changed); rooms are read again and "
              "clients told with history_gap");
          for (auto& [name, room] : rooms_)
            room->history_lost = true;
        }
        epoch_ = epoch;
        if (ids_.wants_block()) refill_ids();
        // Connections that closed while Redis was out of reach could not say goodbye.
        std::vector<std::string> prune{prefix_, options_.node_id};
        for (const auto& [connection, member] : members_) {
          if (!member->id.empty()) prune.push_back(member->id);
        }
        scripts_.run(Script::prune, std::move(prune), [](const RedisReply* pruned) {
          if (pruned != nullptr && pruned->type == RedisReply::Type::integer &&
              pruned->integer > 0) {
            log(LogLevel::info, "cluster: " + std::to_string(pruned->integer) +
                                    " member(s) that left during the outage taken out");
          }
        });
        restore_members(handshake);
      });
  if (!sent) become_unready("Redis link down");
}

void ClusterChatService::restore_members(std::uint64_t handshake) {
  // Redis is made to hold what this node holds: after a short blip that changes nothing; after
  // the node was taken for dead, or Redis lost its data, its members come back (with join
  // events) under their names when these are still free.
  std::size_t with_ids = 0;
  for (const auto& [connection, member] : members_)
    with_ids += member->id.empty() ? 0 : 1;
  auto remaining = std::make_shared<std::size_t>(with_ids);
  if (*remaining == 0) {
    become_ready(handshake);
    return;
  }
  for (auto& [connection, member] : members_) {
    if (member->id.empty()) continue;  // not in Redis yet: it joins once it has an id
    std::vector<std::string> arguments{prefix_, options_.node_id, member->id};
    const std::size_t candidates = member->name.empty() ? 0 : kRestoreCandidates;
    arguments.push_back(std::to_string(candidates));
    for (std::size_t n = 1; n <= candidates; ++n) {
      std::string candidate = name_candidate(member->name, n);
      std::string fold = fold_name(candidate);
      arguments.push_back(std::move(candidate));
      arguments.push_back(std::move(fold));
    }
    for (const Room* room : member->rooms)
      arguments.push_back(room->name);
    const std::uint64_t key = connection;
    const bool sent =
        scripts_.run(Script::restore_member, std::move(arguments),
                     [this, handshake, key, remaining](const RedisReply* reply) {
                       if (handshake != handshake_ || reply == nullptr) return;
                       Member* member = member_of(key);
                       if (member != nullptr && !reply->is_error() && !reply->elements.empty() &&
                           reply->elements[0].text != member->name) {
                         // Its name was taken while its node was out: it has the one Redis gave it
                         // now.
                         member->name = reply->elements[0].text;
                         if (member->hello) send_to(*member, encode_nick(member->view()));
                       }
                       if (reply->is_error()) {
                         log(LogLevel::warn, "cluster: restoring a member failed: " + reply->text);
                       }
                       if (--*remaining == 0) become_ready(handshake);
                     });
    if (!sent) return;  // the link went down; all of this runs again when it is back
  }
}

void ClusterChatService::become_ready(std::uint64_t handshake) {
  if (handshake != handshake_ || !bus_.link_up()) return;
  // The flag before the reason goes: a reader that sees "not ready" always sees why.
  ready_.store(true, std::memory_order_release);
  {
    const std::lock_guard lock(reason_mutex_);
    not_ready_reason_.clear();
  }
  log(LogLevel::info, "cluster: node " + options_.node_id + " ready (" +
                          std::to_string(members_.size()) + " connection(s) here)");
  if (heartbeat_timer_ == 0) {
    heartbeat_timer_ = server_.set_timer(options_.heartbeat_ms, [this] { heartbeat(); });
  }
  // Rooms are read now that Redis holds this node's members: their baselines include them.
  for (auto& [name, room] : rooms_) {
    if (room->subscribed) start_sync(*room);
  }
}

void ClusterChatService::become_unready(const std::string& reason) {
  {
    const std::lock_guard lock(reason_mutex_);
    not_ready_reason_ = reason;
  }
  const bool was_ready = ready_.exchange(false, std::memory_order_acq_rel);
  if (heartbeat_timer_ != 0) server_.cancel_timer(heartbeat_timer_);
  heartbeat_timer_ = 0;
  for (auto& [name, room] : rooms_) {
    room->live = false;
    room->syncing = false;
    // Joins on their way are sent again once the room is live: Redis may or may not have
    // run them, and the restore makes it forget those it did.
    for (Member* member : room->joining) {
      member->join_sent = false;
      member->join_replied = false;
    }
  }
  if (was_ready) log(LogLevel::warn, "cluster: node " + options_.node_id + " not ready: " + reason);
}

void ClusterChatService::heartbeat() {
  heartbeat_timer_ = 0;
  if (!bus_.link_up()) return;
  const std::uint64_t handshake = handshake_;
  scripts_.run(Script::heartbeat,
               {prefix_, options_.node_id, token_, std::to_string(options_.dead_after_ms)},
               [this, handshake](const RedisReply* reply) {
                 if (handshake != handshake_ || reply == nullptr) return;
                 if (reply->is_error() || reply->elements.empty()) {
                   log(LogLevel::warn, "cluster: heartbeat failed: " + reply->text);
                 } else if (reply->elements[0].text == "REAPED") {
                   log(LogLevel::warn, "cluster: this node was taken for dead (no heartbeat for " +
                                           std::to_string(options_.dead_after_ms) +
                                           " ms); registering again");
                   register_node();
                   return;
                 } else if (reply->elements[0].text == "CONFLICT") {
                   log(LogLevel::error, "cluster: node id " + options_.node_id +
                                            " is used by another running process; give each "
                                            "node its own --node-id");
                   become_unready("node id " + options_.node_id + " used by another process");
                 } else {
                   for (std::size_t i = 1; i < reply->elements.size(); ++i) {
                     nodes_reaped_.fetch_add(1, std::memory_order_relaxed);
                     log(LogLevel::warn, "cluster: node " + reply->elements[i].text +
                                             " stopped answering; its members left every room");
                   }
                 }
                 if (heartbeat_timer_ == 0) {
                   heartbeat_timer_ =
                       server_.set_timer(options_.heartbeat_ms, [this] { heartbeat(); });
                 }
               });
}

void ClusterChatService::refill_ids() {
  // Above every id this node has seen handed out, even by a Redis that lost its counter.
  const bool sent = scripts_.run(
      Script::ids, {prefix_, std::to_string(IdPool::kBlock), std::to_string(ids_.high_water())},
      [this](const RedisReply* reply) {
        if (reply != nullptr && reply->type == RedisReply::Type::integer &&
            reply->integer >= static_cast<long long>(IdPool::kBlock)) {
          ids_.add_block(static_cast<std::uint64_t>(reply->integer));
          hand_out_ids();
        } else {
          ids_.refill_failed();
        }
      });
  if (!sent) ids_.refill_failed();
}

void ClusterChatService::store_lost(const std::string& why) {
  log(LogLevel::warn, "cluster: Redis refused a change (" + why + "); registering again");
  if (bus_.link_up()) register_node();
}

std::string ClusterChatService::not_ready_reason() const {
  if (ready()) return {};
  if (!bus_.link_up()) return "Redis unreachable: " + bus_.link_status();
  const std::lock_guard lock(reason_mutex_);
  return not_ready_reason_;
}

bool ClusterChatService::busy() const {
  // Members still here (their connections closing on other loops) and their goodbyes on the
  // way: a stop that waits for them leaves no ghosts for the other nodes to reap.
  return bus_.link_up() && (!members_.empty() || bus_.stats().commands_in_flight > 0);
}

std::string ClusterChatService::metrics_text() const {
  std::string text = hibiki::metrics_text(bus_.stats());
  append_metric(text, "hibiki_chat_cluster_ready", "gauge",
                "1 while this node is registered with Redis and serves, else 0.", ready() ? 1 : 0);
  append_metric(text, "hibiki_chat_rooms", "gauge", "Rooms with members on this node.",
                room_count_.load());
  append_metric(text, "hibiki_chat_history_gaps_total", "counter",
                "Rooms reset on clients (history_gap) after Redis lost data or a long outage.",
                history_gaps_.load());
  append_metric(text, "hibiki_chat_room_resyncs_total", "counter",
                "Room baselines read again after a reconnect or a gap in events.", resyncs_.load());
  append_metric(text, "hibiki_chat_nodes_reaped_total", "counter",
                "Dead nodes whose members this node took out of their rooms.",
                nodes_reaped_.load());
  append_metric(text, "hibiki_chat_store_data_losses_total", "counter",
                "Times Redis came back without its data (a changed epoch).", data_losses_.load());
  append_metric(text, "hibiki_chat_unavailable_total", "counter",
                "Requests and upgrades refused because Redis could not be reached.",
                unavailable_.load());
  return text;
}

}  // namespace hibiki::apps::chat
