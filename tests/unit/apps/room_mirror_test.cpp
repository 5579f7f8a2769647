// A room as one node mirrors it: events in order, duplicates and gaps told apart, exact resume
// from the latest messages kept, and what a new baseline changed after a reconnect.
#include <gtest/gtest.h>

#include <string>

#include "apps/chat/room_mirror.hpp"

namespace hibiki::apps::chat {
namespace {

store::HistoryMessage message(std::uint64_t id) {
  return {.id = id,
          .ts_ms = 1000 + static_cast<std::int64_t>(id),
          .from_id = "1",
          .from_name = "a",
          .text = "m" + std::to_string(id)};
}

RoomMirror::Baseline baseline(std::uint64_t ev, std::uint64_t first, std::uint64_t last,
                              std::vector<MirrorMember> members = {}) {
  RoomMirror::Baseline b{.ev = ev, .latest_id = last, .members = std::move(members)};
  for (std::uint64_t id = first; id <= last && id > 0; ++id)
    b.recent.push_back(message(id));
  return b;
}

RoomEvent message_event(std::uint64_t ev, std::uint64_t id) {
  return {.kind = RoomEvent::Kind::message,
          .ev = ev,
          .id = id,
          .ts_ms = 5,
          .member = "2",
          .name = "b",
          .text = "live"};
}

RoomEvent member_event(RoomEvent::Kind kind, std::uint64_t ev, std::string id,
                       std::string name = {}, std::string previous = {}) {
  return {.kind = kind,
          .ev = ev,
          .member = std::move(id),
          .name = std::move(name),
          .previous = std::move(previous)};
}

TEST(RoomMirror, events_apply_in_order_old_ones_are_told_from_gaps) {
  RoomMirror mirror(3);
  EXPECT_FALSE(mirror.synced());
  mirror.reset(baseline(10, 1, 2), false);
  EXPECT_TRUE(mirror.synced());
  EXPECT_EQ(mirror.order_of(9), RoomMirror::Order::old);
  EXPECT_EQ(mirror.order_of(10), RoomMirror::Order::old);
  EXPECT_EQ(mirror.order_of(11), RoomMirror::Order::next);
  EXPECT_EQ(mirror.order_of(12), RoomMirror::Order::gap);
  EXPECT_TRUE(mirror.apply(message_event(11, 3)));
  EXPECT_EQ(mirror.ev(), 11u);
  EXPECT_EQ(mirror.latest_id(), 3u);
  EXPECT_TRUE(mirror.apply(message_event(12, 4)));
  // Only the latest `keep` messages stay.
  ASSERT_EQ(mirror.recent().size(), 3u);
  EXPECT_EQ(mirror.recent().front().id, 2u);
  EXPECT_EQ(mirror.recent().back().text, "live");
}

TEST(RoomMirror, members_join_leave_and_rename_once) {
  RoomMirror mirror(5);
  mirror.reset(baseline(1, 0, 0, {{"1", "a"}}), false);
  EXPECT_TRUE(mirror.apply(member_event(RoomEvent::Kind::join, 2, "2")));
  EXPECT_FALSE(mirror.apply(member_event(RoomEvent::Kind::join, 3, "2")));  // already in
  EXPECT_TRUE(mirror.apply(member_event(RoomEvent::Kind::nick, 4, "2", "bo")));
  EXPECT_FALSE(mirror.apply(member_event(RoomEvent::Kind::nick, 5, "2", "bo")));  // same name
  EXPECT_FALSE(mirror.rename("2", "bo"));  // renamed ahead of its event: nothing left to do
  EXPECT_TRUE(mirror.rename("1", "al"));
  EXPECT_EQ(mirror.members(), (std::vector<MirrorMember>{{"1", "al"}, {"2", "bo"}}));
  EXPECT_TRUE(mirror.apply(member_event(RoomEvent::Kind::leave, 6, "1")));
  EXPECT_FALSE(mirror.apply(member_event(RoomEvent::Kind::leave, 7, "1")));  // gone already
  EXPECT_EQ(mirror.members(), (std::vector<MirrorMember>{{"2", "bo"}}));
  EXPECT_EQ(mirror.ev(), 7u);
}

TEST(RoomMirror, resume_is_exact_within_what_is_kept_else_nullopt) {
  RoomMirror mirror(3);
  mirror.reset(baseline(20, 8, 10), false);  // keeps 8, 9, 10
  const auto after7 = mirror.after(7);
  ASSERT_TRUE(after7);
  ASSERT_EQ(after7->size(), 3u);
  EXPECT_EQ((*after7)[0]->id, 8u);
  EXPECT_EQ(mirror.after(9)->size(), 1u);
  EXPECT_TRUE(mirror.after(10)->empty());
  EXPECT_FALSE(mirror.after(6));   // 4 missed, 3 kept
  EXPECT_FALSE(mirror.after(11));  // beyond the latest: history replaced
  RoomMirror none(0);
  none.reset(baseline(2, 1, 1), false);
  EXPECT_TRUE(none.recent().empty());
  EXPECT_FALSE(none.after(0));
  EXPECT_TRUE(none.after(1)->empty());
}

TEST(RoomMirror, a_new_baseline_hands_over_what_was_missed) {
  RoomMirror mirror(5);
  EXPECT_FALSE(mirror.reset(baseline(5, 1, 3, {{"1", "a"}, {"2", ""}}), false).gap);
  const RoomMirror::Changes changes =
      mirror.reset(baseline(9, 2, 6, {{"2", "bo"}, {"3", ""}}), false);
  EXPECT_FALSE(changes.gap);
  ASSERT_EQ(changes.missed.size(), 3u);
  EXPECT_EQ(changes.missed.front().id, 4u);
  EXPECT_EQ(changes.missed.back().id, 6u);
  EXPECT_EQ(changes.joined, (std::vector<MirrorMember>{{"3", ""}}));
  EXPECT_EQ(changes.left, (std::vector<MirrorMember>{{"1", "a"}}));
  ASSERT_EQ(changes.renamed.size(), 1u);
  EXPECT_EQ(changes.renamed[0].first, (MirrorMember{"2", "bo"}));
  EXPECT_EQ(changes.renamed[0].second, "");
  EXPECT_EQ(mirror.ev(), 9u);
  EXPECT_EQ(mirror.latest_id(), 6u);
}

TEST(RoomMirror, lost_or_too_many_messages_make_a_gap) {
  RoomMirror mirror(3);
  mirror.reset(baseline(5, 1, 3), false);
  EXPECT_TRUE(mirror.reset(baseline(12, 8, 10), false).gap);  // 4-7 not kept
  EXPECT_TRUE(mirror.reset(baseline(3, 1, 2), false).gap);    // ids went back: data lost
  mirror.reset(baseline(30, 9, 11), false);
  // Redis lost data and the node raised its counters back: same latest id, still a gap.
  EXPECT_TRUE(mirror.reset(baseline(30, 0, 11), true).gap);
  EXPECT_FALSE(mirror.reset(baseline(30, 9, 11), false).gap);
}

TEST(RoomMirror, buffered_events_are_bounded) {
  RoomMirror mirror(1);
  for (std::size_t i = 0; i < RoomMirror::kMaxBuffered; ++i)
    ASSERT_TRUE(mirror.buffer(message_event(i + 1, i + 1)));
  EXPECT_FALSE(mirror.buffer(message_event(99999, 99999)));  // full: emptied, read again
  EXPECT_TRUE(mirror.take_buffered().empty());
}

}  // namespace
}  // namespace hibiki::apps::chat
