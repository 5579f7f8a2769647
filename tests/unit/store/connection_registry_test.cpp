#include "store/connection_registry.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/sqlite.hpp"

namespace hibiki::store {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kT0 = 1'700'000'000'000;

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

NewConnection connection(std::string_view id, std::int64_t at = kT0) {
  return NewConnection{.connection_id = id,
                       .source_ip = "127.0.0.1",
                       .user_agent = "test-agent/1.0",
                       .connected_at_ms = at};
}

IntegrationCall call(std::string_view request_id, std::int64_t at, std::string_view error = "") {
  return IntegrationCall{.request_id = request_id,
                         .connection_id = "c1",
                         .route_key = "message",
                         .status = error.empty() ? 200 : 0,
                         .latency_ms = 12,
                         .at_ms = at,
                         .error = error};
}

// A fresh directory per test, removed afterwards.
class ConnectionRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("hibiki-registry-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string db_path() const { return (dir_ / "nested" / "gateway.sqlite3").string(); }

  ConnectionRegistry open(const RegistryOptions& options = {}) {
    std::string error;
    std::optional<ConnectionRegistry> registry =
        ConnectionRegistry::open(db_path(), error, options);
    // GoogleTest reports an exception as this test's failure.
    if (!registry) throw std::runtime_error("open failed: " + error);
    return std::move(*registry);
  }

  // What another process reading the file sees: only what was committed.
  std::int64_t committed_int(const std::string& sql) {
    std::string error;
    std::optional<Database> db = Database::open(db_path(), error);
    EXPECT_TRUE(db) << error;
    std::optional<Statement> statement = db->prepare(sql, error);
    EXPECT_TRUE(statement) << error;
    EXPECT_EQ(statement->step(), Statement::Step::row) << db->last_error();
    return statement->column_int(0);
  }
  std::int64_t committed_last_active(std::string_view id) {
    return committed_int("SELECT last_active_ms FROM connections WHERE connection_id = '" +
                         std::string(id) + "'");
  }

  fs::path dir_;
};

TEST_F(ConnectionRegistryTest, creates_the_directory_and_uses_wal) {
  ConnectionRegistry registry = open();
  EXPECT_TRUE(fs::exists(db_path()));
  EXPECT_EQ(registry.journal_mode(), "wal");
  EXPECT_EQ(registry.recovered_on_open(), 0u);
  EXPECT_EQ(registry.count_open(), 0u);
}

TEST_F(ConnectionRegistryTest, adds_and_finds_a_connection_with_every_field) {
  ConnectionRegistry registry = open();
  const std::string agent = "Mozilla/5.0 \"quoted\" \xE3\x81\x82";
  ASSERT_TRUE(registry.add_connection({.connection_id = "L0SM9cOFvHcCIhw=",
                                       .source_ip = "::1",
                                       .user_agent = agent,
                                       .connected_at_ms = kT0}))
      << registry.last_error();
  const std::optional<ConnectionRecord> record = registry.find("L0SM9cOFvHcCIhw=");
  ASSERT_TRUE(record) << registry.last_error();
  EXPECT_EQ(record->connection_id, "L0SM9cOFvHcCIhw=");
  EXPECT_EQ(record->connected_at_ms, kT0);
  EXPECT_EQ(record->source_ip, "::1");
  EXPECT_EQ(record->user_agent, agent);
  EXPECT_EQ(record->last_active_ms, kT0);
  EXPECT_TRUE(record->is_open());
  EXPECT_EQ(record->disconnect_code, 0);
  EXPECT_EQ(record->disconnect_reason, "");
  EXPECT_EQ(registry.count_open(), 1u);
}

TEST_F(ConnectionRegistryTest, an_unknown_id_is_not_found_without_an_error) {
  ConnectionRegistry registry = open();
  EXPECT_FALSE(registry.find("nobody"));
  EXPECT_EQ(registry.last_error(), "");
}

TEST_F(ConnectionRegistryTest, rejects_a_duplicate_id_and_keeps_the_first) {
  ConnectionRegistry registry = open();
  ASSERT_TRUE(registry.add_connection(connection("a", kT0)));
  EXPECT_FALSE(registry.add_connection(connection("a", kT0 + 5)));
  EXPECT_NE(registry.last_error().find("already registered"), std::string::npos)
      << registry.last_error();
  EXPECT_EQ(registry.find("a")->connected_at_ms, kT0);
  EXPECT_TRUE(registry.add_connection(connection("b")));
  EXPECT_EQ(registry.last_error(), "");
}

TEST_F(ConnectionRegistryTest, marks_a_connection_disconnected_once) {
  ConnectionRegistry registry = open();
  ASSERT_TRUE(registry.add_connection(connection("a")));
  ASSERT_TRUE(registry.add_connection(connection("b")));
  ASSERT_TRUE(registry.mark_disconnected("a", 1000, "bye", kT0 + 100));
  // Later calls for the same connection and unknown ids change nothing.
  ASSERT_TRUE(registry.mark_disconnected("a", 1001, "again", kT0 + 200));
  ASSERT_TRUE(registry.mark_disconnected("nobody", 1000, "", kT0));
  const std::optional<ConnectionRecord> a = registry.find("a");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->is_open());
  EXPECT_EQ(a->disconnected_at_ms, kT0 + 100);
  EXPECT_EQ(a->disconnect_code, 1000);
  EXPECT_EQ(a->disconnect_reason, "bye");
  EXPECT_TRUE(registry.find("b")->is_open());
  EXPECT_EQ(registry.count_open(), 1u);
}

TEST_F(ConnectionRegistryTest, reopening_closes_connections_left_open_with_1006) {
  {
    ConnectionRegistry registry = open();
    ASSERT_TRUE(registry.add_connection(connection("left-open-1")));
    ASSERT_TRUE(registry.add_connection(connection("left-open-2")));
    ASSERT_TRUE(registry.add_connection(connection("closed")));
    ASSERT_TRUE(registry.mark_disconnected("closed", 1001, "going away", kT0 + 1));
  }  // closed without marking the others, as a crash would leave them
  const std::int64_t before = now_ms();
  ConnectionRegistry registry = open();
  const std::int64_t after = now_ms();
  EXPECT_EQ(registry.recovered_on_open(), 2u);
  EXPECT_EQ(registry.count_open(), 0u);
  for (const char* id : {"left-open-1", "left-open-2"}) {
    const std::optional<ConnectionRecord> record = registry.find(id);
    ASSERT_TRUE(record) << id;
    EXPECT_EQ(record->disconnect_code, kRestartCloseCode);
    EXPECT_EQ(record->disconnect_code, 1006);
    EXPECT_EQ(record->disconnect_reason, "gateway restarted");
    ASSERT_TRUE(record->disconnected_at_ms);
    EXPECT_GE(*record->disconnected_at_ms, before);
    EXPECT_LE(*record->disconnected_at_ms, after);
  }
  const std::optional<ConnectionRecord> closed = registry.find("closed");
  EXPECT_EQ(closed->disconnect_code, 1001);
  EXPECT_EQ(closed->disconnect_reason, "going away");
}

TEST_F(ConnectionRegistryTest, nothing_to_repair_after_a_clean_shutdown) {
  {
    ConnectionRegistry registry = open();
    ASSERT_TRUE(registry.add_connection(connection("a")));
    ASSERT_TRUE(registry.mark_disconnected("a", 1001, "shutdown", kT0 + 1));
  }
  ConnectionRegistry registry = open();
  EXPECT_EQ(registry.recovered_on_open(), 0u);
  EXPECT_EQ(registry.find("a")->disconnect_code, 1001);
}

TEST_F(ConnectionRegistryTest, a_connection_added_before_kill_9_is_repaired_on_reopen) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child registers a connection, then dies without running any destructor.
    std::string error;
    std::optional<ConnectionRegistry> registry = ConnectionRegistry::open(db_path(), error);
    if (!registry || !registry->add_connection(connection("victim"))) ::_exit(1);
    ::kill(::getpid(), SIGKILL);
    ::_exit(2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ConnectionRegistry registry = open();
  EXPECT_EQ(registry.recovered_on_open(), 1u);
  const std::optional<ConnectionRecord> record = registry.find("victim");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->disconnect_code, 1006);
}

TEST_F(ConnectionRegistryTest, touch_writes_at_most_once_per_interval_and_find_sees_it_at_once) {
  ConnectionRegistry registry = open({.flush_interval_ms = 1000});
  ASSERT_TRUE(registry.add_connection(connection("a", kT0)));
  ASSERT_TRUE(registry.touch("a", kT0 + 10));
  ASSERT_TRUE(registry.touch("a", kT0 + 500));
  ASSERT_TRUE(registry.touch("a", kT0 + 400));  // out of order: never moves backwards
  EXPECT_EQ(registry.find("a")->last_active_ms, kT0 + 500);
  EXPECT_EQ(committed_last_active("a"), kT0);  // still buffered
  // A whole interval after the first buffered touch: one write with the newest time.
  ASSERT_TRUE(registry.touch("a", kT0 + 1010));
  EXPECT_EQ(committed_last_active("a"), kT0 + 1010);
  ASSERT_TRUE(registry.touch("a", kT0 + 1500));
  EXPECT_EQ(committed_last_active("a"), kT0 + 1010);
  EXPECT_EQ(registry.find("a")->last_active_ms, kT0 + 1500);
}

TEST_F(ConnectionRegistryTest, flush_writes_buffered_touches) {
  ConnectionRegistry registry = open();
  ASSERT_TRUE(registry.add_connection(connection("a", kT0)));
  ASSERT_TRUE(registry.add_connection(connection("b", kT0)));
  ASSERT_TRUE(registry.touch("a", kT0 + 7));
  ASSERT_TRUE(registry.touch("b", kT0 + 8));
  ASSERT_TRUE(registry.touch("unknown", kT0 + 9));
  ASSERT_TRUE(registry.flush()) << registry.last_error();
  EXPECT_EQ(committed_last_active("a"), kT0 + 7);
  EXPECT_EQ(committed_last_active("b"), kT0 + 8);
}

TEST_F(ConnectionRegistryTest, closing_and_destroying_write_buffered_touches) {
  {
    ConnectionRegistry registry = open();
    ASSERT_TRUE(registry.add_connection(connection("a", kT0)));
    ASSERT_TRUE(registry.add_connection(connection("b", kT0)));
    ASSERT_TRUE(registry.touch("a", kT0 + 20));
    ASSERT_TRUE(registry.touch("b", kT0 + 30));
    ASSERT_TRUE(registry.mark_disconnected("a", 1000, "", kT0 + 40));
    EXPECT_EQ(committed_last_active("a"), kT0 + 20);
    EXPECT_EQ(committed_last_active("b"), kT0);
  }
  EXPECT_EQ(committed_last_active("b"), kT0 + 30);
}

TEST_F(ConnectionRegistryTest, a_touch_after_the_close_changes_nothing) {
  ConnectionRegistry registry = open({.flush_interval_ms = 0});
  ASSERT_TRUE(registry.add_connection(connection("a", kT0)));
  ASSERT_TRUE(registry.mark_disconnected("a", 1000, "", kT0 + 40));
  ASSERT_TRUE(registry.touch("a", kT0 + 50));
  EXPECT_EQ(registry.find("a")->last_active_ms, kT0);
  EXPECT_EQ(committed_last_active("a"), kT0);
}

TEST_F(ConnectionRegistryTest, records_calls_with_every_field) {
  ConnectionRegistry registry = open();
  ASSERT_TRUE(registry.record_call(call("r1", kT0)));
  ASSERT_TRUE(registry.record_call(call("r2", kT0 + 1, "timeout after 50 ms")));
  std::vector<IntegrationCallRecord> calls;
  ASSERT_TRUE(registry.recent_calls(10, calls)) << registry.last_error();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].request_id, "r2");  // newest first
  EXPECT_EQ(calls[0].status, 0);
  EXPECT_EQ(calls[0].error, "timeout after 50 ms");
  EXPECT_EQ(calls[1].request_id, "r1");
  EXPECT_EQ(calls[1].connection_id, "c1");
  EXPECT_EQ(calls[1].route_key, "message");
  EXPECT_EQ(calls[1].status, 200);
  EXPECT_EQ(calls[1].latency_ms, 12u);
  EXPECT_EQ(calls[1].at_ms, kT0);
  EXPECT_EQ(calls[1].error, "");
  EXPECT_EQ(committed_int("SELECT COUNT(*) FROM integration_calls WHERE error IS NULL"), 1);
}

TEST_F(ConnectionRegistryTest, calls_are_buffered_until_the_interval_or_the_pending_cap) {
  ConnectionRegistry registry = open({.flush_interval_ms = 1000, .max_pending_calls = 3});
  const std::string count = "SELECT COUNT(*) FROM integration_calls";
  ASSERT_TRUE(registry.record_call(call("r1", kT0)));
  ASSERT_TRUE(registry.record_call(call("r2", kT0 + 1)));
  EXPECT_EQ(committed_int(count), 0);
  ASSERT_TRUE(registry.record_call(call("r3", kT0 + 2)));  // the cap
  EXPECT_EQ(committed_int(count), 3);
  ASSERT_TRUE(registry.record_call(call("r4", kT0 + 10)));
  EXPECT_EQ(committed_int(count), 3);
  ASSERT_TRUE(registry.record_call(call("r5", kT0 + 1010)));  // the interval
  EXPECT_EQ(committed_int(count), 5);
}

TEST_F(ConnectionRegistryTest, keeps_only_the_newest_calls_pruning_in_batches) {
  const RegistryOptions options{.max_calls = 10, .prune_batch = 5, .flush_interval_ms = 0};
  std::optional<ConnectionRegistry> registry(open(options));
  std::vector<std::string> ids;
  for (int i = 0; i < 23; ++i)
    ids.push_back("r" + std::to_string(i));
  std::int64_t most = 0;
  for (int i = 0; i < 23; ++i) {
    ASSERT_TRUE(registry->record_call(call(ids[i], kT0 + i))) << registry->last_error();
    most = std::max(most, committed_int("SELECT COUNT(*) FROM integration_calls"));
  }
  EXPECT_LT(most, 15);  // never a whole batch past the limit
  std::vector<IntegrationCallRecord> calls;
  ASSERT_TRUE(registry->recent_calls(100, calls));
  // 15 rows pruned to 10 at the 15th and 20th call, then 3 more.
  ASSERT_EQ(calls.size(), 13u);
  for (std::size_t i = 0; i < calls.size(); ++i)
    EXPECT_EQ(calls[i].request_id, ids[22 - i]);
  // A reopened registry counts the rows it finds and goes on pruning from there.
  registry.reset();
  registry.emplace(open(options));
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(registry->record_call(call("late", kT0 + 100)));
  ASSERT_TRUE(registry->recent_calls(100, calls));
  EXPECT_EQ(calls.size(), 10u);
}

TEST_F(ConnectionRegistryTest, prunes_old_closed_connections_but_never_open_ones) {
  ConnectionRegistry registry = open({.max_closed_connections = 3, .prune_batch = 2});
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(registry.add_connection(connection("c" + std::to_string(i))));
  for (int i = 0; i < 8; ++i)
    ASSERT_TRUE(registry.mark_disconnected("c" + std::to_string(i), 1000, "", kT0 + i));
  EXPECT_EQ(registry.count_open(), 2u);
  EXPECT_TRUE(registry.find("c8"));
  EXPECT_TRUE(registry.find("c9"));
  EXPECT_TRUE(registry.find("c7"));  // the newest closed ones stay
  EXPECT_FALSE(registry.find("c0"));
  const std::int64_t closed =
      committed_int("SELECT COUNT(*) FROM connections WHERE disconnected_at_ms IS NOT NULL");
  EXPECT_GE(closed, 3);
  EXPECT_LT(closed, 5);
}

TEST_F(ConnectionRegistryTest, a_write_that_cannot_commit_reports_why) {
  ConnectionRegistry registry = open();
  // Another connection holds the write lock past our busy timeout.
  std::string error;
  auto other = Database::open(db_path(), error);
  ASSERT_TRUE(other) << error;
  ASSERT_TRUE(other->exec("BEGIN IMMEDIATE;", error)) << error;
  EXPECT_FALSE(registry.add_connection(connection("a")));
  EXPECT_NE(registry.last_error().find("locked"), std::string::npos) << registry.last_error();
  // Buffered writes fail when they are written, and say so.
  ASSERT_TRUE(registry.touch("a", kT0));
  ASSERT_TRUE(registry.record_call(call("r", kT0)));
  EXPECT_FALSE(registry.flush());
  EXPECT_NE(registry.last_error().find("locked"), std::string::npos) << registry.last_error();
  ASSERT_TRUE(other->exec("ROLLBACK;", error)) << error;
  EXPECT_TRUE(registry.add_connection(connection("a"))) << registry.last_error();
  EXPECT_TRUE(registry.flush());
}

TEST_F(ConnectionRegistryTest, refuses_a_newer_schema) {
  { ConnectionRegistry registry = open(); }
  std::string error;
  {
    auto db = Database::open(db_path(), error);
    ASSERT_TRUE(db) << error;
    ASSERT_TRUE(db->exec("PRAGMA user_version = 99;", error)) << error;
  }
  EXPECT_FALSE(ConnectionRegistry::open(db_path(), error));
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
}

TEST_F(ConnectionRegistryTest, refuses_a_file_that_is_not_a_database) {
  fs::create_directories(dir_);
  const std::string path = (dir_ / "junk.sqlite3").string();
  std::ofstream(path) << std::string(4096, 'x');
  std::string error;
  EXPECT_FALSE(ConnectionRegistry::open(path, error));
  EXPECT_FALSE(error.empty());
}

TEST_F(ConnectionRegistryTest, refuses_a_path_below_a_regular_file) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  std::string error;
  EXPECT_FALSE(ConnectionRegistry::open((dir_ / "file" / "gateway.sqlite3").string(), error));
  EXPECT_NE(error.find("cannot create"), std::string::npos) << error;
}

TEST(ConnectionRegistry, memory_database_needs_no_file) {
  std::string error;
  std::optional<ConnectionRegistry> registry = ConnectionRegistry::open(":memory:", error);
  ASSERT_TRUE(registry) << error;
  EXPECT_EQ(registry->journal_mode(), "memory");
  EXPECT_TRUE(registry->add_connection(connection("a")));
  EXPECT_EQ(registry->count_open(), 1u);
}

}  // namespace
}  // namespace hibiki::store
