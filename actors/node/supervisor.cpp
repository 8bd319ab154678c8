#include "actors/node/supervisor.hpp"

#include "actors/identity/password_hasher.hpp"
#include "actors/core/chaos_kinds.hpp"
#include "actors/data/storage_actor.hpp"

#include <caf/behavior.hpp>

#include <algorithm>
#include <caf/system_messages.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

namespace crm::actors {

caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self, supervisor_deps deps) {
  self->state.deps = std::move(deps);
  auto start_front = [self](size_t i) {
    auto& st = self->state;
    st.fronts[i] = self->spawn<caf::monitored>(front, st.deps.front);
    (*st.deps.slot)[i].set(st.fronts[i]);
    if (st.health) self->send(st.health, refresh_atom::value);
  };
  auto start_health = [self] {
    auto& st = self->state;
    st.health = self->spawn<caf::monitored>(health, st.deps.health);
  };
  // The registry holds the storage and hasher handles: it restarts with them.
  auto start_registry = [self] {
    auto& st = self->state;
    auto deps = st.deps.identity;
    deps.storage = st.storage;
    deps.hasher = st.hasher;
    st.registry = self->spawn<caf::monitored>(tenants, std::move(deps));
    if (st.deps.registry_slot) st.deps.registry_slot->set(st.registry);
  };
  auto start_storage = [self] {
    auto& st = self->state;
    st.storage = self->spawn<caf::monitored>(storage_actor, st.deps.pool);
    if (st.deps.storage_slot) st.deps.storage_slot->set(st.storage);
  };
  auto start_hasher = [self] {
    auto& st = self->state;
    if (st.deps.hasher_threads == 0) return;  // tests without identity
    st.hasher = spawn_password_hasher(self->home_system(), st.deps.hasher_threads);
    self->monitor(st.hasher);
  };
  auto start_relay = [self] {
    auto& st = self->state;
    if (!st.deps.relay.sink) return;
    st.relay = self->spawn<caf::monitored>(relay, st.deps.relay);
    if (st.deps.relay_slot) st.deps.relay_slot->set(st.relay);
  };
  auto start_content = [self] {
    auto& st = self->state;
    if (!st.deps.content_slot) return;
    st.content = self->spawn<caf::monitored>(content_pool, st.deps.content, st.deps.storage_slot);
    st.deps.content_slot->set(st.content);
  };
  // Every child's handle, fronts first (a front's index is its slot).
  auto children = [self] {
    auto& st = self->state;
    std::vector<caf::actor*> out;
    for (auto& f : st.fronts) out.push_back(&f);
    for (auto* c : {&st.health, &st.storage, &st.hasher, &st.registry, &st.relay, &st.content}) out.push_back(c);
    return out;
  };
  start_storage();
  start_hasher();
  start_registry();
  self->state.fronts.resize(self->state.deps.slot->size());
  for (size_t i = 0; i < self->state.fronts.size(); ++i) start_front(i);
  start_health();
  start_relay();
  start_content();
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto all = children();
    caf::actor* child = nullptr;
    for (auto* c : all)
      if (*c && dm.source == c->address()) child = c;
    if (!child) return;
    if (st.stopping) {
      *child = nullptr;
      if (std::all_of(all.begin(), all.end(), [](caf::actor* c) { return !*c; })) self->quit(st.stop_reason);
      return;
    }
    ++st.restarts;
    auto front_index = static_cast<size_t>(std::find(all.begin(), all.end(), child) - all.begin());
    if (front_index < st.fronts.size()) start_front(front_index);
    else if (child == &st.health) start_health();
    else if (child == &st.registry) start_registry();
    else if (child == &st.relay) start_relay();
    else if (child == &st.content) start_content();
    else {
      if (child == &st.storage) start_storage();
      else start_hasher();
      self->demonitor(st.registry);  // it holds the old handle: replace it
      self->send_exit(st.registry, caf::exit_reason::kill);
      start_registry();
    }
  });
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto& st = self->state;
    st.stopping = true;
    st.stop_reason = em.reason;
    st.deps.slot->clear();
    if (st.deps.registry_slot) st.deps.registry_slot->set(caf::actor{});
    if (st.deps.storage_slot) st.deps.storage_slot->set(caf::actor{});
    if (st.deps.relay_slot) st.deps.relay_slot->set(caf::actor{});
    if (st.deps.content_slot) st.deps.content_slot->set(caf::actor{});
    bool any = false;
    for (auto* child : children())
      if (*child) {
        self->send_exit(*child, em.reason);
        any = true;
      }
    if (!any) self->quit(em.reason);
  });
  // Fault injection (actors/chaos): kills one child of the kind, or hands
  // the kill down to the actor that owns that kind.
  auto kill = [self](const caf::actor& a) {
    if (a) self->send_exit(a, caf::exit_reason::kill);
  };
  return {
    [=](front_atom) { return self->state.fronts.at(0); },
    [=](chaos_atom a, uint8_t kind, uint64_t pick) {
      auto& st = self->state;
      switch (static_cast<chaos_kind>(kind)) {
        case chaos_kind::front:
          if (!st.fronts.empty()) kill(st.fronts[pick % st.fronts.size()]);
          break;
        case chaos_kind::storage: kill(st.storage); break;
        case chaos_kind::relay: kill(st.relay); break;
        case chaos_kind::pool: kill(st.content); break;
        case chaos_kind::tenant:
        case chaos_kind::session:
        case chaos_kind::budget:
          if (st.registry) self->send(st.registry, a, kind, pick);
          break;
        case chaos_kind::job:
          if (st.content) self->send(st.content, a, kind, pick);
          break;
        default: break;  // connections: the node drops them itself
      }
    },
  };
}

} // namespace crm::actors
