// actors/identity/tenant_users.hpp
// Users and roles of one tenant, run inside the tenant actor (they need its
// roles and its live sessions). Every query carries the tenant predicate;
// another tenant's id is simply not found (404).
#pragma once
#include "actors/identity/identity.hpp"

namespace crm::actors {

caf::result<user_view> create_user(caf::stateful_actor<tenant_state>* self, user_draft d);
// A page of the tenant's users by lower-case email: `limit` of them after
// `after` ("" = from the first).
caf::result<user_list> list_users(caf::stateful_actor<tenant_state>* self, const std::string& after,
                                  uint32_t limit);
caf::result<user_view> get_user(caf::stateful_actor<tenant_state>* self, const std::string& id);
caf::result<user_view> patch_user(caf::stateful_actor<tenant_state>* self, const std::string& id, user_draft d);
// Lock also revokes every session of the user (rows and live actors).
// `traceparent`: of the request, for the event (crm.user.locked / unlocked).
caf::result<user_view> set_locked(caf::stateful_actor<tenant_state>* self, const std::string& id, bool locked,
                                  const std::string& traceparent);
// The same lock for the CRM Guard past a block: no one waits for an answer.
void lock_for_guard(caf::stateful_actor<tenant_state>* self, const std::string& id, const std::string& traceparent);
role_list list_roles(const tenant_state& st);

// After a change to what `user_id`'s sessions may do has committed (or
// failed: its outcome is unknown): bumps the user's epoch and ends the live
// session actors of the user on this node (only `only_session` when given);
// the next request rebuilds them from PostgreSQL. Never call it before the
// commit: a request in between would rebuild the session from the old row.
void invalidate_sessions(caf::stateful_actor<tenant_state>* self, const std::string& user_id,
                         const std::string& only_session = {});

} // namespace crm::actors
