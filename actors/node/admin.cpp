#include "actors/node/admin.hpp"

#include "actors/api/api.hpp"
#include "actors/identity/identity.hpp"
#include "actors/identity/password_hasher.hpp"
#include "actors/core/random.hpp"
#include "actors/data/storage_actor.hpp"
#include "protocols/hex.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/problem.hpp"
#include "storage/pg/pg_conn.hpp"
#include "storage/sql/identity_sql.hpp"

#include <caf/all.hpp>

#include <iostream>
#include <mutex>
#include <thread>

namespace crm::actors {
namespace {

int usage() {
  std::cerr << "usage: nextcrm admin create-tenant --slug=S --name=N --admin-email=E\n"
               "       (password from NEXTCRM_ADMIN_PASSWORD or the first line of stdin)\n";
  return 2;
}

// "--key=value" of `args`, or "".
std::string flag(const std::vector<std::string>& args, std::string_view key) {
  for (const auto& a : args)
    if (a.size() > key.size() + 3 && a.compare(0, 2, "--") == 0 && a.compare(2, key.size(), key) == 0 &&
        a[key.size() + 2] == '=')
      return a.substr(key.size() + 3);
  return {};
}

// A problem on stderr, with a trace id of its own (the CLI has no request).
int print_problem(const caf::error& err) {
  auto bytes = random_bytes(16);
  auto trace = protocols::to_hex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  std::cerr << protocols::problem_json(protocols::to_problem(err), trace) << "\n";
  return 1;
}

// The first line of a libpq error ("connection to server at "127.0.0.1",
// port 5432 failed: Connection refused").
std::string first_line(std::string_view text) {
  auto nl = text.find('\n');
  return std::string{text.substr(0, nl)};
}

}  // namespace

int run_admin(const config& cfg, log_sink& /*log: the CLI reports on stderr itself*/) {
  if (cfg.args.empty() || cfg.args[0] != "create-tenant") return usage();
  std::string password;
  if (const char* env = std::getenv("NEXTCRM_ADMIN_PASSWORD"); env && *env)
    password = env;
  else
    std::getline(std::cin, password);
  // The same validation as POST /api/v1/tenants, on the same JSON shape.
  protocols::json_writer w;
  w.begin_object().key("slug").string(flag(cfg.args, "slug")).key("name").string(flag(cfg.args, "name"));
  w.key("admin").begin_object().key("email").string(flag(cfg.args, "admin-email"));
  w.key("password").string(password).end_object().end_object();
  protocols::json_body body{w.view()};
  auto draft = read_tenant_draft(body);
  if (!draft) return print_problem(body.validation_error());

  caf::actor_system_config caf_cfg;
  caf_cfg.set("scheduler.max-threads", 1);
  caf_cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{caf_cfg};
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::mutex failure_mutex;
  std::string failure;  // the last connection failure, reported once below
  storage::pg_pool pool{io, cfg.pg, storage::all_statements(), [&](std::string_view event, std::string_view detail) {
                          if (event != "pg.connect_failed") return;
                          std::lock_guard<std::mutex> lock{failure_mutex};
                          failure = first_line(detail);
                        }};
  std::thread io_thread{[&] { io.run(); }};
  pool.start();
  for (int i = 0; i < 100 && pool.connections_up() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (pool.connections_up() == 0) {
    std::string why;
    {
      std::lock_guard<std::mutex> lock{failure_mutex};
      why = failure.empty() ? "no connection within 5 s" : failure;
    }
    std::cerr << "nextcrm admin: cannot connect to PostgreSQL at " << storage::describe_conninfo(cfg.pg.conninfo)
              << ": " << why << "\n"
              << "  (NEXTCRM_PG_URL; the dev stack's is in .run/nextcrm.env, read when run inside the clone)\n";
    pool.stop();
    guard.reset();
    asio::post(io, [&] { io.stop(); });
    io_thread.join();
    return 1;
  }

  identity_deps deps;
  deps.storage = sys.spawn(storage_actor, &pool);
  deps.hasher = spawn_password_hasher(sys, 1);
  deps.keys = std::make_shared<protocols::jwt_keyring>(protocols::jwt_keyring{{{"admin", random_bytes(32)}}});
  deps.timeout = cfg.actor_timeout;
  deps.now = [] { return int64_t{0}; };
  auto registry = sys.spawn(tenants, deps);
  int rc = 0;
  {
    caf::scoped_actor self{sys};
    self->request(registry, std::chrono::seconds(60), bootstrap_atom::value, *draft)
        .receive(
            [&](tenant_created& t) {
              protocols::json_writer out;
              out.begin_object().key("data").begin_object();
              out.key("id").string(t.id).key("slug").string(t.slug).key("name").string(t.name);
              out.key("admin_user_id").string(t.admin_user_id).end_object().end_object();
              std::cout << out.view() << "\n";
            },
            [&](caf::error& e) { rc = print_problem(e); });
  }
  for (const auto& a : {registry, deps.storage, deps.hasher})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  sys.await_all_actors_done();
  pool.stop();
  guard.reset();
  asio::post(io, [&] { io.stop(); });
  io_thread.join();
  return rc;
}

}  // namespace crm::actors
