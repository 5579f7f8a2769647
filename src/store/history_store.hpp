// Chat history in SQLite: one row per accepted message, numbered 1, 2, 3 … per room. Each append
// is its own committed transaction before append() returns, so a message the caller goes on to
// broadcast is already durable. Synchronous and short: meant to run on the event loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite.hpp"

namespace hibiki::store {

// Opening failed (path unusable, not a database, a newer schema, no WAL). Startup only.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HistoryMessage {
  std::uint64_t id = 0;    // per room, from 1, increasing without gaps
  std::int64_t ts_ms = 0;  // milliseconds since the Unix epoch, as given to append()
  std::string from_id;     // the sender's connection id
  std::string from_name;   // the sender's name; empty when it had none
  std::string text;
};

struct NewMessage {
  std::string_view room;
  std::string_view from_id;
  std::string_view from_name;  // empty: none (stored as NULL)
  std::string_view text;
  std::int64_t ts_ms = 0;
};

class HistoryStore {
 public:
  // Opens or creates the database at `path` and the directories above it; ":memory:" keeps
  // history in memory only. Throws StoreError.
  explicit HistoryStore(const std::string& path);

  // Appends and commits. Returns the message's id in its room, or 0 when the write failed
  // (disk full, I/O error, database locked by another process); last_error() says why.
  [[nodiscard]] std::uint64_t append(const NewMessage& message);

  // The newest `limit` messages of `room` with an id below `before` (0: no bound), oldest
  // first, replacing `out`. Returns false on a read error.
  bool latest(std::string_view room, std::size_t limit, std::uint64_t before,
              std::vector<HistoryMessage>& out);
  // The first `limit` messages of `room` with an id above `after`, oldest first, replacing
  // `out`. Returns false on a read error.
  bool after(std::string_view room, std::uint64_t after, std::size_t limit,
             std::vector<HistoryMessage>& out);
  // The highest id in `room` (0 when it has no messages), or nullopt on a read error.
  [[nodiscard]] std::optional<std::uint64_t> latest_id(std::string_view room);

  // Why the last failing call failed.
  [[nodiscard]] const std::string& last_error() const { return error_; }
  // "wal" for a file database, "memory" for ":memory:".
  [[nodiscard]] const std::string& journal_mode() const { return journal_mode_; }

 private:
  bool read_rows(Statement& statement, std::vector<HistoryMessage>& out);

  std::string error_;
  std::string journal_mode_;
  // Declared before the statements so that they are finalized first.
  Database db_;
  Statement insert_;
  Statement latest_;
  Statement after_;
  Statement max_id_;
};

}  // namespace hibiki::store
