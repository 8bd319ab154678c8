#include "actors/supervisor.hpp"

#include <caf/behavior.hpp>
#include <caf/system_messages.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

namespace crm::actors {

caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self, supervisor_deps deps) {
  self->state.deps = std::move(deps);
  auto start_front = [self] {
    auto& st = self->state;
    st.front = self->spawn<caf::monitored>(front, st.deps.front);
    st.deps.slot->set(st.front);
    if (st.health) self->send(st.health, refresh_atom::value);
  };
  auto start_health = [self] {
    auto& st = self->state;
    st.health = self->spawn<caf::monitored>(health, st.deps.health);
  };
  start_front();
  start_health();
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto* child = dm.source == st.front.address()    ? &st.front
                  : dm.source == st.health.address() ? &st.health
                                                     : nullptr;
    if (!child) return;
    if (st.stopping) {
      *child = nullptr;
      if (!st.front && !st.health) self->quit(st.stop_reason);
      return;
    }
    ++st.restarts;
    if (child == &st.front) start_front();
    else start_health();
  });
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto& st = self->state;
    st.stopping = true;
    st.stop_reason = em.reason;
    st.deps.slot->set(caf::actor{});
    for (auto* child : {&st.front, &st.health})
      if (*child) self->send_exit(*child, em.reason);
    if (!st.front && !st.health) self->quit(em.reason);
  });
  return {
    [=](front_atom) { return self->state.front; },
  };
}

} // namespace crm::actors
