#include "apps/chat/chat_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hibiki::apps::chat {
namespace {

TEST(ChatText, room_names_are_short_lowercase_words) {
  for (const char* good :
       {"lobby", "dev", "a", "0", "room-1", "x_y", "abcdefghijklmnopqrstuvwxyz012345"}) {
    EXPECT_TRUE(is_valid_room_name(good)) << good;
  }
  for (const char* bad : {"", "Lobby", "-dev", "_x", "a b", "dev/ops", "caf\xC3\xA9", "a\n",
                          "abcdefghijklmnopqrstuvwxyz0123456"}) {
    EXPECT_FALSE(is_valid_room_name(bad)) << bad;
  }
}

TEST(ChatText, names_hold_no_whitespace_and_are_not_ids) {
  for (const char* good : {"alice", "Bob_2", "d.j-k", "r2d2", "\xE3\x81\x82\xE3\x81\x84",  // あい
                           "Zo\xC3\xAB", "\xF0\x9F\x8E\x89party"}) {
    EXPECT_TRUE(is_valid_name(good)) << good;
  }
  for (const char* bad : {"", "12", "0", "two words", "tab\there", "a:b", "<b>", "a\"b",
                          "nb\xC2\xA0sp",           // U+00A0 no-break space
                          "ideo\xE3\x80\x80space",  // U+3000 ideographic space
                          "zero\xE2\x80\x8Bwidth",  // U+200B
                          "bidi\xE2\x80\xAEx",      // U+202E right-to-left override
                          "line\xE2\x80\xA8sep",    // U+2028
                          "bom\xEF\xBB\xBF",        // U+FEFF
                          "c1\xC2\x85"}) {          // U+0085 next line
    EXPECT_FALSE(is_valid_name(bad)) << bad;
  }
}

TEST(ChatText, name_length_counts_characters_not_bytes) {
  std::string kana;
  for (int i = 0; i < 24; ++i)
    kana += "\xE3\x81\x82";
  EXPECT_TRUE(is_valid_name(kana));
  EXPECT_TRUE(is_valid_name(std::string(24, 'a')));
  EXPECT_FALSE(is_valid_name(std::string(25, 'a')));
  EXPECT_FALSE(is_valid_name(kana + "\xE3\x81\x82"));
}

TEST(ChatText, folding_lowers_ascii_only) {
  EXPECT_EQ(fold_name("Alice"), "alice");
  EXPECT_EQ(fold_name("ALICE-2"), "alice-2");
  EXPECT_EQ(fold_name("Zo\xC3\xAB"), "zo\xC3\xAB");
}

TEST(ChatText, counts_and_truncates_code_points) {
  EXPECT_EQ(count_code_points(""), 0u);
  EXPECT_EQ(count_code_points("abc"), 3u);
  EXPECT_EQ(count_code_points("\xE6\x97\xA5\xE6\x9C\xAC"), 2u);  // 日本
  EXPECT_EQ(count_code_points("\xF0\x9F\x8E\x89!"), 2u);         // 🎉!
  EXPECT_EQ(truncate_code_points("\xE6\x97\xA5\xE6\x9C\xAC"
                                 "x",
                                 1),
            "\xE6\x97\xA5");
  EXPECT_EQ(truncate_code_points("abc", 5), "abc");
  EXPECT_EQ(truncate_code_points("abc", 0), "");
}

TEST(ChatText, blank_means_only_ascii_whitespace) {
  EXPECT_TRUE(is_blank(""));
  EXPECT_TRUE(is_blank(" \t\r\n"));
  EXPECT_FALSE(is_blank(" x "));
  EXPECT_FALSE(is_blank("\xE3\x81\x82"));
}

}  // namespace
}  // namespace hibiki::apps::chat
