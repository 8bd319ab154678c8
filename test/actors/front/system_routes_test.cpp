// Tests actors/front/system_routes.cpp: what the front answers for each system endpoint.
#include "actors/core/build_info.hpp"
#include "actors/api/route_table.hpp"
#include "actors/front/system_routes.hpp"

#include <catch2/catch.hpp>

using namespace crm;
using namespace crm::actors;

namespace {

http::request make(std::string method, std::string path,
                   protocols::listener where = protocols::listener::public_api) {
  http::request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.where = where;
  r.trace.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  return r;
}

struct routes_fixture {
  protocols::router routes = build_router(role::all);
  http::metrics metrics;
  front_context ctx(bool pg, bool redis) {
    return {&routes, &metrics, health_status{true, pg, redis}, 7};
  }
};

} // namespace

TEST_CASE_METHOD(routes_fixture, "health is 200 only when both dependencies are up", "[actors][routes]") {
  auto ok = answer(make("GET", "/health"), ctx(true, true));
  CHECK(ok.status == 200);
  CHECK(ok.body == R"({"status":"ok","checks":{"postgres":"ok","redis":"ok"}})");
  auto no_redis = answer(make("GET", "/health"), ctx(true, false));
  CHECK(no_redis.status == 503);
  CHECK(no_redis.body == R"({"status":"degraded","checks":{"postgres":"ok","redis":"down"}})");
  auto no_pg = answer(make("GET", "/health"), ctx(false, true));
  CHECK(no_pg.body == R"({"status":"degraded","checks":{"postgres":"down","redis":"ok"}})");
  front_context unknown{&routes, &metrics, health_status{}, 1};
  CHECK(answer(make("GET", "/health"), unknown).status == 503);
}

TEST_CASE_METHOD(routes_fixture, "version endpoints name their service and the build", "[actors][routes]") {
  auto core = answer(make("GET", "/api/version"), ctx(true, true));
  CHECK(core.status == 200);
  CHECK(core.body == std::string{R"({"service":"core","version":")"} + build_version +
                         R"(","commit":")" + build_commit + R"("})");
  auto content = answer(make("GET", "/content/version"), ctx(true, true));
  CHECK(content.body.find(R"("service":"content")") != std::string::npos);
  CHECK(content.route == "/content/version");
}

TEST_CASE_METHOD(routes_fixture, "unknown routes are 404 problems with the trace id", "[actors][routes]") {
  auto r = answer(make("GET", "/api/nothing"), ctx(true, true));
  CHECK(r.status == 404);
  CHECK(r.content_type == "application/problem+json");
  CHECK(r.body.find(R"("code":"resource.not_found")") != std::string::npos);
  CHECK(r.body.find(R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736")") != std::string::npos);
}

TEST_CASE_METHOD(routes_fixture, "a wrong method is 405 with Allow", "[actors][routes]") {
  auto r = answer(make("POST", "/api/version"), ctx(true, true));
  CHECK(r.status == 405);
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0] == http::header{"Allow", "GET, HEAD"});
}

TEST_CASE_METHOD(routes_fixture, "metrics live on the admin listener only", "[actors][routes]") {
  CHECK(answer(make("GET", "/metrics"), ctx(true, true)).status == 404);
  metrics.record("/health", "GET", 200, std::chrono::microseconds(300));
  auto r = answer(make("GET", "/metrics", protocols::listener::admin), ctx(true, false));
  CHECK(r.status == 200);
  CHECK(r.content_type.rfind("text/plain", 0) == 0);
  CHECK(r.body.find(R"(nextcrm_http_requests_total{route="/health",method="GET",status="200"} 1)") !=
        std::string::npos);
  CHECK(r.body.find(R"(nextcrm_http_request_duration_seconds_bucket{route="/health",le="0.0005"} 1)") !=
        std::string::npos);
  CHECK(r.body.find("nextcrm_actors_running 7") != std::string::npos);
  CHECK(r.body.find(R"(nextcrm_dependency_up{dependency="redis"} 0)") != std::string::npos);
  CHECK(r.body.find("nextcrm_http_open_connections 0") != std::string::npos);
}

TEST_CASE("each role serves only its routes", "[actors][routes]") {
  auto core = build_router(role::core);
  auto content = build_router(role::content);
  using outcome = protocols::route_match::outcome;
  auto pub = protocols::listener::public_api;
  CHECK(core.match("GET", "/api/version", pub).result == outcome::found);
  CHECK(core.match("GET", "/content/version", pub).result == outcome::not_found);
  CHECK(content.match("GET", "/content/version", pub).result == outcome::found);
  CHECK(content.match("GET", "/api/version", pub).result == outcome::not_found);
  CHECK(content.match("GET", "/health", pub).result == outcome::found);
}
