// actors/identity/identity_messages.hpp
// Atoms and message types of the identity actors (Block 2): the password
// hasher pool, the tenant registry, tenant and session actors (the storage
// actor's are in actors/data/storage_messages.hpp). Local-only types are
// marked unsafe for CAF at the end.
#pragma once
#include "actors/data/storage_messages.hpp"
#include "actors/guard/gauge.hpp"
#include "protocols/access_profile.hpp"
#include "protocols/errc.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace crm::actors {

// The one answer to every failed login: unknown tenant, unknown user, wrong
// password, or a credential no account can have (a NUL in it).
inline caf::error wrong_credentials() {
  return protocols::error_of(protocols::errc::auth_invalid_credentials, "the tenant, email or password is wrong");
}

using hash_atom = caf::atom_constant<caf::atom("hash")>;        // hash a new password
using verify_atom = caf::atom_constant<caf::atom("verify")>;    // check a password
using login_atom = caf::atom_constant<caf::atom("login")>;
using auth_atom = caf::atom_constant<caf::atom("auth")>;        // token -> principal
using logout_atom = caf::atom_constant<caf::atom("logout")>;
using bootstrap_atom = caf::atom_constant<caf::atom("bootstrap")>;  // create a tenant
using expire_atom = caf::atom_constant<caf::atom("expire")>;    // session lifetime over
using users_atom = caf::atom_constant<caf::atom("users")>;      // list a tenant's users
// (signal_atom, tenant, kind, id, user_id): a change committed on some node
// (protocols/nxp.hpp); the live tenant actor drops what it caches of it
using signal_atom = caf::atom_constant<caf::atom("signal")>;
using user_atom = caf::atom_constant<caf::atom("user")>;        // one user by id
using ucreate_atom = caf::atom_constant<caf::atom("ucreate")>;
using upatch_atom = caf::atom_constant<caf::atom("upatch")>;
using lock_atom = caf::atom_constant<caf::atom("lock")>;
using unlock_atom = caf::atom_constant<caf::atom("unlock")>;
using roles_atom = caf::atom_constant<caf::atom("roles")>;
using profiles_atom = caf::atom_constant<caf::atom("profiles")>;  // list access profiles
using profile_atom = caf::atom_constant<caf::atom("profile")>;    // one access profile
using pput_atom = caf::atom_constant<caf::atom("pput")>;          // create or replace one
using greload_atom = caf::atom_constant<caf::atom("greload")>;    // read the guard's budgets again

// An access profile as the tenant actor holds it: immutable once shared, so
// a principal carries it to the handler without a copy. A PUT swaps in a
// new one; requests already running keep the one they started with.
using profile_ptr = std::shared_ptr<const protocols::access_profile>;

// Who is calling: what the session actor vouches for. Permissions stay in
// the tenant actor, which checks them (RBAC) before answering.
struct principal {
  std::string tenant_id;
  std::string tenant_slug;
  std::string user_id;
  std::string email;
  std::string role;
  std::string access_profile;
  std::string session_id;
  int64_t expires_at = 0;  // unix seconds
  // Resolved from access_profile by the tenant actor on every request (a
  // profile change applies at once); never null once vouched for. Local
  // only: not inspected.
  profile_ptr profile;
  // The user's budget actor and gauge (actors/guard/guard.hpp); invalid /
  // null when the guard is off or nothing binds the user. Local only.
  caf::actor guard;
  gauge_ptr gauge;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, principal& x) {
  return f(caf::meta::type_name("principal"), x.tenant_id, x.tenant_slug, x.user_id, x.email, x.role,
           x.access_profile, x.session_id, x.expires_at);
}

struct login_request {
  std::string tenant_slug;
  std::string email;
  std::string password;  // secret: never logged, dropped after verification
  std::string client;    // remote address, for throttling
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, login_request& x) {
  return f(caf::meta::type_name("login_request"), x.tenant_slug, x.email, x.password, x.client);
}

struct login_result {
  std::string access_token;
  std::string session_id;
  int64_t expires_in = 0;
  std::string tenant_id;
  std::string user_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, login_result& x) {
  return f(caf::meta::type_name("login_result"), x.access_token, x.session_id, x.expires_in, x.tenant_id,
           x.user_id);
}

struct tenant_draft {
  std::string slug;
  std::string name;
  std::string admin_email;
  std::string admin_password;  // secret
  std::string traceparent;     // of the request: the events' (empty: a new trace)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_draft& x) {
  return f(caf::meta::type_name("tenant_draft"), x.slug, x.name, x.admin_email, x.admin_password, x.traceparent);
}

struct tenant_created {
  std::string id;
  std::string slug;
  std::string name;
  std::string admin_user_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_created& x) {
  return f(caf::meta::type_name("tenant_created"), x.id, x.slug, x.name, x.admin_user_id);
}

// A new user, or the fields of a PATCH (absent fields are std::nullopt-like:
// the has_* flags say which are set). Passwords are plain here, hashed by
// the tenant actor on the hasher pool.
struct user_draft {
  std::string email, password, role, access_profile;
  bool has_email = false, has_password = false, has_role = false, has_profile = false;
  // A user setting their own password keeps this session (the caller's).
  std::string keep_session;
  std::string traceparent;  // of the request: the event's
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_draft& x) {
  return f(caf::meta::type_name("user_draft"), x.email, x.password, x.role, x.access_profile, x.has_email,
           x.has_password, x.has_role, x.has_profile, x.keep_session, x.traceparent);
}

struct user_view {
  std::string id, email, role, access_profile;
  bool locked = false;
  std::string created_at, updated_at;
  int64_t version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_view& x) {
  return f(caf::meta::type_name("user_view"), x.id, x.email, x.role, x.access_profile, x.locked,
           x.created_at, x.updated_at, x.version);
}

struct user_list {
  std::vector<user_view> items;
  bool more = false;  // users follow the last item
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_list& x) {
  return f(caf::meta::type_name("user_list"), x.items, x.more);
}

struct role_list {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> permissions;  // parallel to names
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, role_list& x) {
  return f(caf::meta::type_name("role_list"), x.names, x.permissions);
}

// Access profiles of a tenant, by name.
struct profile_list {
  std::vector<profile_ptr> items;
};

// The outcome of a PUT: the stored profile and whether it is new.
struct profile_stored {
  profile_ptr profile;
  bool created = false;
};

} // namespace crm::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::profile_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::profile_list)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::profile_stored)
