// actors/guard/budget.cpp: the budget actor of one user (guard.hpp).
//
// Counting: every metric of a binding budget is a series (metric, bucket
// size) in Redis. The fronts add to the gauge's monotonic counters; `sent`
// is what of them Redis already has. A flush sends each series the
// difference in one EVAL and reads back the window's totals over every
// node; the snapshot it publishes pairs those totals with the counter
// values they include, so a front's estimate (total + counted since) is
// exact for this node's traffic and at most one flush interval behind the
// other nodes' (ADR-0049).
//
// Flushes run while the counters move: a front arms the first one (one
// message per idle spell), each reply arms the next after `flush`. A
// front whose snapshot is older than `stale` asks for a fresh one first
// (grefresh): a user idle on this node is never judged on old counts.
// Counts carry on locally while Redis is away (each node enforces on what
// it saw) and are sent when it is back.
#include "actors/guard/guard.hpp"

#include "actors/core/random.hpp"
#include "actors/data/redis_then.hpp"
#include "actors/data/storage_messages.hpp"
#include "protocols/uuid.hpp"
#include "storage/redis/guard_scripts.hpp"
#include "storage/sql/event_sql.hpp"
#include "storage/sql/guard_sql.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <cstdio>

namespace crm::actors {

using protocols::guard_budget;
using protocols::guard_level;
using protocols::guard_metric;
using counters = std::array<int64_t, protocols::guard_metric_count>;

namespace {

struct series {
  guard_metric metric = guard_metric::requests;
  protocols::window_buckets wb;
  std::string key;
  int64_t base = 0;
};

// What this actor already did about one budget in its current window.
struct budget_mark {
  int64_t warn_until = 0;   // unix ms: no other warn incident before
  int64_t block_until = 0;  // unix ms: no other block action before
  std::string incident;     // the warn incident this node raised, kept up to date
  int64_t reported = 0;     // the observed value it last wrote there
};

struct budget_state {
  guard_user who;
  guard_settings cfg;
  gauge_ptr gauge;
  guard_rules_ptr rules;
  std::vector<series> all;
  std::vector<size_t> of_budget;  // budget i -> its series in `all`
  counters sent{};                // counter values Redis has (and the bases include)
  std::vector<uint64_t> ids_retry;  // ids of a failed flush, sent with the next
  bool loaded = false;            // every series' base came from Redis (or Redis was away)
  int64_t base_at = 0;            // unix ms of the last answered flush
  bool flushing = false;
  bool timer = false;
  std::vector<caf::typed_response_promise<caf::ok_atom>> waiting;  // grefresh
  std::unordered_map<std::string, budget_mark> marks;  // by budget id
  int64_t baseline_marked = -1;  // the period a baseline incident was raised for
  guard_call last;               // the newest call a front reported
  int failures = 0;              // flushes failed in a row
  uint64_t epoch = 0;            // bumped by a forget: a flush sent before it is not believed
};

using state_ptr = std::shared_ptr<budget_state>;

constexpr size_t max_retry_ids = 20'000;
constexpr int64_t honey_quiet_ms = 60'000;  // a honeytoken read again within it adds no incident

counters counted_now(const guard_gauge& g) {
  counters c{};
  for (size_t m = 0; m < c.size(); ++m) c[m] = g.counted[m].load(std::memory_order_relaxed);
  return c;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Publishes what fronts judge by: the bases, the counter values they
// include, and what was acted on in each budget's current window.
void publish(budget_state& st) {
  auto s = std::make_shared<guard_snapshot>();
  auto now = st.cfg.now_ms();
  s->budgets = st.rules->budgets;
  s->honeytokens = st.rules->honeytokens;
  s->included = st.sent;
  s->loaded = st.loaded;
  s->at_ms = st.base_at;
  s->fresh_until_ms = st.base_at + std::max<int64_t>(4 * st.cfg.flush.count(), 200);
  for (size_t i = 0; i < s->budgets.size(); ++i) {
    const auto& b = s->budgets[i];
    s->base.push_back(st.all[st.of_budget[i]].base);
    s->policies.push_back(protocols::ratelimit_policy(b));
    auto [head, tail] = protocols::ratelimit_state_parts(b);
    s->state_heads.push_back(std::move(head));
    s->state_tails.push_back(std::move(tail));
    auto it = st.marks.find(b.id);
    auto acted = guard_level::none;
    if (it != st.marks.end()) {
      if (it->second.block_until > now) acted = guard_level::block;
      else if (it->second.warn_until > now) acted = guard_level::warn;
    }
    s->acted.push_back(acted);
    if (b.metric == guard_metric::distinct_records) s->wants_ids = true;
  }
  if (s->honeytokens && !s->honeytokens->empty()) s->wants_ids = true;
  st.gauge->store(std::move(s));
}

// (Re)builds the series from the binding budgets; bases of series that
// stay are kept, a new one makes the next decision wait for Redis.
void set_rules(budget_state& st, guard_rules_ptr rules) {
  std::vector<series> next;
  std::vector<size_t> of_budget;
  for (const auto& b : rules->budgets) {
    auto wb = protocols::buckets_of(b.window_s);
    auto key = storage::guard_series_key(st.cfg.prefix, st.who.tenant_id, st.who.user_id,
                                         protocols::metric_name(b.metric), wb.bucket_ms);
    auto it = std::find_if(next.begin(), next.end(), [&](const series& s) { return s.key == key; });
    if (it == next.end()) {
      auto old = std::find_if(st.all.begin(), st.all.end(), [&](const series& o) { return o.key == key; });
      if (old != st.all.end()) {
        next.push_back(*old);
      } else {
        next.push_back(series{b.metric, wb, key, 0});
        st.loaded = false;
      }
      it = next.end() - 1;
    }
    of_budget.push_back(static_cast<size_t>(it - next.begin()));
  }
  st.all = std::move(next);
  st.of_budget = std::move(of_budget);
  st.rules = std::move(rules);
}

// Writes one incident (and its event) under `id`, unless a row with that id
// exists (another node's, or this actor's predecessor's insert); `done` gets
// the id once the row exists ("" on failure).
void write_incident(caf::event_based_actor* self, const state_ptr& sp, const std::string& traceparent,
                    std::vector<std::optional<std::string>> params, std::function<void(std::string)> done) {
  auto& st = *sp;
  auto id = params.back().value_or("");
  db_request rq{st.who.tenant_id,
                {storage::event_context(traceparent),
                 storage::pg_query{storage::stmt_guard_incident_insert, std::move(params), true}}};
  self->request(st.who.storage, st.who.timeout, db_atom::value, std::move(rq))
      .then([done, id](db_result&) { done(id); }, [done](caf::error&) { done(""); });
}

struct incident_fields {
  std::string kind = "budget";
  std::optional<std::string> budget_id;
  std::string metric;
  int64_t observed = 0, threshold = 0, window_s = 0;
  guard_level severity = guard_level::warn;
  std::optional<std::string> entity, record;
};

std::vector<std::optional<std::string>> incident_params(const budget_state& st, const incident_fields& f) {
  bool block = f.severity == guard_level::block;
  return {st.who.tenant_id,
          st.who.user_id,
          f.kind,
          f.budget_id,
          f.metric,
          std::to_string(f.observed),
          std::to_string(f.threshold),
          std::to_string(f.window_s),
          std::string{block ? "block" : "warn"},
          std::string{block ? "blocked" : "flagged"},
          f.entity,
          f.record,
          st.last.trace_id,
          st.last.trace_id,
          st.last.client.substr(0, 64),
          st.last.user_agent.substr(0, 512),
          std::nullopt};  // $17, the incident's id: set by raise_once
}

std::string once_key(const budget_state& st, const std::string& what) {
  return storage::guard_user_prefix(st.cfg.prefix, st.who.tenant_id, st.who.user_id) + "once:" + what;
}

// Raises an incident once per `what` and `ttl_ms` over every node. The
// first node's SET ... NX GET stores a new incident id under the once-key;
// every node that raises it then inserts that one id (the insert does
// nothing when the row exists): one row and one event, also when the first
// node died between its SET and its insert (test/actors/guard/budget_test.cpp).
// With Redis away (or older than 7.0, which refuses NX with GET) this node
// writes an id of its own (a duplicate beats a lost incident). Past block
// the user is locked either way: locking twice changes nothing.
void raise_once(caf::event_based_actor* self, const state_ptr& sp, const std::string& what, int64_t ttl_ms,
                incident_fields f, std::function<void(std::string)> written = {}) {
  auto& st = *sp;
  if (f.severity == guard_level::block) self->send(st.who.tenant, gblock_atom::value, st.who.user_id, st.last.traceparent);
  auto mine = new_uuid();
  redis_then(self, *st.cfg.redis,
             {"SET", once_key(st, what), mine, "NX", "PX", std::to_string(std::max<int64_t>(ttl_ms, 1)), "GET"},
             [self, sp, mine, tp = st.last.traceparent, params = incident_params(st, f),
              written](caf::expected<storage::redis_reply> r) mutable {
               // nil: the key was ours; a string: the first raiser's id
               bool theirs = r && r->type == storage::redis_reply::kind::string && protocols::is_uuid(r->str);
               params.back() = theirs ? r->str : mine;
               write_incident(self, sp, tp, std::move(params), [written](std::string id) {
                 if (written) written(std::move(id));
               });
             });
}

// The newest call the fronts kept (for incidents no call reported).
void adopt_kept_call(budget_state& st) {
  auto& g = *st.gauge;
  std::lock_guard<std::mutex> lock{g.call_mutex};
  if (g.last_trace_id.empty()) return;
  st.last = guard_call{g.last_traceparent, g.last_trace_id, g.last_client, g.last_user_agent};
}

// Acts on every budget past what was acted on in its window, then publishes.
void act(caf::event_based_actor* self, const state_ptr& sp) {
  auto& st = *sp;
  if (st.last.trace_id.empty()) adopt_kept_call(st);
  auto snap = st.gauge->load();
  if (!snap) return;
  auto obs = observed(*snap, *st.gauge);
  auto now = st.cfg.now_ms();
  const auto& budgets = st.rules->budgets;
  for (size_t i = 0; i < budgets.size() && i < snap->budgets.size(); ++i) {
    const auto& b = budgets[i];
    auto l = protocols::level_of(b, obs[i]);
    if (l == guard_level::none) continue;
    auto& m = st.marks[b.id];
    int64_t window_ms = b.window_s * 1000;
    incident_fields f{"budget", b.id, std::string{protocols::metric_name(b.metric)}, obs[i], b.warn, b.window_s,
                      l, std::nullopt, std::nullopt};
    if (l == guard_level::block) {
      if (m.block_until > now) continue;
      m.block_until = now + window_ms;
      f.threshold = b.block;
      raise_once(self, sp, b.id + ":block", window_ms, std::move(f));
    } else if (m.warn_until <= now) {
      m.warn_until = now + window_ms;
      m.incident.clear();
      m.reported = obs[i];
      raise_once(self, sp, b.id + ":warn", window_ms, std::move(f),
                 [sp, id = b.id](std::string inc) { sp->marks[id].incident = std::move(inc); });
    }
  }
  publish(st);
}

// A call past warn: the open warn incidents follow the burst (observed, last trace).
void touch(caf::event_based_actor* self, const state_ptr& sp) {
  auto& st = *sp;
  auto snap = st.gauge->load();
  if (!snap) return;
  auto obs = observed(*snap, *st.gauge);
  for (size_t i = 0; i < st.rules->budgets.size() && i < obs.size(); ++i) {
    auto it = st.marks.find(st.rules->budgets[i].id);
    if (it == st.marks.end() || it->second.incident.empty() || obs[i] <= it->second.reported) continue;
    it->second.reported = obs[i];
    db_request rq{st.who.tenant_id,
                  {storage::pg_query{storage::stmt_guard_incident_touch,
                                     {st.who.tenant_id, it->second.incident, std::to_string(obs[i]), st.last.trace_id},
                                     true}}};
    self->request(st.who.storage, st.who.timeout, db_atom::value, std::move(rq)).then([](db_result&) {}, [](caf::error&) {});
  }
}

void judge_baseline(caf::event_based_actor* self, const state_ptr& sp, const storage::guard_flush_reply& r) {
  auto& st = *sp;
  const auto& rule = st.cfg.baseline;
  auto period = st.cfg.now_ms() / 1000 / rule.period_s;
  if (period == st.baseline_marked || !protocols::baseline_exceeded(rule, r.mean, r.periods, r.current)) return;
  st.baseline_marked = period;
  adopt_kept_call(st);
  incident_fields f{"baseline", std::nullopt, "rows_read", r.current, static_cast<int64_t>(rule.factor * r.mean),
                    rule.period_s, guard_level::warn, std::nullopt, std::nullopt};
  raise_once(self, sp, "baseline:" + std::to_string(period), rule.period_s * 1000, std::move(f));
}

void flush(caf::event_based_actor* self, const state_ptr& sp);

void arm(caf::event_based_actor* self, const state_ptr& sp, std::chrono::milliseconds after) {
  if (sp->timer) return;
  sp->timer = true;
  self->delayed_send(self, after, gflush_atom::value, true);
}

// After a flush: more to send -> the next flush after `flush` (or a backoff);
// nothing -> disarmed, and a front arms it again with its next count.
void rearm(caf::event_based_actor* self, const state_ptr& sp) {
  auto& st = *sp;
  auto backoff = st.cfg.flush * (st.failures == 0 ? 1 : std::min(1 << std::min(st.failures, 6), 40));
  if (counted_now(*st.gauge) != st.sent || !st.waiting.empty() || !st.loaded) return arm(self, sp, backoff);
  st.gauge->armed.store(false);
  // a front may have counted between the check and the store
  if (counted_now(*st.gauge) != st.sent && !st.gauge->armed.exchange(true)) arm(self, sp, backoff);
}

void flush(caf::event_based_actor* self, const state_ptr& sp) {
  auto& st = *sp;
  if (st.flushing) return;
  st.flushing = true;
  auto upto = counted_now(*st.gauge);
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> guard{st.gauge->ids_mutex};
    ids.assign(st.gauge->ids.begin(), st.gauge->ids.end());
    st.gauge->ids.clear();
  }
  ids.insert(ids.end(), st.ids_retry.begin(), st.ids_retry.end());
  st.ids_retry.clear();
  std::vector<storage::guard_series_add> adds;
  std::vector<std::string> keys;  // the series the reply is for (the rules may change meanwhile)
  for (const auto& s : st.all) {
    auto m = static_cast<size_t>(s.metric);
    storage::guard_series_add a{s.key, s.wb.bucket_ms, s.wb.buckets, upto[m] - st.sent[m], false, {}};
    if (s.metric == guard_metric::distinct_records) {
      a.distinct = true;
      for (auto h : ids) a.ids.push_back(hex64(h));
    }
    keys.push_back(s.key);
    adds.push_back(std::move(a));
  }
  storage::guard_baseline_add base;
  auto rows = static_cast<size_t>(guard_metric::rows_read);
  if (st.cfg.baseline.period_s > 0)
    base = {storage::guard_baseline_key(st.cfg.prefix, st.who.tenant_id, st.who.user_id, "rows_read"),
            st.cfg.baseline.period_s, st.cfg.baseline.alpha, upto[rows] - st.sent[rows]};
  bool with_baseline = !base.key.empty();
  redis_then(self, *st.cfg.redis, storage::guard_flush_command(st.cfg.now_ms(), adds, base),
             [self, sp, with_baseline, keys, upto, epoch = st.epoch,
              ids = std::move(ids)](caf::expected<storage::redis_reply> r) mutable {
               auto& st = *sp;
               st.flushing = false;
               std::optional<storage::guard_flush_reply> reply;
               if (r) reply = storage::read_guard_flush(*r, keys.size(), with_baseline);
               if (reply && epoch != st.epoch) {
                 // sent before a forget: its totals are the old counts; read again
                 st.sent = upto;
                 st.loaded = false;
                 publish(st);
                 return rearm(self, sp);
               }
               if (reply) {
                 bool all_there = true;
                 for (auto& s : st.all) {
                   auto k = std::find(keys.begin(), keys.end(), s.key);
                   if (k == keys.end()) all_there = false;
                   else s.base = reply->totals[static_cast<size_t>(k - keys.begin())];
                 }
                 st.sent = upto;
                 st.loaded = all_there;
                 st.base_at = st.cfg.now_ms();
                 st.failures = 0;
                 if (with_baseline) judge_baseline(self, sp, *reply);
               } else {
                 // not counted there: the next flush sends the difference again
                 if (ids.size() > max_retry_ids) ids.resize(max_retry_ids);
                 st.ids_retry = std::move(ids);
                 st.loaded = true;  // Redis away: judge on what this node counted
                 ++st.failures;
               }
               publish(st);
               auto waiting = std::move(st.waiting);
               st.waiting.clear();
               for (auto& rp : waiting) rp.deliver(caf::ok_atom::value);
               act(self, sp);  // costs counted since may have crossed a line
               rearm(self, sp);
             });
}

} // namespace

caf::behavior budget(caf::event_based_actor* self, guard_user who, guard_settings settings, gauge_ptr gauge,
                     guard_rules_ptr rules) {
  // ends with its tenant actor (which ends with the registry at shutdown)
  self->monitor(who.tenant);
  self->set_down_handler([self, tenant = who.tenant.address()](caf::down_msg& dm) {
    if (dm.source == tenant) self->quit(dm.reason);
  });
  auto sp = std::make_shared<budget_state>();
  sp->who = std::move(who);
  sp->cfg = std::move(settings);
  sp->gauge = std::move(gauge);
  // a successor of a killed actor: Redis has what its snapshot includes
  if (auto snap = sp->gauge->load()) sp->sent = snap->included;
  set_rules(*sp, std::move(rules));
  sp->loaded = false;
  sp->gauge->alarmed.store(false);
  sp->gauge->armed.store(true);
  publish(*sp);
  flush(self, sp);
  auto idle = sp->cfg.idle;
  return {
      [=](grefresh_atom) -> caf::result<caf::ok_atom> {
        auto rp = self->make_response_promise<caf::ok_atom>();
        sp->waiting.push_back(rp);
        flush(self, sp);  // or the one running answers it
        return rp;
      },
      [=](galarm_atom, guard_call& call) {
        sp->last = std::move(call);
        act(self, sp);
        sp->gauge->alarmed.store(false);
      },
      [=](gtouch_atom, guard_call& call) {
        sp->last = std::move(call);
        touch(self, sp);
      },
      [=](ghoney_atom, guard_call& call, const std::string& entity, const std::string& record) {
        sp->last = std::move(call);
        auto it = sp->rules->honeytokens->find(id_hash(record));
        if (it == sp->rules->honeytokens->end()) return;
        auto severity = it->second == "block" ? guard_level::block : guard_level::warn;
        raise_once(self, sp, "honey:" + record, honey_quiet_ms,
                   incident_fields{"honeytoken", std::nullopt, "reads", 1, 1, 0, severity, entity, record});
      },
      [=](grules_atom, guard_rules_ptr& r) {
        set_rules(*sp, std::move(r));
        publish(*sp);
        if (!sp->loaded) flush(self, sp);
      },
      [=](gforget_atom) {  // unlocked or changed: judged afresh on fresh counts
        ++sp->epoch;
        sp->marks.clear();
        sp->loaded = false;
        publish(*sp);
        flush(self, sp);
      },
      [=](gflush_atom, bool timer) {  // the timer, or a front's first count since the last flush
        if (timer) sp->timer = false;
        flush(self, sp);
      },
      [=](run_atom, actor_task& task) { task(); },
      caf::after(idle) >>
          [=] {
            if (counted_now(*sp->gauge) == sp->sent && !sp->flushing && sp->waiting.empty()) self->quit();
          },
  };
}

} // namespace crm::actors
