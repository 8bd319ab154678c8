// Tests actors/node/config.cpp: environment, flag overrides, validation, help.
#include "actors/node/config.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <thread>

using namespace crm::actors;

namespace {

struct env_map {
  std::map<std::string, std::string> vars;
  getenv_fn fn() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

bool load(std::vector<std::string> args, const env_map& env, config& out, std::string& error) {
  std::vector<char*> argv;
  static std::string program = "nextcrm";
  argv.push_back(program.data());
  for (auto& a : args) argv.push_back(a.data());
  return load_config(static_cast<int>(argv.size()), argv.data(), env.fn(), out, error);
}

} // namespace

TEST_CASE("config has working defaults", "[actors][config]") {
  config c;
  std::string error;
  REQUIRE(load({}, {}, c, error));
  CHECK(c.command == "serve");
  CHECK(c.node_role == role::all);
  CHECK(c.listen.host == "127.0.0.1");
  CHECK(c.listen.port == 8081);
  CHECK(c.admin_listen.port == 9091);
  CHECK(c.jwt_ttl_s == 3600);
  size_t cores = std::max(1u, std::thread::hardware_concurrency());
  CHECK(c.http.io_threads == cores);
  CHECK(c.workers == std::max<size_t>(1, cores / 2));
  CHECK(c.http.max_header_bytes == 16 * 1024);
  CHECK(c.pg_migrate_url == c.pg.conninfo);
  CHECK(c.pg.connections == 8);
  // the query DSL's caps: the defaults of docs/protocols/QUERY-DSL.md
  CHECK(c.query_caps.default_page == 50);
  CHECK(c.query_caps.max_page == 500);
  CHECK(c.query_caps.max_predicates == 20);
  CHECK(c.query_caps.max_depth == 5);
  CHECK(c.query_caps.max_in == 100);
  CHECK(c.query_caps.max_sort == 3);
  CHECK(c.query_timeout == std::chrono::milliseconds(2000));
}

TEST_CASE("flags override the environment", "[actors][config]") {
  env_map env{{{"NEXTCRM_LISTEN", "0.0.0.0:9000"}, {"NEXTCRM_ROLE", "core"},
               {"NEXTCRM_REQUEST_TIMEOUT_MS", "1000"}, {"NEXTCRM_PLATFORM_TOKEN", "s3cret"}}};
  config c;
  std::string error;
  REQUIRE(load({"serve", "--listen=127.0.0.1:0", "--role", "content"}, env, c, error));
  CHECK(c.listen.host == "127.0.0.1");
  CHECK(c.listen.port == 0);
  CHECK(c.node_role == role::content);
  CHECK(c.http.request_timeout == std::chrono::milliseconds(1000));
  CHECK(c.platform_token == "s3cret");
}

TEST_CASE("config rejects bad values with the variable's name", "[actors][config]") {
  struct bad { std::vector<std::string> args; env_map env; std::string_view mentions; };
  const bad cases[] = {
    {{}, {{{"NEXTCRM_LISTEN", "nope"}}}, "NEXTCRM_LISTEN"},
    {{}, {{{"NEXTCRM_ROLE", "boss"}}}, "NEXTCRM_ROLE"},
    {{}, {{{"NEXTCRM_WORKERS", "-1"}}}, "NEXTCRM_WORKERS"},
    {{}, {{{"NEXTCRM_IO_THREADS", "65"}}}, "NEXTCRM_IO_THREADS"},
    {{}, {{{"NEXTCRM_LISTEN", "127.0.0.1:70000"}}}, "NEXTCRM_LISTEN"},
    {{"--bogus=1"}, {}, "--bogus"},
    {{"--jwt-ttl-s=abc"}, {}, "--jwt-ttl-s"},
    {{"explode"}, {}, "explode"},
    {{}, {{{"NEXTCRM_QUERY_MAX_PAGE", "0"}}}, "NEXTCRM_QUERY_MAX_PAGE"},
    {{}, {{{"NEXTCRM_QUERY_DEFAULT_PAGE", "600"}}}, "NEXTCRM_QUERY_DEFAULT_PAGE"},  // above the max page (500)
    {{}, {{{"NEXTCRM_QUERY_TIMEOUT_MS", "5000"}}}, "NEXTCRM_QUERY_TIMEOUT_MS"},     // not below the actor deadline
  };
  for (const auto& c : cases) {
    config out;
    std::string error;
    CHECK_FALSE(load(c.args, c.env, out, error));
    CHECK(error.find(c.mentions) != std::string::npos);
  }
}

TEST_CASE("help lists every variable and never a secret value", "[actors][config]") {
  auto help = help_text();
  for (auto name : {"NEXTCRM_LISTEN", "NEXTCRM_ADMIN_LISTEN", "NEXTCRM_PG_URL", "NEXTCRM_REDIS_ADDR",
                    "NEXTCRM_PLATFORM_TOKEN", "NEXTCRM_JWT_TTL_S", "NEXTCRM_MAX_CONNECTIONS"})
    CHECK(help.find(name) != std::string::npos);
}

TEST_CASE("parse_host_port handles IPv6 brackets", "[actors][config]") {
  host_port hp;
  REQUIRE(parse_host_port("[::1]:8080", hp));
  CHECK(hp.host == "::1");
  CHECK(hp.port == 8080);
  CHECK_FALSE(parse_host_port(":80", hp));
  CHECK_FALSE(parse_host_port("host", hp));
}
