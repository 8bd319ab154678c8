// actors/guard/guard.hpp
// The CRM Guard's budget actors (Block 6, docs/GUARD.md): one per active
// user, spawned and supervised by the user's tenant actor. Each request is
// admitted by it (the `requests` metric counts there, so the call that goes
// past `block` is the one refused), and reports what it cost after its
// answer left (reads, rows, record ids, writes, deletes, downloads). The
// actor keeps what it counted since its last flush and flushes every
// `flush` to Redis, where every node's counts meet (ADR-0049); it judges
// the window's total (Redis's answer plus what it has not flushed yet)
// against the budgets that bind its user, raises incidents, and has the
// tenant actor lock the user past `block`.
#pragma once
#include "actors/core/messages.hpp"
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
class redis_client;
}

namespace crm::actors {

using gadmit_atom = caf::atom_constant<caf::atom("gadmit")>;    // admit one request
using gcost_atom = caf::atom_constant<caf::atom("gcost")>;      // what an answered request cost
using grules_atom = caf::atom_constant<caf::atom("grules")>;    // the budgets and honeytokens changed
using gflush_atom = caf::atom_constant<caf::atom("gflush")>;    // flush timer
using gforget_atom = caf::atom_constant<caf::atom("gforget")>;  // an unlock: start counting afresh
// (gblock_atom, user id, traceparent) to the tenant actor: lock the user and
// revoke every session (the budget actor has raised the incident)
using gblock_atom = caf::atom_constant<caf::atom("gblock")>;

struct guard_settings {
  storage::redis_client* redis = nullptr;  // null: the guard is off (NEXTCRM_GUARD=off)
  std::string prefix = "nextcrm:guard";   // Redis key prefix
  std::chrono::milliseconds flush{50};    // NEXTCRM_GUARD_FLUSH_MS
  std::chrono::seconds idle{120};         // a budget actor with nothing to do ends
  protocols::baseline_rule baseline;      // NEXTCRM_GUARD_BASELINE_*
  std::function<int64_t()> now_ms;        // wall clock, unix milliseconds (buckets are shared by nodes)
  bool on() const { return redis != nullptr; }
};

// Record id -> "warn" | "block": the tenant's honeytokens.
using honeytoken_map = std::unordered_map<std::string, std::string>;

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

// The admission's answer: the level and the RateLimit header values.
struct guard_verdict {
  protocols::guard_level level = protocols::guard_level::none;
  std::string policy;  // RateLimit-Policy
  std::string state;   // RateLimit
};

// What one answered request cost.
struct guard_cost {
  guard_call call;
  uint32_t reads = 0, writes = 0, deletes = 0, downloads = 0;
  std::string entity;            // the records' entity path (honeytokens name one)
  std::vector<std::string> ids;  // the records returned (rows_read, distinct_records, honeytokens)
};

struct guard_user {
  std::string tenant_id;
  std::string user_id;
  caf::actor tenant;   // locks the user past block (lock_atom)
  caf::actor storage;  // writes incidents
  std::chrono::milliseconds timeout{5000};
};

// (gadmit_atom, guard_call) -> guard_verdict
// (gcost_atom, guard_cost)
// (grules_atom, guard_rules_ptr)
// (gforget_atom): clears the user's counts everywhere (after an unlock)
caf::behavior budget(caf::event_based_actor* self, guard_user who, guard_settings settings, guard_rules_ptr rules);

} // namespace crm::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::guard_rules_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::guard_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::guard_verdict)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::guard_cost)
