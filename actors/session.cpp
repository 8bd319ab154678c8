#include "actors/identity.hpp"
#include "protocols/errc.hpp"

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

namespace crm::actors {

caf::behavior session(caf::stateful_actor<session_state>* self, principal who,
                      std::function<int64_t()> now, caf::actor_addr tenant) {
  self->monitor(tenant);  // a session ends with its tenant actor
  self->set_down_handler([=](caf::down_msg& dm) { self->quit(dm.reason); });
  auto left = std::max<int64_t>(0, who.expires_at - now());
  self->state.who = std::move(who);
  self->delayed_send(self, std::chrono::seconds(left), expire_atom::value);
  return {
    [=](auth_atom) -> caf::result<principal> {
      if (now() >= self->state.who.expires_at) {
        self->quit();
        return protocols::error_of(protocols::errc::auth_session_revoked, "the session has expired");
      }
      return self->state.who;
    },
    [=](expire_atom) { self->quit(); },
  };
}

} // namespace crm::actors
