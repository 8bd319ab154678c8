// storage/pg/pg_pool.cpp against a real PostgreSQL (label integration; reads
// NEXTCRM_TEST_PG_URL and NEXTCRM_TEST_PG_OWNER_URL from test/run-all.sh).
// One request is one transaction: a failing statement leaves nothing
// half-written, errors map to our codes, the tenant setting reaches
// row-level security, and without a database requests fail fast.
#include "protocols/errc.hpp"
#include "protocols/problem.hpp"
#include "storage/pg/pg_pool.hpp"

#include <catch2/catch.hpp>
#include <libpq-fe.h>

#include <cstdlib>
#include <future>
#include <thread>

using namespace crm;
using namespace crm::storage;
using protocols::errc;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) FAIL(std::string{"missing "} + name + ": run through test/run-all.sh");
  return v;
}

// Runs `sql` as the owner (schema set-up for the test), blocking.
void owner_exec(const std::string& sql) {
  PGconn* c = PQconnectdb(env("NEXTCRM_TEST_PG_OWNER_URL").c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PQclear(PQexec(c, "SET client_min_messages = warning"));
  PGresult* r = PQexec(c, sql.c_str());
  INFO(PQresultErrorMessage(r));
  CHECK((PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK));
  PQclear(r);
  PQfinish(c);
}

struct pool_fixture {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{asio::make_work_guard(io)};
  std::unique_ptr<pg_pool> pool;
  std::thread thread;

  explicit pool_fixture(std::string conninfo = env("NEXTCRM_TEST_PG_URL")) {
    pg_options o;
    o.conninfo = std::move(conninfo);
    o.connections = 2;
    o.request_timeout = std::chrono::milliseconds(3000);
    pool = std::make_unique<pg_pool>(io, o, std::vector<pg_statement>{
        {"probe.count", "SELECT count(*) FROM pool_probe"}});
    thread = std::thread([this] { io.run(); });
    pool->start();
  }
  ~pool_fixture() {
    pool->stop();
    guard.reset();
    asio::post(io, [this] { io.stop(); });
    thread.join();
  }
  caf::expected<std::vector<pg_rows>> run(std::string tenant, std::vector<pg_query> q) {
    std::promise<caf::expected<std::vector<pg_rows>>> p;
    pool->run(std::move(tenant), std::move(q), [&](caf::expected<std::vector<pg_rows>> r) {
      p.set_value(std::move(r));
    });
    return p.get_future().get();
  }
  void wait_up() {
    for (int i = 0; i < 500 && pool->connections_up() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(pool->connections_up() == 2);
  }
};

const char* tenant_a = "00000000-0000-0000-0000-00000000000a";
const char* tenant_b = "00000000-0000-0000-0000-00000000000b";

void create_probe_table() {
  owner_exec(
      "DROP TABLE IF EXISTS pool_probe;"
      "CREATE TABLE pool_probe (id int PRIMARY KEY, tenant_id uuid NOT NULL, name text NOT NULL);"
      "ALTER TABLE pool_probe ENABLE ROW LEVEL SECURITY;"
      "ALTER TABLE pool_probe FORCE ROW LEVEL SECURITY;"
      "CREATE POLICY tenant_isolation ON pool_probe USING (tenant_id = app_current_tenant());"
      "GRANT SELECT, INSERT, UPDATE, DELETE ON pool_probe TO nextcrm_app;");
}

// Rows of both tenants, counted as the owner (FORCE RLS applies to it too).
int count_all() {
  int total = 0;
  for (auto t : {tenant_a, tenant_b}) {
    PGconn* c = PQconnectdb(env("NEXTCRM_TEST_PG_OWNER_URL").c_str());
    PQclear(PQexec(c, "BEGIN"));
    PQclear(PQexec(c, (std::string{"SELECT set_config('app.tenant_id','"} + t + "',true)").c_str()));
    PGresult* r = PQexec(c, "SELECT count(*) FROM pool_probe");
    total += std::atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
  }
  return total;
}

} // namespace

TEST_CASE("one request is one transaction: a failing statement leaves nothing written",
          "[storage][pg][integration]") {
  create_probe_table();
  pool_fixture f;
  f.wait_up();
  auto ok = f.run(tenant_a, {{"INSERT INTO pool_probe VALUES (1, $1, 'first')", {tenant_a}},
                             {"probe.count", {}, true}});
  REQUIRE(ok);
  CHECK(ok->at(0).affected == 1);
  CHECK(ok->at(1).rows.at(0).at(0) == std::optional<std::string>{"1"});

  // second row fine, third violates the primary key: the segment rolls back whole
  auto bad = f.run(tenant_a, {{"INSERT INTO pool_probe VALUES (2, $1, 'second')", {tenant_a}},
                              {"INSERT INTO pool_probe VALUES (1, $1, 'dup')", {tenant_a}}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == errc::resource_conflict);
  CHECK(count_all() == 1);

  auto invalid = f.run(tenant_a, {{"INSERT INTO pool_probe VALUES (3, $1, NULL)", {tenant_a}}});
  REQUIRE_FALSE(invalid);
  CHECK(invalid.error() == errc::internal);
  CHECK(protocols::to_problem(invalid.error()).detail.find("null") == std::string::npos);

  // the connection is usable after the failures
  auto after = f.run(tenant_a, {{"probe.count", {}, true}});
  REQUIRE(after);
  CHECK(after->at(0).rows.at(0).at(0) == std::optional<std::string>{"1"});
  owner_exec("DROP TABLE pool_probe");
}

TEST_CASE("the tenant of a request reaches row-level security", "[storage][pg][integration]") {
  create_probe_table();
  pool_fixture f;
  f.wait_up();
  REQUIRE(f.run(tenant_a, {{"INSERT INTO pool_probe VALUES (1, $1, 'a')", {tenant_a}}}));
  REQUIRE(f.run(tenant_b, {{"INSERT INTO pool_probe VALUES (2, $1, 'b')", {tenant_b}}}));
  // a query that forgets the tenant predicate still sees only its tenant
  auto a = f.run(tenant_a, {{"SELECT name FROM pool_probe", {}}});
  REQUIRE(a);
  REQUIRE(a->at(0).rows.size() == 1);
  CHECK(a->at(0).rows[0][0] == std::optional<std::string>{"a"});
  // no tenant: nothing visible, nothing writable
  auto none = f.run({}, {{"SELECT name FROM pool_probe", {}}});
  REQUIRE(none);
  CHECK(none->at(0).rows.empty());
  auto cross = f.run(tenant_a, {{"INSERT INTO pool_probe VALUES (3, $1, 'x')", {tenant_b}}});
  REQUIRE_FALSE(cross);
  CHECK(count_all() == 2);
  // the setting does not leak into the next request on the same connection
  auto later = f.run({}, {{"SELECT count(*) FROM pool_probe", {}}});
  REQUIRE(later);
  CHECK(later->at(0).rows[0][0] == std::optional<std::string>{"0"});
  owner_exec("DROP TABLE pool_probe");
}

TEST_CASE("without a database, requests fail fast with dependency.unavailable",
          "[storage][pg][integration]") {
  pool_fixture f{"host=127.0.0.1 port=1 dbname=none user=none connect_timeout=1"};
  auto started = std::chrono::steady_clock::now();
  auto r = f.run({}, {{"SELECT 1", {}}});
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::dependency_unavailable);
  CHECK(f.pool->connections_up() == 0);
  // fail fast means no queueing until some deadline (3 s here)
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
}

TEST_CASE("a cached statement is parsed once per connection, and a failing one is never cached",
          "[storage][pg_pool][integration]") {
  create_probe_table();
  pool_fixture f;
  f.wait_up();
  pg_query ins{"INSERT INTO pool_probe (id, tenant_id, name) VALUES ($1, $2, $3)", {"1", tenant_a, "one"}, false};
  REQUIRE(f.run(tenant_a, {ins}));
  auto before = f.pool->statements_prepared();
  pg_query sel{"SELECT name FROM pool_probe WHERE id = $1", {"1"}, false, true};
  for (int i = 0; i < 10; ++i) {
    auto r = f.run(tenant_a, {sel});
    REQUIRE(r);
    REQUIRE(r->at(0).rows.size() == 1);
    CHECK(r->at(0).cell(0, 0) == "one");
  }
  // two connections: at most one Parse each, however often it runs
  CHECK(f.pool->statements_prepared() - before <= 2);
  // the tenant still reaches row-level security through the prepared statements
  auto other = f.run(tenant_b, {sel});
  REQUIRE(other);
  CHECK(other->at(0).rows.empty());
  // a statement that does not parse fails its request, every time, and is not kept
  pg_query bad{"SELEKT 1", {}, false, true};
  for (int i = 0; i < 3; ++i) {
    auto r = f.run(tenant_a, {bad});
    REQUIRE_FALSE(r);
  }
  // an earlier failure in the segment skips the Parse: the next run still prepares it
  pg_query fails{"SELECT 1/0", {}, false};
  pg_query later{"SELECT name || '!' FROM pool_probe WHERE id = $1", {"1"}, false, true};
  REQUIRE_FALSE(f.run(tenant_a, {fails, later}));
  for (int i = 0; i < 4; ++i) {
    auto r = f.run(tenant_a, {later});
    REQUIRE(r);
    CHECK(r->at(0).cell(0, 0) == "one!");
  }
}
