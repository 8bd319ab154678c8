// actors/front/front.hpp
// The front actor: every parsed request arrives here with its reply handle.
// It routes (actors/front/system_routes.cpp) and answers; later blocks verify the JWT and
// forward to the tenant actor from here. Holds the latest health status,
// pushed by the health actor. Supervised by actors/node/supervisor.cpp.
#pragma once
#include "actors/api/api.hpp"
#include "actors/core/messages.hpp"
#include "actors/api/route_table.hpp"
#include "actors/front/system_routes.hpp"

#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include <memory>

namespace crm::actors {

struct front_deps {
  std::shared_ptr<const protocols::router> routes;
  const http::metrics* metrics = nullptr;
  api_deps api;
  std::function<std::vector<http::metrics::gauge>()> gauges;  // the event bus's figures (node.cpp)
};

struct front_state {
  static inline const char* name = "front";
  front_deps deps;
  health_status health;
};

caf::behavior front(caf::stateful_actor<front_state>* self, front_deps deps);

} // namespace crm::actors
