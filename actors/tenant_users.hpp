// actors/tenant_users.hpp
// Users and roles of one tenant, run inside the tenant actor (they need its
// roles and its live sessions). Every query carries the tenant predicate;
// another tenant's id is simply not found (404).
#pragma once
#include "actors/identity.hpp"

namespace crm::actors {

caf::result<user_view> create_user(caf::stateful_actor<tenant_state>* self, user_draft d);
caf::result<user_list> list_users(caf::stateful_actor<tenant_state>* self);
caf::result<user_view> get_user(caf::stateful_actor<tenant_state>* self, const std::string& id);
caf::result<user_view> patch_user(caf::stateful_actor<tenant_state>* self, const std::string& id, user_draft d);
// Lock also revokes every session of the user (rows and live actors).
caf::result<user_view> set_locked(caf::stateful_actor<tenant_state>* self, const std::string& id, bool locked);
role_list list_roles(const tenant_state& st);

// Ends the live session actors of `user_id` on this node.
void drop_user_sessions(caf::stateful_actor<tenant_state>* self, const std::string& user_id);

} // namespace crm::actors
