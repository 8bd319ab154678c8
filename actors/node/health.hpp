// actors/node/health.hpp
// The health actor probes PostgreSQL (SELECT 1 through the pool) and Redis
// (PING) every `interval` and pushes the result to the current front actor.
// A probe without an answer by the next tick counts as down, so a hung
// dependency is reported within two intervals. /health reads the pushed
// state: a flood of /health requests never reaches the databases.
#pragma once
#include "actors/core/front_slot.hpp"
#include "actors/core/messages.hpp"

#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <functional>

namespace crm::actors {

struct health_deps {
  // Each starts one probe and calls back exactly once, from any thread.
  std::function<void(std::function<void(bool)>)> probe_postgres;
  std::function<void(std::function<void(bool)>)> probe_redis;
  front_slots* slot = nullptr;  // every front gets each status
  std::chrono::milliseconds interval{500};
};

struct health_state {
  static inline const char* name = "health";
  health_deps deps;
  health_status status;
  uint64_t round = 0;
  bool pg_answered = true, redis_answered = true;

  // Starts the next probe round; marks what did not answer in the last one as down.
  void begin_round();
  // Records a probe answer of round `r`; false if it is stale (an old round).
  bool record(bool health_status::*check, bool health_state::*answered, uint64_t r, bool ok);
};

caf::behavior health(caf::stateful_actor<health_state>* self, health_deps deps);

} // namespace crm::actors
