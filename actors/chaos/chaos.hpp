// actors/chaos/chaos.hpp
// The chaos facility (NEXTCRM_CHAOS, docs/CLUSTER.md): off unless
// configured, refused in the production profile. One actor per node, with
// a timer per planned kind: each tick kills one actor of the kind (the
// supervisor hands the kill down to whoever owns that kind) or drops one
// connection (the node's `drop`), picking which one with a seeded random
// number. (chaos_atom) fires every planned kind once (SIGUSR2).
// What died is rebuilt by its supervisor from PostgreSQL and Redis.
#pragma once
#include "actors/core/chaos_kinds.hpp"

#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include <atomic>
#include <functional>
#include <random>
#include <vector>

namespace crm::actors {

// Kills and drops so far, per kind (for /metrics).
using chaos_counts = std::array<std::atomic<uint64_t>, chaos_kind_count>;

struct chaos_deps {
  caf::actor supervisor;                                  // actor kinds go there
  std::vector<chaos_step> plan;
  uint64_t seed = 1;
  std::function<void(chaos_kind, uint64_t pick)> drop;    // pg, redis, consumer: the node's connections
  chaos_counts* counts = nullptr;
};

struct chaos_state {
  static inline const char* name = "chaos";
  chaos_deps deps;
  std::mt19937_64 rng;
};

// (chaos_atom, uint8_t kind, bool tick): one of the kind now (tick: and again after its interval)
// (chaos_atom): one of every planned kind now
caf::behavior chaos(caf::stateful_actor<chaos_state>* self, chaos_deps deps);

} // namespace crm::actors
