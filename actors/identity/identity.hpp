// actors/identity/identity.hpp
// The identity actors of Block 2 (ARCHITECTURE.md design card):
// - the tenant registry (`tenants`): creates tenants, resolves slugs, and
//   owns one tenant actor per tenant, spawned on first use and re-spawned
//   after a crash;
// - a tenant actor per tenant: logins, its live session actors, roles;
// - a session actor per login session: vouches for the principal until it
//   expires or is revoked (logout). After a restart or crash, sessions come
//   back from the `sessions` table on first use.
// Every request between them carries a deadline.
#pragma once
#include "actors/guard/guard.hpp"
#include "actors/core/chaos_kinds.hpp"
#include "actors/core/monitor_parent.hpp"
#include "actors/identity/identity_messages.hpp"
#include "protocols/jwt.hpp"
#include "protocols/throttle.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

namespace crm::actors {

struct identity_deps {
  caf::actor storage;  // actors/data/storage_actor.hpp
  caf::actor hasher;   // actors/identity/password_hasher.hpp
  std::shared_ptr<const protocols::jwt_keyring> keys;
  std::chrono::seconds token_ttl{3600};
  std::chrono::milliseconds timeout{5000};  // for every request to another actor
  std::string dummy_hash;                   // verified when a user does not exist
  std::function<int64_t()> now;             // unix seconds
  guard_settings guard;                     // the CRM Guard (off when guard.redis is null)
};

// -- session ------------------------------------------------------------------

// Only what is the session's own: tenant id, slug and session id are known
// to the tenant actor, which adds them (memory per session is a target).
struct session_state {
  static inline const char* name = "session";
  std::string user_id;
  std::string email;
  std::string role;
  std::string access_profile;
  int64_t expires_at = 0;
};

// Answers (auth_atom) with the principal until `who.expires_at`, then quits;
// also quits when its tenant actor goes down.
caf::behavior session(caf::stateful_actor<session_state>* self, principal who,
                      std::function<int64_t()> now, caf::actor_addr tenant);

// -- tenant -------------------------------------------------------------------

struct tenant_state {
  static inline const char* name = "tenant";
  identity_deps deps;
  std::string id;
  std::string slug;
  bool exists = false;
  std::map<std::string, std::vector<std::string>> roles;  // name -> permissions
  std::map<std::string, profile_ptr> profiles;            // access profiles by name
  struct live_session {
    std::string user_id;
    caf::actor actor;
  };
  std::unordered_map<std::string, live_session> sessions;  // session id -> its actor
  // Per user: bumped after every change to what the user's sessions may do
  // has committed (logout, lock, password, role, profile). A session rebuilt
  // from a read that was sent before the bump is never kept (ADR-0037).
  std::unordered_map<std::string, uint64_t> epochs;
  uint64_t epoch_of(const std::string& user_id) const {
    auto it = epochs.find(user_id);
    return it == epochs.end() ? 0 : it->second;
  }
  // Failed logins (NIST SP 800-63B, OWASP): per account *and* client address
  // ("<address> <lower-cased email>") and per client address, never per
  // account alone: failures from one address cannot lock the account out
  // for another. 429 rate.limited while a key must wait.
  // The CRM Guard (actors/identity/tenant_guard.hpp): every budget of the
  // tenant, its honeytokens, and the live budget actor per user.
  std::vector<protocols::guard_budget> guard_budgets;
  std::shared_ptr<const honeytoken_map> honeytokens = std::make_shared<honeytoken_map>();
  uint64_t guard_version = 0;  // bumped by every reload
  struct live_guard {
    caf::actor actor;  // invalid after a crash: spawned again, adopting the gauge
    gauge_ptr gauge;
    std::string profile;
    uint64_t version = 0;
  };
  std::unordered_map<std::string, live_guard> guards;  // user id -> budget actor
  // The same counts live in Redis too (actors/identity/tenant.cpp), so every
  // node sees every node's failures; these in-process ones still hold when
  // Redis is away.
  static constexpr protocols::throttle_policy account_policy{5, 1, 900, 3600, 100'000};
  static constexpr protocols::throttle_policy address_policy{20, 1, 900, 3600, 100'000};
  protocols::failure_throttle accounts{account_policy};
  protocols::failure_throttle addresses{address_policy};
};

// (login_atom, login_request) -> login_result
// (auth_atom, session_id, user_id, permission) -> principal, or
//   auth.forbidden when `permission` is set and the user's role lacks it
// (ucreate_atom, user_draft), (users_atom, after, limit), (user_atom, id),
// (upatch_atom, id, user_draft), (lock_atom, id), (unlock_atom, id),
// (roles_atom): actors/identity/tenant_users.hpp
// (profiles_atom), (profile_atom, name), (pput_atom, profile): actors/identity/tenant_profiles.hpp
// (logout_atom, session_id, user_id) -> ok
// (get_atom, session_id) -> the live session actor or an invalid handle
// Quits when `parent` (the registry) goes down.
caf::behavior tenant(caf::stateful_actor<tenant_state>* self, std::string id, identity_deps deps,
                     caf::actor_addr parent);

// -- registry -----------------------------------------------------------------

struct tenants_state {
  static inline const char* name = "tenants";
  identity_deps deps;
  std::unordered_map<std::string, caf::actor> tenants;     // tenant id -> actor
  std::unordered_map<std::string, std::string> slugs;      // slug -> tenant id
  caf::actor tenant_actor(const std::string& id);
};

// (bootstrap_atom, tenant_draft) -> tenant_created
// (login_atom, login_request) -> login_result
// (auth_atom, tenant_id, session_id, user_id, permission) -> principal
// and every tenant message above with the tenant id first: delegated
// (logout_atom, tenant_id, session_id, user_id) -> ok
// (get_atom, tenant_id) -> the tenant actor (spawned if needed)
caf::behavior tenants(caf::stateful_actor<tenants_state>* self, identity_deps deps);

// "{a,b,\"c d\"}" (PostgreSQL text[] output) -> {"a","b","c d"}.
std::vector<std::string> parse_text_array(std::string_view text);

} // namespace crm::actors
