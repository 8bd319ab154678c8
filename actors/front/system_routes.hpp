// actors/front/system_routes.hpp
// The answers the front gives itself: routing verdicts (404, 405 with
// Allow) and the system endpoints (/health, versions, /metrics). answer()
// is a plain function so tests call it without an actor system.
#pragma once
#include <functional>
#include <vector>
#include "actors/core/messages.hpp"
#include "http/message.hpp"
#include "http/metrics.hpp"
#include "protocols/router.hpp"

#include <string>

namespace crm::actors {

// What the front knows when it answers.
struct front_context {
  const protocols::router* routes = nullptr;
  const http::metrics* metrics = nullptr;
  health_status health;
  size_t actors_running = 0;
  // More gauges for /metrics (the event bus's figures), if any.
  const std::function<std::vector<http::metrics::gauge>()>* gauges = nullptr;
};

// The response to `req` (routing, 404/405 problems, the system endpoints).
http::response answer(const http::request& req, const front_context& ctx);
// The same for a request already matched against ctx.routes.
http::response answer(const http::request& req, const protocols::route_match& m, const front_context& ctx);

// The JSON body of GET /health for `h`.
std::string health_json(const health_status& h);

} // namespace crm::actors
