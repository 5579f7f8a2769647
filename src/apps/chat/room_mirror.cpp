// A room as one node mirrors it (see room_mirror.hpp).
#include "apps/chat/room_mirror.hpp"

#include <algorithm>

namespace hibiki::apps::chat {

RoomMirror::Changes RoomMirror::reset(Baseline baseline, bool history_lost) {
  Changes changes;
  if (synced_) {
    if (history_lost || baseline.latest_id < latest_id_) {
      changes.gap = true;
    } else if (baseline.latest_id > latest_id_) {
      // Ids have no holes, so the missed ones are all here exactly when the oldest one kept
      // is no later than the first one missed.
      const bool all_here =
          !baseline.recent.empty() && baseline.recent.front().id <= latest_id_ + 1;
      if (all_here) {
        for (const auto& message : baseline.recent) {
          if (message.id > latest_id_) changes.missed.push_back(message);
        }
      } else {
        changes.gap = true;
      }
    }
    for (const MirrorMember& now : baseline.members) {
      const MirrorMember* before = member(now.id);
      if (before == nullptr) {
        changes.joined.push_back(now);
      } else if (before->name != now.name) {
        changes.renamed.emplace_back(now, before->name);
      }
    }
    for (const MirrorMember& before : members_) {
      const bool stayed = std::any_of(baseline.members.begin(), baseline.members.end(),
                                      [&](const MirrorMember& m) { return m.id == before.id; });
      if (!stayed) changes.left.push_back(before);
    }
  }
  synced_ = true;
  ev_ = baseline.ev;
  latest_id_ = baseline.latest_id;
  recent_.assign(std::make_move_iterator(baseline.recent.begin()),
                 std::make_move_iterator(baseline.recent.end()));
  while (recent_.size() > keep_)
    recent_.pop_front();
  members_ = std::move(baseline.members);
  return changes;
}

RoomMirror::Order RoomMirror::order_of(std::uint64_t ev) const {
  if (ev <= ev_) return Order::old;
  return ev == ev_ + 1 ? Order::next : Order::gap;
}

bool RoomMirror::apply(const RoomEvent& event) {
  ev_ = event.ev;
  switch (event.kind) {
    case RoomEvent::Kind::message:
      add_message({.id = event.id,
                   .ts_ms = event.ts_ms,
                   .from_id = event.member,
                   .from_name = event.name,
                   .text = event.text});
      return true;
    case RoomEvent::Kind::join:
      if (member(event.member) != nullptr) return false;
      members_.push_back({event.member, event.name});
      return true;
    case RoomEvent::Kind::leave: {
      const auto gone = std::find_if(members_.begin(), members_.end(),
                                     [&](const MirrorMember& m) { return m.id == event.member; });
      if (gone == members_.end()) return false;
      members_.erase(gone);
      return true;
    }
    case RoomEvent::Kind::nick:
      return rename(event.member, event.name);
  }
  return false;
}

bool RoomMirror::rename(std::string_view id, std::string_view name) {
  for (MirrorMember& m : members_) {
    if (m.id != id) continue;
    if (m.name == name) return false;
    m.name = std::string(name);
    return true;
  }
  return false;
}

void RoomMirror::add_message(store::HistoryMessage message) {
  latest_id_ = std::max(latest_id_, message.id);
  if (keep_ == 0) return;
  recent_.push_back(std::move(message));
  if (recent_.size() > keep_) recent_.pop_front();
}

std::optional<std::vector<const store::HistoryMessage*>> RoomMirror::after(
    std::uint64_t since) const {
  if (since > latest_id_) return std::nullopt;
  std::vector<const store::HistoryMessage*> out;
  if (since == latest_id_) return out;
  if (recent_.empty() || recent_.front().id > since + 1) return std::nullopt;
  for (const auto& message : recent_) {
    if (message.id > since) out.push_back(&message);
  }
  return out;
}

bool RoomMirror::buffer(RoomEvent event) {
  if (buffered_.size() >= kMaxBuffered) {
    buffered_.clear();
    return false;
  }
  buffered_.push_back(std::move(event));
  return true;
}

const MirrorMember* RoomMirror::member(std::string_view id) const {
  for (const MirrorMember& m : members_) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

}  // namespace hibiki::apps::chat
