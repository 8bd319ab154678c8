// Tests protocols/router.cpp: matching, parameters, 404 versus 405.
#include "protocols/router.hpp"

#include <catch2/catch.hpp>

using namespace crm::protocols;
using outcome = route_match::outcome;

namespace {
router sample() {
  router r;
  r.add({"GET", "/health", 1, 0, listener::public_api});
  r.add({"GET", "/api/v1/{entity}/{id}", 2, 0, listener::public_api});
  r.add({"PATCH", "/api/v1/{entity}/{id}", 3, 1 << 20, listener::public_api});
  r.add({"POST", "/api/v1/{entity}/query", 4, 64 << 10, listener::public_api});
  r.add({"GET", "/metrics", 5, 0, listener::admin});
  return r;
}
} // namespace

TEST_CASE("router matches literals and captures parameters", "[protocols][router]") {
  auto r = sample();
  auto m = r.match("GET", "/api/v1/customers/42", listener::public_api);
  REQUIRE(m.result == outcome::found);
  CHECK(m.matched->id == 2);
  CHECK(m.param("entity") == "customers");
  CHECK(m.param("id") == "42");
  CHECK(m.param("missing").empty());
}

TEST_CASE("router prefers the route with more literal segments", "[protocols][router]") {
  auto r = sample();
  auto m = r.match("POST", "/api/v1/deals/query", listener::public_api);
  REQUIRE(m.result == outcome::found);
  CHECK(m.matched->id == 4);
}

TEST_CASE("router answers 405 with every allowed method", "[protocols][router]") {
  auto r = sample();
  auto m = r.match("DELETE", "/api/v1/customers/42", listener::public_api);
  CHECK(m.result == outcome::method_not_allowed);
  CHECK(m.allow == "GET, HEAD, PATCH");
  CHECK(r.match("POST", "/health", listener::public_api).allow == "GET, HEAD");
}

TEST_CASE("router answers HEAD for GET routes", "[protocols][router]") {
  auto r = sample();
  CHECK(r.match("HEAD", "/health", listener::public_api).result == outcome::found);
}

TEST_CASE("router returns not found for unknown and near-miss paths", "[protocols][router]") {
  auto r = sample();
  for (auto path : {"/", "/healthz", "/health/", "/api/v1/customers", "/api/v1//42",
                    "/api/v1/customers/42/extra", ""}) {
    CAPTURE(path);
    CHECK(r.match("GET", path, listener::public_api).result == outcome::not_found);
  }
}

TEST_CASE("router keeps listeners apart", "[protocols][router]") {
  auto r = sample();
  CHECK(r.match("GET", "/metrics", listener::public_api).result == outcome::not_found);
  CHECK(r.match("GET", "/metrics", listener::admin).result == outcome::found);
  CHECK(r.match("GET", "/health", listener::admin).result == outcome::not_found);
}

TEST_CASE("router gives each route its body limit", "[protocols][router]") {
  auto r = sample();
  CHECK(r.body_limit("PATCH", "/api/v1/customers/1", listener::public_api, 7) == (1u << 20));
  CHECK(r.body_limit("GET", "/health", listener::public_api, 7) == 0);
  CHECK(r.body_limit("POST", "/nowhere", listener::public_api, 7) == 7);
}

TEST_CASE("split_path splits on slashes", "[protocols][router]") {
  CHECK(split_path("/").empty());
  CHECK(split_path("/a/b") == std::vector<std::string_view>{"a", "b"});
  CHECK(split_path("/a//b") == std::vector<std::string_view>{"a", "", "b"});
}

TEST_CASE("router: only origin-form paths match (found by fuzzing)", "[protocols][router]") {
  router r;
  r.add({"GET", "/api/v1/customers/{id}", 7, 0, listener::public_api});
  CHECK(r.match("GET", "/api/v1/customers/42", listener::public_api).result == route_match::outcome::found);
  for (auto p : {"api/v1/customers/42", "", "http://h/api/v1/customers/42", "*"})
    CHECK(r.match("GET", p, listener::public_api).result == route_match::outcome::not_found);
}
