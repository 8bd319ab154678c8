// storage/pg/pg_conn.hpp
// One libpq connection driven by Asio: non-blocking connect, pipeline mode,
// results delivered in send order. libpq owns the socket; the descriptor is
// only a readiness notifier and is released (never closed) before
// PQconnectPoll, PQfinish and destruction (IO-NOTES.md 1.1). All calls run on
// the owning io_context's single thread.
#pragma once
#include <asio.hpp>
#include <libpq-fe.h>

#include <deque>
#include <functional>
#include <string>

namespace crm::storage {

// "host=H port=P dbname=D user=U" of a conninfo (keyword or URI form) for
// messages: never the password; libpq's defaults for what it leaves out;
// "(unparseable conninfo)" when libpq cannot read it.
std::string describe_conninfo(const std::string& conninfo);

class pg_conn {
public:
  using result_fn = std::function<void(PGresult*)>;  // once per PGresult (never null)

  explicit pg_conn(asio::io_context& io) : sd_(io) {}
  ~pg_conn() { close(); }
  pg_conn(const pg_conn&) = delete;
  pg_conn& operator=(const pg_conn&) = delete;

  // Starts a non-blocking connect; `done(ok, error)` runs on the io thread.
  void connect(const std::string& conninfo, std::function<void(bool, std::string)> done);
  void close();

  PGconn* raw() const { return conn_; }
  bool enter_pipeline() { return PQenterPipelineMode(conn_) == 1; }

  // After a PQsend*() call: the callback for its result(s).
  void queued(result_fn fn) { expected_.push_back({std::move(fn), false}); }
  // Ends the current request (its implicit transaction); `fn` sees PGRES_PIPELINE_SYNC.
  void sync(result_fn fn = {});
  void flush();

  size_t syncs_in_flight() const { return syncs_; }

  std::function<void(std::string)> on_broken;  // CONNECTION_BAD: every queued result is lost

private:
  struct expected_result {
    result_fn fn;
    bool is_sync;
  };
  void poll_connect(PostgresPollingStatusType st, std::function<void(bool, std::string)> done);
  void arm_read();
  void arm_write();
  void drain();
  void broken();

  PGconn* conn_ = nullptr;
  asio::posix::stream_descriptor sd_;
  bool reading_ = false, writing_ = false;
  unsigned generation_ = 0;  // bumped by close(): stale handlers bail out
  size_t syncs_ = 0;
  std::deque<expected_result> expected_;
};

} // namespace crm::storage
