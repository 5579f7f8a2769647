// The gateway's connection registry in SQLite (see connection_registry.hpp).
#include "store/connection_registry.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <unordered_map>
#include <utility>

#include "store/sqlite.hpp"

namespace hibiki::store {
namespace {

constexpr int kSchemaVersion = 1;
// connections keeps its rowid (connection order) so the oldest closed rows can be pruned; the
// partial index makes count_open() and the restart repair walk only open connections.
// integration_calls has no key of its own: its rowid is the arrival order.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS connections (
  connection_id      TEXT    PRIMARY KEY,
  connected_at_ms    INTEGER NOT NULL,
  source_ip          TEXT    NOT NULL,
  user_agent         TEXT    NOT NULL,
  last_active_ms     INTEGER NOT NULL,
  disconnected_at_ms INTEGER,
  disconnect_code    INTEGER,
  disconnect_reason  TEXT
);
CREATE INDEX IF NOT EXISTS connections_open ON connections (connection_id)
  WHERE disconnected_at_ms IS NULL;
CREATE TABLE IF NOT EXISTS integration_calls (
  request_id    TEXT    NOT NULL,
  connection_id TEXT    NOT NULL,
  route_key     TEXT    NOT NULL,
  status        INTEGER NOT NULL,
  latency_ms    INTEGER NOT NULL,
  at_ms         INTEGER NOT NULL,
  error         TEXT
);
PRAGMA user_version = 1;
)sql";

constexpr std::string_view kInsertConnection =
    "INSERT INTO connections (connection_id, connected_at_ms, source_ip, user_agent, "
    "last_active_ms) VALUES (?1, ?2, ?3, ?4, ?2)";
// MAX: touches may arrive out of order, and a flush must never move the time backwards.
constexpr std::string_view kTouch =
    "UPDATE connections SET last_active_ms = MAX(last_active_ms, ?2) "
    "WHERE connection_id = ?1 AND disconnected_at_ms IS NULL";
constexpr std::string_view kMarkDisconnected =
    "UPDATE connections SET disconnected_at_ms = ?2, disconnect_code = ?3, "
    "disconnect_reason = ?4, last_active_ms = MAX(last_active_ms, ?5) "
    "WHERE connection_id = ?1 AND disconnected_at_ms IS NULL";
constexpr std::string_view kRepairOpen =
    "UPDATE connections SET disconnected_at_ms = ?1, disconnect_code = ?2, "
    "disconnect_reason = ?3 WHERE disconnected_at_ms IS NULL";
constexpr std::string_view kFind =
    "SELECT connection_id, connected_at_ms, source_ip, user_agent, last_active_ms, "
    "disconnected_at_ms, disconnect_code, disconnect_reason FROM connections "
    "WHERE connection_id = ?1";
constexpr std::string_view kInsertCall =
    "INSERT INTO integration_calls (request_id, connection_id, route_key, status, latency_ms, "
    "at_ms, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr std::string_view kPruneCalls =
    "DELETE FROM integration_calls WHERE rowid IN "
    "(SELECT rowid FROM integration_calls ORDER BY rowid LIMIT ?1)";
constexpr std::string_view kPruneClosed =
    "DELETE FROM connections WHERE rowid IN (SELECT rowid FROM connections "
    "WHERE disconnected_at_ms IS NOT NULL ORDER BY rowid LIMIT ?1)";
constexpr std::string_view kCountOpen =
    "SELECT COUNT(*) FROM connections WHERE disconnected_at_ms IS NULL";
constexpr std::string_view kCountClosed =
    "SELECT COUNT(*) FROM connections WHERE disconnected_at_ms IS NOT NULL";
constexpr std::string_view kCountCalls = "SELECT COUNT(*) FROM integration_calls";
constexpr std::string_view kRecentCalls =
    "SELECT request_id, connection_id, route_key, status, latency_ms, at_ms, error "
    "FROM integration_calls ORDER BY rowid DESC LIMIT ?1";

std::int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Steps a statement that returns no rows we need to the end, then resets it.
bool run(Statement& statement) {
  Statement::Step step;
  while ((step = statement.step()) == Statement::Step::row) {
  }
  const int status = statement.reset();
  return step == Statement::Step::done && status == 0;
}

// A one-row, one-integer query (COUNT, PRAGMA).
std::optional<std::int64_t> query_int(Statement& statement) {
  std::optional<std::int64_t> value;
  if (statement.step() == Statement::Step::row) value = statement.column_int(0);
  statement.reset();
  return value;
}

// Heterogeneous lookup: touch() finds a connection by string_view without building a string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

}  // namespace

struct ConnectionRegistry::State {
  RegistryOptions options;
  std::string error;
  std::string journal_mode;
  std::uint64_t recovered = 0;
  std::uint64_t call_rows = 0;    // rows in integration_calls
  std::uint64_t closed_rows = 0;  // closed rows in connections

  // Buffered writes. The window opens with the first buffered entry (its at_ms) and a write is
  // due once a later at_ms is flush_interval_ms away from it, in either direction, so a clock
  // that steps back cannot hold writes forever.
  std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>> touches;
  std::vector<IntegrationCallRecord> calls;
  std::optional<std::int64_t> window_start_ms;

  // Declared before the statements so that they are finalized first.
  Database db;
  Statement begin;
  Statement commit;
  Statement rollback;
  Statement insert_connection;
  Statement touch;
  Statement mark_disconnected;
  Statement find;
  Statement insert_call;
  Statement prune_calls;
  Statement prune_closed;
  Statement count_open;
  Statement recent_calls;

  bool fail(std::string message) {
    error = std::move(message);
    return false;
  }
  bool fail_with_db_error() { return fail(db.last_error()); }

  bool write_due(std::int64_t at_ms) {
    if (!window_start_ms) window_start_ms = at_ms;
    const std::int64_t waited = at_ms - *window_start_ms;
    return waited >= options.flush_interval_ms || -waited >= options.flush_interval_ms;
  }

  // Deletes the oldest rows of a table past `limit` once `rows` is a whole batch over it.
  bool prune(Statement& statement, std::uint64_t& rows, std::size_t limit) {
    const std::uint64_t batch = std::max<std::size_t>(options.prune_batch, 1);
    if (rows < limit + batch) return true;
    statement.bind(1, clamp_to_sql(rows - limit));
    if (!run(statement)) return fail_with_db_error();
    rows -= std::min<std::uint64_t>(rows, static_cast<std::uint64_t>(db.changes()));
    return true;
  }

  bool write_buffered();
};

bool ConnectionRegistry::State::write_buffered() {
  window_start_ms.reset();
  if (touches.empty() && calls.empty()) return true;
  // One transaction for the whole batch: one WAL commit instead of one per row.
  bool ok = run(begin);
  for (auto it = touches.begin(); ok && it != touches.end(); ++it) {
    touch.bind(1, it->first);
    touch.bind(2, it->second);
    ok = run(touch);
  }
  for (auto it = calls.begin(); ok && it != calls.end(); ++it) {
    insert_call.bind(1, it->request_id);
    insert_call.bind(2, it->connection_id);
    insert_call.bind(3, it->route_key);
    insert_call.bind(4, std::int64_t{it->status});
    insert_call.bind(5, std::int64_t{it->latency_ms});
    insert_call.bind(6, it->at_ms);
    if (it->error.empty()) {
      insert_call.bind_null(7);
    } else {
      insert_call.bind(7, it->error);
    }
    ok = run(insert_call);
  }
  ok = ok && run(commit);
  if (!ok) {
    error = db.last_error();
    run(rollback);
  } else {
    call_rows += calls.size();
  }
  // Dropped on failure too: retrying a full disk forever would only grow the buffers.
  touches.clear();
  calls.clear();
  if (!ok) return false;
  return prune(prune_calls, call_rows, options.max_calls);
}

std::optional<ConnectionRegistry> ConnectionRegistry::open(const std::string& path,
                                                           std::string& error,
                                                           const RegistryOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  std::optional<Database> db =
      open_store({.path = path, .schema_version = kSchemaVersion, .schema = kSchema},
                 state->journal_mode, error);
  if (!db) return std::nullopt;
  State& s = *state;
  s.db = std::move(*db);
  auto failed = [&](const std::string& what) {
    error = what + " " + path + ": " + s.db.last_error();
    return std::nullopt;
  };
  std::string detail;
  auto prepare = [&](Statement& into, std::string_view sql) {
    std::optional<Statement> statement = s.db.prepare(sql, detail);
    if (statement) into = std::move(*statement);
    return statement.has_value();
  };

  const bool prepared =
      prepare(s.begin, "BEGIN IMMEDIATE") && prepare(s.commit, "COMMIT") &&
      prepare(s.rollback, "ROLLBACK") && prepare(s.insert_connection, kInsertConnection) &&
      prepare(s.touch, kTouch) && prepare(s.mark_disconnected, kMarkDisconnected) &&
      prepare(s.find, kFind) && prepare(s.insert_call, kInsertCall) &&
      prepare(s.prune_calls, kPruneCalls) && prepare(s.prune_closed, kPruneClosed) &&
      prepare(s.count_open, kCountOpen) && prepare(s.recent_calls, kRecentCalls);
  if (!prepared) return failed("cannot prepare statements for");

  // Whoever held these connections is gone: the process that accepted them exited without
  // closing them (crash, kill -9, power loss), so their sockets are closed too.
  Statement repair;
  if (!prepare(repair, kRepairOpen)) return failed("cannot prepare statements for");
  repair.bind(1, wall_clock_ms());
  repair.bind(2, std::int64_t{kRestartCloseCode});
  repair.bind(3, kRestartCloseReason);
  if (!run(repair)) return failed("cannot close stale connections in");
  s.recovered = static_cast<std::uint64_t>(s.db.changes());

  Statement count;
  std::optional<std::int64_t> closed;
  std::optional<std::int64_t> calls;
  if (prepare(count, kCountClosed)) closed = query_int(count);
  if (prepare(count, kCountCalls)) calls = query_int(count);
  if (!closed || !calls) return failed("cannot read");
  s.closed_rows = static_cast<std::uint64_t>(*closed);
  s.call_rows = static_cast<std::uint64_t>(*calls);
  // Limits may have been lowered since the file was written.
  if (!s.prune(s.prune_closed, s.closed_rows, options.max_closed_connections) ||
      !s.prune(s.prune_calls, s.call_rows, options.max_calls)) {
    error = "cannot prune " + path + ": " + s.error;
    return std::nullopt;
  }
  return ConnectionRegistry(std::move(state));
}

ConnectionRegistry::ConnectionRegistry(std::unique_ptr<State> state) : state_(std::move(state)) {}

ConnectionRegistry::ConnectionRegistry(ConnectionRegistry&& other) noexcept = default;

ConnectionRegistry::~ConnectionRegistry() {
  if (state_) state_->write_buffered();
}

bool ConnectionRegistry::add_connection(const NewConnection& connection) {
  State& s = *state_;
  s.error.clear();
  s.insert_connection.bind(1, connection.connection_id);
  s.insert_connection.bind(2, connection.connected_at_ms);
  s.insert_connection.bind(3, connection.source_ip);
  s.insert_connection.bind(4, connection.user_agent);
  if (run(s.insert_connection)) return true;
  const std::string why = s.db.last_error();
  if (why.find("UNIQUE") != std::string::npos) {
    return s.fail("connection id " + std::string(connection.connection_id) +
                  " is already registered");
  }
  return s.fail(why);
}

bool ConnectionRegistry::touch(std::string_view connection_id, std::int64_t at_ms) {
  State& s = *state_;
  s.error.clear();
  const auto it = s.touches.find(connection_id);
  if (it == s.touches.end()) {
    s.touches.emplace(std::string(connection_id), at_ms);
  } else {
    it->second = std::max(it->second, at_ms);
  }
  return !s.write_due(at_ms) || s.write_buffered();
}

bool ConnectionRegistry::mark_disconnected(std::string_view connection_id, std::uint16_t code,
                                           std::string_view reason, std::int64_t at_ms) {
  State& s = *state_;
  s.error.clear();
  // A buffered touch of this connection goes into the same write; afterwards it would be
  // ignored anyway (touches only update open connections).
  std::int64_t last_active_ms = 0;
  if (const auto it = s.touches.find(connection_id); it != s.touches.end()) {
    last_active_ms = it->second;
    s.touches.erase(it);
  }
  s.mark_disconnected.bind(1, connection_id);
  s.mark_disconnected.bind(2, at_ms);
  s.mark_disconnected.bind(3, std::int64_t{code});
  s.mark_disconnected.bind(4, reason);
  s.mark_disconnected.bind(5, last_active_ms);
  if (!run(s.mark_disconnected)) return s.fail_with_db_error();
  s.closed_rows += static_cast<std::uint64_t>(s.db.changes());
  return s.prune(s.prune_closed, s.closed_rows, s.options.max_closed_connections);
}

std::optional<ConnectionRecord> ConnectionRegistry::find(std::string_view connection_id) {
  State& s = *state_;
  s.error.clear();
  Statement& q = s.find;
  q.bind(1, connection_id);
  std::optional<ConnectionRecord> record;
  const Statement::Step step = q.step();
  if (step == Statement::Step::row) {
    ConnectionRecord& r = record.emplace();
    r.connection_id.assign(q.column_text(0));
    r.connected_at_ms = q.column_int(1);
    r.source_ip.assign(q.column_text(2));
    r.user_agent.assign(q.column_text(3));
    r.last_active_ms = q.column_int(4);
    if (!q.column_is_null(5)) {
      r.disconnected_at_ms = q.column_int(5);
      r.disconnect_code = static_cast<std::uint16_t>(q.column_int(6));
      r.disconnect_reason.assign(q.column_text(7));
    }
  } else if (step == Statement::Step::error) {
    s.error = s.db.last_error();
  }
  q.reset();
  if (record && record->is_open()) {
    if (const auto it = s.touches.find(connection_id); it != s.touches.end()) {
      record->last_active_ms = std::max(record->last_active_ms, it->second);
    }
  }
  return record;
}

bool ConnectionRegistry::record_call(const IntegrationCall& call) {
  State& s = *state_;
  s.error.clear();
  s.calls.push_back(IntegrationCallRecord{.request_id = std::string(call.request_id),
                                          .connection_id = std::string(call.connection_id),
                                          .route_key = std::string(call.route_key),
                                          .status = call.status,
                                          .latency_ms = call.latency_ms,
                                          .at_ms = call.at_ms,
                                          .error = std::string(call.error)});
  const bool due = s.write_due(call.at_ms) || s.calls.size() >= s.options.max_pending_calls;
  return !due || s.write_buffered();
}

bool ConnectionRegistry::flush() {
  state_->error.clear();
  return state_->write_buffered();
}

std::optional<std::uint64_t> ConnectionRegistry::count_open() {
  State& s = *state_;
  s.error.clear();
  const std::optional<std::int64_t> count = query_int(s.count_open);
  if (!count) {
    s.error = s.db.last_error();
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(*count);
}

bool ConnectionRegistry::recent_calls(std::size_t limit, std::vector<IntegrationCallRecord>& out) {
  State& s = *state_;
  s.error.clear();
  out.clear();
  if (!s.write_buffered()) return false;
  Statement& q = s.recent_calls;
  q.bind(1, clamp_to_sql(limit));
  Statement::Step step;
  while ((step = q.step()) == Statement::Step::row) {
    IntegrationCallRecord& r = out.emplace_back();
    r.request_id.assign(q.column_text(0));
    r.connection_id.assign(q.column_text(1));
    r.route_key.assign(q.column_text(2));
    r.status = static_cast<int>(q.column_int(3));
    r.latency_ms = static_cast<std::uint32_t>(q.column_int(4));
    r.at_ms = q.column_int(5);
    if (!q.column_is_null(6)) r.error.assign(q.column_text(6));
  }
  const bool ok = step == Statement::Step::done;
  if (!ok) {
    s.error = s.db.last_error();
    out.clear();
  }
  q.reset();
  return ok;
}

std::uint64_t ConnectionRegistry::recovered_on_open() const {
  return state_->recovered;
}

const std::string& ConnectionRegistry::last_error() const {
  return state_->error;
}

const std::string& ConnectionRegistry::journal_mode() const {
  return state_->journal_mode;
}

}  // namespace hibiki::store
