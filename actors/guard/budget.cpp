// actors/guard/budget.cpp: the budget actor of one user (guard.hpp).
//
// Counting: every metric of a binding budget is a series (metric, bucket
// size) in Redis. `pending` is what this actor counted since its last
// flush, `inflight` what its running flush carries, `base` the window's
// total over every node as the last flush returned it. The estimate a
// decision uses is base + inflight + pending: exact for this node's own
// traffic, behind other nodes' by at most one flush interval (ADR-0049).
//
// Decisions need a fresh base: an admission waits for a flush when the
// last one is older than `stale` (a user idle on this node; at most one
// Redis round trip per idle gap), so a window that has slid since is never
// judged on old counts. Counts carry on locally while Redis is away (each
// node enforces on what it saw) and are flushed when it is back.
#include "actors/guard/guard.hpp"

#include "actors/data/redis_then.hpp"
#include "actors/data/storage_messages.hpp"
#include "storage/redis/guard_scripts.hpp"
#include "storage/sql/event_sql.hpp"
#include "storage/sql/guard_sql.hpp"

#include <caf/all.hpp>

#include <algorithm>

namespace crm::actors {

using protocols::guard_budget;
using protocols::guard_level;
using protocols::guard_metric;

namespace {

struct series {
  guard_metric metric = guard_metric::requests;
  protocols::window_buckets wb;
  std::string key;
  int64_t pending = 0, inflight = 0, base = 0;
};

// What this actor already did about one budget in its current window.
struct budget_mark {
  int64_t warn_until = 0;   // unix ms: no other warn incident before
  int64_t block_until = 0;  // unix ms: no other block action before
  std::string incident;     // the warn incident this node raised, kept up to date
  int64_t reported = 0;     // the observed value it last wrote there
  int64_t touched = 0;      // unix ms of that write
};

struct waiting_admission {
  caf::typed_response_promise<guard_verdict> rp;
};

struct budget_state {
  guard_user who;
  guard_settings cfg;
  guard_rules_ptr rules;
  std::vector<series> all;
  std::vector<size_t> of_budget;  // budget i -> its series in `all`
  std::unordered_set<std::string> ids_pending, ids_inflight;
  int64_t baseline_pending = 0, baseline_inflight = 0;
  int64_t baseline_marked = -1;  // the period a baseline incident was raised for
  bool loaded = false;           // a flush has answered (or failed) since the series were set
  int64_t base_at = 0;           // unix ms of the last answered flush
  bool flushing = false;
  bool timer = false;
  std::vector<waiting_admission> waiting;
  std::unordered_map<std::string, budget_mark> marks;  // by budget id
  guard_call last;                                     // the newest request seen
  int64_t failures = 0;                                // flushes failed in a row
};

using state_ptr = std::shared_ptr<budget_state>;

constexpr size_t max_pending_ids = 20'000;  // distinct ids kept between two flushes
constexpr int64_t honey_quiet_ms = 60'000;   // a honeytoken read again within it adds no incident

int64_t stale_after_ms(const guard_settings& cfg) { return std::max<int64_t>(4 * cfg.flush.count(), 200); }

bool has_pending(const budget_state& st) {
  if (!st.ids_pending.empty() || st.baseline_pending > 0) return true;
  return std::any_of(st.all.begin(), st.all.end(), [](const series& s) { return s.pending > 0; });
}

int64_t estimate(const budget_state& st, const series& s) {
  if (s.metric == guard_metric::distinct_records)
    return s.base + static_cast<int64_t>(st.ids_inflight.size() + st.ids_pending.size());
  return s.base + s.inflight + s.pending;
}

// (Re)builds the series from the binding budgets; counts of series that
// stay are kept.
void set_rules(budget_state& st, guard_rules_ptr rules) {
  std::vector<series> next;
  std::vector<size_t> of_budget;
  for (const auto& b : rules->budgets) {
    auto wb = protocols::buckets_of(b.window_s);
    auto key = storage::guard_series_key(st.cfg.prefix, st.who.tenant_id, st.who.user_id,
                                         protocols::metric_name(b.metric), wb.bucket_ms);
    auto it = std::find_if(next.begin(), next.end(), [&](const series& s) { return s.key == key; });
    if (it == next.end()) {
      series s;
      s.metric = b.metric;
      s.wb = wb;
      s.key = key;
      auto old = std::find_if(st.all.begin(), st.all.end(), [&](const series& o) { return o.key == key; });
      if (old != st.all.end()) s = *old;
      else st.loaded = false;  // a new series: its base comes from Redis before the next decision
      next.push_back(std::move(s));
      it = next.end() - 1;
    }
    of_budget.push_back(static_cast<size_t>(it - next.begin()));
  }
  st.all = std::move(next);
  st.of_budget = std::move(of_budget);
  st.rules = std::move(rules);
}

void count(budget_state& st, guard_metric m, int64_t n) {
  if (n <= 0) return;
  for (auto& s : st.all)
    if (s.metric == m) s.pending += n;
}

// Writes one incident (and its event); `done` gets its id ("" on failure).
void write_incident(caf::event_based_actor* self, const state_ptr& sp, const std::string& traceparent,
                    std::vector<std::optional<std::string>> params, std::function<void(std::string)> done) {
  auto& st = *sp;
  db_request rq{st.who.tenant_id,
                {storage::event_context(traceparent),
                 storage::pg_query{storage::stmt_guard_incident_insert, std::move(params), true}}};
  self->request(st.who.storage, st.who.timeout, db_atom::value, std::move(rq))
      .then([done](db_result& res) { done(res.sets.at(1).rows.empty() ? "" : res.sets[1].cell(0, 0)); },
            [done](caf::error&) { done(""); });
}

struct incident_fields {
  std::string kind = "budget";
  std::optional<std::string> budget_id;
  std::string metric;
  int64_t observed = 0, threshold = 0, window_s = 0;
  guard_level severity = guard_level::warn;
  std::optional<std::string> entity, record;
  std::string first_trace;
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
          f.first_trace.empty() ? st.last.trace_id : f.first_trace,
          st.last.trace_id,
          st.last.client.substr(0, 64),
          st.last.user_agent.substr(0, 512)};
}

// Raises an incident once per `once_key` and `ttl_ms` over every node (SET NX
// in Redis: the node that wins writes it); with Redis away, this node
// writes it (a duplicate beats a lost incident). Past block, the user is
// locked either way: locking twice changes nothing.
void raise_once(caf::event_based_actor* self, const state_ptr& sp, std::string once_key, int64_t ttl_ms,
                incident_fields f, std::function<void(std::string)> written = {}) {
  auto& st = *sp;
  bool block = f.severity == guard_level::block;
  if (block) self->send(st.who.tenant, gblock_atom::value, st.who.user_id, st.last.traceparent);
  auto params = incident_params(st, f);
  redis_then(self, *st.cfg.redis, {"SET", std::move(once_key), "1", "NX", "PX", std::to_string(std::max<int64_t>(ttl_ms, 1))},
             [self, sp, tp = st.last.traceparent, params = std::move(params),
              written](caf::expected<storage::redis_reply> r) mutable {
               if (r && r->type == storage::redis_reply::kind::nil) return;  // another node raised it
               write_incident(self, sp, tp, std::move(params), [written](std::string id) {
                 if (written) written(std::move(id));
               });
             });
}

std::string once_key(const budget_state& st, const std::string& what) {
  return storage::guard_user_prefix(st.cfg.prefix, st.who.tenant_id, st.who.user_id) + "once:" + what;
}

// Judges every binding budget on the current estimates; acts at most once
// per budget and window. Returns the highest level.
guard_level judge(caf::event_based_actor* self, const state_ptr& sp, std::vector<int64_t>* observed = nullptr) {
  auto& st = *sp;
  auto now = st.cfg.now_ms();
  auto level = guard_level::none;
  const auto& budgets = st.rules->budgets;
  for (size_t i = 0; i < budgets.size(); ++i) {
    const auto& b = budgets[i];
    auto obs = estimate(st, st.all[st.of_budget[i]]);
    if (observed) observed->push_back(obs);
    auto l = protocols::level_of(b, obs);
    if (l == guard_level::none) continue;
    level = std::max(level, l);
    auto& m = st.marks[b.id];
    int64_t window_ms = b.window_s * 1000;
    incident_fields f{"budget", b.id, std::string{protocols::metric_name(b.metric)}, obs, b.warn, b.window_s,
                      l, std::nullopt, std::nullopt, {}};
    if (l == guard_level::block) {
      if (m.block_until > now) continue;
      m.block_until = now + window_ms;
      f.threshold = b.block;
      raise_once(self, sp, once_key(st, b.id + ":block"), window_ms, std::move(f));
    } else if (m.warn_until <= now) {
      m.warn_until = now + window_ms;
      m.incident.clear();
      m.reported = obs;
      m.touched = now;
      raise_once(self, sp, once_key(st, b.id + ":warn"), window_ms, std::move(f), [sp, id = b.id](std::string inc) {
        sp->marks[id].incident = std::move(inc);
      });
    } else if (!m.incident.empty() && obs > m.reported && now - m.touched >= 1000) {
      // one incident per window: its observed value and last trace follow the burst
      m.reported = obs;
      m.touched = now;
      db_request rq{st.who.tenant_id,
                    {storage::pg_query{storage::stmt_guard_incident_touch,
                                       {st.who.tenant_id, m.incident, std::to_string(obs), st.last.trace_id}, true}}};
      self->request(st.who.storage, st.who.timeout, db_atom::value, std::move(rq)).then([](db_result&) {}, [](caf::error&) {});
    }
  }
  return level;
}

guard_verdict verdict(caf::event_based_actor* self, const state_ptr& sp) {
  std::vector<int64_t> observed;
  guard_verdict v;
  v.level = judge(self, sp, &observed);
  v.policy = protocols::ratelimit_policy(sp->rules->budgets);
  v.state = protocols::ratelimit_state(sp->rules->budgets, observed);
  return v;
}

void judge_baseline(caf::event_based_actor* self, const state_ptr& sp, const storage::guard_flush_reply& r) {
  auto& st = *sp;
  const auto& rule = st.cfg.baseline;
  auto period = st.cfg.now_ms() / 1000 / rule.period_s;
  if (period == st.baseline_marked || !protocols::baseline_exceeded(rule, r.mean, r.periods, r.current)) return;
  st.baseline_marked = period;
  incident_fields f{"baseline", std::nullopt, "rows_read", r.current,
                    static_cast<int64_t>(rule.factor * r.mean), rule.period_s, guard_level::warn,
                    std::nullopt, std::nullopt, {}};
  raise_once(self, sp, once_key(st, "baseline:" + std::to_string(period)), rule.period_s * 1000, std::move(f));
}

void arm(caf::event_based_actor* self, const state_ptr& sp, std::chrono::milliseconds after) {
  if (sp->timer) return;
  sp->timer = true;
  self->delayed_send(self, after, gflush_atom::value);
}

void answer_waiting(caf::event_based_actor* self, const state_ptr& sp) {
  auto waiting = std::move(sp->waiting);
  sp->waiting.clear();
  for (auto& w : waiting) w.rp.deliver(verdict(self, sp));
}

void flush(caf::event_based_actor* self, const state_ptr& sp) {
  auto& st = *sp;
  if (st.flushing) return;
  st.flushing = true;
  std::vector<storage::guard_series_add> adds;
  for (auto& s : st.all) {
    storage::guard_series_add a{s.key, s.wb.bucket_ms, s.wb.buckets, s.pending, false, {}};
    if (s.metric == guard_metric::distinct_records) {
      a.distinct = true;
      a.ids.assign(st.ids_pending.begin(), st.ids_pending.end());
    }
    s.inflight = s.pending;
    s.pending = 0;
    adds.push_back(std::move(a));
  }
  st.ids_inflight = std::move(st.ids_pending);
  st.ids_pending.clear();
  storage::guard_baseline_add base;
  if (st.cfg.baseline.period_s > 0) {
    base = {storage::guard_baseline_key(st.cfg.prefix, st.who.tenant_id, st.who.user_id, "rows_read"),
            st.cfg.baseline.period_s, st.cfg.baseline.alpha, st.baseline_pending};
    st.baseline_inflight = st.baseline_pending;
    st.baseline_pending = 0;
  }
  bool with_baseline = !base.key.empty();
  std::vector<std::string> keys;  // the series the reply is for (the rules may change meanwhile)
  for (const auto& a : adds) keys.push_back(a.key);
  redis_then(self, *st.cfg.redis, storage::guard_flush_command(st.cfg.now_ms(), adds, base),
             [self, sp, with_baseline, keys](caf::expected<storage::redis_reply> r) {
               auto& st = *sp;
               st.flushing = false;
               std::optional<storage::guard_flush_reply> reply;
               if (r) reply = storage::read_guard_flush(*r, keys.size(), with_baseline);
               if (reply) {
                 // what Redis counted is counted: a series still here takes its
                 // total; one added since keeps its in-flight part for the next flush
                 for (auto& s : st.all) {
                   auto k = std::find(keys.begin(), keys.end(), s.key);
                   if (k == keys.end()) {
                     s.pending += s.inflight;
                     s.inflight = 0;
                     continue;
                   }
                   s.base = reply->totals[static_cast<size_t>(k - keys.begin())];
                   s.inflight = 0;
                 }
                 st.ids_inflight.clear();
                 st.baseline_inflight = 0;
                 st.base_at = st.cfg.now_ms();
                 st.failures = 0;
                 if (with_baseline) judge_baseline(self, sp, *reply);
               } else {
                 // not counted there: carried into the next flush
                 for (auto& s : st.all) {
                   s.pending += s.inflight;
                   s.inflight = 0;
                 }
                 for (auto& id : st.ids_inflight)
                   if (st.ids_pending.size() < max_pending_ids) st.ids_pending.insert(id);
                 st.ids_inflight.clear();
                 st.baseline_pending += st.baseline_inflight;
                 st.baseline_inflight = 0;
                 ++st.failures;
               }
               st.loaded = true;  // Redis away: judge on what this node counted
               answer_waiting(self, sp);
               judge(self, sp);  // costs reported since may have crossed a line
               if (has_pending(st) || !st.waiting.empty()) {
                 auto backoff = st.cfg.flush * (st.failures == 0 ? 1 : std::min<int64_t>(int64_t{1} << st.failures, 40));
                 arm(self, sp, backoff);
               }
             });
}

void admit(caf::event_based_actor* self, const state_ptr& sp, guard_call call,
           caf::typed_response_promise<guard_verdict> rp) {
  auto& st = *sp;
  st.last = std::move(call);
  count(st, guard_metric::requests, 1);
  bool fresh = st.loaded && st.cfg.now_ms() - st.base_at <= stale_after_ms(st.cfg);
  if (!fresh) {
    st.waiting.push_back({std::move(rp)});
    return flush(self, sp);
  }
  rp.deliver(verdict(self, sp));
  arm(self, sp, st.cfg.flush);
}

void report(caf::event_based_actor* self, const state_ptr& sp, guard_cost& c) {
  auto& st = *sp;
  st.last = std::move(c.call);
  count(st, guard_metric::reads, c.reads);
  count(st, guard_metric::rows_read, static_cast<int64_t>(c.ids.size()));
  count(st, guard_metric::writes, c.writes);
  count(st, guard_metric::deletes, c.deletes);
  count(st, guard_metric::downloads, c.downloads);
  st.baseline_pending += static_cast<int64_t>(c.ids.size());
  bool distinct = std::any_of(st.all.begin(), st.all.end(),
                              [](const series& s) { return s.metric == guard_metric::distinct_records; });
  const auto& honey = st.rules->honeytokens;
  for (auto& id : c.ids) {
    if (honey && !honey->empty()) {
      auto it = honey->find(id);
      if (it != honey->end()) {  // at once, on every read; one incident per token and minute over a burst
        auto severity = it->second == "block" ? guard_level::block : guard_level::warn;
        incident_fields f{"honeytoken", std::nullopt, "reads", 1, 1, 0, severity, c.entity, id, st.last.trace_id};
        raise_once(self, sp, once_key(st, "honey:" + id), honey_quiet_ms, std::move(f));
      }
    }
    if (distinct && st.ids_pending.size() < max_pending_ids) st.ids_pending.insert(std::move(id));
  }
  judge(self, sp);
  arm(self, sp, st.cfg.flush);
}

} // namespace

caf::behavior budget(caf::event_based_actor* self, guard_user who, guard_settings settings, guard_rules_ptr rules) {
  auto sp = std::make_shared<budget_state>();
  sp->who = std::move(who);
  sp->cfg = std::move(settings);
  set_rules(*sp, std::move(rules));
  auto idle = sp->cfg.idle;
  return {
      [=](gadmit_atom, guard_call& call) -> caf::result<guard_verdict> {
        auto rp = self->make_response_promise<guard_verdict>();
        admit(self, sp, std::move(call), rp);
        return rp;
      },
      [=](gcost_atom, guard_cost& c) { report(self, sp, c); },
      [=](grules_atom, guard_rules_ptr& r) {
        set_rules(*sp, std::move(r));
      },
      [=](gforget_atom) {  // the user was unlocked or changed: judge afresh
        sp->marks.clear();
        sp->loaded = false;
      },
      [=](gflush_atom) {
        sp->timer = false;
        if (has_pending(*sp) || !sp->waiting.empty()) flush(self, sp);
      },
      [=](run_atom, actor_task& task) { task(); },
      caf::after(idle) >>
          [=] {
            if (!has_pending(*sp) && !sp->flushing && sp->waiting.empty()) self->quit();
          },
  };
}

} // namespace crm::actors
