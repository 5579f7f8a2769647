// RAII handles for a SQLite connection and its prepared statements.
#include "store/sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

namespace hibiki::store {

Statement::~Statement() {
  sqlite3_finalize(statement_);
}

Statement::Statement(Statement&& other) noexcept
    : statement_(std::exchange(other.statement_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(statement_);
    statement_ = std::exchange(other.statement_, nullptr);
  }
  return *this;
}

void Statement::bind(int index, std::string_view text) {
  // SQLITE_STATIC: the caller keeps the text alive until reset(); no copy on the hot path.
  sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

void Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(statement_, index, value);
}

void Statement::bind_null(int index) {
  sqlite3_bind_null(statement_, index);
}

Statement::Step Statement::step() {
  switch (sqlite3_step(statement_)) {
    case SQLITE_ROW:
      return Step::row;
    case SQLITE_DONE:
      return Step::done;
    default:
      return Step::error;
  }
}

int Statement::reset() {
  return sqlite3_reset(statement_);
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(statement_, index);
}

std::string_view Statement::column_text(int index) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, index));
  if (text == nullptr) return {};
  return {text, static_cast<std::size_t>(sqlite3_column_bytes(statement_, index))};
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(statement_, index) == SQLITE_NULL;
}

Database::~Database() {
  // Statements must be finalized first; their owners (members declared after the Database)
  // are destroyed before it. sqlite3_close_v2 tolerates stragglers anyway.
  sqlite3_close_v2(db_);
}

Database::Database(Database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

namespace {

// ":memory:", "" (a temporary file SQLite manages) and URIs name no directory to create.
bool names_a_plain_file(const std::string& path) {
  return path != ":memory:" && !path.empty() && !path.starts_with("file:");
}

// The first column of a one-row query, as text; nullopt when it fails.
std::optional<std::string> query_text(Database& db, const char* sql) {
  std::string ignored;
  std::optional<Statement> statement = db.prepare(sql, ignored);
  if (!statement || statement->step() != Statement::Step::row) return std::nullopt;
  return std::string(statement->column_text(0));
}

}  // namespace

std::optional<Database> open_store(const StoreFile& file, std::string& journal_mode,
                                   std::string& error) {
  const std::string& path = file.path;
  if (names_a_plain_file(path)) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      error = "cannot create " + parent.string() + ": " + ec.message();
      return std::nullopt;
    }
  }
  std::optional<Database> db = Database::open(path, error);
  if (!db) {
    error = "cannot open " + path + ": " + error;
    return std::nullopt;
  }
  auto failed = [&](const char* what) {
    error = std::string(what) + " " + path + ": " + db->last_error();
    return std::nullopt;
  };
  std::string detail;
  if (!db->exec("PRAGMA busy_timeout = 200;", detail)) return failed("cannot configure");
  const std::optional<std::string> version = query_text(*db, "PRAGMA user_version");
  if (!version) return failed("cannot read");
  if (std::stoll(*version) > file.schema_version) {
    error = path + " has schema version " + *version + ", newer than this program's " +
            std::to_string(file.schema_version);
    return std::nullopt;
  }
  const std::optional<std::string> mode = query_text(*db, "PRAGMA journal_mode = WAL");
  if (!mode) return failed("cannot configure");
  journal_mode = *mode;
  if (journal_mode != "wal" && journal_mode != "memory") {
    error = "cannot use WAL mode for " + path + " (journal mode is " + journal_mode + ")";
    return std::nullopt;
  }
  if (!db->exec("PRAGMA synchronous = NORMAL;", detail) || !db->exec(file.schema, detail)) {
    return failed("cannot set up");
  }
  return db;
}

std::int64_t clamp_to_sql(std::uint64_t value) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(value, kMax));
}

std::optional<Database> Database::open(const std::string& path, std::string& error) {
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int status = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (status != SQLITE_OK) {
    error = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(status);
    sqlite3_close_v2(db);
    return std::nullopt;
  }
  sqlite3_extended_result_codes(db, 1);
  return Database(db);
}

bool Database::exec(const char* sql, std::string& error) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    error = message != nullptr ? message : last_error();
    sqlite3_free(message);
    return false;
  }
  return true;
}

std::optional<Statement> Database::prepare(std::string_view sql, std::string& error) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &statement, nullptr) != SQLITE_OK) {
    error = last_error();
    return std::nullopt;
  }
  return Statement(statement);
}

std::string Database::last_error() const {
  return db_ != nullptr ? sqlite3_errmsg(db_) : "no database";
}

std::int64_t Database::changes() const {
  return db_ != nullptr ? sqlite3_changes64(db_) : 0;
}

}  // namespace hibiki::store
