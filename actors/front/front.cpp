#include "actors/front/front.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>

namespace crm::actors {

caf::behavior front(caf::stateful_actor<front_state>* self, front_deps deps) {
  self->state.deps = std::move(deps);
  return {
    [=](http_batch& batch) {
      auto& st = self->state;
      front_context ctx{st.deps.routes.get(), st.deps.metrics, st.health,
                        self->home_system().registry().running(), &st.deps.gauges};
      std::vector<http::exchange> sync;  // answered right here, handed back together
      std::vector<http::response> answers;
      for (auto& x : batch.items) {
        // matched at the edge already (node.cpp's body-limit hook); taken
        // out of the request before the exchange moves on
        auto m = x.req.routed ? std::move(x.req.route) : st.deps.routes->match(x.req.method, x.req.path, x.req.where);
        if (m.result == protocols::route_match::outcome::found && is_api_route(m.matched->id)) {
          handle_api(self, st.deps.api, m, std::move(x));
          continue;
        }
        answers.push_back(answer(x.req, m, ctx));
        sync.push_back(std::move(x));
      }
      http::send_all(sync, answers);
    },
    [=](health_atom, health_status h) { self->state.health = h; },
  };
}

} // namespace crm::actors
