// actors/identity/tenant_profiles.hpp
// Access profiles of one tenant, run inside the tenant actor, which keeps
// every profile in memory and resolves a session's profile on each request
// (vouch): a PUT applies to the next request of every live session.
#pragma once
#include "actors/identity/identity.hpp"

namespace crm::actors {

// The stored profiles (rows of storage::stmt_profiles_load) into st.profiles.
void load_profiles(tenant_state& st, const storage::pg_rows& rows);

// The profile called `name`; an empty one (no field readable or writable)
// when there is none, so an unknown name fails closed.
profile_ptr profile_named(const tenant_state& st, const std::string& name);

profile_list list_profiles(const tenant_state& st);
caf::result<profile_ptr> get_profile(const tenant_state& st, const std::string& name);
// Stores `p` (create or replace; builtin profiles stay builtin) and swaps it in.
caf::result<profile_stored> put_profile(caf::stateful_actor<tenant_state>* self, profile_ptr p,
                                        const std::string& traceparent);

// Reads the tenant's profiles again (a change committed on another node,
// Block 8 signals); per profile the newer version wins, so a reload that
// crosses a local PUT never brings an older one back.
void reload_profiles(caf::stateful_actor<tenant_state>* self);

} // namespace crm::actors
