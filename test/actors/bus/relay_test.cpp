// The bus relay under fault injection (CAF's deterministic scheduler, a
// fake outbox for PostgreSQL and a fake stream for Redis): the relay, the
// storage actor or the stream is killed at each point of the relay's
// protocol - the batch read in flight, the XADDs in flight, the delete in
// flight (committed, or lost with its connection) - and a successor takes
// over, as the supervisor's restart does. Every committed envelope reaches
// the stream, in commit order, the outbox empties, and what is published
// twice is only the batch in flight, under its own id (consumers dedupe by
// it). Never a lost event, never a relay stuck.
#include "actors/bus/relay.hpp"
#include "actors/data/storage_messages.hpp"
#include "storage/sql/event_sql.hpp"
#include "support/actor_testing.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>

using namespace crm;
using namespace crm::actors;
using crm::testing::kill_now;
using crm::testing::rows;

namespace {

constexpr size_t batch = 4;
constexpr int64_t committed = 10;  // outbox rows at the start: three batches

// The fake PostgreSQL: the outbox table, and the answers held back by the
// test (a request in flight). A held answer is computed when released, as
// a transaction commits then.
struct outbox_db {
  std::map<int64_t, std::string> rows;  // seq -> envelope id
  bool hold_reads = false, hold_deletes = false;
  testing::held_answers held;
};

std::vector<int64_t> seqs_of(const std::string& literal) {  // "{1,2,3}"
  std::vector<int64_t> out;
  std::string cur;
  for (char c : literal) {
    if (c >= '0' && c <= '9') cur += c;
    else if (!cur.empty()) out.push_back(std::stoll(cur)), cur.clear();
  }
  return out;
}

// (db_atom, request) as the storage actor answers the relay's statements;
// (ok_atom, commit): the held answers are released - committed, or failed as
// when the connection dropped under them.
caf::behavior fake_pg(caf::event_based_actor* self, std::shared_ptr<outbox_db> db) {
  return {
      [=](caf::ok_atom, bool commit) { db->held.release(commit); },
      [=](db_atom, db_request& rq) -> caf::result<db_result> {
        size_t limit = 0;
        std::vector<int64_t> gone;
        bool is_delete = false;
        for (const auto& q : rq.queries) {
          if (q.text == storage::stmt_outbox_batch) limit = std::stoul(*q.params.at(0));
          if (q.text == storage::stmt_outbox_delete) is_delete = true, gone = seqs_of(*q.params.at(0));
        }
        auto answer = [db, limit, gone, is_delete] {
          db_result out;
          out.sets.push_back(rows({}));  // the relay's context
          std::vector<std::vector<std::string>> batch_rows;
          if (is_delete)
            for (auto s : gone) db->rows.erase(s);
          for (auto it = db->rows.begin(); !is_delete && it != db->rows.end() && batch_rows.size() < limit; ++it)
            batch_rows.push_back({std::to_string(it->first), "{\"id\":\"" + it->second + "\"}", it->second,
                                  "1800000000000"});
          out.sets.push_back(rows(batch_rows));
          return out;
        };
        if (is_delete ? db->hold_deletes : db->hold_reads) return db->held.hold(self, answer);
        return answer();
      },
  };
}

// The fake Redis stream: entries in XADD order; XADDs can fail, the stream
// can be away, the answers can be held back (in flight).
struct stream_fake {
  std::vector<std::string> ids;
  bool up = true, fail = false, hold = false;
  std::set<std::string> refuse_once;  // these entries' first XADD fails alone (Redis out of memory)
  std::vector<std::function<void()>> held;
};

relay_sink sink_of(std::shared_ptr<stream_fake> s) {
  relay_sink out;
  out.up = [s] { return s->up; };
  out.publish = [s](xadd_batch xadds, std::function<void(std::vector<int8_t>)> answer) {
    std::vector<int8_t> done(xadds.size(), s->fail ? 0 : 1);
    for (size_t i = 0; i < xadds.size() && !s->fail; ++i) {
      const auto& id = xadds[i].at(7);  // XADD stream MAXLEN ~ N * id <id> envelope <json>
      if (s->refuse_once.erase(id)) done[i] = 0;
      else s->ids.push_back(id);
    }
    if (s->hold) s->held.push_back([answer, done] { answer(done); });
    else answer(done);
  };
  return out;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<outbox_db> db = std::make_shared<outbox_db>();
  std::shared_ptr<stream_fake> stream = std::make_shared<stream_fake>();
  front_slot storage_slot;
  caf::actor storage;
  std::vector<caf::actor> relays;

  fixture() : sys(testing::deterministic(cfg)), sched(testing::coordinator(sys)) {
    for (int64_t s = 1; s <= committed; ++s) db->rows[s] = "evt-" + std::to_string(s);
    start_storage();
  }

  ~fixture() {
    for (auto& a : relays) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
    sched.run();
  }

  void start_storage() {
    storage = sys.spawn(fake_pg, db);
    storage_slot.set(storage);
  }

  // A relay, as the supervisor starts one (and restarts one that died).
  caf::actor start_relay() {
    relay_deps deps;
    deps.storage = &storage_slot;
    deps.sink = sink_of(stream);
    deps.batch = batch;
    relays.push_back(sys.spawn(relay, deps));
    sched.run();
    return relays.back();
  }

  // Runs everything, firing the timers (retries, polls, deadlines) until
  // the outbox is empty; a bounded number of rounds: a relay that stopped
  // trying fails the test instead of hanging it.
  void drain() {
    for (int round = 0; round < 50 && !db->rows.empty(); ++round) {
      sched.run();
      sched.trigger_timeouts();
    }
    sched.run();
  }

  // Every committed envelope is on the stream, in commit order unless told
  // otherwise; anything published twice is one batch in flight at a
  // fault, with its own id.
  void check_every_event_once_at_least(size_t at_most_again, bool in_order = true) {
    CHECK(db->rows.empty());
    std::vector<std::string> first;
    std::set<std::string> seen;
    for (const auto& id : stream->ids)
      if (seen.insert(id).second) first.push_back(id);
    std::vector<std::string> want;
    for (int64_t s = 1; s <= committed; ++s) want.push_back("evt-" + std::to_string(s));
    if (in_order) CHECK(first == want);
    CHECK(seen == std::set<std::string>(want.begin(), want.end()));
    CHECK(stream->ids.size() - first.size() <= at_most_again);
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "a relay with nothing in the way publishes every committed envelope once, in order",
                 "[actors][bus][relay][chaos]") {
  start_relay();
  drain();
  check_every_event_once_at_least(0);
  CHECK(stream->ids.size() == committed);
}

TEST_CASE_METHOD(fixture, "chaos: the relay killed while its batch read is in flight; the next one publishes all",
                 "[actors][bus][relay][chaos]") {
  db->hold_reads = true;
  auto first = start_relay();
  REQUIRE(db->held.size() == 1);
  kill_now(first);
  sched.run();
  db->hold_reads = false;
  caf::anon_send(storage, caf::ok_atom::value, true);  // the read answers a dead relay
  sched.run();
  CHECK(stream->ids.empty());
  start_relay();
  drain();
  check_every_event_once_at_least(0);
}

TEST_CASE_METHOD(fixture, "chaos: the relay killed with its XADDs in flight; the batch is published again, same ids",
                 "[actors][bus][relay][chaos]") {
  stream->hold = true;
  auto first = start_relay();
  REQUIRE(stream->held.size() == 1);
  REQUIRE(stream->ids.size() == batch);  // on the stream, the rows not deleted yet
  kill_now(first);
  sched.run();
  stream->hold = false;
  for (auto& answer : stream->held) answer();  // to a dead relay
  stream->held.clear();
  sched.run();
  CHECK(db->rows.size() == committed);
  start_relay();
  drain();
  check_every_event_once_at_least(batch);
  CHECK(stream->ids.size() == committed + batch);
}

TEST_CASE_METHOD(fixture, "chaos: the relay killed with its delete in flight, committed or lost with its connection",
                 "[actors][bus][relay][chaos]") {
  for (bool commit : {true, false}) {
    DYNAMIC_SECTION("the delete " << (commit ? "commits" : "is lost")) {
      db->hold_deletes = true;
      auto first = start_relay();
      REQUIRE(db->held.size() == 1);
      kill_now(first);
      sched.run();
      db->hold_deletes = false;
      caf::anon_send(storage, caf::ok_atom::value, commit);
      sched.run();
      CHECK(db->rows.size() == (commit ? committed - batch : committed));
      start_relay();
      drain();
      check_every_event_once_at_least(commit ? 0 : batch);
    }
  }
}

TEST_CASE_METHOD(fixture, "chaos: the storage actor killed under the relay's read or delete; the relay retries by its deadline",
                 "[actors][bus][relay][chaos]") {
  for (bool at_delete : {false, true}) {
    DYNAMIC_SECTION("killed with the " << (at_delete ? "delete" : "read") << " in flight") {
      (at_delete ? db->hold_deletes : db->hold_reads) = true;
      start_relay();
      REQUIRE(db->held.size() == 1);
      kill_now(storage);  // its promise dies with it: the relay hears nothing until its deadline
      sched.run();
      db->held.clear();
      db->hold_reads = db->hold_deletes = false;
      start_storage();  // the supervisor's restart
      drain();
      check_every_event_once_at_least(at_delete ? batch : 0);
    }
  }
}

TEST_CASE_METHOD(fixture, "chaos: the stream away or failing its XADDs; nothing is deleted until it is back",
                 "[actors][bus][relay][chaos]") {
  stream->up = false;
  start_relay();
  for (int i = 0; i < 3; ++i) sched.trigger_timeouts(), sched.run();
  CHECK(stream->ids.empty());
  stream->up = true;
  stream->fail = true;  // connected, every XADD answered with an error
  for (int i = 0; i < 3; ++i) sched.trigger_timeouts(), sched.run();
  CHECK(db->rows.size() == committed);
  stream->fail = false;
  drain();
  check_every_event_once_at_least(0);
}

// A connection lost mid-pipeline fails a suffix of the batch (order holds);
// an XADD refused alone lands after its successors: nothing is lost either
// way, and only what failed is published again.
TEST_CASE_METHOD(fixture, "chaos: some XADDs of a batch fail; only the published rows are deleted",
                 "[actors][bus][relay][chaos]") {
  stream->refuse_once = {"evt-2", "evt-6", "evt-7", "evt-8"};
  start_relay();
  drain();
  check_every_event_once_at_least(0, false);
  CHECK(stream->ids.size() == committed);
}
