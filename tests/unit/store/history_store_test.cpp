#include "store/history_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace hibiki::store {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class HistoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("hibiki-store-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string db_path() const { return (dir_ / "nested" / "chat.db").string(); }

  fs::path dir_;
};

NewMessage message(std::string_view room, std::string_view text, std::string_view name = "alice",
                   std::int64_t ts = 1000) {
  return NewMessage{.room = room, .from_id = "7", .from_name = name, .text = text, .ts_ms = ts};
}

std::vector<std::uint64_t> ids(const std::vector<HistoryMessage>& rows) {
  std::vector<std::uint64_t> out;
  for (const auto& row : rows)
    out.push_back(row.id);
  return out;
}

TEST_F(HistoryStoreTest, creates_the_directory_and_uses_wal) {
  HistoryStore store(db_path());
  EXPECT_TRUE(fs::exists(db_path()));
  EXPECT_EQ(store.journal_mode(), "wal");
}

TEST_F(HistoryStoreTest, numbers_messages_per_room_from_one) {
  HistoryStore store(db_path());
  EXPECT_EQ(store.append(message("lobby", "a")), 1u);
  EXPECT_EQ(store.append(message("lobby", "b")), 2u);
  EXPECT_EQ(store.append(message("dev", "c")), 1u);
  EXPECT_EQ(store.append(message("lobby", "d")), 3u);
  EXPECT_EQ(store.latest_id("lobby"), 3u);
  EXPECT_EQ(store.latest_id("dev"), 1u);
  EXPECT_EQ(store.latest_id("empty"), 0u);
}

TEST_F(HistoryStoreTest, round_trips_every_field) {
  HistoryStore store(db_path());
  const std::string text = "line1\nline2 \"quoted\" \xE3\x81\x82 \xF0\x9F\x8E\x89";
  ASSERT_EQ(store.append(message("lobby", text, "alice", 1'700'000'000'123)), 1u);
  ASSERT_EQ(store.append(message("lobby", "anon", "", 5)), 2u);
  std::vector<HistoryMessage> rows;
  ASSERT_TRUE(store.latest("lobby", 10, 0, rows));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].id, 1u);
  EXPECT_EQ(rows[0].ts_ms, 1'700'000'000'123);
  EXPECT_EQ(rows[0].from_id, "7");
  EXPECT_EQ(rows[0].from_name, "alice");
  EXPECT_EQ(rows[0].text, text);
  EXPECT_EQ(rows[1].from_name, "");  // stored as NULL, read back as "none"
}

TEST_F(HistoryStoreTest, latest_returns_the_newest_oldest_first_and_pages_backwards) {
  HistoryStore store(db_path());
  for (int i = 1; i <= 10; ++i)
    ASSERT_NE(store.append(message("r", std::to_string(i))), 0u);
  ASSERT_NE(store.append(message("other", "x")), 0u);
  std::vector<HistoryMessage> rows;
  ASSERT_TRUE(store.latest("r", 3, 0, rows));
  EXPECT_EQ(ids(rows), (std::vector<std::uint64_t>{8, 9, 10}));
  EXPECT_EQ(rows.back().text, "10");
  ASSERT_TRUE(store.latest("r", 3, 8, rows));
  EXPECT_EQ(ids(rows), (std::vector<std::uint64_t>{5, 6, 7}));
  ASSERT_TRUE(store.latest("r", 3, 2, rows));
  EXPECT_EQ(ids(rows), (std::vector<std::uint64_t>{1}));
  ASSERT_TRUE(store.latest("r", 0, 0, rows));
  EXPECT_TRUE(rows.empty());
  ASSERT_TRUE(store.latest("nobody", 5, 0, rows));
  EXPECT_TRUE(rows.empty());
}

TEST_F(HistoryStoreTest, after_returns_exactly_the_later_messages_up_to_a_limit) {
  HistoryStore store(db_path());
  for (int i = 1; i <= 6; ++i)
    ASSERT_NE(store.append(message("r", std::to_string(i))), 0u);
  std::vector<HistoryMessage> rows;
  ASSERT_TRUE(store.after("r", 3, 10, rows));
  EXPECT_EQ(ids(rows), (std::vector<std::uint64_t>{4, 5, 6}));
  ASSERT_TRUE(store.after("r", 0, 2, rows));
  EXPECT_EQ(ids(rows), (std::vector<std::uint64_t>{1, 2}));
  ASSERT_TRUE(store.after("r", 6, 10, rows));
  EXPECT_TRUE(rows.empty());
  ASSERT_TRUE(store.after("r", ~std::uint64_t{0}, 10, rows));  // beyond int64: clamped
  EXPECT_TRUE(rows.empty());
}

TEST_F(HistoryStoreTest, history_survives_reopening_and_ids_continue) {
  {
    HistoryStore store(db_path());
    ASSERT_EQ(store.append(message("lobby", "before")), 1u);
    ASSERT_EQ(store.append(message("lobby", "restart")), 2u);
  }
  HistoryStore store(db_path());
  EXPECT_EQ(store.append(message("lobby", "after")), 3u);
  std::vector<HistoryMessage> rows;
  ASSERT_TRUE(store.latest("lobby", 10, 0, rows));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].text, "before");
  EXPECT_EQ(rows[2].text, "after");
}

TEST_F(HistoryStoreTest, a_committed_append_is_visible_to_another_connection_at_once) {
  // What kill -9 leaves behind is what another connection sees without our process closing.
  HistoryStore writer(db_path());
  ASSERT_EQ(writer.append(message("lobby", "durable")), 1u);
  HistoryStore reader(db_path());
  std::vector<HistoryMessage> rows;
  ASSERT_TRUE(reader.latest("lobby", 10, 0, rows));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text, "durable");
  EXPECT_EQ(reader.append(message("lobby", "second")), 2u);
  EXPECT_EQ(writer.append(message("lobby", "third")), 3u);  // ids stay right across writers
}

TEST_F(HistoryStoreTest, a_write_that_cannot_commit_reports_failure_and_takes_no_id) {
  HistoryStore store(db_path());
  ASSERT_EQ(store.append(message("lobby", "first")), 1u);
  // Another connection holds the write lock past our busy timeout.
  std::string error;
  auto other = Database::open(db_path(), error);
  ASSERT_TRUE(other) << error;
  ASSERT_TRUE(other->exec("BEGIN IMMEDIATE;", error)) << error;
  EXPECT_EQ(store.append(message("lobby", "blocked")), 0u);
  EXPECT_NE(store.last_error().find("locked"), std::string::npos) << store.last_error();
  ASSERT_TRUE(other->exec("ROLLBACK;", error)) << error;
  // Nothing half-written: the next message takes the next id.
  EXPECT_EQ(store.append(message("lobby", "second")), 2u);
  std::vector<HistoryMessage> rows;
  ASSERT_TRUE(store.latest("lobby", 10, 0, rows));
  EXPECT_EQ(rows.size(), 2u);
}

TEST(HistoryStore, memory_database_needs_no_file) {
  HistoryStore store(":memory:");
  EXPECT_EQ(store.journal_mode(), "memory");
  EXPECT_EQ(store.append(message("lobby", "gone at exit")), 1u);
  EXPECT_EQ(store.latest_id("lobby"), 1u);
}

TEST_F(HistoryStoreTest, refuses_a_file_that_is_not_a_database) {
  fs::create_directories(dir_);
  const std::string path = (dir_ / "junk.db").string();
  std::ofstream(path) << std::string(4096, 'x');
  EXPECT_THROW(HistoryStore store(path), StoreError);
}

TEST_F(HistoryStoreTest, refuses_a_path_below_a_regular_file) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  EXPECT_THROW(HistoryStore store((dir_ / "file" / "chat.db").string()), StoreError);
}

TEST_F(HistoryStoreTest, refuses_a_newer_schema) {
  { HistoryStore store(db_path()); }
  std::string error;
  auto db = Database::open(db_path(), error);
  ASSERT_TRUE(db) << error;
  ASSERT_TRUE(db->exec("PRAGMA user_version = 99;", error)) << error;
  EXPECT_THROW(HistoryStore store(db_path()), StoreError);
}

}  // namespace
}  // namespace hibiki::store
