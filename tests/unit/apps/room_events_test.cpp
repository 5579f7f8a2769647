// The room channel's payloads, byte by byte: every shape the scripts publish, and the
// malformed ones a node must refuse instead of misreading.
#include <gtest/gtest.h>

#include <string>

#include "apps/chat/room_events.hpp"

namespace hibiki::apps::chat {
namespace {

using namespace std::string_literals;

TEST(RoomEvents, message_keeps_its_text_whole_newlines_included) {
  const auto event = parse_room_event("m\n42\n7\n1796442483706\n1042\naiko\nline one\nline two\n");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->kind, RoomEvent::Kind::message);
  EXPECT_EQ(event->ev, 42u);
  EXPECT_EQ(event->id, 7u);
  EXPECT_EQ(event->ts_ms, 1796442483706);
  EXPECT_EQ(event->member, "1042");
  EXPECT_EQ(event->name, "aiko");
  EXPECT_EQ(event->text, "line one\nline two\n");
}

TEST(RoomEvents, message_without_a_name_and_with_an_empty_or_binary_text) {
  const auto nameless = parse_room_event("m\n1\n1\n5\n9\n\nhi");
  ASSERT_TRUE(nameless);
  EXPECT_EQ(nameless->name, "");
  EXPECT_EQ(nameless->text, "hi");
  const auto empty_text = parse_room_event("m\n1\n1\n5\n9\nn\n");
  ASSERT_TRUE(empty_text);
  EXPECT_EQ(empty_text->text, "");
  const auto bytes = parse_room_event("m\n1\n1\n5\n9\nn\n\0\xff"s);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->text, "\0\xff"s);
}

TEST(RoomEvents, join_leave_and_nick) {
  const auto join = parse_room_event("j\n3\n12\nさくら");
  ASSERT_TRUE(join);
  EXPECT_EQ(join->kind, RoomEvent::Kind::join);
  EXPECT_EQ(join->ev, 3u);
  EXPECT_EQ(join->member, "12");
  EXPECT_EQ(join->name, "さくら");
  const auto leave = parse_room_event("l\n4\n12\n");
  ASSERT_TRUE(leave);
  EXPECT_EQ(leave->kind, RoomEvent::Kind::leave);
  EXPECT_EQ(leave->name, "");
  const auto nick = parse_room_event("n\n5\n12\nkai\n");
  ASSERT_TRUE(nick);
  EXPECT_EQ(nick->kind, RoomEvent::Kind::nick);
  EXPECT_EQ(nick->name, "kai");
  EXPECT_EQ(nick->previous, "");
  const auto renamed = parse_room_event("n\n6\n12\nkai-2\nkai");
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->previous, "kai");
}

TEST(RoomEvents, malformed_payloads_are_refused) {
  for (const std::string& payload : {
           ""s, "m"s, "x\n1\n2\nname"s, "mm\n1\n1\n1\n1\n\n"s,
           "m\n0\n1\n1\n1\n\nzero ev"s,      // events count from 1
           "m\n1\n0\n1\n1\n\nzero id"s,      // so do message ids
           "m\n-1\n1\n1\n1\n\nneg"s,         // no sign
           "m\n1x\n1\n1\n1\n\ntrailing"s,    // no trailing characters
           "m\n1\n1\n1\n1\nno text field"s,  // the name must end with a newline
           "m\n\n1\n1\n1\n\nempty ev"s,      //
           "m\n1\n1\n1\n\n\nno member"s,     //
           "j\n1\n\nname"s,                  // no member
           "j\n1\n12"s,                      // no name field
           "j\n1\n12\nname\nextra"s,         // one field too many
           "l\n99999999999999999999\n1\n"s,  // ev out of range
           "n\n1\n12\nname"s,                // no previous field
           "n\n1\n12\nname\nprev\nextra"s,   //
       }) {
    EXPECT_FALSE(parse_room_event(payload)) << payload;
  }
}

}  // namespace
}  // namespace hibiki::apps::chat
