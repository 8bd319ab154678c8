#include "actors/health.hpp"

#include <caf/actor_cast.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

namespace crm::actors {

void health_state::begin_round() {
  if (!pg_answered) status.postgres = false;
  if (!redis_answered) status.redis = false;
  if (round > 0) status.known = true;  // a full interval has passed: silence means down
  ++round;
  pg_answered = redis_answered = false;
}

caf::behavior health(caf::stateful_actor<health_state>* self, health_deps deps) {
  self->state.deps = std::move(deps);
  auto push = [self] {
    if (auto f = self->state.deps.slot->get()) self->send(f, health_atom::value, self->state.status);
  };
  self->send(self, probe_atom::value);
  return {
    [=](probe_atom) {
      auto& st = self->state;
      st.begin_round();
      push();
      auto me = caf::actor_cast<caf::actor>(self);
      auto round = st.round;
      st.deps.probe_postgres([me, round](bool ok) { caf::anon_send(me, pg_atom::value, round, ok); });
      st.deps.probe_redis([me, round](bool ok) { caf::anon_send(me, redis_atom::value, round, ok); });
      self->delayed_send(self, st.deps.interval, probe_atom::value);
    },
    [=](pg_atom, uint64_t round, bool ok) {
      auto& st = self->state;
      if (round != st.round) return;
      st.pg_answered = true;
      st.status.postgres = ok;
      st.status.known = st.redis_answered || st.status.known;
      push();
    },
    [=](redis_atom, uint64_t round, bool ok) {
      auto& st = self->state;
      if (round != st.round) return;
      st.redis_answered = true;
      st.status.redis = ok;
      st.status.known = st.pg_answered || st.status.known;
      push();
    },
    [=](refresh_atom) { push(); },
  };
}

} // namespace crm::actors
