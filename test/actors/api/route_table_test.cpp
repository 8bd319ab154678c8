// Tests actors/api/route_table.cpp: the route table carries, for every
// endpoint, the permission the caller's role needs and the entity it serves,
// so handlers neither parse patterns nor assemble permission names.
#include "actors/api/route_table.hpp"

#include "actors/api/api.hpp"

#include "protocols/entity.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace crm;
using namespace crm::actors;
using protocols::listener;

TEST_CASE("route table: every entity route names its entity and permission", "[actors][route_table]") {
  auto rt = build_router(role::all);
  for (const auto& e : protocols::entity_registry()) {
    auto base = "/api/v1/" + e.path;
    struct want {
      const char* method;
      std::string path;
      std::string permission;
    };
    for (const auto& w : {want{"POST", base, e.path + ":write"}, want{"GET", base + "/x", e.path + ":read"},
                          want{"PATCH", base + "/x", e.path + ":write"}, want{"DELETE", base + "/x", e.path + ":delete"},
                          want{"POST", base + "/x/attachments", e.path + ":write"},
                          want{"GET", base + "/x/attachments", e.path + ":read"},
                          want{"POST", base + "/query", e.path + ":read"}, want{"GET", base, e.path + ":read"}}) {
      auto m = rt.match(w.method, w.path, listener::public_api);
      INFO(w.method << " " << w.path);
      REQUIRE(m.result == protocols::route_match::outcome::found);
      CHECK(m.matched->entity == &e);
      CHECK(m.matched->permission == w.permission);
    }
  }
  auto audit = rt.match("POST", "/api/v1/audit-logs/query", listener::public_api);
  REQUIRE(audit.matched);
  CHECK(audit.matched->entity == &protocols::audit_log_def());
  CHECK(audit.matched->permission == "audit:read");
}

TEST_CASE("route table: identity routes carry their RBAC permission", "[actors][route_table]") {
  auto rt = build_router(role::all);
  auto perm = [&](const char* method, const char* path) {
    auto m = rt.match(method, path, listener::public_api);
    REQUIRE(m.matched);
    return m.matched->permission;
  };
  CHECK(perm("POST", "/api/v1/users") == "users:manage");
  CHECK(perm("POST", "/api/v1/users/x/lock") == "users:manage");
  CHECK(perm("GET", "/api/v1/roles").empty());
  CHECK(perm("GET", "/api/v1/auth/me").empty());
  CHECK(perm("PUT", "/api/v1/access-profiles/p") == "profiles:manage");
  CHECK(perm("GET", "/api/v1/audit-logs") == "audit:read");
  // every API route is one the front hands to the API handlers
  for (const auto& r : rt.routes())
    if (r.pattern.rfind("/api/v1/", 0) == 0) CHECK(is_api_route(r.id));
}

TEST_CASE("route table: every API row has a handler, a caller and a body that fit", "[actors][route_table]") {
  using protocols::body_media;
  using protocols::route_auth;
  auto rt = build_router(role::all);
  size_t api_routes = 0;
  for (const auto& r : rt.routes()) {
    if (r.pattern.rfind("/api/v1/", 0) != 0) continue;
    ++api_routes;
    INFO(r.method << " " << r.pattern);
    CHECK(has_handler(r.id));
    // only the bootstrap and the login are reachable without a session
    if (r.pattern == "/api/v1/tenants") CHECK(r.auth == route_auth::platform);
    else if (r.pattern == "/api/v1/auth/login") CHECK(r.auth == route_auth::none);
    else CHECK(r.auth == route_auth::session);
    // a route that reads a body accepts one; GET and DELETE read none
    if (r.media != body_media::none) CHECK(r.body_limit > 0);
    if (r.method == "GET" || r.method == "DELETE") CHECK((r.media == body_media::none && r.body_limit == 0));
    // merge patches only where records are patched
    if (r.media == body_media::json_or_merge_patch) CHECK((r.method == "PATCH" && r.entity != nullptr));
  }
  CHECK(api_routes == 33 + 8 * protocols::entity_registry().size());  // 11 of them the guard's
}

