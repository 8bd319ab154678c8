// actors/guard/guard.hpp
// The CRM Guard's budget actors (Block 6, docs/GUARD.md): one per active
// user, spawned and supervised by the user's tenant actor. The request path
// counts each call into the user's gauge (actors/guard/gauge.hpp) and
// judges it against the snapshot the actor published, without a message;
// the actor flushes the counts to Redis every `flush`, where every node's
// counts meet (ADR-0049), publishes the window's totals, and acts when a
// front tells it a line was crossed: incidents, and past `block` the
// tenant actor locks the user and revokes every session.
#pragma once
#include "actors/core/messages.hpp"
#include "actors/guard/gauge.hpp"
#include "protocols/guard.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace crm::storage {
class redis_commands;
}

namespace crm::actors {

using grefresh_atom = caf::atom_constant<caf::atom("grefresh")>;  // flush now, answer once published
using galarm_atom = caf::atom_constant<caf::atom("galarm")>;      // a call crossed a line: act
using gtouch_atom = caf::atom_constant<caf::atom("gtouch")>;      // a call past warn (at most 1/s)
using ghoney_atom = caf::atom_constant<caf::atom("ghoney")>;      // a honeytoken was read
using grules_atom = caf::atom_constant<caf::atom("grules")>;      // the budgets and honeytokens changed
using gflush_atom = caf::atom_constant<caf::atom("gflush")>;      // (gflush_atom, from the timer): flush
using gforget_atom = caf::atom_constant<caf::atom("gforget")>;    // an unlock: judge afresh
// (gblock_atom, user id, traceparent) to the tenant actor: lock the user and
// revoke every session (the budget actor has raised the incident)
using gblock_atom = caf::atom_constant<caf::atom("gblock")>;

struct guard_settings {
  storage::redis_commands* redis = nullptr;  // null: the guard is off (NEXTCRM_GUARD=off)
  std::string prefix = "nextcrm:guard";   // Redis key prefix
  std::chrono::milliseconds flush{50};    // NEXTCRM_GUARD_FLUSH_MS
  std::chrono::seconds idle{120};         // a budget actor with nothing to do ends
  protocols::baseline_rule baseline;      // NEXTCRM_GUARD_BASELINE_*
  std::function<int64_t()> now_ms;        // wall clock, unix milliseconds (buckets are shared by nodes)
  bool on() const { return redis != nullptr; }
};

// What binds one user: their budgets and their tenant's honeytokens.
struct guard_rules {
  std::vector<protocols::guard_budget> budgets;
  std::shared_ptr<const honeytoken_map> honeytokens;
};
using guard_rules_ptr = std::shared_ptr<const guard_rules>;

// Who asks, for the incident: the request's trace, address and agent.
struct guard_call {
  std::string traceparent;  // the request's: the incident's event carries it
  std::string trace_id;
  std::string client;
  std::string user_agent;
};

struct guard_user {
  std::string tenant_id;
  std::string user_id;
  caf::actor tenant;   // locks the user past block (lock_atom)
  caf::actor storage;  // writes incidents
  std::chrono::milliseconds timeout{5000};
};

// (grefresh_atom) -> ok: a fresh snapshot is published
// (galarm_atom, guard_call), (gtouch_atom, guard_call)
// (ghoney_atom, guard_call, entity path, record id)
// (grules_atom, guard_rules_ptr), (gforget_atom)
// `gauge` outlives the actor: a successor adopts it and loses nothing.
caf::behavior budget(caf::event_based_actor* self, guard_user who, guard_settings settings, gauge_ptr gauge,
                     guard_rules_ptr rules);

} // namespace crm::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::guard_rules_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::guard_call)
