#include "actors/node/health.hpp"

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

bool health_state::record(bool health_status::*check, bool health_state::*answered, uint64_t r,
                          bool ok) {
  if (r != round) return false;
  this->*answered = true;
  status.*check = ok;
  if (pg_answered && redis_answered) status.known = true;
  return true;
}

caf::behavior health(caf::stateful_actor<health_state>* self, health_deps deps) {
  self->state.deps = std::move(deps);
  auto push = [self] {
    auto& fronts = *self->state.deps.slot;
    for (size_t i = 0; i < fronts.size(); ++i)
      if (auto f = fronts[i].get()) self->send(f, health_atom::value, self->state.status);
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
      if (self->state.record(&health_status::postgres, &health_state::pg_answered, round, ok)) push();
    },
    [=](redis_atom, uint64_t round, bool ok) {
      if (self->state.record(&health_status::redis, &health_state::redis_answered, round, ok)) push();
    },
    [=](refresh_atom) { push(); },
  };
}

} // namespace crm::actors
