#include "actors/chaos/chaos.hpp"

#include <caf/all.hpp>

namespace crm::actors {

namespace {

bool is_connection(chaos_kind k) {
  return k == chaos_kind::pg || k == chaos_kind::redis || k == chaos_kind::consumer;
}

void fire(caf::stateful_actor<chaos_state>* self, chaos_kind kind) {
  auto& st = self->state;
  uint64_t pick = st.rng();
  if (is_connection(kind)) {
    if (st.deps.drop) st.deps.drop(kind, pick);
  } else if (st.deps.supervisor) {
    self->send(st.deps.supervisor, chaos_atom::value, static_cast<uint8_t>(kind), pick);
  }
  if (st.deps.counts) (*st.deps.counts)[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
}

} // namespace

caf::behavior chaos(caf::stateful_actor<chaos_state>* self, chaos_deps deps) {
  self->state.deps = std::move(deps);
  self->state.rng.seed(self->state.deps.seed);
  for (const auto& step : self->state.deps.plan)
    if (step.every.count() > 0)
      self->delayed_send(self, step.every, chaos_atom::value, static_cast<uint8_t>(step.kind), true);
  return {
      [=](chaos_atom, uint8_t kind, bool tick) {
        auto k = static_cast<chaos_kind>(kind);
        fire(self, k);
        if (!tick) return;
        for (const auto& step : self->state.deps.plan)
          if (step.kind == k && step.every.count() > 0) {
            self->delayed_send(self, step.every, chaos_atom::value, kind, true);
            break;
          }
      },
      [=](chaos_atom) {
        for (const auto& step : self->state.deps.plan) fire(self, step.kind);
      },
  };
}

} // namespace crm::actors
