#include "actors/bus/relay.hpp"

#include "actors/data/storage_messages.hpp"
#include "protocols/values.hpp"
#include "storage/redis/redis_client.hpp"
#include "storage/sql/event_sql.hpp"

#include <caf/all.hpp>

#include <algorithm>

namespace crm::actors {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The array literal of the seqs published (bound as $1::bigint[]).
std::string published_seqs(const std::vector<std::string>& seqs, const std::vector<int8_t>& done) {
  std::vector<std::string> out;
  for (size_t i = 0; i < seqs.size(); ++i)
    if (done[i] == 1) out.push_back(seqs[i]);
  return protocols::pg_array_literal(out);
}

using self_ptr = caf::stateful_actor<relay_state>*;

// Every XADD of the batch answered: delete what was published, then go on
// (at once when the batch was full or someone woke us, after `retry` when
// something failed).
void finish_batch(self_ptr self) {
  auto& st = self->state;
  size_t ok = 0;
  for (auto d : st.done) ok += d == 1;
  bool failed = ok < st.done.size();
  auto after = [self, failed, full = st.seqs.size() >= st.deps.batch] {
    auto& st = self->state;
    st.busy = false;
    if (failed) {
      self->delayed_send(self, st.deps.retry, bus_wake_atom::value);
    } else if (full || st.again) {
      st.again = false;
      self->send(self, bus_wake_atom::value);
    }
  };
  if (ok == 0) return after();
  db_request rq{{}, {storage::pg_query{storage::stmt_relay_context, {}, true},
                     storage::pg_query{storage::stmt_outbox_delete, {published_seqs(st.seqs, st.done)}, true}}};
  self->request(st.deps.storage->get(), st.deps.timeout, db_atom::value, std::move(rq))
      .then(
          [self, ok, after](db_result&) {
            auto& st = self->state;
            if (st.deps.counters) {
              st.deps.counters->published += ok;
              st.deps.counters->last_lag_ms = now_ms() - st.newest_time_ms;
            }
            after();
          },
          // published but not deleted: the next batch publishes them again
          // (same ids; consumers dedupe), after a pause
          [self](caf::error&) {
            self->state.busy = false;
            self->delayed_send(self, self->state.deps.retry, bus_wake_atom::value);
          });
}

void publish(self_ptr self, storage::pg_rows& rows) {
  auto& st = self->state;
  ++st.batch_no;
  st.seqs.clear();
  st.done.assign(rows.rows.size(), -1);
  caf::actor me = caf::actor_cast<caf::actor>(self);
  auto batch = st.batch_no;
  auto maxlen = std::to_string(st.deps.maxlen);
  std::vector<std::vector<std::string>> xadds;
  xadds.reserve(rows.rows.size());
  for (size_t i = 0; i < rows.rows.size(); ++i) {
    st.seqs.push_back(rows.cell(i, 0));
    st.newest_time_ms = std::stoll(rows.cell(i, 3));
    // XADD stream MAXLEN ~ N * id <event id> envelope <json>
    xadds.push_back({"XADD", st.deps.stream, "MAXLEN", "~", maxlen, "*", "id", std::move(*rows.rows[i][2]),
                     "envelope", std::move(*rows.rows[i][1])});
  }
  // one batch, one answer: the actor is not woken once per event
  st.deps.sink.publish(std::move(xadds), [me, batch](std::vector<int8_t> done) {
    caf::anon_send(me, bus_xadd_atom::value, batch, std::move(done));
  });
}

void look(self_ptr self) {
  auto& st = self->state;
  if (st.busy) {
    st.again = true;
    return;
  }
  auto storage = st.deps.storage ? st.deps.storage->get() : caf::actor{};
  if (!storage || !st.deps.sink || !st.deps.sink.up()) {  // nothing to relay to: try later
    self->delayed_send(self, st.deps.retry, bus_wake_atom::value);
    return;
  }
  st.busy = true;
  db_request rq{{}, {storage::pg_query{storage::stmt_relay_context, {}, true},
                     storage::pg_query{storage::stmt_outbox_batch, {std::to_string(st.deps.batch)}, true}}};
  self->request(storage, st.deps.timeout, db_atom::value, std::move(rq))
      .then(
          [self](db_result& res) {
            auto& rows = res.sets.at(1);
            if (rows.rows.empty()) {
              auto& st = self->state;
              st.busy = false;
              if (st.again) {
                st.again = false;
                self->send(self, bus_wake_atom::value);
              }
              return;
            }
            publish(self, rows);
          },
          [self](caf::error&) {
            self->state.busy = false;
            self->delayed_send(self, self->state.deps.retry, bus_wake_atom::value);
          });
}

} // namespace

relay_sink redis_sink(storage::redis_client* redis, bool wait_replica, std::chrono::milliseconds wait) {
  if (!redis) return {};
  relay_sink out;
  out.up = [redis] { return redis->up(); };
  out.publish = [redis, wait_replica, wait_ms = std::to_string(wait.count())](
                    xadd_batch xadds, std::function<void(std::vector<int8_t>)> answer) {
    redis->pipeline(std::move(xadds), [redis, wait_replica, wait_ms, answer = std::move(answer)](std::vector<bool> ok) {
      std::vector<int8_t> done(ok.begin(), ok.end());
      if (!wait_replica) return answer(std::move(done));
      // An entry the old primary took but never passed on would be lost
      // with it in a failover: the rows go only once a replica has the
      // entries (WAIT 1), or at once when the primary has no replica left
      // to lose them to (ROLE).
      redis->command({"ROLE"}, [redis, wait_ms, answer, done](caf::expected<storage::redis_reply> role) mutable {
        bool master = role && role->type == storage::redis_reply::kind::array && role->elements.size() >= 3 &&
                      role->elements[0].str == "master";
        if (!master || role->elements[2].elements.empty())  // alone, or not a primary (its XADDs failed anyway)
          return answer(std::move(done));
        redis->command({"WAIT", "1", wait_ms}, [answer, done](caf::expected<storage::redis_reply> w) mutable {
          if (!(w && w->type == storage::redis_reply::kind::integer && w->integer >= 1))
            std::fill(done.begin(), done.end(), int8_t{0});  // published again later (same ids)
          answer(std::move(done));
        });
      });
    });
  };
  return out;
}

caf::behavior relay(caf::stateful_actor<relay_state>* self, relay_deps deps) {
  self->state.deps = std::move(deps);
  self->send(self, bus_wake_atom::value);                               // the backlog of before the start
  self->delayed_send(self, self->state.deps.poll, bus_tick_atom::value);  // the fallback timer
  return {
      [=](bus_wake_atom) { look(self); },
      [=](bus_tick_atom) {
        look(self);
        self->delayed_send(self, self->state.deps.poll, bus_tick_atom::value);
      },
      [=](bus_xadd_atom, uint64_t batch, std::vector<int8_t>& done) {
        auto& st = self->state;
        if (batch != st.batch_no || done.size() != st.done.size()) return;
        st.done = std::move(done);
        if (st.deps.counters)
          for (auto d : st.done) st.deps.counters->publish_failed += d != 1;
        finish_batch(self);
      },
  };
}

} // namespace crm::actors
