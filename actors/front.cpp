#include "actors/front.hpp"

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
                        self->home_system().registry().running()};
      std::vector<http::response> answers;
      answers.reserve(batch.items.size());
      for (auto& x : batch.items) answers.push_back(answer(x.req, ctx));
      http::send_all(batch.items, answers);
    },
    [=](health_atom, health_status h) { self->state.health = h; },
  };
}

} // namespace crm::actors
