// actors/identity/password_hasher.hpp
// argon2id hashing off the actor workers: a round-robin pool of detached
// actors (each on its own thread), so a burst of logins never stalls the
// scheduler that serves every other request.
#pragma once
#include "protocols/password.hpp"

#include <caf/fwd.hpp>

namespace crm::actors {

// Answers (hash_atom, password) -> encoded hash and
// (verify_atom, encoded, password) -> bool.
caf::actor spawn_password_hasher(caf::actor_system& sys, size_t threads,
                                 protocols::argon2_params params = {});

} // namespace crm::actors
