// What one node knows of a room while the chat runs as a cluster: who is in it on every node,
// in the order they came, and its latest messages. Built from a baseline read atomically from
// Redis (the event sequence `ev` it stands at) and kept current by applying the room's events
// in `ev` order, so every node sees one history and one membership. Pure state: the service
// does the I/O. Thread: loop 0's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apps/chat/room_events.hpp"
#include "store/history_store.hpp"

namespace hibiki::apps::chat {

struct MirrorMember {
  std::string id;
  std::string name;  // empty: none
  friend bool operator==(const MirrorMember&, const MirrorMember&) = default;
};

class RoomMirror {
 public:
  // `keep`: how many of the latest messages to hold (the chat's --history).
  explicit RoomMirror(std::size_t keep) : keep_(keep) {}

  struct Baseline {
    std::uint64_t ev = 0;                       // the event the room stood at when read
    std::uint64_t latest_id = 0;                // its highest message id then
    std::vector<store::HistoryMessage> recent;  // up to `keep` latest messages, oldest first
    std::vector<MirrorMember> members;          // in the order they joined
  };
  // What a new baseline changed for a mirror that had one before.
  struct Changes {
    bool gap = false;  // messages were lost or more were missed than kept: views must reset
    std::vector<store::HistoryMessage> missed;  // otherwise: the messages missed, in order
    std::vector<MirrorMember> joined;
    std::vector<MirrorMember> left;
    std::vector<std::pair<MirrorMember, std::string>> renamed;  // (member now, previous name)
  };
  // Takes a baseline. `history_lost`: Redis lost data since the last one (a changed epoch, or
  // counters it had to raise back), so what clients hold can no longer be resumed exactly.
  Changes reset(Baseline baseline, bool history_lost);
  [[nodiscard]] bool synced() const { return synced_; }

  enum class Order : std::uint8_t { next, old, gap };
  // Where an event falls: the next one to apply, one already applied, or past a gap.
  [[nodiscard]] Order order_of(std::uint64_t ev) const;
  // Applies the `next` event. Returns false when it changed nothing the members could see (a
  // join of a member already listed, a leave of one not listed, a name it has already).
  bool apply(const RoomEvent& event);
  // Renames a listed member ahead of its event (the node that renamed it knows first); the
  // event then changes nothing. Returns false when not listed or already so named.
  bool rename(std::string_view id, std::string_view name);

  // Exactly the messages after `since`, oldest first; nullopt when that cannot be exact: more
  // were missed than are kept, or `since` is beyond the latest id.
  [[nodiscard]] std::optional<std::vector<const store::HistoryMessage*>> after(
      std::uint64_t since) const;

  // Events that arrive while a baseline is on its way wait here (at most kMaxBuffered; past
  // it, false: the baseline must be read again).
  static constexpr std::size_t kMaxBuffered = 4096;
  bool buffer(RoomEvent event);
  std::vector<RoomEvent> take_buffered() { return std::exchange(buffered_, {}); }

  [[nodiscard]] std::uint64_t ev() const { return ev_; }
  [[nodiscard]] std::uint64_t latest_id() const { return latest_id_; }
  [[nodiscard]] const std::deque<store::HistoryMessage>& recent() const { return recent_; }
  [[nodiscard]] const std::vector<MirrorMember>& members() const { return members_; }
  [[nodiscard]] const MirrorMember* member(std::string_view id) const;

 private:
  void add_message(store::HistoryMessage message);

  std::size_t keep_;
  bool synced_ = false;
  std::uint64_t ev_ = 0;
  std::uint64_t latest_id_ = 0;
  std::deque<store::HistoryMessage> recent_;
  std::vector<MirrorMember> members_;
  std::vector<RoomEvent> buffered_;
};

}  // namespace hibiki::apps::chat
