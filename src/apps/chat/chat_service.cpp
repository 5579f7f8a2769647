// The chat's rooms, names, presence and history (see chat_service.hpp).
#include "apps/chat/chat_service.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include "apps/chat/chat_requests.hpp"
#include "apps/chat/chat_text.hpp"
#include "hibiki/log.hpp"

namespace hibiki::apps::chat {
ChatService::ChatService(Server& server, std::unique_ptr<store::HistoryStore> history,
                         ChatLimits limits)
    : server_(server), history_(std::move(history)), limits_(limits) {}

ChatService::~ChatService() = default;

void ChatService::on_open(WebSocket ws) {
  const std::lock_guard lock(mutex_);
  auto member = std::make_unique<Member>(Member{.ws = ws,
                                                .id = std::to_string(ws.id()),
                                                .name = {},
                                                .hello = false,
                                                .rooms = {},
                                                .bucket = TokenBucket(limits_.rate, steady_ms())});
  ws.set_user_data(member.get());
  // Every connection starts in the lobby, speaking the talk's JSON until it says hello.
  enter_room(*member, kLobby);
  members_.emplace(ws.id(), std::move(member));
}

void ChatService::on_close(WebSocket ws) {
  const std::lock_guard lock(mutex_);
  auto found = members_.find(ws.id());
  if (found == members_.end()) return;
  Member& member = *found->second;
  while (!member.rooms.empty())
    exit_room(member, *member.rooms.back());
  if (!member.name.empty()) names_.erase(fold_name(member.name));
  members_.erase(found);
}

void ChatService::on_message(WebSocket ws, std::string_view message, MessageKind kind) {
  const std::lock_guard lock(mutex_);
  auto* member = static_cast<Member*>(ws.user_data());
  if (member == nullptr) return;
  auto screened =
      screen_request(member->bucket, limits_, parser_, message, kind, member->hello, steady_ms());
  if (const auto* refusal = std::get_if<Refusal>(&screened)) {
    reply_error(*member, refusal->error, refusal->detail, refusal->detailed);
    return;
  }
  const ClientMessage& request = std::get<ClientMessage>(screened);
  switch (request.action) {
    case ChatAction::message:
      on_chat(*member, request);
      break;
    case ChatAction::hello:
      on_hello(*member, request);
      break;
    case ChatAction::join:
      on_join(*member, request);
      break;
    case ChatAction::leave:
      on_leave(*member, request);
      break;
    case ChatAction::nick:
      on_nick(*member, request);
      break;
    case ChatAction::history:
      on_history(*member, request);
      break;
  }
}

void ChatService::on_hello(Member& member, const ClientMessage& request) {
  // The name first, while a first-time client still listens on the talk's topics: its own
  // presence "nick" would only repeat what the welcome says.
  if (!request.name.empty()) assign_name(member, request.name);
  const bool first = !member.hello;
  if (first) {
    member.hello = true;
    for (Room* room : member.rooms) {
      member.ws.unsubscribe(room->talk_topic);
      member.ws.subscribe(room->topic);
      --room->talk_members;
    }
  }
  const std::string_view current =
      member.rooms.empty() ? std::string_view() : std::string_view(member.rooms.back()->name);
  member.ws.send(encode_welcome(member.view(), current, limits_));
  if (!first) return;
  // Until now the client heard only the talk's JSON: give it the state of its rooms (the
  // lobby), resuming after `since` when it is reconnecting.
  for (Room* room : member.rooms)
    send_room_state(member, *room, request.since);
}

void ChatService::on_join(Member& member, const ClientMessage& request) {
  Room* room = joined_room(member, request.room);
  if (room != nullptr) {
    // Already in: make it current and resend its state (a client resyncing after a gap).
    std::erase(member.rooms, room);
    member.rooms.push_back(room);
  } else {
    if (member.rooms.size() >= limits_.max_rooms) {
      reply_error(member, ChatError::too_many_rooms,
                  {.action = "join", .room = request.room, .max = limits_.max_rooms});
      return;
    }
    room = &enter_room(member, request.room);
  }
  send_room_state(member, *room, request.since);
}

void ChatService::on_leave(Member& member, const ClientMessage& request) {
  Room* room = joined_room(member, request.room);
  if (room == nullptr) {
    reply_error(member, ChatError::not_in_room, {.action = "leave", .room = request.room});
    return;
  }
  exit_room(member, *room);
  member.ws.send(encode_left(request.room));
}

void ChatService::on_nick(Member& member, const ClientMessage& request) {
  assign_name(member, request.name);
  member.ws.send(encode_nick(member.view()));
}

void ChatService::on_chat(Member& member, const ClientMessage& request) {
  auto target = room_for_message(member.rooms, request.room);
  if (const auto* refusal = std::get_if<Refusal>(&target)) {
    reply_error(member, refusal->error, refusal->detail);
    return;
  }
  Room* room = std::get<Room*>(target);
  if (auto refusal = check_text(request.text, room->name, limits_)) {
    reply_error(member, refusal->error, refusal->detail);
    return;
  }
  const std::int64_t ts = wall_ms();
  // Stored (and committed) before anyone hears of it: what was broadcast survives a crash.
  const std::uint64_t id = history_->append({.room = room->name,
                                             .from_id = member.id,
                                             .from_name = member.name,
                                             .text = request.text,
                                             .ts_ms = ts});
  if (id == 0) {
    log(LogLevel::warn,
        "chat: storing a message in room " + room->name + " failed: " + history_->last_error());
    reply_error(member, ChatError::store_failed, {.action = "message", .room = room->name});
    return;
  }
  if (room->members.size() > room->talk_members) {
    server_.publish(room->topic, encode_message({.room = room->name,
                                                 .id = id,
                                                 .from = member.view(),
                                                 .text = request.text,
                                                 .ts_ms = ts}));
  }
  if (room->talk_members > 0) {
    const std::string_view label = member.name.empty() ? member.id : member.name;
    server_.publish(room->talk_topic, encode_talk_message(label, request.text));
  }
}

void ChatService::on_history(Member& member, const ClientMessage& request) {
  Room* room = joined_room(member, request.room);
  if (room == nullptr) {
    reply_error(member, ChatError::not_in_room, {.action = "history", .room = request.room});
    return;
  }
  const std::optional<std::uint64_t> latest = history_->latest_id(room->name);
  if (!latest) {
    reply_error(member, ChatError::store_failed, {.action = "history", .room = room->name});
    return;
  }
  send_history(member, *room, *latest, request.before);
}

ChatService::Room& ChatService::enter_room(Member& member, std::string_view name) {
  auto found = rooms_.find(std::string(name));
  if (found == rooms_.end()) {
    auto room = std::make_unique<Room>();
    room->name = name;
    room->topic = "room/" + room->name;
    room->talk_topic = "talk/" + room->name;
    found = rooms_.emplace(room->name, std::move(room)).first;
  }
  Room& room = *found->second;
  room.members.push_back(&member);
  member.rooms.push_back(&room);
  if (!member.hello) ++room.talk_members;
  // Announced before the newcomer subscribes: it learns of itself from `joined` instead.
  publish_presence(room, PresenceEvent::join, member);
  member.ws.subscribe(member.hello ? room.topic : room.talk_topic);
  return room;
}

void ChatService::exit_room(Member& member, Room& room) {
  if (member.hello) {
    member.ws.unsubscribe(room.topic);
  } else {
    member.ws.unsubscribe(room.talk_topic);
    --room.talk_members;
  }
  std::erase(room.members, &member);
  std::erase(member.rooms, &room);
  publish_presence(room, PresenceEvent::leave, member);
  if (room.members.empty()) rooms_.erase(rooms_.find(room.name));  // `room` is gone now
}

void ChatService::send_room_state(Member& member, const Room& room,
                                  std::optional<std::uint64_t> since) {
  std::vector<MemberView> members;
  members.reserve(room.members.size());
  for (const Member* other : room.members)
    members.push_back(other->view());
  member.ws.send(encode_joined(room.name, members));

  const std::optional<std::uint64_t> latest = history_->latest_id(room.name);
  if (!latest) {
    reply_error(member, ChatError::store_failed, {.action = "join", .room = room.name});
    return;
  }
  if (since) {
    // Exactly what was missed, or a clear gap: more than we send, or a history that no longer
    // goes as far as the client has seen (the database was replaced).
    if (*since <= *latest && history_->after(room.name, *since, limits_.history + 1, rows_) &&
        rows_.size() <= limits_.history) {
      scratch_.clear();
      for (const auto& row : rows_) {
        if (!scratch_.empty()) scratch_ += ',';
        append_message(scratch_, view_of(room.name, row));
      }
      member.ws.send(encode_history(room.name, scratch_, *latest, 0));
      return;
    }
    reply_error(member, ChatError::history_gap,
                {.action = "join",
                 .room = room.name,
                 .max = limits_.history,
                 .has_since = true,
                 .since = *since,
                 .latest = *latest});
  }
  send_history(member, room, *latest, 0);
}

void ChatService::send_history(Member& member, const Room& room, std::uint64_t latest,
                               std::uint64_t before) {
  if (!history_->latest(room.name, limits_.history, before, rows_)) {
    reply_error(member, ChatError::store_failed, {.room = room.name});
    return;
  }
  scratch_.clear();
  for (const auto& row : rows_) {
    if (!scratch_.empty()) scratch_ += ',';
    append_message(scratch_, view_of(room.name, row));
  }
  member.ws.send(encode_history(room.name, scratch_, latest, before));
}

void ChatService::assign_name(Member& member, std::string_view requested) {
  // Names are unique on the server (so in every room); a taken one gets "-2", "-3", …
  std::string candidate(requested);
  for (std::size_t n = 2;; ++n) {
    auto owner = names_.find(fold_name(candidate));
    if (owner == names_.end() || owner->second == &member) break;
    candidate = name_candidate(requested, n);
  }
  if (candidate == member.name) return;
  std::string previous = std::move(member.name);
  if (!previous.empty()) names_.erase(fold_name(previous));
  member.name = std::move(candidate);
  names_.emplace(fold_name(member.name), &member);
  for (const Room* room : member.rooms) {
    publish_presence(*room, PresenceEvent::nick, member, previous);
  }
}

void ChatService::publish_presence(const Room& room, PresenceEvent event, const Member& member,
                                   std::string_view previous_name) {
  // Only clients that said hello hear presence; skip the encoding when there are none. A
  // newcomer is counted in the room but subscribes only after its announcement.
  std::size_t listeners = room.members.size() - room.talk_members;
  if (event == PresenceEvent::join && member.hello) --listeners;
  if (listeners == 0) return;
  server_.publish(room.topic, encode_presence(room.name, event, member.view(), room.members.size(),
                                              previous_name));
}

ChatService::Room* ChatService::joined_room(Member& member, std::string_view name) {
  auto found = std::find_if(member.rooms.begin(), member.rooms.end(),
                            [name](const Room* room) { return room->name == name; });
  return found == member.rooms.end() ? nullptr : *found;
}

void ChatService::reply_error(const Member& member, ChatError error, ErrorDetail detail,
                              bool detailed) {
  // The talk's clients get the talk's shape; clients that said hello get the details.
  member.ws.send(member.hello || detailed ? encode_error(error, detail) : encode_error(error));
}

}  // namespace hibiki::apps::chat
