#include "actors/identity/password_hasher.hpp"

#include "actors/identity/identity_messages.hpp"
#include "actors/core/random.hpp"

#include <caf/actor_pool.hpp>
#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

namespace crm::actors {
namespace {

caf::behavior hasher(caf::event_based_actor*, protocols::argon2_params params) {
  return {
    [=](hash_atom, const std::string& password) {
      return protocols::hash_password(password, random_bytes(16), params);
    },
    [=](verify_atom, const std::string& encoded, const std::string& password) {
      return protocols::verify_password(encoded, password);
    },
  };
}

} // namespace

caf::actor spawn_password_hasher(caf::actor_system& sys, size_t threads,
                                 protocols::argon2_params params) {
  return caf::actor_pool::make(
      sys.dummy_execution_unit(), std::max<size_t>(1, threads),
      [&sys, params] { return sys.spawn<caf::detached>(hasher, params); },
      caf::actor_pool::round_robin());
}

} // namespace crm::actors
