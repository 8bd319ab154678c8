// actors/api/guard_front.hpp
// The request path's side of the CRM Guard (docs/GUARD.md, ADR-0048): every
// session call is counted into the user's gauge and judged against the
// snapshot the user's budget actor published, in the front's own turn, with
// no message unless something happens (a line crossed: galarm; a call past
// warn: gtouch at most once a second; the gauge's first count since the
// last flush: gflush; a snapshot too old: grefresh, answered once fresh).
#pragma once
#include "actors/api/route_context.hpp"

namespace crm::actors {

// The call as an incident records it: trace, client address, user agent.
guard_call guard_call_of(const route_context& c);

// Counts the call (`requests`) and judges it: past block -> 403
// guard.blocked; otherwise `next(c)` with c.guard set (the level and the
// RateLimit state the answer carries).
void guard_admit(route_context&& c, void (*next)(route_context&&));

// After the answer's costs were added to the gauge: tells the budget actor
// about a line crossed, and arms its flush.
void guard_after(const route_context& c);

} // namespace crm::actors
