// The clustered chat's requests: connections opening and closing, and what clients ask for,
// one request at a time per connection (see cluster_chat.hpp).
#include "apps/chat/cluster_chat.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include "apps/chat/chat_requests.hpp"
#include "apps/chat/chat_text.hpp"
#include "hibiki/log.hpp"

namespace hibiki::apps::chat {
namespace {

// Requests a connection may have waiting behind one that waits for Redis; the rate limit keeps
// honest clients far below it.
constexpr std::size_t kMaxQueuedRequests = 64;
// Names tried per round trip when the one asked for is taken.
constexpr std::size_t kNameCandidatesPerTry = 32;

}  // namespace

ClusterChatService::Room::Room(std::string room_name, std::string channel_name, std::size_t keep)
    : name(std::move(room_name)),
      topic("room/" + name),
      talk_topic("talk/" + name),
      channel(std::move(channel_name)),
      mirror(keep) {}

ClusterChatService::ClusterChatService(Server& server, ClusterBus& bus, ClusterChatOptions options)
    : server_(server),
      bus_(bus),
      options_(std::move(options)),
      prefix_(options_.prefix + ":chat"),
      token_(random_decimal()),
      scripts_(bus) {
  bus_.on_link_change([this](bool up) { on_link(up); });
  room_named(std::string(kLobby));  // subscribed for as long as the node runs
}

ClusterChatService::~ClusterChatService() = default;

// --- handlers, on any loop --------------------------------------------------------------

void ClusterChatService::on_upgrade(PendingUpgrade upgrade) {
  // While this node cannot reach Redis it can neither name a new member nor show it anything:
  // a load balancer's next try (or the page's reconnect) should land elsewhere.
  if (!ready()) {
    unavailable_.fetch_add(1, std::memory_order_relaxed);
    upgrade.reject(503, "cluster unavailable: " + not_ready_reason() + "\n",
                   {{"Retry-After", "3"}});
    return;
  }
  upgrade.accept();
}

void ClusterChatService::on_open(WebSocket ws) {
  const std::uint64_t connection = ws.id();
  server_.dispatch([this, ws, connection] { opened(ws, connection); });
}

void ClusterChatService::on_message(WebSocket ws, std::string_view message, MessageKind kind) {
  const std::uint64_t connection = ws.id();
  const bool queued = server_.dispatch(
      [this, connection, text = std::string(message), kind] { received(connection, text, kind); });
  if (!queued) ws.send(encode_error(ChatError::unavailable));
}

void ClusterChatService::on_close(WebSocket ws) {
  const std::uint64_t connection = ws.id();
  server_.dispatch([this, connection] { closed(connection); });
}

// --- on loop 0 --------------------------------------------------------------------------

void ClusterChatService::opened(WebSocket ws, std::uint64_t connection) {
  auto member =
      std::make_unique<Member>(Member{.ws = ws,
                                      .connection = connection,
                                      .id = {},
                                      .name = {},
                                      .hello = false,
                                      .rooms = {},
                                      .bucket = TokenBucket(options_.limits.rate, steady_ms())});
  Member& opened = *member;
  members_.emplace(connection, std::move(member));
  // Everyone starts in the lobby, speaking the talk's JSON until it says hello, and hears the
  // lobby from now on, as on a single node, even before its join is through.
  Room& lobby = room_named(std::string(kLobby));
  set_topic(opened, lobby.talk_topic, true);
  ++lobby.talk_listeners;
  // Its requests wait until it has an id and is in the lobby.
  opened.busy = true;
  awaiting_id_.push_back(connection);
  hand_out_ids();
}

void ClusterChatService::hand_out_ids() {
  // A burst of connections may use up the ids at hand before the next block arrives: they
  // wait for it (a round trip) rather than being turned away.
  while (!awaiting_id_.empty()) {
    Member* member = member_of(awaiting_id_.front());
    if (member == nullptr) {
      awaiting_id_.pop_front();
      continue;
    }
    const std::optional<std::uint64_t> id = ids_.take();
    if (!id) break;
    awaiting_id_.pop_front();
    member->id = std::to_string(*id);
    begin_join(*member, std::string(kLobby), std::nullopt, /*silent=*/true);
  }
  if (ids_.wants_block()) refill_ids();
}

void ClusterChatService::closed(std::uint64_t connection) {
  auto found = members_.find(connection);
  if (found == members_.end()) return;
  Member& member = *found->second;
  if (member.id.empty()) {
    // Still waiting for its id: only listening to the lobby.
    --room_named(std::string(kLobby)).talk_listeners;
    members_.erase(found);
    return;
  }
  std::vector<std::string> touched;
  for (Room* room : member.rooms) {
    std::erase(room->members, &member);
    if (!member.hello) {
      --room->talk_members;
      --room->talk_listeners;
    }
    touched.push_back(room->name);
  }
  if (member.joining != nullptr) {
    std::erase(member.joining->joining, &member);
    if (!member.hello) --member.joining->talk_listeners;
    touched.push_back(member.joining->name);
  }
  // Out of every room on every node, its name freed: one script, with leave events.
  if (ready()) scripts_.run(Script::bye, {prefix_, options_.node_id, member.id}, {});
  members_.erase(found);
  for (const std::string& room : touched)
    drop_room_if_unused(room);
}

void ClusterChatService::received(std::uint64_t connection, const std::string& message,
                                  MessageKind kind) {
  Member* member = member_of(connection);
  if (member == nullptr) return;
  auto screened = screen_request(member->bucket, options_.limits, parser_, message, kind,
                                 member->hello, steady_ms());
  if (const auto* refusal = std::get_if<Refusal>(&screened)) {
    reply_error(*member, refusal->error, refusal->detail, refusal->detailed);
    return;
  }
  if (member->queue.size() >= kMaxQueuedRequests) {
    reply_error(*member, ChatError::rate_limited, {.retry_ms = 1000});
    return;
  }
  member->queue.push_back(std::move(std::get<ClientMessage>(screened)));
  process_queue(*member);
}

void ClusterChatService::process_queue(Member& member) {
  // A request that waits for Redis holds the ones behind it: answers keep the order asked.
  while (!member.busy && !member.queue.empty()) {
    const ClientMessage request = std::move(member.queue.front());
    member.queue.pop_front();
    handle(member, request);
  }
}

void ClusterChatService::done(Member& member) {
  member.busy = false;
  process_queue(member);
}

void ClusterChatService::handle(Member& member, const ClientMessage& request) {
  switch (request.action) {
    case ChatAction::message:
      on_chat(member, request);
      break;
    case ChatAction::hello:
      on_hello(member, request);
      break;
    case ChatAction::join:
      on_join(member, request);
      break;
    case ChatAction::leave:
      on_leave(member, request);
      break;
    case ChatAction::nick:
      on_nick(member, request);
      break;
    case ChatAction::history:
      on_history(member, request);
      break;
  }
}

void ClusterChatService::on_hello(Member& member, const ClientMessage& request) {
  if (request.name.empty() || request.name == member.name) {
    finish_hello(member, request);
    return;
  }
  // The name first, while a first-time client still listens on the talk's topics: its own
  // presence "nick" would only repeat what the welcome says.
  member.busy = true;
  rename(member, request.name, 1, [this, request](Member& renamed, bool) {
    finish_hello(renamed, request);
    done(renamed);
  });
}

void ClusterChatService::finish_hello(Member& member, const ClientMessage& request) {
  const bool first = !member.hello;
  if (first) {
    member.hello = true;
    for (Room* room : member.rooms) {
      set_topic(member, room->talk_topic, false);
      set_topic(member, room->topic, true);
      --room->talk_members;
      --room->talk_listeners;
    }
  }
  const std::string_view current =
      member.rooms.empty() ? std::string_view() : std::string_view(member.rooms.back()->name);
  send_to(member, encode_welcome(member.view(), current, options_.limits));
  if (!first) return;
  for (Room* room : member.rooms)
    send_room_state(member, *room, request.since);
}

void ClusterChatService::on_join(Member& member, const ClientMessage& request) {
  if (Room* room = joined_room(member, request.room)) {
    // Already in: make it current and send its state again (a client resynchronising).
    std::erase(member.rooms, room);
    member.rooms.push_back(room);
    if (!room->live) {
      reply_error(member, ChatError::unavailable, {.action = "join", .room = room->name});
      return;
    }
    send_room_state(member, *room, request.since);
    return;
  }
  if (member.rooms.size() >= options_.limits.max_rooms) {
    reply_error(member, ChatError::too_many_rooms,
                {.action = "join", .room = request.room, .max = options_.limits.max_rooms});
    return;
  }
  if (!ready()) {
    reply_error(member, ChatError::unavailable, {.action = "join", .room = request.room});
    return;
  }
  begin_join(member, request.room, request.since, /*silent=*/false);
}

void ClusterChatService::on_leave(Member& member, const ClientMessage& request) {
  Room* room = joined_room(member, request.room);
  if (room == nullptr) {
    reply_error(member, ChatError::not_in_room, {.action = "leave", .room = request.room});
    return;
  }
  const std::string name = room->name;
  exit_room(member, *room);
  send_to(member, encode_left(name));
  // Redis follows; while it cannot be reached, the node's word stands and is restored later.
  if (ready()) scripts_.run(Script::leave, {prefix_, name, member.id, member.name}, {});
  drop_room_if_unused(name);
}

void ClusterChatService::on_nick(Member& member, const ClientMessage& request) {
  if (request.name == member.name) {
    send_to(member, encode_nick(member.view()));
    return;
  }
  if (!ready()) {
    reply_error(member, ChatError::unavailable, {.action = "nick"});
    return;
  }
  member.busy = true;
  rename(member, request.name, 1, [this](Member& renamed, bool ok) {
    if (ok) {
      send_to(renamed, encode_nick(renamed.view()));
    } else {
      reply_error(renamed, ChatError::unavailable, {.action = "nick"});
    }
    done(renamed);
  });
}

void ClusterChatService::rename(Member& member, const std::string& requested,
                                std::size_t first_suffix,
                                std::function<void(Member&, bool ok)> then) {
  // Candidates in the order the single node tries them: the name, then -2, -3 …
  std::vector<std::string> arguments{prefix_, epoch_, options_.node_id, member.id};
  for (std::size_t n = first_suffix; n < first_suffix + kNameCandidatesPerTry; ++n) {
    std::string candidate = name_candidate(requested, n);  // n = 1: the name itself
    std::string fold = fold_name(candidate);
    arguments.push_back(std::move(candidate));
    arguments.push_back(std::move(fold));
  }
  const std::uint64_t connection = member.connection;
  const bool sent = scripts_.run(
      Script::rename, std::move(arguments),
      [this, connection, requested, first_suffix, then](const RedisReply* reply) {
        Member* renamed = member_of(connection);
        if (renamed == nullptr) return;
        if (reply == nullptr || reply->is_error() || reply->elements.empty()) {
          unavailable_.fetch_add(1, std::memory_order_relaxed);
          if (reply != nullptr && reply->is_error() && reply->text.starts_with("EPOCH")) {
            store_lost(reply->text);
          }
          then(*renamed, false);
          return;
        }
        if (reply->elements[0].integer == 0) {
          // Every candidate of this round is taken: the next round.
          rename(*renamed, requested, first_suffix + kNameCandidatesPerTry, then);
          return;
        }
        const std::string previous = renamed->name;
        renamed->name = reply->elements.size() > 1 ? reply->elements[1].text : std::string();
        // Shown here at once, the rename's events then change nothing on this node. A client
        // finishing its first hello is still on the talk's topics and so does not hear it.
        for (Room* room : renamed->rooms) {
          if (room->mirror.rename(renamed->id, renamed->name)) {
            publish_presence(*room, PresenceEvent::nick, {renamed->id, renamed->name}, previous);
          }
        }
        then(*renamed, true);
      });
  if (!sent) {
    unavailable_.fetch_add(1, std::memory_order_relaxed);
    then(member, false);
  }
}

void ClusterChatService::on_chat(Member& member, const ClientMessage& request) {
  auto target = room_for_message(member.rooms, request.room);
  if (const auto* refusal = std::get_if<Refusal>(&target)) {
    reply_error(member, refusal->error, refusal->detail);
    return;
  }
  Room* room = std::get<Room*>(target);
  if (auto refusal = check_text(request.text, room->name, options_.limits)) {
    reply_error(member, refusal->error, refusal->detail);
    return;
  }
  // Stored, numbered and published by Redis in one step; the sender sees its message come
  // back like everyone else. Nothing is shown that Redis has not stored.
  const std::string room_name = room->name;
  const std::uint64_t connection = member.connection;
  auto refused = [this, room_name](const Member& sender, const RedisReply* reply) {
    unavailable_.fetch_add(1, std::memory_order_relaxed);
    reply_error(sender, ChatError::unavailable, {.action = "message", .room = room_name});
    if (reply != nullptr && reply->is_error() && reply->text.starts_with("EPOCH")) {
      store_lost(reply->text);
    }
  };
  if (!ready()) {
    refused(member, nullptr);
    return;
  }
  const bool sent = scripts_.run(
      Script::send,
      {prefix_, epoch_, room_name, member.id, member.name, request.text,
       std::to_string(options_.keep_history)},
      [this, connection, room_name, refused](const RedisReply* reply) {
        if (reply != nullptr && !reply->is_error()) return;  // it comes back on the channel
        const Member* sender = member_of(connection);
        if (sender == nullptr) return;
        if (reply != nullptr && !reply->text.starts_with("EPOCH")) {
          log(LogLevel::warn,
              "chat: storing a message in room " + room_name + " failed: " + reply->text);
          reply_error(*sender, ChatError::store_failed, {.action = "message", .room = room_name});
          return;
        }
        // No answer: the link failed first. The message may have been stored; if so it comes
        // to everyone (the sender too) once the node has resynchronised.
        refused(*sender, reply);
      });
  if (!sent) refused(member, nullptr);
}

void ClusterChatService::on_history(Member& member, const ClientMessage& request) {
  Room* room = joined_room(member, request.room);
  if (room == nullptr) {
    reply_error(member, ChatError::not_in_room, {.action = "history", .room = request.room});
    return;
  }
  if (request.before == 0) {
    send_latest(member, *room, 0);
    return;
  }
  // Older than the mirror holds: from the room's stream in Redis.
  const std::string room_name = room->name;
  const std::uint64_t connection = member.connection;
  const std::uint64_t before = request.before;
  auto failed = [this, room_name](Member& asker) {
    unavailable_.fetch_add(1, std::memory_order_relaxed);
    reply_error(asker, ChatError::unavailable, {.action = "history", .room = room_name});
  };
  if (!ready() || options_.limits.history == 0) {
    if (options_.limits.history == 0) {
      send_to(member, encode_history(room_name, {}, room->mirror.latest_id(), before));
    } else {
      failed(member);
    }
    return;
  }
  member.busy = true;
  const bool sent = bus_.command(
      {"XREVRANGE", prefix_ + ":room:" + room_name + ":log", "(" + std::to_string(before) + "-1",
       "-", "COUNT", std::to_string(options_.limits.history)},
      [this, connection, room_name, before, failed](const RedisReply* reply) {
        Member* asker = member_of(connection);
        if (asker == nullptr) return;
        Room* joined = joined_room(*asker, room_name);
        if (reply == nullptr || reply->is_error() || joined == nullptr) {
          if (joined == nullptr) {
            reply_error(*asker, ChatError::not_in_room, {.action = "history", .room = room_name});
          } else {
            failed(*asker);
          }
          done(*asker);
          return;
        }
        scratch_.clear();
        // Newest first from Redis; oldest first on the wire.
        for (auto entry = reply->elements.rbegin(); entry != reply->elements.rend(); ++entry) {
          const std::optional<store::HistoryMessage> message = parse_stored_message(*entry);
          if (!message) continue;
          if (!scratch_.empty()) scratch_ += ',';
          append_message(scratch_, view_of(room_name, *message));
        }
        send_to(*asker, encode_history(room_name, scratch_, joined->mirror.latest_id(), before));
        done(*asker);
      });
  if (!sent) {
    failed(member);
    member.busy = false;
  }
}

ClusterChatService::Member* ClusterChatService::member_of(std::uint64_t connection) {
  auto found = members_.find(connection);
  return found == members_.end() ? nullptr : found->second.get();
}

ClusterChatService::Room* ClusterChatService::joined_room(Member& member, std::string_view name) {
  auto found = std::find_if(member.rooms.begin(), member.rooms.end(),
                            [name](const Room* room) { return room->name == name; });
  return found == member.rooms.end() ? nullptr : *found;
}

void ClusterChatService::reply_error(const Member& member, ChatError error, ErrorDetail detail,
                                     bool detailed) {
  // The talk's clients get the talk's shape; clients that said hello get the details.
  send_to(member, member.hello || detailed ? encode_error(error, detail) : encode_error(error));
}

void ClusterChatService::send_to(const Member& member, std::string frame) {
  server_.dispatch(member.ws, [frame = std::move(frame)](WebSocket ws) { ws.send(frame); });
}

void ClusterChatService::set_topic(const Member& member, const std::string& topic,
                                   bool subscribed) {
  server_.dispatch(member.ws, [topic, subscribed](WebSocket ws) {
    if (subscribed) {
      ws.subscribe(topic);
    } else {
      ws.unsubscribe(topic);
    }
  });
}

}  // namespace hibiki::apps::chat
