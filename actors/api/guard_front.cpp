#include "actors/api/guard_front.hpp"

#include "protocols/problem.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>

namespace crm::actors {

using protocols::guard_level;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr int64_t touch_every_ms = 1000;

// The actor acts on what `obs` shows past its marks: told once until it
// answers. Returns the highest level.
guard_level tell(const route_context& c, const guard_snapshot& s, const std::vector<int64_t>& obs) {
  auto& g = *c.who.gauge;
  auto j = judge_levels(s, obs);
  if (j.news) {
    if (!g.alarmed.exchange(true)) c.self->send(c.who.guard, galarm_atom::value, guard_call_of(c));
    return j.level;
  }
  if (j.level == guard_level::none) return j.level;
  auto now = now_ms(), last = g.touched_ms.load();
  if (now - last >= touch_every_ms && g.touched_ms.compare_exchange_strong(last, now))
    c.self->send(c.who.guard, gtouch_atom::value, guard_call_of(c));
  return j.level;
}

constexpr int64_t keep_call_every_ms = 100;

// The newest call, for incidents the actor raises on its own (the baseline's).
void keep_call(const route_context& c) {
  auto& g = *c.who.gauge;
  auto now = now_ms(), last = g.call_at_ms.load(std::memory_order_relaxed);
  if (now - last < keep_call_every_ms || !g.call_at_ms.compare_exchange_strong(last, now)) return;
  auto call = guard_call_of(c);
  std::lock_guard<std::mutex> lock{g.call_mutex};
  g.last_traceparent = std::move(call.traceparent);
  g.last_trace_id = std::move(call.trace_id);
  g.last_client = std::move(call.client);
  g.last_user_agent = std::move(call.user_agent);
}

void arm(const route_context& c) {
  if (!c.who.gauge->armed.exchange(true)) c.self->send(c.who.guard, gflush_atom::value, false);
}

void judge(route_context&& c, void (*next)(route_context&&)) {
  auto snap = c.who.gauge->load();
  auto obs = observed(*snap, *c.who.gauge);
  auto level = tell(c, *snap, obs);
  arm(c);
  if (level == guard_level::block)
    return c.fail(protocols::error_of(protocols::errc::guard_blocked, "the CRM Guard blocked this user's activity"));
  c.guard = std::make_shared<guard_ticket>();
  c.guard->snap = std::move(snap);
  c.guard->level = level;
  const auto& budgets = c.guard->snap->budgets;
  c.guard->tightest = protocols::tightest_budget(budgets, obs);
  if (auto i = c.guard->tightest; i < budgets.size()) {  // protocols::ratelimit_state, from preformatted parts
    const auto& s = *c.guard->snap;
    auto left = std::to_string(std::max<int64_t>(0, budgets[i].block - obs[i]));
    c.guard->state.reserve(s.state_heads[i].size() + left.size() + s.state_tails[i].size());
    c.guard->state.append(s.state_heads[i]).append(left).append(s.state_tails[i]);
  }
  next(std::move(c));
}

} // namespace

guard_call guard_call_of(const route_context& c) {
  return {c.traceparent(), c.req().trace.trace_id, c.req().remote_addr,
          std::string{c.req().header_value("user-agent").substr(0, 512)}};
}

void guard_admit(route_context&& c, void (*next)(route_context&&)) {
  auto& g = *c.who.gauge;
  g.counted[static_cast<size_t>(protocols::guard_metric::requests)].fetch_add(1, std::memory_order_relaxed);
  auto snap = g.load();
  if (snap && snap->loaded && now_ms() <= snap->fresh_until_ms) return judge(std::move(c), next);
  // idle on this node: judged on counts read now. A budget actor that died
  // answers request_receiver_down: 503, and the next call finds a new one.
  auto guard = c.who.guard;
  c.self->request(guard, c.timeout(), grefresh_atom::value)
      .then([c, next](caf::ok_atom) mutable { judge(std::move(c), next); },
            [c](caf::error& e) { c.fail(e); });
}

void guard_after(const route_context& c) {
  auto snap = c.who.gauge->load();  // the newest: the one admitting the call may be old by now
  tell(c, *snap, observed(*snap, *c.who.gauge));
  keep_call(c);
  arm(c);
}

} // namespace crm::actors
