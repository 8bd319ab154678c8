#include "storage/pg/pg_pool.hpp"

#include "protocols/errc.hpp"
#include "protocols/json_body.hpp"

#include <cstdlib>
#include <unordered_map>

#include <sys/socket.h>

namespace crm::storage {

using protocols::errc;
using protocols::error_of;
using clock = std::chrono::steady_clock;

caf::error error_of_sqlstate(std::string_view s, std::string_view constraint) {
  if (s == "23505" || s == "23503" || s == "23514") {
    const char* detail = s == "23505" ? "a record with these values exists"
                         : s == "23503" ? "the change would leave a reference to a missing record"
                                        : "the values break a rule of the record";
    return caf::make_error(errc::resource_conflict, std::string{detail}, std::string{}, std::string{s},
                           std::string{constraint});
  }
  if (s == "40001" || s == "40P01")
    return error_of(errc::resource_conflict, "a concurrent change conflicted; retry");
  if (s == "57014") return error_of(errc::dependency_unavailable, "the statement ran past its time limit");
  // character_not_in_repertoire / untranslatable_character: a NUL or a
  // character the database cannot hold (refused before sending, too).
  if (s == "22021" || s == "22P05")
    return protocols::validation_error_of("", "format", "a value contains a character that cannot be stored");
  if (s.substr(0, 2) == "08" || s == "57P01" || s == "57P03")
    return error_of(errc::dependency_unavailable, "the database is unavailable");
  return error_of(errc::internal, "the database rejected the request");
}

pg_violation violation_of(const caf::error& e) {
  pg_violation v;
  const auto& ctx = e.context();
  if (e.category() != caf::atom("crm") || ctx.size() < 4) return v;
  if (ctx.match_element<std::string>(2)) v.sqlstate = ctx.get_as<std::string>(2);
  if (ctx.match_element<std::string>(3)) v.constraint = ctx.get_as<std::string>(3);
  return v;
}

struct pg_pool::request {
  std::string tenant;
  std::vector<pg_query> queries;
  pg_callback done;
  clock::time_point deadline;
  std::vector<pg_rows> results;
  std::string first_sqlstate;
  std::string first_message;
  std::string first_constraint;
  int attempts = 0;
  bool finished = false;
  bool emits = false;  // runs a statement that writes the outbox
};

namespace {
// Sets the tenant for row-level security at the start of every tenant
// request; prepared on every session with the caller's statements.
constexpr const char* tenant_statement = "nx_set_tenant";
constexpr const char* tenant_sql = "SELECT set_config('app.tenant_id', $1, true)";

// A serialization failure or deadlock rolled the whole segment back: running
// it again is safe, a few times.
constexpr int max_attempts = 3;
bool is_retryable(std::string_view sqlstate) { return sqlstate == "40001" || sqlstate == "40P01"; }
// The client's doing (a constraint, a value the database cannot store): a
// 409 or 422 answer, not a server problem.
bool is_refusal(std::string_view sqlstate) {
  return sqlstate.substr(0, 2) == "23" || sqlstate == "22021" || sqlstate == "22P05";
}
} // namespace

struct pg_pool::slot {
  explicit slot(asio::io_context& io) : conn(io), backoff(io), connect_deadline(io) {}
  pg_conn conn;
  asio::steady_timer backoff;
  asio::steady_timer connect_deadline;
  std::deque<std::shared_ptr<request>> in_flight;
  std::unordered_map<std::string, std::string> cache;  // SQL -> statement name, this session
  uint64_t next_statement = 0;
  int failures = 0;
  bool up = false;
  bool connecting = false;
};

pg_pool::pg_pool(asio::io_context& io, pg_options options, std::vector<pg_statement> statements,
                 pg_event_fn on_event)
    : io_(io),
      options_(std::move(options)),
      statements_(std::move(statements)),
      on_event_(std::move(on_event)),
      sweeper_(io) {
  statements_.push_back({tenant_statement, tenant_sql});  // prepared with the caller's on every session
  for (const auto& s : statements_)
    if (s.sql.find("INSERT INTO outbox") != std::string::npos) emitting_.insert(s.name);
  for (size_t i = 0; i < std::max<size_t>(1, options_.connections); ++i)
    slots_.push_back(std::make_unique<slot>(io_));
}

pg_pool::~pg_pool() = default;

void pg_pool::start() {
  asio::post(io_, [this] {
    stopped_ = false;
    for (auto& s : slots_) connect(*s);
    sweep();
  });
}

void pg_pool::stop() {
  asio::post(io_, [this] {
    stopped_ = true;
    sweeper_.cancel();
    for (auto& s : slots_) {
      s->backoff.cancel();
      s->connect_deadline.cancel();
      auto lost = std::move(s->in_flight);
      s->in_flight.clear();
      s->conn.close();
      if (s->up) up_.fetch_sub(1);
      s->up = false;
      for (auto& r : lost) finish(*r, error_of(errc::dependency_unavailable, "shutting down"));
    }
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& r : waiting) finish(*r, error_of(errc::dependency_unavailable, "shutting down"));
  });
}

void pg_pool::connect(slot& s) {
  if (stopped_) return;
  s.connecting = true;
  s.connect_deadline.expires_after(options_.connect_timeout);  // PQconnectPoll has none
  s.connect_deadline.async_wait([this, &s](std::error_code ec) {
    if (ec || !s.connecting) return;
    s.connecting = false;
    s.conn.close();
    retry_later(s);
  });
  s.conn.on_broken = [this, &s](std::string why) { on_broken(s, why); };
  s.conn.connect(options_.conninfo, [this, &s](bool ok, std::string err) {
    if (!s.connecting) return;
    if (!ok) {
      s.connecting = false;
      s.connect_deadline.cancel();
      if (on_event_) on_event_("pg.connect_failed", err);
      return retry_later(s);
    }
    if (!s.conn.enter_pipeline()) {
      s.connecting = false;
      s.conn.close();
      return retry_later(s);
    }
    // New session: prepare the named statements, then mark the slot up.
    s.cache.clear();
    auto failed = std::make_shared<std::string>();
    for (const auto& st : statements_) {
      PQsendPrepare(s.conn.raw(), st.name.c_str(), st.sql.c_str(), 0, nullptr);
      s.conn.queued([failed, name = st.name](PGresult* res) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && failed->empty())
          *failed = name + ": " + PQresultErrorMessage(res);
      });
    }
    s.conn.sync([this, &s, failed](PGresult*) {
      s.connecting = false;
      s.connect_deadline.cancel();
      if (!failed->empty()) {  // a statement does not prepare: schema missing or wrong
        if (on_event_) on_event_("pg.prepare_failed", *failed);
        s.conn.close();
        return retry_later(s);
      }
      s.failures = 0;
      s.up = true;
      up_.fetch_add(1);
      if (on_event_) on_event_("pg.connected", "");
      pump();
    });
    s.conn.flush();
  });
}

void pg_pool::on_broken(slot& s, const std::string& why) {
  bool was_up = s.up;
  if (s.up) up_.fetch_sub(1);
  s.up = false;
  s.connecting = false;
  auto lost = std::move(s.in_flight);
  s.in_flight.clear();
  s.conn.close();
  if (on_event_ && was_up) on_event_("pg.connection_lost", why);
  // The outcome of these is unknown (they may have committed): never retried here.
  for (auto& r : lost)
    finish(*r, error_of(errc::dependency_unavailable, "the database connection was lost"));
  retry_later(s);
}

void pg_pool::retry_later(slot& s) {
  if (stopped_) return;
  using namespace std::chrono;
  auto base = std::min<int64_t>(options_.backoff_max.count(),
                                options_.backoff_min.count() << std::min(s.failures, 10));
  ++s.failures;
  auto jittered = static_cast<int64_t>(base * std::uniform_real_distribution<>(0.5, 1.0)(rng_));
  s.backoff.expires_after(milliseconds(std::max<int64_t>(1, jittered)));
  s.backoff.async_wait([this, &s](std::error_code ec) {
    if (!ec) connect(s);
  });
}

void pg_pool::run(std::string tenant, std::vector<pg_query> queries, pg_callback done) {
  // libpq takes text parameters as C strings (it ignores lengths for text
  // format): a NUL would cut the value short, silently. Such a request never
  // leaves (callers refuse NULs first; this is the last line).
  for (const auto& q : queries)
    for (const auto& p : q.params)
      if (p && p->find('\0') != std::string::npos) {
        asio::post(io_, [done = std::move(done)] { done(error_of_sqlstate("22021")); });
        return;
      }
  auto r = std::make_shared<request>();
  r->tenant = std::move(tenant);
  r->queries = std::move(queries);
  for (const auto& q : r->queries) r->emits = r->emits || (q.prepared && emitting_.count(q.text));
  r->done = std::move(done);
  r->deadline = clock::now() + options_.request_timeout;
  asio::post(io_, [this, r = std::move(r)]() mutable { dispatch(std::move(r)); });
}

void pg_pool::ping(std::function<void(bool)> done) {
  run({}, {pg_query{"SELECT 1", {}, false}},
      [done = std::move(done)](caf::expected<std::vector<pg_rows>> r) { done(static_cast<bool>(r)); });
}

void pg_pool::dispatch(std::shared_ptr<request> r) {
  if (stopped_ || up_.load() == 0)
    return finish(*r, error_of(errc::dependency_unavailable, "the database is unavailable"));
  slot* best = nullptr;
  for (auto& s : slots_)
    if (s->up && s->conn.syncs_in_flight() < options_.max_depth &&
        (!best || s->conn.syncs_in_flight() < best->conn.syncs_in_flight()))
      best = s.get();
  if (best) return send(*best, std::move(r));
  if (waiting_.size() >= options_.max_queue)
    return finish(*r, error_of(errc::dependency_unavailable, "the database is overloaded"));
  waiting_.push_back(std::move(r));
}

void pg_pool::send(slot& s, std::shared_ptr<request> r) {
  PGconn* c = s.conn.raw();
  // The first error of the segment is the request's (later ones are aborts).
  auto record_error = [r](PGresult* res) {
    if (PQresultStatus(res) != PGRES_FATAL_ERROR || !r->first_sqlstate.empty()) return;
    const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    r->first_sqlstate = code ? code : "XX000";
    r->first_message = PQresultErrorMessage(res);
    if (const char* name = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME)) r->first_constraint = name;
  };
  auto collect = [r, record_error](PGresult* res) {
    auto st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      pg_rows rows;
      int nf = PQnfields(res), nt = PQntuples(res);
      for (int f = 0; f < nf; ++f) rows.columns.emplace_back(PQfname(res, f));
      rows.rows.reserve(static_cast<size_t>(nt));
      for (int t = 0; t < nt; ++t) {
        auto& row = rows.rows.emplace_back();
        for (int f = 0; f < nf; ++f)
          row.push_back(PQgetisnull(res, t, f) ? std::nullopt
                                               : std::optional<std::string>{PQgetvalue(res, t, f)});
      }
      rows.affected = std::strtoull(PQcmdTuples(res), nullptr, 10);
      r->results.push_back(std::move(rows));
    } else {
      record_error(res);
    }
  };
  bool ok = true;
  if (!r->tenant.empty()) {
    const char* p[1] = {r->tenant.c_str()};
    ok = PQsendQueryPrepared(c, tenant_statement, 1, p, nullptr, nullptr, 0) == 1;
    s.conn.queued(record_error);
  }
  for (const auto& q : r->queries) {
    if (!ok) break;
    std::vector<const char*> params;
    for (const auto& v : q.params) params.push_back(v ? v->c_str() : nullptr);
    int n = static_cast<int>(params.size());
    const char* name = q.prepared ? q.text.c_str() : nullptr;
    if (!name && q.cache) {
      auto it = s.cache.find(q.text);
      if (it == s.cache.end() && s.cache.size() < options_.statement_cache) {
        // Parse once in this pipeline; a Parse that fails or is skipped
        // (an earlier statement of the segment failed) leaves no entry.
        auto statement = "nx_c" + std::to_string(++s.next_statement);
        ok = PQsendPrepare(c, statement.c_str(), q.text.c_str(), 0, nullptr) == 1;
        if (!ok) break;
        it = s.cache.emplace(q.text, std::move(statement)).first;
        prepared_.fetch_add(1);
        s.conn.queued([&s, sql = q.text, record_error](PGresult* res) {
          if (PQresultStatus(res) == PGRES_COMMAND_OK) return;
          s.cache.erase(sql);
          record_error(res);
        });
      }
      if (it != s.cache.end()) name = it->second.c_str();
    }
    ok = (name ? PQsendQueryPrepared(c, name, n, params.data(), nullptr, nullptr, 0)
               : PQsendQueryParams(c, q.text.c_str(), n, nullptr, params.data(), nullptr, nullptr, 0)) == 1;
    if (ok) s.conn.queued(collect);
  }
  if (!ok) return on_broken(s, PQerrorMessage(c));
  s.in_flight.push_back(r);
  s.conn.sync([this, &s, r](PGresult*) {
    if (!s.in_flight.empty() && s.in_flight.front() == r) s.in_flight.pop_front();
    if (is_retryable(r->first_sqlstate) && ++r->attempts < max_attempts && !r->finished) {
      r->first_sqlstate.clear();
      r->first_message.clear();
      r->first_constraint.clear();
      r->results.clear();
      dispatch(r);
    } else if (!r->first_sqlstate.empty()) {
      if (on_event_)
        on_event_(is_refusal(r->first_sqlstate) ? "pg.statement_refused" : "pg.statement_failed",
                  r->first_sqlstate + " " + r->first_message);
      finish(*r, error_of_sqlstate(r->first_sqlstate, r->first_constraint));
    } else {
      finish(*r, std::move(r->results));
    }
    pump();
  });
  s.conn.flush();
}

void pg_pool::pump() {
  while (!waiting_.empty() && up_.load() > 0) {
    slot* best = nullptr;
    for (auto& s : slots_)
      if (s->up && s->conn.syncs_in_flight() < options_.max_depth &&
          (!best || s->conn.syncs_in_flight() < best->conn.syncs_in_flight()))
        best = s.get();
    if (!best) return;
    auto r = std::move(waiting_.front());
    waiting_.pop_front();
    if (r->finished) continue;
    send(*best, std::move(r));
  }
}

// Every 100 ms: requests past their deadline get dependency.unavailable now;
// a result arriving later is dropped.
void pg_pool::sweep() {
  auto now = clock::now();
  auto expire = [&](request& r) {
    if (!r.finished && r.deadline <= now)
      finish(r, error_of(errc::dependency_unavailable, "the database did not answer in time"));
  };
  for (auto& s : slots_)
    for (auto& r : s->in_flight) expire(*r);
  for (auto& r : waiting_) expire(*r);
  if (!waiting_.empty() && up_.load() == 0) {
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& r : waiting)
      finish(*r, error_of(errc::dependency_unavailable, "the database is unavailable"));
  }
  if (stopped_) return;
  sweeper_.expires_after(std::chrono::milliseconds(100));
  sweeper_.async_wait([this](std::error_code ec) {
    if (!ec) sweep();
  });
}

void pg_pool::finish(request& r, caf::expected<std::vector<pg_rows>> result) {
  if (r.finished) return;
  r.finished = true;
  auto done = std::move(r.done);
  if (result && r.emits && events_committed_) events_committed_();
  if (done) done(std::move(result));
}

void pg_pool::chaos_drop(uint64_t pick) {
  asio::post(io_, [this, pick] {  // on the pool's thread: the socket cannot be closed meanwhile
    std::vector<slot*> live;
    for (auto& s : slots_)
      if (s->up && s->conn.raw()) live.push_back(s.get());
    if (live.empty()) return;
    int fd = PQsocket(live[pick % live.size()]->conn.raw());
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  });
}

} // namespace crm::storage
