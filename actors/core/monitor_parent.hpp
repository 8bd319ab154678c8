// actors/core/monitor_parent.hpp
// A child actor ends with its parent: monitor the parent's address safely.
// CAF 0.17's monitor(actor_addr) turns the weak address into a raw pointer
// without upgrading it, so a parent already destroyed (killed by the chaos
// facility or its supervisor while the child was being spawned) is called
// through a dead object ("pure virtual method called", the process aborts).
// Upgrading first either keeps the parent alive for the call (a parent that
// already terminated then answers with a down message at once) or finds it
// gone: the child quits at once.
#pragma once
#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>

namespace crm::actors {

template <class Self>
void monitor_parent(Self* self, const caf::actor_addr& parent) {
  if (auto strong = caf::actor_cast<caf::actor>(parent)) self->monitor(strong);
  else self->quit(caf::exit_reason::unknown);
}

} // namespace crm::actors
