// actors/core/chaos_kinds.hpp
// What the chaos facility (actors/chaos, docs/CLUSTER.md) can kill or drop,
// and the message that carries one kill down the supervision tree:
// (chaos_atom, uint8_t kind, uint64_t pick) - `pick` chooses which one of
// the kind (an index modulo how many there are), so a seeded run repeats.
#pragma once
#include <caf/atom.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace crm::actors {

using chaos_atom = caf::atom_constant<caf::atom("chaos")>;

enum class chaos_kind : uint8_t {
  front,     // a front actor (the supervisor restarts it)
  tenant,    // a tenant actor (the registry rebuilds it on next use)
  session,   // a session actor of a tenant (rebuilt from `sessions`)
  budget,    // the guard budget actors of a tenant (successors adopt the gauges)
  storage,   // the storage actor (restarted, the registry with it)
  relay,     // the bus relay (restarted; the outbox keeps what was not published)
  pool,      // the content pool (restarted; its queue is rebuilt from PostgreSQL)
  job,       // a content job (its lease runs out, another claim resumes it)
  pg,        // a PostgreSQL connection of the pool, dropped under its requests
  redis,     // the Redis command connection, dropped
  consumer,  // a consumer group's Redis connection, dropped
};
inline constexpr size_t chaos_kind_count = 11;

inline constexpr std::array<std::string_view, chaos_kind_count> chaos_kind_names{
    "front", "tenant", "session", "budget", "storage", "relay", "pool", "job", "pg", "redis", "consumer"};

// One line of NEXTCRM_CHAOS: a kind and how often (0: only on demand, SIGUSR2).
struct chaos_step {
  chaos_kind kind;
  std::chrono::milliseconds every;
};

inline std::optional<chaos_kind> chaos_kind_of(std::string_view name) {
  for (size_t i = 0; i < chaos_kind_count; ++i)
    if (chaos_kind_names[i] == name) return static_cast<chaos_kind>(i);
  return std::nullopt;
}

} // namespace crm::actors
