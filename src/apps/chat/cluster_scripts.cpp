// The Lua scripts of the clustered chat and how they are run (see cluster_scripts.hpp).
#include "apps/chat/cluster_scripts.hpp"

#include <charconv>
#include <memory>
#include <utility>

namespace hibiki::apps::chat {
namespace {

// Shared by the scripts that take a member out: out of each of its rooms (with a leave event),
// its name freed, its keys gone.
constexpr std::string_view kRemoveMember = R"lua(
local function publish(rkey, payload)
  redis.call('PUBLISH', rkey, payload)
end
local function remove_member(P, node, m)
  local mkey = P .. ':member:' .. m
  local name = redis.call('HGET', mkey, 'name') or ''
  local fold = redis.call('HGET', mkey, 'fold')
  for _, r in ipairs(redis.call('SMEMBERS', mkey .. ':rooms')) do
    local rkey = P .. ':room:' .. r
    if redis.call('ZREM', rkey .. ':members', m) == 1 then
      local ev = redis.call('HINCRBY', rkey, 'ev', 1)
      publish(rkey, 'l\n' .. ev .. '\n' .. m .. '\n' .. name)
    end
  end
  if fold and redis.call('HGET', P .. ':names', fold) == m then
    redis.call('HDEL', P .. ':names', fold)
  end
  redis.call('DEL', mkey, mkey .. ':rooms')
  redis.call('SREM', P .. ':node:' .. node .. ':members', m)
end
local function reap(P, node)
  for _, m in ipairs(redis.call('SMEMBERS', P .. ':node:' .. node .. ':members')) do
    remove_member(P, node, m)
  end
  redis.call('DEL', P .. ':node:' .. node .. ':members', P .. ':node:' .. node .. ':token')
  redis.call('ZREM', P .. ':nodes', node)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The first free name among (name, fold) pairs from ARGV[first]: one nobody holds, or that
-- `m` holds already.
local function free_name(P, m, first, last)
  for i = first, last, 2 do
    local owner = redis.call('HGET', P .. ':names', ARGV[i + 1])
    if not owner or owner == m then return ARGV[i], ARGV[i + 1] end
  end
  return nil, nil
end
local function take_name(P, m, name, fold)
  local mkey = P .. ':member:' .. m
  local old = redis.call('HGET', mkey, 'fold')
  if old and old ~= fold and redis.call('HGET', P .. ':names', old) == m then
    redis.call('HDEL', P .. ':names', old)
  end
  redis.call('HSET', P .. ':names', fold, m)
  redis.call('HSET', mkey, 'name', name, 'fold', fold)
end
local function enter(P, node, m)
  redis.call('HSET', P .. ':member:' .. m, 'node', node)
  redis.call('SADD', P .. ':node:' .. node .. ':members', m)
end
local function join_room(P, r, m, name)
  local rkey = P .. ':room:' .. r
  if redis.call('ZSCORE', rkey .. ':members', m) then
    return 0, tonumber(redis.call('HGET', rkey, 'ev') or '0')
  end
  local ev = redis.call('HINCRBY', rkey, 'ev', 1)
  redis.call('ZADD', rkey .. ':members', ev, m)
  redis.call('SADD', P .. ':member:' .. m .. ':rooms', r)
  publish(rkey, 'j\n' .. ev .. '\n' .. m .. '\n' .. name)
  return 1, ev
end
local function leave_room(P, r, m, name)
  local rkey = P .. ':room:' .. r
  redis.call('SREM', P .. ':member:' .. m .. ':rooms', r)
  if redis.call('ZREM', rkey .. ':members', m) == 0 then
    return 0, tonumber(redis.call('HGET', rkey, 'ev') or '0')
  end
  local ev = redis.call('HINCRBY', rkey, 'ev', 1)
  publish(rkey, 'l\n' .. ev .. '\n' .. m .. '\n' .. name)
  return 1, ev
end
local function epoch_is(P, epoch)
  return redis.call('GET', P .. ':epoch') == epoch
end
)lua";

// The epoch is a random value set once; a Redis that comes back without it has lost data. The
// node's previous incarnation (another token) is reaped: a restart leaves no ghosts.
constexpr std::string_view kRegisterNode = R"lua(
local P, node, token = ARGV[1], ARGV[2], ARGV[3]
redis.call('SET', P .. ':epoch', ARGV[4], 'NX')
local epoch = redis.call('GET', P .. ':epoch')
if redis.call('GET', P .. ':node:' .. node .. ':token') ~= token then reap(P, node) end
redis.call('SET', P .. ':node:' .. node .. ':token', token)
redis.call('ZADD', P .. ':nodes', now_ms(), node)
return {epoch}
)lua";

// Refreshes this node and reaps the nodes that stopped refreshing: their members leave every
// room, with leave events, and their names are freed.
constexpr std::string_view kHeartbeat = R"lua(
local P, node, token, dead_after = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local holder = redis.call('GET', P .. ':node:' .. node .. ':token')
if not holder then return {'REAPED'} end
if holder ~= token then return {'CONFLICT'} end
local now = now_ms()
redis.call('ZADD', P .. ':nodes', now, node)
local result = {'OK'}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', P .. ':nodes', '-inf', now - dead_after)) do
  if dead ~= node then
    reap(P, dead)
    result[#result + 1] = dead
  end
end
return result
)lua";

// After the link comes back: makes Redis hold exactly what the node holds for one member (its
// name, and the rooms it is in, with join and leave events for what differs).
constexpr std::string_view kRestoreMember = R"lua(
local P, node, m, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
enter(P, node, m)
local mkey = P .. ':member:' .. m
local name = ''
if n > 0 then
  local held = redis.call('HGET', mkey, 'fold')
  if held and redis.call('HGET', P .. ':names', held) == m then
    name = redis.call('HGET', mkey, 'name')
  else
    local fold
    name, fold = free_name(P, m, 5, 4 + 2 * n)
    if name then take_name(P, m, name, fold) else name = '' end
  end
end
local wanted = {}
for i = 5 + 2 * n, #ARGV do
  wanted[ARGV[i]] = true
  join_room(P, ARGV[i], m, name)
end
for _, r in ipairs(redis.call('SMEMBERS', mkey .. ':rooms')) do
  if not wanted[r] then leave_room(P, r, m, name) end
end
return {name}
)lua";

constexpr std::string_view kJoin = R"lua(
local P, node, r, m, name = ARGV[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not epoch_is(P, ARGV[2]) then return redis.error_reply('EPOCH the store lost its data') end
enter(P, node, m)
local added, ev = join_room(P, r, m, name)
return {added, ev}
)lua";

constexpr std::string_view kLeave = R"lua(
local removed, ev = leave_room(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return {removed, ev}
)lua";

constexpr std::string_view kBye = R"lua(
remove_member(ARGV[1], ARGV[2], ARGV[3])
return {}
)lua";

constexpr std::string_view kRename = R"lua(
local P, node, m = ARGV[1], ARGV[3], ARGV[4]
if not epoch_is(P, ARGV[2]) then return redis.error_reply('EPOCH the store lost its data') end
enter(P, node, m)
local name, fold = free_name(P, m, 5, #ARGV)
if not name then return {0} end
local mkey = P .. ':member:' .. m
local previous = redis.call('HGET', mkey, 'name') or ''
if previous == name then return {1, name} end
take_name(P, m, name, fold)
for _, r in ipairs(redis.call('SMEMBERS', mkey .. ':rooms')) do
  local rkey = P .. ':room:' .. r
  local ev = redis.call('HINCRBY', rkey, 'ev', 1)
  publish(rkey, 'n\n' .. ev .. '\n' .. m .. '\n' .. name .. '\n' .. previous)
end
return {1, name}
)lua";

// Allocating the id, storing the message and publishing it: one step, so no node can see them
// in another order, and nothing is published that is not stored.
constexpr std::string_view kSend = R"lua(
local P, r, m, name, text = ARGV[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not epoch_is(P, ARGV[2]) then return redis.error_reply('EPOCH the store lost its data') end
local rkey = P .. ':room:' .. r
local ts = now_ms()
local id = redis.call('HINCRBY', rkey, 'id', 1)
local ev = redis.call('HINCRBY', rkey, 'ev', 1)
redis.call('XADD', rkey .. ':log', 'MAXLEN', '~', ARGV[7], id .. '-1',
           'ts', ts, 'f', m, 'n', name, 't', text)
publish(rkey, 'm\n' .. ev .. '\n' .. id .. '\n' .. ts .. '\n' .. m .. '\n' .. name .. '\n' .. text)
return {id, ev}
)lua";

// A room's baseline at one event: counters, latest messages (newest first), members in join
// order with their names. Counters below what the node has seen are raised back to it (Redis
// lost data): ids are never handed out twice.
constexpr std::string_view kSync = R"lua(
local P, r, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local rkey = P .. ':room:' .. r
local id = tonumber(redis.call('HGET', rkey, 'id') or '0')
local ev = tonumber(redis.call('HGET', rkey, 'ev') or '0')
local raised = 0
if id < tonumber(ARGV[4]) then
  id = tonumber(ARGV[4])
  redis.call('HSET', rkey, 'id', id)
  raised = 1
end
if ev < tonumber(ARGV[5]) then
  ev = tonumber(ARGV[5])
  redis.call('HSET', rkey, 'ev', ev)
  raised = 1
end
local messages = {}
if count > 0 then messages = redis.call('XREVRANGE', rkey .. ':log', '+', '-', 'COUNT', count) end
local ids = redis.call('ZRANGE', rkey .. ':members', 0, -1)
local names = {}
for i, m in ipairs(ids) do names[i] = redis.call('HGET', P .. ':member:' .. m, 'name') or '' end
return {ev, id, raised, messages, ids, names}
)lua";

constexpr std::string_view kIds = R"lua(
local key = ARGV[1] .. ':ids'
local floor = tonumber(ARGV[3])
if tonumber(redis.call('GET', key) or '0') < floor then redis.call('SET', key, floor) end
return redis.call('INCRBY', key, tonumber(ARGV[2]))
)lua";

// After an outage: the node's members that closed meanwhile (their goodbye could not be sent)
// leave every room and free their names; the members listed are the node's live ones.
constexpr std::string_view kPrune = R"lua(
local P, node = ARGV[1], ARGV[2]
local live = {}
for i = 3, #ARGV do live[ARGV[i]] = true end
local pruned = 0
for _, m in ipairs(redis.call('SMEMBERS', P .. ':node:' .. node .. ':members')) do
  if not live[m] then
    remove_member(P, node, m)
    pruned = pruned + 1
  end
end
return pruned
)lua";

std::string with_helpers(std::string_view body) {
  std::string source(kRemoveMember);
  source += body;
  return source;
}

const std::array<std::string, kScriptCount>& sources() {
  static const std::array<std::string, kScriptCount> all = {
      with_helpers(kRegisterNode), with_helpers(kHeartbeat), with_helpers(kRestoreMember),
      with_helpers(kJoin),         with_helpers(kLeave),     with_helpers(kBye),
      with_helpers(kRename),       with_helpers(kSend),      with_helpers(kSync),
      with_helpers(kIds),          with_helpers(kPrune),
  };
  return all;
}

}  // namespace

std::string_view script_source(Script script) {
  return sources()[static_cast<std::size_t>(script)];
}

std::optional<store::HistoryMessage> parse_stored_message(const RedisReply& entry) {
  if (entry.elements.size() != 2 || entry.elements[1].type != RedisReply::Type::array) {
    return std::nullopt;
  }
  store::HistoryMessage message;
  const std::string& stream_id = entry.elements[0].text;
  const auto dash = stream_id.find('-');
  if (dash == std::string::npos) return std::nullopt;
  const auto [end, status] = std::from_chars(stream_id.data(), stream_id.data() + dash, message.id);
  if (status != std::errc() || end != stream_id.data() + dash || message.id == 0) {
    return std::nullopt;
  }
  const auto& fields = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& key = fields[i].text;
    const std::string& value = fields[i + 1].text;
    if (key == "ts") {
      std::from_chars(value.data(), value.data() + value.size(), message.ts_ms);
    } else if (key == "f") {
      message.from_id = value;
    } else if (key == "n") {
      message.from_name = value;
    } else if (key == "t") {
      message.text = value;
    }
  }
  if (message.from_id.empty()) return std::nullopt;
  return message;
}

const char* script_name(Script script) {
  static constexpr const char* names[kScriptCount] = {
      "register_node", "heartbeat", "restore_member", "join", "leave", "bye",
      "rename",        "send",      "sync",           "ids",  "prune"};
  return names[static_cast<std::size_t>(script)];
}

void ScriptRunner::load_all() {
  for (std::size_t i = 0; i < kScriptCount; ++i) {
    bus_.command({"SCRIPT", "LOAD", std::string(script_source(static_cast<Script>(i)))},
                 [this, i](const RedisReply* reply) {
                   if (reply != nullptr && reply->type == RedisReply::Type::string) {
                     shas_[i] = reply->text;
                   }
                 });
  }
}

bool ScriptRunner::run(Script script, std::vector<std::string> arguments,
                       std::function<void(const RedisReply*)> done) {
  const auto index = static_cast<std::size_t>(script);
  const bool by_sha = !shas_[index].empty();
  std::vector<std::string> command;
  command.reserve(arguments.size() + 3);
  command.emplace_back(by_sha ? "EVALSHA" : "EVAL");
  command.emplace_back(by_sha ? shas_[index] : std::string(script_source(script)));
  command.emplace_back("0");  // keys are built from the prefix inside the script
  if (!by_sha) {
    for (std::string& argument : arguments)
      command.push_back(std::move(argument));
    return bus_.command(std::move(command), std::move(done));
  }
  // Keep the arguments for a second try by source, should Redis have forgotten the script.
  auto retry = std::make_shared<std::vector<std::string>>(std::move(arguments));
  for (const std::string& argument : *retry)
    command.push_back(argument);
  return bus_.command(std::move(command), [this, script, index, retry,
                                           done = std::move(done)](const RedisReply* reply) {
    if (reply != nullptr && reply->is_error() && reply->text.starts_with("NOSCRIPT")) {
      shas_[index].clear();
      if (run(script, std::move(*retry), done)) return;
      if (done) done(nullptr);
      return;
    }
    if (done) done(reply);
  });
}

}  // namespace hibiki::apps::chat
