// actors/identity/tenant_guard.hpp
// The CRM Guard inside the tenant actor (docs/GUARD.md): the tenant keeps
// its budgets and honeytokens in memory, spawns and supervises one budget
// actor per active user (actors/guard/guard.hpp), hands it to the front
// with the principal (vouch), and tells it when what binds its user
// changed. A killed budget actor is spawned again on the user's next
// request and reads the counts back from Redis: nothing is forgotten.
#pragma once
#include "actors/identity/identity.hpp"

namespace crm::actors {

// The stored budgets and honeytokens (rows of stmt_guard_budgets and
// stmt_guard_honeytokens) into the tenant's state.
void load_guard(tenant_state& st, const storage::pg_rows& budgets, const storage::pg_rows& honeytokens);

// Reads them again (a change committed here or on another node) and hands
// every live budget actor what now binds its user; then `done` (also when
// the read failed: the actors keep the rules they have).
void reload_guard(caf::stateful_actor<tenant_state>* self, std::function<void()> done = {});

// The budget actor and gauge of `user_id` (profile `profile`), spawned if
// needed; empty when the guard is off or nothing binds the user.
struct guard_ref {
  caf::actor actor;
  gauge_ptr gauge;
};
guard_ref guard_of(caf::stateful_actor<tenant_state>* self, const std::string& user_id, const std::string& profile);

// The user's counts start afresh (an unlock): cleared in Redis when
// `everywhere`, and the live budget actor judges anew.
void forget_guard(caf::stateful_actor<tenant_state>* self, const std::string& user_id, bool everywhere);

// A budget actor went down (true when `dm` is about one): an idle one is
// forgotten, a crashed one's gauge kept for its successor.
bool guard_down(tenant_state& st, const caf::down_msg& dm);

} // namespace crm::actors
