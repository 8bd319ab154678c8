// A guard budget actor under fault injection (CAF's deterministic scheduler,
// a fake Redis behind storage::redis_commands, fake tenant and storage
// actors): the actor is killed at each point of its protocol - a flush in
// flight (applied by Redis, or lost with the connection), an alarm in its
// mailbox, a block's once-key claimed but its incident not yet written, the
// incident's insert in flight - and a successor adopts the user's gauge, as
// the tenant actor's restart does. The user is never counted lower than
// they called (a kill never lets a budget be overrun), a crossed block
// always locks the user and leaves exactly one incident.
#include "actors/data/storage_messages.hpp"
#include "actors/guard/guard.hpp"
#include "storage/redis/redis_commands.hpp"
#include "storage/sql/guard_sql.hpp"
#include "support/actor_testing.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <map>
#include <numeric>
#include <memory>
#include <set>

using namespace crm;
using namespace crm::actors;
using crm::testing::kill_now;
using crm::testing::rows;
using protocols::guard_level;
using protocols::guard_metric;
using storage::redis_reply;

namespace {

constexpr int64_t warn_at = 40, block_at = 50;

// The fake Redis: a total per series key (the flush script's effect, without
// buckets: the test stays inside one window) and the once-keys. Commands can
// be held (in flight): a held command takes effect when released, or never
// (the connection dropped under it).
struct fake_redis : storage::redis_commands {
  std::map<std::string, int64_t> totals;
  std::map<std::string, std::string> once;  // once-key -> the incident id it names
  bool hold = false;
  struct held_command {
    std::vector<std::string> argv;
    std::function<void(caf::expected<redis_reply>)> done;
  };
  std::vector<held_command> held;

  void command(std::vector<std::string> argv, std::function<void(caf::expected<redis_reply>)> done) override {
    if (hold) return held.push_back({std::move(argv), std::move(done)});
    done(apply(argv));
  }

  // applied: Redis ran them (their answers reach whoever still listens);
  // otherwise they fail as a dropped connection's do.
  void release(bool applied) {
    hold = false;
    auto all = std::move(held);
    held.clear();
    for (auto& c : all) {
      if (applied) c.done(apply(c.argv));
      else c.done(caf::make_error(caf::sec::request_receiver_down));
    }
  }

  int64_t total() const { return totals.empty() ? 0 : totals.begin()->second; }

  redis_reply apply(const std::vector<std::string>& a) {
    redis_reply r;
    if (a.at(0) == "SET") {  // SET key value NX PX ms GET: nil when set, else the value there
      CHECK(std::vector<std::string>(a.begin() + 3, a.end()) == std::vector<std::string>{"NX", "PX", a.at(5), "GET"});
      auto [it, fresh] = once.emplace(a.at(1), a.at(2));
      if (!fresh) r.type = redis_reply::kind::string, r.str = it->second;
      return r;
    }
    if (a.at(0) != "EVAL") return r;
    // storage::guard_flush_command: EVAL script 0 now n {key bucket_ms buckets inc kind nids ids...}
    // baseline_key period alpha inc
    size_t i = 4;
    auto n = std::stoull(a.at(i++));
    r.type = redis_reply::kind::array;
    for (size_t k = 0; k < n; ++k) {
      auto& total = totals[a.at(i)];
      i += 3;
      total += std::stoll(a.at(i++));
      ++i;  // kind
      i += 1 + std::stoull(a.at(i));
      redis_reply v;
      v.type = redis_reply::kind::integer;
      v.integer = total;
      r.elements.push_back(v);
    }
    if (!a.at(i).empty()) {  // the baseline: no history
      redis_reply mean, periods, current;
      mean.type = redis_reply::kind::string;
      mean.str = "0";
      periods.type = current.type = redis_reply::kind::integer;
      r.elements.insert(r.elements.end(), {mean, periods, current});
    }
    return r;
  }
};

// The tenant actor as the budget actor sees it: it locks the user on gblock.
struct tenant_log {
  int blocks = 0;
};

caf::behavior fake_tenant(caf::event_based_actor*, std::shared_ptr<tenant_log> log) {
  return {[=](gblock_atom, const std::string&, const std::string&) { ++log->blocks; }};
}

// The storage actor: incidents committed, and inserts that can be held (in
// flight; they commit when released, as a sent transaction does).
struct incident_db {
  std::map<std::string, int> incidents;  // severity -> incidents committed
  std::set<std::string> ids;             // their ids (an insert of an id there does nothing)
  std::map<std::string, int> attempts;   // severity -> inserts sent (a repeat of a committed id included)
  bool hold = false;
  testing::held_answers held;
  int count() const {
    return std::accumulate(incidents.begin(), incidents.end(), 0, [](int n, const auto& kv) { return n + kv.second; });
  }
};

caf::behavior fake_pg(caf::event_based_actor* self, std::shared_ptr<incident_db> db) {
  return {
      [=](caf::ok_atom) { db->held.release(true); },
      [=](db_atom, db_request& rq) -> caf::result<db_result> {
        std::string severity, id;
        for (const auto& q : rq.queries)
          if (q.text == storage::stmt_guard_incident_insert)
            severity = q.params.at(8).value_or("?"), id = q.params.at(16).value_or("");
        // one set per statement; the insert's (the last) has the row it wrote
        auto answer = [db, n = rq.queries.size(), severity, id] {
          db_result out;
          out.sets.assign(n, rows({}));
          if (!severity.empty() && db->ids.insert(id).second) {
            ++db->incidents[severity];
            out.sets.back() = rows({{id}});
          }
          return out;
        };
        if (!severity.empty()) ++db->attempts[severity];
        if (severity.empty() || !db->hold) return answer();
        return db->held.hold(self, answer);
      },
  };
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  fake_redis redis;
  std::shared_ptr<tenant_log> tenant_seen = std::make_shared<tenant_log>();
  std::shared_ptr<incident_db> db = std::make_shared<incident_db>();
  caf::actor tenant, storage, actor;
  gauge_ptr gauge = std::make_shared<guard_gauge>();
  guard_rules_ptr rules;
  int64_t clock_ms = 1'700'000'000'000;
  int64_t calls = 0;    // every call the fronts counted
  int64_t refused = 0;  // of them, judged past block

  fixture() : sys(testing::deterministic(cfg)), sched(testing::coordinator(sys)) {
    tenant = sys.spawn(fake_tenant, tenant_seen);
    storage = sys.spawn(fake_pg, db);
    auto r = std::make_shared<guard_rules>();
    r->budgets.push_back({"b1", "profile:sales", guard_metric::requests, 3600, warn_at, block_at});
    r->honeytokens = std::make_shared<honeytoken_map>();
    rules = r;
    spawn_budget();
  }

  ~fixture() {
    for (auto& a : {actor, tenant, storage}) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
  }

  // A budget actor for the user, adopting the gauge (the tenant actor's
  // restart of one that died).
  void spawn_budget() {
    guard_settings s;
    s.redis = &redis;
    s.now_ms = [this] { return clock_ms; };
    guard_user who{"aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002", tenant, storage,
                   std::chrono::seconds(5)};
    actor = sys.spawn(budget, who, s, gauge, rules);
    sched.run();
  }

  // One call as a front judges it (actors/api/guard_front.cpp): counted,
  // judged against the published snapshot, the actor told of a line crossed
  // (once until it answers) and a flush armed.
  void call() {
    ++calls;
    gauge->counted[static_cast<size_t>(guard_metric::requests)].fetch_add(1);
    auto snap = gauge->load();
    auto j = judge_levels(*snap, observed(*snap, *gauge));
    if (j.news && !gauge->alarmed.exchange(true)) caf::anon_send(actor, galarm_atom::value, guard_call{});
    if (!gauge->armed.exchange(true)) caf::anon_send(actor, gflush_atom::value, false);
    if (j.level == guard_level::block) ++refused;
  }

  void calls_of(int n) {
    for (int i = 0; i < n; ++i) call();
  }

  // Time passes: the flush timers fire, their answers are handled.
  void pass_ms(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 50) {
      clock_ms += 50;
      sched.advance_time(std::chrono::milliseconds(50));
      sched.run();
    }
  }

  void kill_actor() {
    kill_now(actor);
    sched.run();
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "chaos: a budget actor killed with its flush in flight; its successor never counts the user low",
                 "[actors][guard][chaos]") {
  for (bool applied : {true, false}) {
    DYNAMIC_SECTION((applied ? "Redis applied the flush" : "the flush was lost with its connection")) {
      calls_of(20);
      pass_ms(100);
      REQUIRE(redis.total() == 20);
      calls_of(10);
      redis.hold = true;
      pass_ms(100);
      REQUIRE(redis.held.size() == 1);  // the flush of the 10 in flight
      kill_actor();
      redis.release(applied);
      spawn_budget();
      pass_ms(200);
      // every call counted; a flush applied but unanswered counts its calls
      // twice (at most one flush interval of the user's calls), never none
      CHECK(redis.total() >= calls);
      CHECK(redis.total() <= calls + 10);
      if (!applied) CHECK(redis.total() == calls);
      // the budget binds on the true count: past block every call is refused
      calls_of(static_cast<int>(block_at - redis.total() + 5));
      pass_ms(100);
      CHECK(tenant_seen->blocks >= 1);
      CHECK(db->incidents["block"] == 1);  // (straight past warn to block in one flush: no warn)
    }
  }
}

TEST_CASE_METHOD(fixture, "chaos: a budget actor killed with an alarm in its mailbox; the successor locks the user on the next call",
                 "[actors][guard][chaos]") {
  calls_of(block_at);  // at the line, not past it
  pass_ms(100);
  REQUIRE(redis.total() == block_at);
  REQUIRE(tenant_seen->blocks == 0);
  call();  // crosses block: the alarm is on its way
  REQUIRE(gauge->alarmed.load());
  kill_actor();  // ... and dies with the actor
  CHECK(tenant_seen->blocks == 0);
  spawn_budget();
  call();  // refused on the snapshot the gauge kept; the successor is told
  pass_ms(100);
  CHECK(refused >= 1);
  CHECK(tenant_seen->blocks == 1);  // by the successor
  CHECK(db->incidents == std::map<std::string, int>{{"warn", 1}, {"block", 1}});
}

TEST_CASE_METHOD(fixture, "chaos: a budget actor killed between a block's once-key and its incident; the incident is written",
                 "[actors][guard][chaos]") {
  calls_of(warn_at + 1);
  pass_ms(100);
  REQUIRE(db->count() == 1);  // the warn
  calls_of(block_at - warn_at);
  redis.hold = true;  // the block's once-key (and the flush) in flight
  pass_ms(100);
  REQUIRE(tenant_seen->blocks == 1);  // the lock goes first
  kill_actor();
  redis.release(true);  // the once-key is set: the winner has not written yet
  spawn_budget();
  call();
  pass_ms(200);
  CHECK(tenant_seen->blocks == 2);     // the successor raised the block again
  CHECK(db->attempts["block"] == 1);   // ... and wrote the incident the first one named
  CHECK(db->incidents == std::map<std::string, int>{{"warn", 1}, {"block", 1}});  // the block's exists, once
}

TEST_CASE_METHOD(fixture, "chaos: a budget actor killed with its block incident's insert in flight; it commits once",
                 "[actors][guard][chaos]") {
  calls_of(warn_at + 1);
  pass_ms(100);
  REQUIRE(db->count() == 1);
  db->hold = true;
  calls_of(block_at - warn_at);
  pass_ms(100);
  REQUIRE(db->held.size() == 1);
  kill_actor();
  caf::anon_send(storage, caf::ok_atom::value);  // the transaction commits after the actor died
  sched.run();
  db->hold = false;
  spawn_budget();
  call();
  pass_ms(200);
  CHECK(tenant_seen->blocks == 2);     // the successor raised the block again
  CHECK(db->attempts["block"] == 2);   // its insert of the same id did nothing
  CHECK(db->incidents == std::map<std::string, int>{{"warn", 1}, {"block", 1}});
}
