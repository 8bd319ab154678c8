#include "actors/identity/tenant_guard.hpp"

#include "actors/data/redis_then.hpp"
#include "storage/redis/guard_scripts.hpp"
#include "storage/sql/guard_sql.hpp"

#include <caf/all.hpp>

namespace crm::actors {

namespace {

guard_rules_ptr rules_for(const tenant_state& st, const std::string& user_id, const std::string& profile) {
  auto r = std::make_shared<guard_rules>();
  r->budgets = protocols::binding_budgets(st.guard_budgets, user_id, profile);
  r->honeytokens = st.honeytokens;
  return r;
}

bool binds(const guard_rules& r) { return !r.budgets.empty() || !r.honeytokens->empty(); }

} // namespace

void load_guard(tenant_state& st, const storage::pg_rows& budgets, const storage::pg_rows& honeytokens) {
  std::vector<protocols::guard_budget> all;
  for (size_t i = 0; i < budgets.rows.size(); ++i) {
    auto metric = protocols::metric_of(budgets.cell(i, 2));
    if (!metric) continue;  // a metric of a newer version: not judged here
    protocols::guard_budget b;
    b.id = budgets.cell(i, 0);
    b.scope = budgets.cell(i, 1);
    b.metric = *metric;
    b.window_s = std::stoll(budgets.cell(i, 3));
    b.warn = std::stoll(budgets.cell(i, 4));
    b.block = std::stoll(budgets.cell(i, 5));
    all.push_back(std::move(b));
  }
  auto honey = std::make_shared<honeytoken_map>();
  for (size_t i = 0; i < honeytokens.rows.size(); ++i) (*honey)[id_hash(honeytokens.cell(i, 2))] = honeytokens.cell(i, 3);
  st.guard_budgets = std::move(all);
  st.honeytokens = std::move(honey);
  ++st.guard_version;
}

void reload_guard(caf::stateful_actor<tenant_state>* self, std::function<void()> done) {
  auto& st = self->state;
  db_request rq{st.id,
                {storage::pg_query{storage::stmt_guard_budgets, {st.id}, true},
                 storage::pg_query{storage::stmt_guard_honeytokens, {st.id}, true}}};
  self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(rq))
      .then(
          [self, done](db_result& res) {
            auto& st = self->state;
            load_guard(st, res.sets.at(0), res.sets.at(1));
            for (auto& [user, g] : st.guards) {
              if (!g.actor) continue;  // its successor gets them when spawned
              self->send(g.actor, grules_atom::value, rules_for(st, user, g.profile));
              g.version = st.guard_version;
            }
            if (done) done();
          },
          [done](caf::error&) {  // the next signal will do; budget actors keep the rules they have
            if (done) done();
          });
}

guard_ref guard_of(caf::stateful_actor<tenant_state>* self, const std::string& user_id, const std::string& profile) {
  auto& st = self->state;
  if (!st.deps.guard.on()) return {};
  auto it = st.guards.find(user_id);
  if (it != st.guards.end() && it->second.actor) {
    auto& g = it->second;
    if (g.version != st.guard_version || g.profile != profile) {
      g.profile = profile;
      g.version = st.guard_version;
      self->send(g.actor, grules_atom::value, rules_for(st, user_id, profile));
    }
    return {g.actor, g.gauge};
  }
  auto rules = rules_for(st, user_id, profile);
  if (!binds(*rules)) return {};
  // a crashed actor's successor adopts its gauge: what was counted stays counted
  auto gauge = it != st.guards.end() ? it->second.gauge : std::make_shared<guard_gauge>();
  guard_user who{st.id, user_id, caf::actor_cast<caf::actor>(self), st.deps.storage, st.deps.timeout};
  auto actor = self->spawn<caf::monitored>(budget, std::move(who), st.deps.guard, gauge, std::move(rules));
  st.guards[user_id] = tenant_state::live_guard{actor, gauge, profile, st.guard_version};
  return {actor, gauge};
}

void forget_guard(caf::stateful_actor<tenant_state>* self, const std::string& user_id, bool everywhere) {
  auto& st = self->state;
  if (!st.deps.guard.on()) return;
  if (everywhere)
    st.deps.guard.redis->command(
        storage::guard_forget_command(storage::guard_user_prefix(st.deps.guard.prefix, st.id, user_id)),
        [](caf::expected<storage::redis_reply>) {});
  if (auto it = st.guards.find(user_id); it != st.guards.end() && it->second.actor)
    self->send(it->second.actor, gforget_atom::value);
}

bool guard_down(tenant_state& st, const caf::down_msg& dm) {
  for (auto it = st.guards.begin(); it != st.guards.end(); ++it)
    if (it->second.actor.address() == dm.source) {
      if (dm.reason == caf::exit_reason::normal) st.guards.erase(it);  // idle: nothing left to count
      else it->second.actor = caf::actor{};                            // crashed: the gauge waits for a successor
      return true;
    }
  return false;
}

} // namespace crm::actors
