#include "actors/identity/identity.hpp"
#include "protocols/errc.hpp"

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

namespace crm::actors {

caf::behavior session(caf::stateful_actor<session_state>* self, principal who,
                      std::function<int64_t()> now, caf::actor_addr tenant) {
  monitor_parent(self, tenant);  // a session ends with its tenant actor
  self->set_down_handler([=](caf::down_msg& dm) { self->quit(dm.reason); });
  auto left = std::max<int64_t>(0, who.expires_at - now());
  auto& st = self->state;
  st.user_id = std::move(who.user_id);
  st.email = std::move(who.email);
  st.role = std::move(who.role);
  st.access_profile = std::move(who.access_profile);
  st.expires_at = who.expires_at;
  self->delayed_send(self, std::chrono::seconds(left), expire_atom::value);
  return {
    [=](auth_atom) -> caf::result<principal> {
      auto& st = self->state;
      if (now() >= st.expires_at) {
        self->quit();
        return protocols::error_of(protocols::errc::auth_session_revoked, "the session has expired");
      }
      principal who;
      who.user_id = st.user_id;
      who.email = st.email;
      who.role = st.role;
      who.access_profile = st.access_profile;
      who.expires_at = st.expires_at;
      return who;
    },
    [=](expire_atom) { self->quit(); },
  };
}

} // namespace crm::actors
