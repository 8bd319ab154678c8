// The content pool and its jobs under fault injection (CAF's deterministic
// scheduler and simulated time, a fake PostgreSQL that keeps one item's
// lease): a job is killed at each point of its protocol - its claim in
// flight, at work, its lease renewal in flight - the pool itself is killed
// with a job at work, and the storage actor is killed under a claim. The
// item is always claimed again once its lease has run out (never while
// another job holds it), no job outlives its pool, and an item stopped more
// than `max_attempts` times ends `rejected` (processing.failed): a problem
// or a retry, never an item stuck in the pipeline.
#include "actors/content/content.hpp"
#include "actors/core/chaos_kinds.hpp"
#include "actors/data/storage_messages.hpp"
#include "storage/sql/content_sql.hpp"
#include "support/actor_testing.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

using namespace crm;
using namespace crm::actors;
using crm::testing::kill_now;
using crm::testing::rows;
namespace fs = std::filesystem;

namespace {

const std::string tenant_id = "aaaaaaaa-0000-4000-8000-000000000001";
const std::string item_id = "dddddddd-0000-4000-8000-000000000004";
constexpr int64_t lease_s = 30;

// The fake PostgreSQL: one content item and its lease, on the test's clock
// (seconds, advanced with the scheduler's). Answers can be held back (a
// statement in flight): a held statement takes effect when released.
struct content_db {
  int64_t now = 0;
  std::string status = "quarantined", reason, owner;
  int64_t lease_until = -1;  // none
  int attempts = 0;
  int claims = 0;            // claims that took the item
  int claims_while_held = 0;  // ... while another claim's lease was live
  int rejects = 0;
  std::vector<caf::actor_addr> claimers;  // the job of every claim statement
  std::set<std::string> hold;             // statement names whose answers are held
  testing::held_answers held;

  bool open() const {
    return (status == "quarantined" || status == "processing") && (lease_until < 0 || lease_until < now);
  }
  storage::pg_rows item_row() const {
    std::vector<std::string> row(storage::ci_column_count);
    row[storage::ci_id] = item_id;
    row[storage::ci_status] = status;
    row[storage::ci_filename] = "a.jpg";
    row[storage::ci_declared] = "image/jpeg";
    row[storage::ci_size] = "5";
    row[storage::ci_attempts] = std::to_string(attempts);
    row[storage::ci_quarantine_name] = "q1";
    return rows({row});
  }
  storage::pg_rows run(const storage::pg_query& q) {
    auto param = [&](size_t i) { return q.params.at(i).value_or(""); };
    if (q.text == storage::stmt_content_open) return open() ? rows({{tenant_id, item_id, ""}}) : rows({});
    if (q.text == storage::stmt_content_claim) {
      bool live = lease_until >= now;
      if (!(status == "quarantined" || status == "processing") || (live && owner != param(2))) return rows({});
      claims_while_held += live;
      ++claims;
      ++attempts;
      status = "processing";
      owner = param(2);
      lease_until = now + std::stoll(param(3));
      return item_row();
    }
    if (q.text == storage::stmt_content_renew) {
      if (status != "processing" || owner != param(2)) return rows({});
      lease_until = now + std::stoll(param(3));
      return rows({{item_id}});
    }
    if (q.text == storage::stmt_content_reject) {
      if (!(status == "quarantined" || status == "processing")) return rows({});
      status = "rejected";
      reason = param(3);
      lease_until = -1;
      ++rejects;
      return item_row();
    }
    return rows({});  // contexts, settings (the defaults), sweeps
  }
};

// (db_atom, request) answered from the fake; (ok_atom, commit) releases the
// held answers: committed, or failed as when the connection dropped.
caf::behavior fake_pg(caf::event_based_actor* self, std::shared_ptr<content_db> db) {
  return {
      [=](caf::ok_atom, bool commit) { db->held.release(commit); },
      [=](db_atom, db_request& rq) -> caf::result<db_result> {
        bool held = false;
        for (const auto& q : rq.queries) {
          if (q.text == storage::stmt_content_claim) db->claimers.push_back(self->current_sender()->address());
          held = held || db->hold.count(q.text);
        }
        auto answer = [db, queries = rq.queries] {
          db_result out;
          for (const auto& q : queries) out.sets.push_back(db->run(q));
          return out;
        };
        if (!held) return answer();
        return db->held.hold(self, answer);
      },
  };
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::scoped_actor watcher;
  std::shared_ptr<content_db> db = std::make_shared<content_db>();
  front_slot storage_slot;
  caf::actor storage, pool;
  content_options opts;
  size_t watched = 0;  // claimers monitored so far
  int ended = 0;       // of them, down

  fixture() : sys(testing::deterministic(cfg)), sched(testing::coordinator(sys)), watcher(sys, true) {
    std::random_device rd;
    opts.dir = (fs::temp_directory_path() / ("nextcrm-pool-test-" + std::to_string(rd()))).string();
    fs::create_directories(opts.dir + "/quarantine");
    std::ofstream(opts.dir + "/quarantine/q1") << "12345";
    opts.node_id = "node-a";
    opts.lease = std::chrono::seconds(lease_s);
    opts.max_attempts = 3;
    opts.hold = std::chrono::hours(24);  // a job at work stays at work: no process is started here
    start_storage();
  }

  ~fixture() {
    for (auto& a : {pool, storage}) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
    std::error_code ec;
    fs::remove_all(opts.dir, ec);
  }

  void start_storage() {
    storage = sys.spawn(fake_pg, db);
    storage_slot.set(storage);
    sched.run();
  }

  // A pool, as the supervisor starts one (and restarts one that died).
  void start_pool() {
    pool = sys.spawn(content_pool, opts, &storage_slot);
    sched.run();
  }

  // Simulated seconds pass: timers fire (scans, renewals, deadlines) in order.
  void pass(int seconds) {
    for (int i = 0; i < seconds; ++i) {
      sched.advance_time(std::chrono::seconds(1));
      ++db->now;
      sched.run();
    }
  }

  // Jobs alive: every claimer seen, less those that went down.
  int jobs_alive() {
    for (; watched < db->claimers.size(); ++watched) {
      if (auto job = caf::actor_cast<caf::actor>(db->claimers[watched])) watcher->monitor(job);
      else ++ended;
    }
    sched.run();
    for (bool more = true; more;)
      watcher->receive([&](caf::down_msg&) { ++ended; }, caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    return static_cast<int>(watched) - ended;
  }

  void chaos_kill_job() {
    caf::anon_send(pool, chaos_atom::value, static_cast<uint8_t>(chaos_kind::job), uint64_t{0});
    sched.run();
  }

  void release(bool commit = true) {
    db->hold.clear();
    caf::anon_send(storage, caf::ok_atom::value, commit);
    sched.run();
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "chaos: a job killed at each point of its protocol; its item is claimed again after the lease",
                 "[actors][content][chaos]") {
  // 1. killed with its claim in flight (the claim commits after it died)
  db->hold = {storage::stmt_content_claim};
  start_pool();
  REQUIRE(db->held.size() == 1);
  chaos_kill_job();
  release();
  CHECK(db->claims == 1);
  CHECK(jobs_alive() == 0);
  pass(lease_s - 5);
  CHECK(db->claims == 1);  // the lease is live: nobody takes the item
  pass(lease_s);
  CHECK(db->claims == 2);  // the pool's next scan after the lease
  CHECK(jobs_alive() == 1);

  // 2. killed at work (between renewals)
  pass(5);
  chaos_kill_job();
  CHECK(jobs_alive() == 0);
  pass(2 * lease_s);
  CHECK(db->claims == 3);
  CHECK(jobs_alive() == 1);

  // 3. killed with its lease renewal in flight (the renewal commits after it died)
  db->hold = {storage::stmt_content_renew};
  pass(lease_s / 3 + 1);
  REQUIRE(db->held.size() == 1);
  chaos_kill_job();
  release();
  CHECK(jobs_alive() == 0);
  pass(2 * lease_s);

  // the fourth claim finds the item stopped three times: rejected, once
  CHECK(db->claims == 4);
  CHECK(db->status == "rejected");
  CHECK(db->reason == "processing.failed");
  CHECK(db->rejects == 1);
  CHECK(jobs_alive() == 0);
  CHECK(db->claims_while_held == 0);
  pass(2 * lease_s);
  CHECK(db->claims == 4);  // ended: never claimed again
}

TEST_CASE_METHOD(fixture, "chaos: the pool killed with a job at work; the job ends with it, the next pool resumes the item",
                 "[actors][content][chaos]") {
  start_pool();
  REQUIRE(db->claims == 1);
  REQUIRE(jobs_alive() == 1);
  kill_now(pool);  // as the supervisor's chaos does (exit_reason::kill cannot be trapped)
  sched.run();
  CHECK(jobs_alive() == 0);  // no job outlives its pool (it would run outside any pool's bounds)
  start_pool();
  CHECK(db->claims == 1);  // the lease is live
  pass(2 * lease_s);
  CHECK(db->claims == 2);
  CHECK(jobs_alive() == 1);
  CHECK(db->claims_while_held == 0);
}

TEST_CASE_METHOD(fixture, "chaos: the storage actor killed under a claim; the job ends at its deadline, the item is claimed again",
                 "[actors][content][chaos]") {
  db->hold = {storage::stmt_content_claim};
  start_pool();
  REQUIRE(db->held.size() == 1);
  kill_now(storage);  // the claim never commits and is never answered
  sched.run();
  db->held.clear();
  db->hold.clear();
  start_storage();
  CHECK(jobs_alive() == 1);  // waiting for its answer, until the request's deadline
  pass(lease_s);
  CHECK(db->claims == 1);
  CHECK(jobs_alive() == 1);
  CHECK(db->claims_while_held == 0);
}
