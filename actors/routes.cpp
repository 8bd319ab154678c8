#include "actors/routes.hpp"

#include "protocols/entity.hpp"

#include "actors/build_info.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/problem.hpp"

namespace crm::actors {

using protocols::errc;
using protocols::listener;

namespace {

constexpr size_t no_body = 0;            // GET endpoints accept no request body
constexpr size_t small_json = 16 * 1024;  // identity bodies are a few hundred bytes
constexpr size_t record_json = 256 * 1024;  // a record: 10,000-character notes, 1,000 price-list items
constexpr size_t ignored_body = 1024;     // actions that read no body accept a small one (`{}`)

http::response json(int status, std::string body, std::string_view route) {
  http::response r;
  r.status = status;
  r.body = std::move(body);
  r.route = std::string{route};
  return r;
}

http::response problem(errc code, std::string detail, const http::request& req,
                       std::string_view route) {
  auto p = protocols::make_problem(code, std::move(detail));
  http::response r;
  r.status = p.kind.status;
  r.content_type = std::string{protocols::problem_content_type};
  r.body = protocols::problem_json(p, req.trace.trace_id);
  r.route = std::string{route};
  return r;
}

std::string version_json(std::string_view service) {
  protocols::json_writer w;
  w.begin_object();
  w.key("service").string(service);
  w.key("version").string(build_version);
  w.key("commit").string(build_commit);
  w.end_object();
  return std::move(w).str();
}

} // namespace

bool parse_role(std::string_view text, role& out) {
  if (text == "all") out = role::all;
  else if (text == "core") out = role::core;
  else if (text == "content") out = role::content;
  else if (text == "runner") out = role::runner;
  else return false;
  return true;
}

protocols::router build_router(role r) {
  protocols::router rt;
  rt.add({"GET", "/health", route_health, no_body, listener::public_api});
  rt.add({"GET", "/health", route_health, no_body, listener::admin});
  rt.add({"GET", "/metrics", route_metrics, no_body, listener::admin});
  if (r == role::all || r == role::core) {
    rt.add({"GET", "/api/version", route_api_version, no_body, listener::public_api});
    rt.add({"POST", "/api/v1/tenants", route_tenants_create, small_json, listener::public_api});
    rt.add({"POST", "/api/v1/auth/login", route_login, small_json, listener::public_api});
    rt.add({"POST", "/api/v1/auth/logout", route_logout, ignored_body, listener::public_api});
    rt.add({"GET", "/api/v1/auth/me", route_me, no_body, listener::public_api});
    rt.add({"POST", "/api/v1/users", route_users_create, small_json, listener::public_api});
    rt.add({"GET", "/api/v1/users", route_users_list, no_body, listener::public_api});
    rt.add({"GET", "/api/v1/users/{id}", route_user_get, no_body, listener::public_api});
    rt.add({"PATCH", "/api/v1/users/{id}", route_user_patch, small_json, listener::public_api});
    rt.add({"POST", "/api/v1/users/{id}/lock", route_user_lock, ignored_body, listener::public_api});
    rt.add({"POST", "/api/v1/users/{id}/unlock", route_user_unlock, ignored_body, listener::public_api});
    rt.add({"GET", "/api/v1/roles", route_roles_list, no_body, listener::public_api});
    rt.add({"GET", "/api/v1/access-profiles", route_profiles_list, no_body, listener::public_api});
    rt.add({"GET", "/api/v1/access-profiles/{name}", route_profile_get, no_body, listener::public_api});
    rt.add({"PUT", "/api/v1/access-profiles/{name}", route_profile_put, small_json, listener::public_api});
    rt.add({"GET", "/api/v1/audit-logs", route_audit_list, no_body, listener::public_api});
    rt.add({"POST", "/api/v1/audit-logs/query", route_audit_query, small_json, listener::public_api});
    for (const auto& e : protocols::entity_registry()) {
      auto base = "/api/v1/" + e.path;
      rt.add({"POST", base, route_entity_create, record_json, listener::public_api});
      rt.add({"GET", base + "/{id}", route_entity_get, no_body, listener::public_api});
      rt.add({"PATCH", base + "/{id}", route_entity_patch, record_json, listener::public_api});
      rt.add({"DELETE", base + "/{id}", route_entity_delete, no_body, listener::public_api});
      rt.add({"POST", base + "/{id}/attachments", route_attachments_create, small_json, listener::public_api});
      rt.add({"GET", base + "/{id}/attachments", route_attachments_list, no_body, listener::public_api});
      rt.add({"POST", base + "/query", route_entity_query, small_json, listener::public_api});
      rt.add({"GET", base, route_entity_list, no_body, listener::public_api});
    }
  }
  if (r == role::all || r == role::content)
    rt.add({"GET", "/content/version", route_content_version, no_body, listener::public_api});
  return rt;
}

std::string health_json(const health_status& h) {
  auto state = [&](bool up) { return h.known && up ? "ok" : "down"; };
  protocols::json_writer w;
  w.begin_object();
  w.key("status").string(h.known && h.postgres && h.redis ? "ok" : "degraded");
  w.key("checks").begin_object();
  w.key("postgres").string(state(h.postgres));
  w.key("redis").string(state(h.redis));
  w.end_object();
  w.end_object();
  return std::move(w).str();
}

http::response answer(const http::request& req, const front_context& ctx) {
  return answer(req, ctx.routes->match(req.method, req.path, req.where), ctx);
}

http::response answer(const http::request& req, const protocols::route_match& m, const front_context& ctx) {
  using outcome = protocols::route_match::outcome;
  if (m.result == outcome::not_found)
    return problem(errc::resource_not_found, "no route for " + req.method + " " + req.path, req, "");
  if (m.result == outcome::method_not_allowed) {
    auto r = problem(errc::method_not_allowed, req.method + " is not allowed here", req, "");
    r.headers.emplace_back("Allow", m.allow);
    return r;
  }
  const auto& route = m.matched->pattern;
  switch (m.matched->id) {
    case route_health: {
      bool ok = ctx.health.known && ctx.health.postgres && ctx.health.redis;
      auto r = json(ok ? 200 : 503, health_json(ctx.health), route);
      r.headers.emplace_back("Cache-Control", "no-store");
      return r;
    }
    case route_api_version: return json(200, version_json("core"), route);
    case route_content_version: return json(200, version_json("content"), route);
    case route_metrics: {
      std::vector<http::metrics::gauge> extra{
          {"nextcrm_actors_running", "Actors alive in this node's actor system.",
           static_cast<double>(ctx.actors_running)},
          {"nextcrm_dependency_up{dependency=\"postgres\"}",
           "1 if the last probe of the dependency succeeded.", ctx.health.postgres ? 1.0 : 0.0},
          {"nextcrm_dependency_up{dependency=\"redis\"}",
           "1 if the last probe of the dependency succeeded.", ctx.health.redis ? 1.0 : 0.0},
      };
      http::response r = json(200, ctx.metrics ? ctx.metrics->render(extra) : "", route);
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      return r;
    }
    default: break;
  }
  return problem(errc::internal, "the route has no handler", req, route);
}

} // namespace crm::actors
