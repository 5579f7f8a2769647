// The clustered chat's rooms on one node: subscribing to a room's channel while local members
// are in it, reading its baseline, applying its events in order, completing joins at the
// right event, and what local members are sent (see cluster_chat.hpp).
#include <algorithm>
#include <utility>

#include "apps/chat/chat_text.hpp"
#include "apps/chat/cluster_chat.hpp"
#include "hibiki/log.hpp"

namespace hibiki::apps::chat {
ClusterChatService::Room& ClusterChatService::room_named(const std::string& name) {
  auto found = rooms_.find(name);
  if (found != rooms_.end()) return *found->second;
  auto room = std::make_unique<Room>(name, prefix_ + ":room:" + name, options_.limits.history);
  Room& made = *room;
  rooms_.emplace(name, std::move(room));
  room_count_.store(rooms_.size());
  // One subscription per room per node, held while local members are in it.
  bus_.subscribe_channel(
      made.channel,
      {.on_message = [this, name](std::string_view payload) { on_room_event(name, payload); },
       .on_state = [this, name](bool subscribed) { on_channel_state(name, subscribed); }});
  return made;
}

void ClusterChatService::drop_room_if_unused(const std::string& name) {
  auto found = rooms_.find(name);
  if (found == rooms_.end()) return;
  const Room& room = *found->second;
  // The lobby stays: every connection starts there, and a talk client must hear the room from
  // the moment it connects, as on a single node, not from when a subscription is confirmed.
  if (!room.members.empty() || !room.joining.empty() || room.name == kLobby) return;
  bus_.unsubscribe_channel(room.channel);
  rooms_.erase(found);
  room_count_.store(rooms_.size());
}

// --- joining -----------------------------------------------------------------------------

void ClusterChatService::begin_join(Member& member, const std::string& room_name,
                                    std::optional<std::uint64_t> since, bool silent) {
  Room& room = room_named(room_name);
  member.busy = true;
  member.joining = &room;
  member.join_sent = false;
  member.join_replied = false;
  member.join_silent = silent;
  member.join_ev = 0;
  member.join_since = since;
  room.joining.push_back(&member);
  // Otherwise it is sent once the room is live on this node (finish_sync).
  if (room.live) send_join(member);
}

void ClusterChatService::send_join(Member& member) {
  Room& room = *member.joining;
  member.join_sent = true;
  const std::uint64_t connection = member.connection;
  const std::string room_name = room.name;
  const bool sent = scripts_.run(
      Script::join, {prefix_, epoch_, options_.node_id, room_name, member.id, member.name},
      [this, connection, room_name](const RedisReply* reply) {
        Member* joiner = member_of(connection);
        if (joiner == nullptr || joiner->joining == nullptr || joiner->joining->name != room_name ||
            !joiner->join_sent) {
          return;
        }
        if (reply == nullptr) return;  // the link failed: sent again once it is back
        if (reply->is_error() || reply->elements.size() < 2) {
          if (reply->is_error() && reply->text.starts_with("EPOCH")) {
            // Sent again after the node registered with the Redis that lost its data.
            joiner->join_sent = false;
            store_lost(reply->text);
            return;
          }
          log(LogLevel::warn, "chat: joining room " + room_name + " failed: " + reply->text);
          fail_join(*joiner, ChatError::store_failed);
          return;
        }
        // Complete when this node has applied the join's event (or, when the member was in
        // already, the event the room stood at): from then on the mirror includes it.
        joiner->join_ev = static_cast<std::uint64_t>(reply->elements[1].integer);
        joiner->join_replied = true;
        complete_joins(*joiner->joining);
      });
  if (!sent) member.join_sent = false;  // the link is down: sent again once it is back
}

void ClusterChatService::complete_joins(Room& room) {
  const std::vector<Member*> waiting = room.joining;
  for (Member* member : waiting) {
    if (member->join_replied && room.live && room.mirror.ev() >= member->join_ev) {
      complete_join(*member);
    }
  }
}

void ClusterChatService::complete_join(Member& member) {
  Room& room = *member.joining;
  std::erase(room.joining, &member);
  member.joining = nullptr;
  room.members.push_back(&member);
  member.rooms.push_back(&room);
  if (member.hello) {
    // Its state as of this event, then the live messages after it: the subscription is
    // handed to the member's loop after the frames, and after every broadcast made so far.
    send_room_state(member, room, member.join_since);
    set_topic(member, room.topic, true);
  } else {
    ++room.talk_members;  // on the talk's topic since its join began
  }
  done(member);
}

void ClusterChatService::fail_join(Member& member, ChatError error) {
  Room& room = *member.joining;
  const std::string room_name = room.name;
  std::erase(room.joining, &member);
  member.joining = nullptr;
  if (!member.hello) {
    set_topic(member, room.talk_topic, false);
    --room.talk_listeners;
  }
  reply_error(member, error, {.action = "join", .room = room_name});
  drop_room_if_unused(room_name);
  done(member);
}

void ClusterChatService::exit_room(Member& member, Room& room) {
  if (member.hello) {
    set_topic(member, room.topic, false);
  } else {
    set_topic(member, room.talk_topic, false);
    --room.talk_members;
    --room.talk_listeners;
  }
  std::erase(room.members, &member);
  std::erase(member.rooms, &room);
}

// --- the room's channel ------------------------------------------------------------------

void ClusterChatService::on_channel_state(const std::string& room_name, bool subscribed) {
  auto found = rooms_.find(room_name);
  if (found == rooms_.end()) return;
  Room& room = *found->second;
  room.subscribed = subscribed;
  if (!subscribed) {
    // Events may be missed until the subscription is back; the baseline read then tells.
    room.live = false;
    room.syncing = false;
    return;
  }
  if (ready()) start_sync(room);
}

void ClusterChatService::on_room_event(const std::string& room_name, std::string_view payload) {
  auto found = rooms_.find(room_name);
  if (found == rooms_.end()) return;
  Room& room = *found->second;
  std::optional<RoomEvent> event = parse_room_event(payload);
  if (!event) {
    log(LogLevel::warn, "chat: ignoring a malformed event on " + room.channel);
    return;
  }
  if (room.live) {
    process_event(room, std::move(*event));
  } else if (room.syncing) {
    // Applied after the baseline on its way. A buffer that overflows is emptied: the next
    // event then shows a gap, and the room is read again.
    room.mirror.buffer(std::move(*event));
  }
}

void ClusterChatService::process_event(Room& room, RoomEvent event) {
  switch (room.mirror.order_of(event.ev)) {
    case RoomMirror::Order::old:
      return;  // in the baseline already
    case RoomMirror::Order::gap:
      // Events were missed (a subscription that dropped): read the room again.
      room.live = false;
      start_sync(room);
      room.mirror.buffer(std::move(event));
      return;
    case RoomMirror::Order::next:
      break;
  }
  const bool changed = room.mirror.apply(event);
  switch (event.kind) {
    case RoomEvent::Kind::message:
      deliver(room, {.id = event.id,
                     .ts_ms = event.ts_ms,
                     .from_id = event.member,
                     .from_name = event.name,
                     .text = event.text});
      break;
    case RoomEvent::Kind::join:
      // A local member joining is not subscribed yet: it learns of itself from `joined`.
      if (changed) publish_presence(room, PresenceEvent::join, {event.member, event.name});
      break;
    case RoomEvent::Kind::leave:
      if (changed) publish_presence(room, PresenceEvent::leave, {event.member, event.name});
      break;
    case RoomEvent::Kind::nick:
      if (changed) {
        publish_presence(room, PresenceEvent::nick, {event.member, event.name}, event.previous);
      }
      break;
  }
  complete_joins(room);
}

void ClusterChatService::start_sync(Room& room) {
  if (room.syncing) return;
  room.syncing = true;
  room.live = false;
  if (room.mirror.synced()) resyncs_.fetch_add(1, std::memory_order_relaxed);
  const std::string room_name = room.name;
  const bool sent =
      scripts_.run(Script::sync,
                   {prefix_, room_name, std::to_string(options_.limits.history),
                    std::to_string(room.mirror.latest_id()), std::to_string(room.mirror.ev())},
                   [this, room_name](const RedisReply* reply) { finish_sync(room_name, reply); });
  if (!sent) room.syncing = false;  // the link is down: read again once it is back
}

void ClusterChatService::finish_sync(const std::string& room_name, const RedisReply* reply) {
  auto found = rooms_.find(room_name);
  if (found == rooms_.end()) return;
  Room& room = *found->second;
  if (!room.syncing) return;  // the link dropped meanwhile; a new read follows
  room.syncing = false;
  if (reply == nullptr) return;
  if (reply->is_error() || reply->elements.size() < 6) {
    // Redis refused (out of memory, say): try again shortly rather than leave the room stale.
    log(LogLevel::warn,
        "chat: reading room " + room_name + " failed: " + reply->text + "; retrying in 1 s");
    server_.set_timer(1000, [this, room_name] {
      auto again = rooms_.find(room_name);
      if (again != rooms_.end() && ready() && again->second->subscribed && !again->second->live) {
        start_sync(*again->second);
      }
    });
    return;
  }
  const auto& parts = reply->elements;
  RoomMirror::Baseline baseline{.ev = static_cast<std::uint64_t>(parts[0].integer),
                                .latest_id = static_cast<std::uint64_t>(parts[1].integer)};
  const bool raised = parts[2].integer != 0;
  for (auto entry = parts[3].elements.rbegin(); entry != parts[3].elements.rend(); ++entry) {
    if (auto message = parse_stored_message(*entry)) baseline.recent.push_back(*message);
  }
  for (std::size_t i = 0; i < parts[4].elements.size(); ++i) {
    baseline.members.push_back(
        {parts[4].elements[i].text, i < parts[5].elements.size() ? parts[5].elements[i].text : ""});
  }
  const std::uint64_t shown_latest = room.mirror.latest_id();
  const RoomMirror::Changes changes =
      room.mirror.reset(std::move(baseline), room.history_lost || raised);
  room.history_lost = false;

  if (changes.gap) {
    // What clients show can no longer be resumed exactly: they reset the room from here.
    history_gaps_.fetch_add(1, std::memory_order_relaxed);
    for (Member* member : room.members) {
      if (!member->hello) continue;
      reply_error(*member, ChatError::history_gap,
                  {.room = room.name,
                   .max = options_.limits.history,
                   .has_since = true,
                   .since = shown_latest,
                   .latest = room.mirror.latest_id()});
      send_latest(*member, room, 0);
    }
  } else {
    for (const store::HistoryMessage& message : changes.missed)
      deliver(room, message);
  }
  for (const MirrorMember& joined : changes.joined) {
    if (!is_local(room, joined.id)) publish_presence(room, PresenceEvent::join, joined);
  }
  for (const MirrorMember& left : changes.left) {
    if (!is_local(room, left.id)) publish_presence(room, PresenceEvent::leave, left);
  }
  for (const auto& [renamed, previous] : changes.renamed)
    publish_presence(room, PresenceEvent::nick, renamed, previous);

  room.live = true;
  for (RoomEvent& event : room.mirror.take_buffered()) {
    if (room.live) {
      process_event(room, std::move(event));
    } else if (room.syncing) {
      room.mirror.buffer(std::move(event));
    }
  }
  if (!room.live) return;
  const std::vector<Member*> waiting = room.joining;
  for (Member* member : waiting) {
    if (!member->join_sent) send_join(*member);
  }
  complete_joins(room);
}

// --- what members are sent ---------------------------------------------------------------

void ClusterChatService::send_room_state(Member& member, const Room& room,
                                         std::optional<std::uint64_t> since) {
  std::vector<MemberView> members;
  members.reserve(room.mirror.members().size());
  for (const MirrorMember& other : room.mirror.members())
    members.push_back({other.id, other.name});
  send_to(member, encode_joined(room.name, members));
  if (since) {
    // Exactly what was missed, or a clear gap: more than the node keeps, or a history that no
    // longer goes as far as the client has seen.
    if (const auto missed = room.mirror.after(*since)) {
      scratch_.clear();
      for (const store::HistoryMessage* message : *missed) {
        if (!scratch_.empty()) scratch_ += ',';
        append_message(scratch_, view_of(room.name, *message));
      }
      send_to(member, encode_history(room.name, scratch_, room.mirror.latest_id(), 0));
      return;
    }
    reply_error(member, ChatError::history_gap,
                {.action = "join",
                 .room = room.name,
                 .max = options_.limits.history,
                 .has_since = true,
                 .since = *since,
                 .latest = room.mirror.latest_id()});
  }
  send_latest(member, room, 0);
}

void ClusterChatService::send_latest(Member& member, const Room& room, std::uint64_t before) {
  scratch_.clear();
  for (const store::HistoryMessage& message : room.mirror.recent()) {
    if (!scratch_.empty()) scratch_ += ',';
    append_message(scratch_, view_of(room.name, message));
  }
  send_to(member, encode_history(room.name, scratch_, room.mirror.latest_id(), before));
}

void ClusterChatService::deliver(const Room& room, const store::HistoryMessage& message) {
  if (room.members.size() > room.talk_members) {
    server_.publish(room.topic, encode_message(view_of(room.name, message)));
  }
  if (room.talk_listeners > 0) {
    const std::string_view label = message.from_name.empty() ? std::string_view(message.from_id)
                                                             : std::string_view(message.from_name);
    server_.publish(room.talk_topic, encode_talk_message(label, message.text));
  }
}

void ClusterChatService::publish_presence(const Room& room, PresenceEvent event,
                                          const MirrorMember& member,
                                          std::string_view previous_name) {
  // Only clients that said hello hear presence; skip the encoding when there are none here.
  if (room.members.size() == room.talk_members) return;
  server_.publish(room.topic, encode_presence(room.name, event, {member.id, member.name},
                                              room.mirror.members().size(), previous_name));
}

bool ClusterChatService::is_local(const Room& room, std::string_view member_id) const {
  return std::any_of(room.members.begin(), room.members.end(),
                     [member_id](const Member* member) { return member->id == member_id; });
}

}  // namespace hibiki::apps::chat
