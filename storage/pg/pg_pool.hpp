// storage/pg/pg_pool.hpp
// A pool of pipelined libpq connections on one io_context thread. One request
// = one Sync segment = one implicit transaction; when a tenant is given,
// set_config('app.tenant_id', $tenant, true) runs first in the same segment,
// so row-level security sees it (IO-NOTES.md 1.7). Broken connections
// reconnect with exponential backoff and jitter; named statements are
// re-prepared on every new session. Requests have deadlines; with no
// connection up they fail fast with dependency.unavailable. Knows no actor:
// callbacks run on the pool's thread.
#pragma once
#include "storage/pg/pg_conn.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

namespace crm::storage {

struct pg_options {
  std::string conninfo;                         // libpq conninfo of the app role
  size_t connections = 8;                       // pipelined connections
  size_t max_depth = 64;                        // requests in flight per connection
  size_t max_queue = 4096;                      // requests waiting when all are at max_depth
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
  size_t statement_cache = 256;  // cached statements (pg_query::cache) per connection; then unnamed
};

// A statement prepared on every session under `name`.
struct pg_statement {
  std::string name;
  std::string sql;
};

struct pg_query {
  std::string text;                 // SQL text, or a prepared statement's name
  std::vector<std::optional<std::string>> params;  // text parameters; nullopt = NULL
  bool prepared = false;
  // SQL text of a shape that recurs (the query DSL's): prepared on first use
  // per connection and run by name from then on, so PostgreSQL parses and
  // plans it once per session (a bounded cache, emptied on reconnect).
  bool cache = false;
};

struct pg_rows {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  uint64_t affected = 0;  // from the command tag

  // The text of one cell; "" for NULL. Throws std::out_of_range past the rows.
  const std::string& cell(size_t row, size_t col) const {
    static const std::string null_text;
    const auto& v = rows.at(row).at(col);
    return v ? *v : null_text;
  }
};

using pg_callback = std::function<void(caf::expected<std::vector<pg_rows>>)>;
// Events: pg.connected, pg.connect_failed, pg.prepare_failed,
// pg.connection_lost, pg.statement_failed (a server-side problem) and
// pg.statement_refused (the client's data: a constraint, an unstorable
// character); detail starts with the SQLSTATE for the last two.
using pg_event_fn = std::function<void(std::string_view event, std::string_view detail)>;

class pg_pool {
public:
  pg_pool(asio::io_context& io, pg_options options, std::vector<pg_statement> statements,
          pg_event_fn on_event = {});
  ~pg_pool();
  pg_pool(const pg_pool&) = delete;
  pg_pool& operator=(const pg_pool&) = delete;

  // Starts connecting. Any thread.
  void start();
  // Closes every connection; queued requests fail. Any thread.
  void stop();

  // Runs `queries` as one transaction (one Sync), tenant-scoped when `tenant`
  // is non-empty. `done` runs once, on the pool's thread, with one pg_rows
  // per query or the error of the first failing statement. Any thread.
  void run(std::string tenant, std::vector<pg_query> queries, pg_callback done);

  // Called (on the pool's thread) after every transaction that ran a
  // statement writing the outbox committed: the relay of this node looks at
  // once (ADR-0046). Set before start().
  void on_events_committed(std::function<void()> hook) { events_committed_ = std::move(hook); }

  // SELECT 1 round trip; `done(ok)` on the pool's thread. Any thread.
  void ping(std::function<void(bool)> done);

  // Connections ready now (any thread; for health and metrics).
  size_t connections_up() const { return up_.load(); }
  // Fault injection (NEXTCRM_CHAOS=pg=...): shuts down the socket of the
  // connected session number `pick` modulo the live ones, as a network
  // failure would; libpq sees the error and the pool reconnects. Any thread.
  void chaos_drop(uint64_t pick);
  // Statements of pg_query::cache prepared so far, over every connection and
  // reconnect (any thread; metrics and benchmarks).
  uint64_t statements_prepared() const { return prepared_.load(); }

private:
  struct request;
  struct slot;
  void dispatch(std::shared_ptr<request> r);
  void send(slot& s, std::shared_ptr<request> r);
  void connect(slot& s);
  void on_broken(slot& s, const std::string& why);
  void retry_later(slot& s);
  void pump();
  void sweep();
  void finish(request& r, caf::expected<std::vector<pg_rows>> result);

  asio::io_context& io_;
  pg_options options_;
  std::vector<pg_statement> statements_;
  pg_event_fn on_event_;
  std::function<void()> events_committed_;
  std::unordered_set<std::string> emitting_;  // prepared statements that write the outbox
  std::vector<std::unique_ptr<slot>> slots_;
  std::deque<std::shared_ptr<request>> waiting_;
  asio::steady_timer sweeper_;
  std::mt19937 rng_{std::random_device{}()};
  std::atomic<size_t> up_{0};
  std::atomic<uint64_t> prepared_{0};
  bool stopped_ = false;
};

// The error a SQLSTATE maps to (ERROR-CONTRACT.md): 23505 -> resource_conflict,
// 40001/40P01 (after the pool's retries: run() runs a request up to 3 times
// while it fails with one of them) -> resource_conflict, class 08, 57P01, 57P03, 57014 ->
// dependency_unavailable, 22021/22P05 (a NUL or an unstorable character;
// run() refuses a parameter holding a NUL with 22021 before sending it) ->
// request_validation, anything else -> internal.
// 23503 (foreign key) and 23514 (check) are resource_conflict too; the
// callers that know what was written remap them (a missing reference on
// insert is a 422), using violation_of().
caf::error error_of_sqlstate(std::string_view sqlstate, std::string_view constraint = {});

// The SQLSTATE and constraint name of a class 23 error from error_of_sqlstate
// (both empty for any other error).
struct pg_violation {
  std::string sqlstate;
  std::string constraint;
};
pg_violation violation_of(const caf::error& e);

} // namespace crm::storage
