#include "actors/front/system_routes.hpp"

#include "actors/api/route_table.hpp"
#include "actors/core/build_info.hpp"
#include "protocols/json_writer.hpp"
#include "http/problem_response.hpp"

namespace crm::actors {

using protocols::errc;

namespace {

http::response json(int status, std::string body, std::string_view route) {
  http::response r;
  r.status = status;
  r.body = std::move(body);
  r.route = std::string{route};
  return r;
}

http::response problem(errc code, std::string detail, const http::request& req,
                       std::string_view route) {
  auto r = http::problem_response(protocols::make_problem(code, std::move(detail)), req.trace.trace_id);
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
      if (ctx.gauges && *ctx.gauges)
        for (auto& g : (*ctx.gauges)()) extra.push_back(std::move(g));
      http::response r = json(200, ctx.metrics ? ctx.metrics->render(extra) : "", route);
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      return r;
    }
    default: break;
  }
  return problem(errc::internal, "the route has no handler", req, route);
}

} // namespace crm::actors
