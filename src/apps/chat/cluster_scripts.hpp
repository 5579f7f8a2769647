// The chat's state in Redis when it runs as a cluster, changed only by these Lua scripts: each
// runs atomically, so a room's message id, the stored message and its publication, or a name
// and its owner, are decided in one step that every node sees in the same order. Keys and the
// event format are in docs/CLUSTER.md and room_events.hpp. Every script takes the key prefix
// as ARGV[1] and builds its keys from it (a single Redis, or a primary with replicas).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hibiki/cluster.hpp"
#include "store/history_store.hpp"

namespace hibiki::apps::chat {

enum class Script : std::uint8_t {
  register_node,   // prefix, node, token, epoch candidate → {epoch}
  heartbeat,       // prefix, node, token, dead_after_ms → {"OK"|"CONFLICT"|"REAPED", reaped...}
  restore_member,  // prefix, node, member, candidates n, n×(name, fold), rooms... → {name}
  join,            // prefix, epoch, node, room, member, name → {added, ev}
  leave,           // prefix, room, member, name → {removed, ev}
  bye,             // prefix, node, member → {}
  rename,          // prefix, epoch, node, member, n×(name, fold) → {1, name} | {0}
  send,            // prefix, epoch, room, member, name, text, keep → {id, ev}
  sync,            // prefix, room, count, id floor, ev floor → {ev, id, raised, msgs, ids, names}
  ids,             // prefix, count, floor → last id of the block
  prune,           // prefix, node, members still here... → members taken out
};
inline constexpr std::size_t kScriptCount = 11;

[[nodiscard]] std::string_view script_source(Script script);
// One entry of a room's stream as XRANGE answers it: ["<id>-1", [ts, f, n, t fields]].
[[nodiscard]] std::optional<store::HistoryMessage> parse_stored_message(const RedisReply& entry);
[[nodiscard]] const char* script_name(Script script);

// Runs the scripts by their SHA once Redis has them (EVALSHA), by their source until then or
// when Redis lost them (EVAL after NOSCRIPT). Thread: loop 0's.
class ScriptRunner {
 public:
  explicit ScriptRunner(ClusterBus& bus) : bus_(bus) {}
  // Loads every script; call after each link up (a restarted Redis has forgotten them).
  void load_all();
  // False when the link refused the command (down, or too many in flight).
  bool run(Script script, std::vector<std::string> arguments,
           std::function<void(const RedisReply*)> done);

 private:
  ClusterBus& bus_;
  std::array<std::string, kScriptCount> shas_;
};

}  // namespace hibiki::apps::chat
