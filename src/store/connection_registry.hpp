// The gateway's durable connection registry in SQLite: one row per WebSocket connection (open or
// closed) and a bounded log of integration calls. Opening repairs what a crash left behind:
// connections still marked open are closed with 1006 "gateway restarted". Errors are values
// (bool / optional plus last_error()); nothing here throws. Single-threaded: one owner, usually
// the event loop, calls everything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hibiki::store {

// What opening a registry sets on connections it finds still open.
inline constexpr std::uint16_t kRestartCloseCode = 1006;
inline constexpr std::string_view kRestartCloseReason = "gateway restarted";

struct RegistryOptions {
  // Integration calls kept: the newest ones; older rows are deleted in batches.
  std::size_t max_calls = 100'000;
  // Closed connections kept (by connection order); open connections are never pruned.
  std::size_t max_closed_connections = 100'000;
  // Rows allowed past a limit before one DELETE removes them all: pruning costs one statement
  // per batch instead of one per row.
  std::size_t prune_batch = 1'000;
  // touch() and record_call() are buffered in memory and written in one transaction at most
  // this often (see touch()). 0: write at every call.
  std::int64_t flush_interval_ms = 1'000;
  // Buffered integration calls that force a write before the interval is over.
  std::size_t max_pending_calls = 1'000;
};

struct ConnectionRecord {
  std::string connection_id;
  std::int64_t connected_at_ms = 0;  // milliseconds since the Unix epoch
  std::string source_ip;
  std::string user_agent;
  std::int64_t last_active_ms = 0;                 // includes touches not yet written
  std::optional<std::int64_t> disconnected_at_ms;  // nullopt while open
  std::uint16_t disconnect_code = 0;               // 0 while open
  std::string disconnect_reason;

  [[nodiscard]] bool is_open() const { return !disconnected_at_ms.has_value(); }
};

struct NewConnection {
  std::string_view connection_id;
  std::string_view source_ip;
  std::string_view user_agent;
  std::int64_t connected_at_ms = 0;
};

// One request to a backend ($connect, $disconnect or a routed message).
struct IntegrationCall {
  std::string_view request_id;
  std::string_view connection_id;
  std::string_view route_key;
  int status = 0;  // HTTP status; 0 when there was no response
  std::uint32_t latency_ms = 0;
  std::int64_t at_ms = 0;  // when the call was made, milliseconds since the Unix epoch
  std::string_view error;  // empty: none (stored as NULL)
};

struct IntegrationCallRecord {
  std::string request_id;
  std::string connection_id;
  std::string route_key;
  int status = 0;
  std::uint32_t latency_ms = 0;
  std::int64_t at_ms = 0;
  std::string error;
};

class ConnectionRegistry {
 public:
  // Opens or creates the registry at `path` (directories above it too; ":memory:" keeps it in
  // memory only), in WAL mode. Connections left open by a previous process (a crash, kill -9)
  // are closed at once with disconnected_at = now, kRestartCloseCode and kRestartCloseReason;
  // recovered_on_open() says how many. Returns nullopt and fills `error` when the path is
  // unusable, is not a database, has a newer schema or cannot use WAL.
  static std::optional<ConnectionRegistry> open(const std::string& path, std::string& error,
                                                const RegistryOptions& options = {});

  // Writes what touch() and record_call() buffered, then closes the database. A registry that
  // is destroyed without mark_disconnected() for its open connections leaves them open in the
  // file, which is what the next open() repairs.
  ~ConnectionRegistry();
  ConnectionRegistry(ConnectionRegistry&& other) noexcept;
  ConnectionRegistry& operator=(ConnectionRegistry&&) = delete;
  ConnectionRegistry(const ConnectionRegistry&) = delete;
  ConnectionRegistry& operator=(const ConnectionRegistry&) = delete;

  // Registers an open connection, committed before it returns (it survives kill -9), with
  // last_active = connected_at. Returns false when the id is already registered (ids must be
  // unique for the file's lifetime) or the write failed; last_error() says which.
  bool add_connection(const NewConnection& connection);

  // Notes activity on a connection. Cheap: it only updates an in-memory map. The newest time
  // per connection is written together with every other buffered touch and call in one
  // transaction when flush_interval_ms has passed since the last write (measured by the
  // `at_ms` given here and to record_call()), so SQLite sees at most one UPDATE per connection
  // per interval however chatty it is. Between writes, find() already reports the newer time;
  // a crash loses at most one interval of last-active times, never a connection. Returns false
  // only when a write it triggered failed.
  bool touch(std::string_view connection_id, std::int64_t at_ms);

  // Closes a connection, committed before it returns. Only the first call for a connection
  // counts; later calls and unknown ids change nothing and still return true. Returns false
  // when the write failed.
  bool mark_disconnected(std::string_view connection_id, std::uint16_t code,
                         std::string_view reason, std::int64_t at_ms);

  // The connection's record, open or closed. nullopt when no connection has that id (then
  // last_error() is empty) or on a read error (then it says why).
  [[nodiscard]] std::optional<ConnectionRecord> find(std::string_view connection_id);

  // Logs a call to a backend. Buffered like touch(): written at the next flush, which this call
  // triggers when the interval passed or max_pending_calls are waiting. Returns false only when
  // a write it triggered failed.
  bool record_call(const IntegrationCall& call);

  // Writes every buffered touch and call now, in one transaction; also prunes old rows.
  // Call it from a timer (every flush_interval_ms) so quiet periods are written too. On a write
  // failure the buffered entries are dropped (memory stays bounded) and false is returned.
  bool flush();

  // Open connections, or nullopt on a read error.
  [[nodiscard]] std::optional<std::uint64_t> count_open();
  // The newest `limit` integration calls, newest first, replacing `out` (flushes first).
  // Returns false on a read or write error.
  bool recent_calls(std::size_t limit, std::vector<IntegrationCallRecord>& out);

  // Connections that open() found still open and closed with kRestartCloseCode.
  [[nodiscard]] std::uint64_t recovered_on_open() const;
  // Why the last call failed; empty when it succeeded.
  [[nodiscard]] const std::string& last_error() const;
  // "wal" for a file, "memory" for ":memory:".
  [[nodiscard]] const std::string& journal_mode() const;

 private:
  struct State;
  explicit ConnectionRegistry(std::unique_ptr<State> state);
  // Behind a pointer: the prepared statements stay out of this header and a moved-from
  // registry is simply empty.
  std::unique_ptr<State> state_;
};

}  // namespace hibiki::store
