// actors/core/messages.hpp
// Atoms and message types shared by the actors. CAF 0.17.6: atoms are at
// most 10 characters; every message type has an inspect() or is declared a
// local-only unsafe type.
#pragma once
#include "http/message.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <functional>

namespace crm::actors {

using health_atom = caf::atom_constant<caf::atom("health")>;    // health_status push
using probe_atom = caf::atom_constant<caf::atom("probe")>;      // health actor tick
using pg_atom = caf::atom_constant<caf::atom("pg")>;            // postgres probe result
using redis_atom = caf::atom_constant<caf::atom("redis")>;      // redis probe result
using refresh_atom = caf::atom_constant<caf::atom("refresh")>;  // push state again
using front_atom = caf::atom_constant<caf::atom("front")>;      // ask for the front handle
using run_atom = caf::atom_constant<caf::atom("run")>;          // run an actor_task inside the actor

// A continuation posted back into an actor from another thread (a Redis
// callback): (run_atom, actor_task) runs it in the actor's own turn. If the
// actor is gone the message is dropped and the task never runs. Local only.
using actor_task = std::function<void()>;

// The requests one I/O thread parsed in one turn, with their reply handles.
// Local only: the reply handles point into this process's connections.
struct http_batch {
  std::vector<http::exchange> items;
};

// What the health actor last saw of the dependencies.
struct health_status {
  bool known = false;  // false until the first probe round completed
  bool postgres = false;
  bool redis = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_status& x) {
  return f(caf::meta::type_name("health_status"), x.known, x.postgres, x.redis);
}

} // namespace crm::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::http_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::actor_task)
