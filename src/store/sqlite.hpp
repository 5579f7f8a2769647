// RAII handles for a SQLite connection and its prepared statements. Errors are values (SQLite
// result codes plus the connection's message); nothing here throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace hibiki::store {

// One prepared statement. Bind, step until done, then reset() before the next use.
class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQL's ?1. Text is bound without a copy: it must stay valid
  // until reset().
  void bind(int index, std::string_view text);
  void bind(int index, std::int64_t value);
  void bind_null(int index);

  enum class Step : std::uint8_t { row, done, error };
  [[nodiscard]] Step step();
  // Ends the current execution (committing an autocommit write) and keeps the bindings.
  // Returns the SQLite result code of the last step (0 when it went well).
  int reset();

  // Columns of the current row, 0-based. Views are valid until the next step() or reset().
  [[nodiscard]] std::int64_t column_int(int index) const;
  [[nodiscard]] std::string_view column_text(int index) const;
  [[nodiscard]] bool column_is_null(int index) const;

 private:
  friend class Database;
  explicit Statement(sqlite3_stmt* statement) : statement_(statement) {}
  sqlite3_stmt* statement_ = nullptr;
};

class Database {
 public:
  Database() = default;
  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Opens (creating if needed) `path`; ":memory:" is a private in-memory database.
  // Returns nullopt and fills `error` when it cannot.
  static std::optional<Database> open(const std::string& path, std::string& error);

  // Runs one or more statements without results. Returns false and fills `error` on failure.
  bool exec(const char* sql, std::string& error);
  // Prepares a statement kept for the connection's lifetime. Returns nullopt and fills `error`.
  std::optional<Statement> prepare(std::string_view sql, std::string& error);

  // The connection's last error message.
  [[nodiscard]] std::string last_error() const;
  // Rows changed by the last completed INSERT, UPDATE or DELETE.
  [[nodiscard]] std::int64_t changes() const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// What a store's file needs to be opened durably.
struct StoreFile {
  std::string path;         // a file (its directory is created), ":memory:" or a URI
  int schema_version = 1;   // a file with a newer PRAGMA user_version is refused
  const char* schema = "";  // run after the pragmas: CREATE ... IF NOT EXISTS, user_version
};

// Opens a store: creates the file's directory, sets a short busy timeout (one process owns the
// file; it only matters while someone reads it with the sqlite3 shell), refuses a newer schema,
// switches to WAL with synchronous = NORMAL (a commit is in the log when it returns, so it
// survives kill -9, without an fsync per commit), then runs the schema. Returns nullopt and
// fills `error`, naming the path, when a step fails; `journal_mode` is "wal" (or "memory").
std::optional<Database> open_store(const StoreFile& file, std::string& journal_mode,
                                   std::string& error);

// SQLite integers are signed: larger counts are clamped.
std::int64_t clamp_to_sql(std::uint64_t value);

}  // namespace hibiki::store
