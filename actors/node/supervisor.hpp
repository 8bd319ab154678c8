// actors/node/supervisor.hpp
// The root supervisor: spawns the health actor and one front actor per
// front slot, monitors them and restarts whichever dies abnormally. A
// restarted front is published in its slot at once and gets the current
// health pushed, so routing comes back without a process restart. On exit it takes its children down
// and quits only once both are gone, so whoever monitors the supervisor
// knows that no actor uses the storage clients any more.
#pragma once
#include "actors/bus/relay.hpp"
#include "actors/content/content.hpp"
#include "actors/front/front.hpp"
#include "actors/node/health.hpp"
#include "actors/identity/identity.hpp"

#include <caf/actor.hpp>
#include <caf/stateful_actor.hpp>

namespace crm::actors {

struct supervisor_deps {
  front_deps front;
  health_deps health;
  front_slots* slot = nullptr;  // its size is the number of fronts
  // Identity (Block 2): the storage actor and the hasher are spawned here,
  // `identity.storage`/`identity.hasher` are filled in by the supervisor.
  storage::pg_pool* pool = nullptr;
  size_t hasher_threads = 1;
  identity_deps identity;
  front_slot* registry_slot = nullptr;  // where the front finds the registry
  front_slot* storage_slot = nullptr;   // where the front finds the storage actor
  // The bus relay (Block 8); not started when `relay.sink` is empty (tests).
  relay_deps relay;
  front_slot* relay_slot = nullptr;  // where the NOTIFY listener finds the relay
  // The content pool (Block 7), on nodes of the content role; none when
  // `content_slot` is null.
  content_options content;
  front_slot* content_slot = nullptr;
};

struct supervisor_state {
  static inline const char* name = "supervisor";
  supervisor_deps deps;
  std::vector<caf::actor> fronts;  // fronts[i] is published in slot i
  caf::actor health;
  caf::actor storage;
  caf::actor hasher;
  caf::actor registry;
  caf::actor relay;
  caf::actor content;
  uint64_t restarts = 0;
  bool stopping = false;         // exit received: children are going down
  caf::error stop_reason;
};

// Answers (front_atom) with the current handle of front 0.
caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self, supervisor_deps deps);

} // namespace crm::actors
