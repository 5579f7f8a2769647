// Chat history in SQLite (see history_store.hpp).
#include "store/history_store.hpp"

#include <algorithm>
#include <limits>

namespace hibiki::store {
namespace {

constexpr int kSchemaVersion = 1;
// WITHOUT ROWID: the (room, id) key is the table, so "newest in room" and "next id" are one
// index seek each.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  room      TEXT    NOT NULL,
  id        INTEGER NOT NULL,
  ts        INTEGER NOT NULL,
  from_id   TEXT    NOT NULL,
  from_name TEXT,
  text      TEXT    NOT NULL,
  PRIMARY KEY (room, id)
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

// The next id is computed inside the insert, so it is atomic with it and right even if another
// process wrote to the file since we last looked.
constexpr std::string_view kInsert =
    "INSERT INTO messages (room, id, ts, from_id, from_name, text) "
    "SELECT ?1, COALESCE(MAX(id), 0) + 1, ?2, ?3, ?4, ?5 FROM messages WHERE room = ?1 "
    "RETURNING id";
constexpr std::string_view kLatest =
    "SELECT id, ts, from_id, from_name, text FROM messages "
    "WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
constexpr std::string_view kAfter =
    "SELECT id, ts, from_id, from_name, text FROM messages "
    "WHERE room = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3";
constexpr std::string_view kMaxId = "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room = ?1";

Statement prepare_or_throw(Database& db, std::string_view sql) {
  std::string error;
  std::optional<Statement> statement = db.prepare(sql, error);
  if (!statement) throw StoreError("preparing a statement failed: " + error);
  return std::move(*statement);
}

}  // namespace

HistoryStore::HistoryStore(const std::string& path) {
  std::optional<Database> db = open_store(
      {.path = path, .schema_version = kSchemaVersion, .schema = kSchema}, journal_mode_, error_);
  if (!db) throw StoreError(error_);
  db_ = std::move(*db);
  insert_ = prepare_or_throw(db_, kInsert);
  latest_ = prepare_or_throw(db_, kLatest);
  after_ = prepare_or_throw(db_, kAfter);
  max_id_ = prepare_or_throw(db_, kMaxId);
}

std::uint64_t HistoryStore::append(const NewMessage& message) {
  insert_.bind(1, message.room);
  insert_.bind(2, message.ts_ms);
  insert_.bind(3, message.from_id);
  if (message.from_name.empty()) {
    insert_.bind_null(4);
  } else {
    insert_.bind(4, message.from_name);
  }
  insert_.bind(5, message.text);
  std::uint64_t id = 0;
  Statement::Step step = insert_.step();
  if (step == Statement::Step::row) {
    id = static_cast<std::uint64_t>(insert_.column_int(0));
    step = insert_.step();
  }
  // The autocommit transaction ends (and commits) when the statement is done; only then is
  // the id ours to hand out.
  const bool ok = step == Statement::Step::done && id != 0;
  if (!ok) error_ = db_.last_error();
  const int status = insert_.reset();
  if (ok && status != 0) {
    error_ = db_.last_error();
    return 0;
  }
  return ok ? id : 0;
}

bool HistoryStore::read_rows(Statement& statement, std::vector<HistoryMessage>& out) {
  out.clear();
  Statement::Step step;
  while ((step = statement.step()) == Statement::Step::row) {
    HistoryMessage& row = out.emplace_back();
    row.id = static_cast<std::uint64_t>(statement.column_int(0));
    row.ts_ms = statement.column_int(1);
    row.from_id.assign(statement.column_text(2));
    if (!statement.column_is_null(3)) row.from_name.assign(statement.column_text(3));
    row.text.assign(statement.column_text(4));
  }
  const bool ok = step == Statement::Step::done;
  if (!ok) {
    error_ = db_.last_error();
    out.clear();
  }
  statement.reset();
  return ok;
}

bool HistoryStore::latest(std::string_view room, std::size_t limit, std::uint64_t before,
                          std::vector<HistoryMessage>& out) {
  latest_.bind(1, room);
  latest_.bind(2, before == 0 ? std::numeric_limits<std::int64_t>::max() : clamp_to_sql(before));
  latest_.bind(3, clamp_to_sql(static_cast<std::uint64_t>(limit)));
  if (!read_rows(latest_, out)) return false;
  std::reverse(out.begin(), out.end());
  return true;
}

bool HistoryStore::after(std::string_view room, std::uint64_t after, std::size_t limit,
                         std::vector<HistoryMessage>& out) {
  after_.bind(1, room);
  after_.bind(2, clamp_to_sql(after));
  after_.bind(3, clamp_to_sql(static_cast<std::uint64_t>(limit)));
  return read_rows(after_, out);
}

std::optional<std::uint64_t> HistoryStore::latest_id(std::string_view room) {
  max_id_.bind(1, room);
  std::optional<std::uint64_t> id;
  if (max_id_.step() == Statement::Step::row) {
    id = static_cast<std::uint64_t>(max_id_.column_int(0));
  } else {
    error_ = db_.last_error();
  }
  max_id_.reset();
  return id;
}

}  // namespace hibiki::store
