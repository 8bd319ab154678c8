// Actor-level fault injection (CAF's deterministic test scheduler + the real
// HTTP server): the front actor is killed while requests wait in its
// mailbox. Those requests must get a 503 problem, not hang, and the
// supervisor must bring routing back without a restart.
#include "actors/chaos/chaos.hpp"
#include "actors/data/storage_messages.hpp"
#include "actors/node/supervisor.hpp"
#include "http/server.hpp"
#include "protocols/problem.hpp"
#include "support/raw_http_client.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <thread>

using namespace crm;
using namespace crm::actors;

namespace {

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  http::metrics metrics;
  front_slots slots;
  std::shared_ptr<const protocols::router> routes =
      std::make_shared<const protocols::router>(build_router(role::all));
  std::atomic<int> dispatched{0};
  std::unique_ptr<http::server> server;
  uint16_t port = 0;
  caf::actor sup;
  front_slot storage_slot;

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    c.set("scheduler.policy", caf::atom("testing"));  // nothing runs until sched.run()
    c.set("logger.console", caf::atom("none"));
    return c;
  }

  explicit fixture(size_t fronts = 1)
      : sys(init(cfg)),
        sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())),
        slots(fronts) {
    http::server_hooks hooks;
    hooks.dispatch = [this](size_t io, std::vector<http::exchange>&& batch) {
      auto n = static_cast<int>(batch.size());
      if (auto front = slots.for_io(io)) caf::anon_send(front, http_batch{std::move(batch)});
      dispatched += n;
    };
    hooks.body_limit = [](http::request&) { return size_t{0}; };
    server = std::make_unique<http::server>(http::http_options{}, std::move(hooks), metrics);
    std::error_code ec;
    port = server->listen("127.0.0.1", 0, protocols::listener::public_api, ec);
    REQUIRE_FALSE(ec);
    server->start();

    supervisor_deps deps;
    deps.front = {routes, &metrics, {}, {}};
    deps.hasher_threads = 0;  // no identity in these tests
    deps.slot = &slots;
    deps.storage_slot = &storage_slot;
    deps.health.slot = &slots;
    deps.health.probe_postgres = [](std::function<void(bool)> done) { done(true); };
    deps.health.probe_redis = [](std::function<void(bool)> done) { done(true); };
    sup = sys.spawn(supervisor, std::move(deps));
    sched.run();
  }

  ~fixture() {
    server->stop();
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    sched.run();
  }

  // Waits (bounded) until the I/O thread has handed `n` requests to the front.
  void wait_dispatched(int n) {
    for (int i = 0; i < 5000 && dispatched.load() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(dispatched.load() == n);
  }
};

// A node with three fronts (NEXTCRM_FRONTS=3).
struct three_fronts : fixture {
  three_fronts() : fixture(3) {}
};

// Kills `a` as an urgent message, ahead of what already waits in its mailbox:
// the front dies before it gets to the queued requests, as in a crash.
void kill_now(const caf::actor& a) {
  a->enqueue(nullptr, caf::make_message_id(caf::message_priority::high),
             caf::make_message(caf::exit_msg{a.address(), caf::exit_reason::kill}), nullptr);
}

const std::string version_request = "GET /api/version HTTP/1.1\r\nHost: test\r\n\r\n";

} // namespace

TEST_CASE_METHOD(fixture, "requests in the mailbox of a killed front get 503, then routing comes back",
                 "[actors][supervisor]") {
  auto first_front = slots[0].get();
  REQUIRE(first_front);
  test::raw_http_client client{port};
  client.send(version_request + version_request + version_request);
  wait_dispatched(3);  // all three wait in the front's mailbox: nothing has run yet

  kill_now(first_front);
  sched.run();  // the front dies with its mailbox; the supervisor restarts it

  for (int i = 0; i < 3; ++i) {
    auto r = client.read();
    CAPTURE(i, r.body);
    CHECK(r.status == 503);
    CHECK(r.headers["content-type"] == "application/problem+json");
    CHECK(r.body.find(R"("code":"dependency.unavailable")") != std::string::npos);
    CHECK(r.headers.count("x-request-id") == 1);
    CHECK(r.headers["retry-after"] == "1");
  }

  auto second_front = slots[0].get();
  REQUIRE(second_front);
  CHECK(second_front != first_front);
  client.send(version_request);
  wait_dispatched(4);
  sched.run();
  auto ok = client.read();
  CHECK(ok.status == 200);
  CHECK(ok.body.find(R"("service":"core")") != std::string::npos);
}

TEST_CASE_METHOD(fixture, "the supervisor restarts a front that crashed and pushes health to it",
                 "[actors][supervisor]") {
  auto before = slots[0].get();
  caf::anon_send_exit(before, caf::exit_reason::user_shutdown);  // abnormal for a child
  sched.run();
  auto after = slots[0].get();
  REQUIRE(after);
  CHECK(after != before);
  test::raw_http_client client{port};
  client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
  wait_dispatched(1);
  sched.run();
  auto r = client.read();
  // The restarted front got the last probe results pushed: both dependencies up.
  CHECK(r.body == R"({"status":"ok","checks":{"postgres":"ok","redis":"ok"}})");
  CHECK(r.status == 200);
}

TEST_CASE_METHOD(fixture, "a request to no front at all still gets an answer", "[actors][supervisor]") {
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);  // supervisor and children go
  sched.run();
  CHECK_FALSE(slots[0].get());
  test::raw_http_client client{port};
  client.send(version_request);
  auto r = client.read();
  CHECK(r.status == 503);
}

TEST_CASE_METHOD(three_fronts, "each front has its own slot; a dead one is restarted alone and gets health",
                 "[actors][supervisor]") {
  std::vector<caf::actor> before;
  for (size_t i = 0; i < 3; ++i) before.push_back(slots[i].get());
  for (auto& f : before) REQUIRE(f);
  CHECK(before[0] != before[1]);
  CHECK(before[1] != before[2]);
  CHECK(slots.for_io(4) == before[1]);  // I/O thread 4 feeds front 4 mod 3
  caf::anon_send_exit(before[1], caf::exit_reason::user_shutdown);
  sched.run();
  CHECK(slots[0].get() == before[0]);
  CHECK(slots[2].get() == before[2]);
  auto restarted = slots[1].get();
  REQUIRE(restarted);
  CHECK(restarted != before[1]);
  // every front answers /health with the pushed status (one I/O thread here: front 0)
  test::raw_http_client client{port};
  client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
  wait_dispatched(1);
  sched.run();
  auto r = client.read();
  CHECK(r.status == 200);
  // and a supervisor going down clears every slot
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  for (size_t i = 0; i < 3; ++i) CHECK_FALSE(slots[i].get());
}

// The chaos facility (actors/chaos) on demand: the chaos actor's kill of a
// front goes through the supervisor, which kills the picked front and
// restarts it alone; a request queued in the dead front's mailbox is
// answered 503 and routing is back at once. Drops of connections go to the
// node's callback, never to the supervisor.
TEST_CASE_METHOD(three_fronts, "chaos: a front killed by the chaos actor is restarted alone and requests go on",
                 "[actors][supervisor][chaos]") {
  std::vector<caf::actor> before;
  for (size_t i = 0; i < 3; ++i) before.push_back(slots[i].get());
  chaos_counts counts{};
  std::vector<std::pair<chaos_kind, uint64_t>> dropped;
  chaos_deps cd;
  cd.supervisor = sup;
  cd.plan = {{chaos_kind::front, std::chrono::milliseconds(0)}, {chaos_kind::pg, std::chrono::milliseconds(0)}};
  cd.seed = 7;
  cd.counts = &counts;
  cd.drop = [&](chaos_kind k, uint64_t pick) { dropped.emplace_back(k, pick); };
  auto c = sys.spawn(chaos, std::move(cd));
  caf::anon_send(c, chaos_atom::value);  // SIGUSR2: every planned kind once
  sched.run();
  size_t replaced = 0;
  for (size_t i = 0; i < 3; ++i) {
    REQUIRE(slots[i].get());
    replaced += slots[i].get() != before[i];
  }
  CHECK(replaced == 1);
  CHECK(counts[static_cast<size_t>(chaos_kind::front)].load() == 1);
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].first == chaos_kind::pg);
  test::raw_http_client client{port};
  client.send(version_request);
  wait_dispatched(1);
  sched.run();
  CHECK(client.read().status == 200);
  caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  sched.run();
}

// The chaos facility's storage kind: the supervisor kills the storage actor
// (its pool's connections stay with the node) and starts another at once,
// with the registry that held the old handle. A request sent to the dead
// one is answered with an error (503 at the front), never left hanging.
TEST_CASE_METHOD(fixture, "chaos: the storage actor killed is restarted and a request to the dead one fails fast",
                 "[actors][supervisor][chaos]") {
  caf::scoped_actor self{sys, true};
  auto before = storage_slot.get();
  REQUIRE(before);
  caf::anon_send(sup, chaos_atom::value, static_cast<uint8_t>(chaos_kind::storage), uint64_t{0});
  sched.run();
  auto after = storage_slot.get();
  REQUIRE(after);
  CHECK(after != before);
  auto h = self->request(before, std::chrono::seconds(5), db_atom::value, db_request{});
  sched.run();
  caf::error failed;
  h.receive([](db_result&) { FAIL("the dead storage actor answered"); }, [&](caf::error& e) { failed = e; });
  CHECK(protocols::to_problem(failed).kind.status == 503);
}
