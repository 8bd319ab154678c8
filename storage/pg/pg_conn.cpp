#include "storage/pg/pg_conn.hpp"

namespace crm::storage {

std::string describe_conninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    PQfreemem(err);
    return "(unparseable conninfo)";
  }
  std::string out;
  for (const char* key : {"host", "port", "dbname", "user"}) {
    for (auto* o = opts; o->keyword; ++o) {
      if (std::string_view{o->keyword} != key) continue;
      const char* v = o->val ? o->val : o->compiled;
      if (!v) {
        if (std::string_view{key} == "host") v = "localhost";
        else if (std::string_view{key} == "port") v = "5432";
        else continue;
      }
      if (!out.empty()) out += ' ';
      out += std::string{key} + "=" + v;
    }
  }
  PQconninfoFree(opts);
  return out;
}

void pg_conn::close() {
  ++generation_;
  if (sd_.is_open()) sd_.release();  // deregister; never close libpq's fd
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  reading_ = writing_ = false;
  expected_.clear();
  syncs_ = 0;
}

void pg_conn::connect(const std::string& conninfo, std::function<void(bool, std::string)> done) {
  close();
  conn_ = PQconnectStart(conninfo.c_str());
  if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) {
    std::string e = conn_ ? PQerrorMessage(conn_) : "out of memory";
    close();
    return done(false, e);
  }
  PQsetnonblocking(conn_, 1);
  poll_connect(PGRES_POLLING_WRITING, std::move(done));
}

void pg_conn::poll_connect(PostgresPollingStatusType st,
                           std::function<void(bool, std::string)> done) {
  if (st == PGRES_POLLING_FAILED) {
    std::string e = PQerrorMessage(conn_);
    close();
    return done(false, e);
  }
  sd_.assign(PQsocket(conn_));  // may be a new socket with the same number
  if (st == PGRES_POLLING_OK) {
    arm_read();
    return done(true, {});
  }
  auto what = st == PGRES_POLLING_READING ? asio::posix::stream_descriptor::wait_read
                                          : asio::posix::stream_descriptor::wait_write;
  sd_.async_wait(what, [this, g = generation_, done = std::move(done)](std::error_code ec) mutable {
    if (ec || g != generation_) return;
    sd_.release();  // PQconnectPoll may close and reopen the socket
    poll_connect(PQconnectPoll(conn_), std::move(done));
  });
}

void pg_conn::sync(result_fn fn) {
  PQpipelineSync(conn_);
  expected_.push_back({std::move(fn), true});
  ++syncs_;
}

void pg_conn::flush() {
  if (!conn_) return;
  int r = PQflush(conn_);  // 0 sent, 1 would block, -1 error
  if (r < 0) return broken();
  if (r == 1) arm_write();
  arm_read();
}

void pg_conn::arm_write() {
  if (writing_ || !conn_) return;
  writing_ = true;
  sd_.async_wait(asio::posix::stream_descriptor::wait_write, [this, g = generation_](std::error_code ec) {
    if (g != generation_) return;
    writing_ = false;
    if (!ec) flush();
  });
}

void pg_conn::arm_read() {  // always armed: an idle connection notices EOF too
  if (reading_ || !conn_) return;
  reading_ = true;
  sd_.async_wait(asio::posix::stream_descriptor::wait_read, [this, g = generation_](std::error_code ec) {
    if (g != generation_) return;
    reading_ = false;
    if (ec) return;
    if (!PQconsumeInput(conn_)) return broken();
    drain();  // everything libpq buffered, before waiting again
    if (g != generation_) return;  // a callback closed the connection
    if (PQstatus(conn_) == CONNECTION_BAD) return broken();
    if (PQflush(conn_) == 1) arm_write();
    arm_read();
  });
}

void pg_conn::drain() {
  unsigned g = generation_;
  while (g == generation_ && !expected_.empty() && !PQisBusy(conn_)) {
    PGresult* r = PQgetResult(conn_);
    if (!r) {  // NULL ends one query's results
      if (expected_.front().is_sync) break;
      expected_.pop_front();
      continue;
    }
    bool is_sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;  // no NULL follows a sync
    auto fn = expected_.front().fn;
    if (is_sync) {
      expected_.pop_front();
      --syncs_;
    }
    if (fn) fn(r);
    PQclear(r);
  }
}

void pg_conn::broken() {
  std::string why = conn_ ? PQerrorMessage(conn_) : "closed";
  if (on_broken) on_broken(why);
}

} // namespace crm::storage
