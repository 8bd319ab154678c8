#include "actors/identity/identity.hpp"

#include "actors/data/redis_then.hpp"
#include "actors/core/random.hpp"
#include "protocols/errc.hpp"
#include "protocols/json_body.hpp"
#include "protocols/permissions.hpp"
#include "actors/identity/tenant_guard.hpp"
#include "actors/identity/tenant_profiles.hpp"
#include "actors/identity/tenant_users.hpp"
#include "storage/sql/entity_sql.hpp"
#include "protocols/nxp.hpp"
#include "storage/redis/guard_scripts.hpp"
#include "storage/sql/event_sql.hpp"
#include "storage/sql/guard_sql.hpp"
#include "storage/sql/identity_sql.hpp"

#include <caf/all.hpp>

namespace crm::actors {

using protocols::errc;
using protocols::error_of;
using storage::event_context;
using storage::pg_query;

namespace {

// The per-account throttle counts an account at one client address: failures
// from elsewhere never make this address wait (OWASP: not per account alone).
std::string account_key(const login_request& rq) { return rq.client + ' ' + protocols::ascii_lower(rq.email); }

// The same keys in Redis, where every node's failures meet.
std::vector<std::string> login_keys(const tenant_state& st, const login_request& rq) {
  const auto& prefix = st.deps.guard.prefix;
  return {storage::guard_login_key(prefix, "account", st.id + ' ' + account_key(rq)),
          storage::guard_login_key(prefix, "address", st.id + ' ' + rq.client)};
}

caf::error rate_limited(int64_t wait) {
  return caf::make_error(errc::rate_limited, "too many failed logins; retry later", std::to_string(wait));
}

caf::error user_locked() { return error_of(errc::auth_user_locked, "the user is locked"); }

caf::error revoked() { return error_of(errc::auth_session_revoked, "the session is no longer valid"); }

// How often a session is read again when a change to its user committed
// while the read was on its way (then: 503, retry).
constexpr int max_recover_reads = 3;

// Spawns the session actor for `who` unless one is live, and returns it.
caf::actor adopt_session(caf::stateful_actor<tenant_state>* self, principal who) {
  auto& st = self->state;
  if (auto it = st.sessions.find(who.session_id); it != st.sessions.end()) return it->second.actor;
  // The session keeps only what is its own; vouch() adds the rest.
  auto sid = who.session_id;
  auto user = who.user_id;
  auto actor = self->spawn<caf::monitored>(session, std::move(who), st.deps.now, self->address());
  st.sessions.emplace(sid, tenant_state::live_session{user, actor});
  return actor;
}

// A login in progress: each step below asks one actor and hands on.
struct login_attempt {
  login_request rq;
  caf::typed_response_promise<login_result> rp;
  principal who;
  std::string epoch;  // users.session_epoch read with the hash
  bool found = false;
  bool locked = false;
  void fail(caf::error e) { rp.deliver(std::move(e)); }
};
using attempt = std::shared_ptr<login_attempt>;

void login_open_session(caf::stateful_actor<tenant_state>* self, attempt a);

// Step 2: argon2id on the hasher pool, against the user's hash or the dummy.
void login_verify(caf::stateful_actor<tenant_state>* self, attempt a, std::string hash) {
  auto& st = self->state;
  self->request(st.deps.hasher, st.deps.timeout * 4, verify_atom::value, std::move(hash), a->rq.password)
      .then(
          [=](bool ok) {
            auto& st = self->state;
            auto now = st.deps.now();
            auto keys = login_keys(st, a->rq);
            auto* redis = st.deps.guard.redis;
            if (!a->found || !ok) {
              st.accounts.failed(account_key(a->rq), now);
              st.addresses.failed(a->rq.client, now);
              if (redis)
                redis->command(storage::login_failed_command(keys, now, tenant_state::account_policy.forget_after_s),
                               [](caf::expected<storage::redis_reply>) {});
              return a->fail(wrong_credentials());
            }
            st.accounts.succeeded(account_key(a->rq));
            if (redis) redis->command({"DEL", keys.front()}, [](caf::expected<storage::redis_reply>) {});
            if (a->locked) return a->fail(user_locked());
            login_open_session(self, a);
          },
          [=](caf::error& e) { a->fail(std::move(e)); });
}

// Step 1: the user by email (case-insensitive). Unknown users cost one
// verification too: same time, same answer.
void login(caf::stateful_actor<tenant_state>* self, attempt a) {
  auto& st = self->state;
  db_request lookup{st.id, {pg_query{storage::stmt_user_by_email, {st.id, a->rq.email}, true}}};
  self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(lookup))
      .then(
          [=](db_result& res) {
            auto& st = self->state;
            const auto& users = res.sets.at(0);
            if (users.rows.empty()) return login_verify(self, a, st.deps.dummy_hash);
            a->found = true;
            a->who.tenant_id = st.id;
            a->who.user_id = users.cell(0, 0);
            a->who.email = users.cell(0, 1);
            a->who.role = users.cell(0, 3);
            a->who.access_profile = users.cell(0, 4);
            a->locked = users.cell(0, 5) == "t";
            a->epoch = users.cell(0, 6);
            login_verify(self, a, users.cell(0, 2));
          },
          [=](caf::error& e) { a->fail(std::move(e)); });
}

// Step 3: the sessions row and the signed token. No session actor yet: the
// first request rebuilds it from the row (recover), so a login that raced a
// role, profile or lock change never caches what it read before it.
void login_open_session(caf::stateful_actor<tenant_state>* self, attempt a) {
  auto& st = self->state;
  a->rq.password.clear();  // not needed any more
  a->who.session_id = new_uuid();
  a->who.expires_at = st.deps.now() + st.deps.token_ttl.count();
  db_request insert{st.id,
                    {pg_query{storage::stmt_session_open,
                              {a->who.session_id, st.id, a->who.user_id, std::to_string(a->who.expires_at),
                               a->epoch},
                              true}}};
  self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(insert))
      .then(
          [=](db_result& res) {
            auto& st = self->state;
            const auto& who = a->who;
            // the user was locked or given a new password since the hash was read
            const auto& row = res.sets.at(0);
            if (row.cell(0, 1) != "t")
              return a->fail(row.cell(0, 0) == "t" ? user_locked() : wrong_credentials());
            auto now = st.deps.now();
            protocols::jwt_claims c{who.user_id, st.id, who.session_id, now, now, who.expires_at};
            a->rp.deliver(login_result{protocols::sign_jwt(c, st.deps.keys->keys.front()), who.session_id,
                                       st.deps.token_ttl.count(), st.id, who.user_id});
          },
          [=](caf::error& e) { a->fail(std::move(e)); });
}

// Asks the session actor for its principal; it vouches only for its own
// user, and RBAC is checked here, before any handler runs.
void vouch(caf::stateful_actor<tenant_state>* self, const caf::actor& session_actor, std::string sid,
           std::string user_id, std::string permission, caf::typed_response_promise<principal> rp) {
  // No deadline of its own: the session answers synchronously, its death
  // comes back as request_receiver_down, and the front's request around this
  // whole chain carries the deadline (a timer per hop costs ~4 us).
  self->request(session_actor, caf::infinite, auth_atom::value)
      .then(
          [=](principal& who) mutable {
            if (who.user_id != user_id) return rp.deliver(revoked()), void();
            auto& st = self->state;
            who.tenant_id = st.id;
            who.tenant_slug = st.slug;
            who.session_id = sid;
            auto role = st.roles.find(who.role);
            if (!permission.empty() &&
                (role == st.roles.end() || !protocols::has_permission(role->second, permission)))
              return rp.deliver(
                         error_of(errc::auth_forbidden, "the role '" + who.role + "' lacks " + permission)),
                     void();
            who.profile = profile_named(st, who.access_profile);
            auto g = guard_of(self, who.user_id, who.access_profile);
            who.guard = std::move(g.actor);
            who.gauge = std::move(g.gauge);
            rp.deliver(std::move(who));
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

// A session this node does not hold (restart, crash, another node): rebuilt
// from the sessions table if it is still valid.
// The read's answer is kept only if no change to the user has committed
// since it was sent (the user's epoch is unchanged); else it is read again.
void recover(caf::stateful_actor<tenant_state>* self, std::string sid, std::string user_id,
             std::string permission, caf::typed_response_promise<principal> rp, int reads = 1) {
  auto& st = self->state;
  auto epoch = st.epoch_of(user_id);
  db_request q{st.id, {pg_query{storage::stmt_session_load, {st.id, sid}, true}}};
  self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(q))
      .then(
          [=](db_result& res) mutable {
            auto& st = self->state;
            if (st.epoch_of(user_id) != epoch) {
              if (reads < max_recover_reads) return recover(self, sid, user_id, permission, rp, reads + 1);
              return rp.deliver(error_of(errc::dependency_unavailable, "the user changed while the session was read")),
                     void();
            }
            const auto& rows = res.sets.at(0);
            if (rows.rows.empty() || rows.cell(0, 0) != user_id || rows.cell(0, 2) == "t" ||
                rows.cell(0, 6) == "t" || rows.cell(0, 7) != "t") {
              rp.deliver(revoked());
              return;
            }
            principal who;
            who.tenant_id = st.id;
            who.user_id = user_id;
            who.session_id = sid;
            who.expires_at = std::stoll(rows.cell(0, 1));
            who.email = rows.cell(0, 3);
            who.role = rows.cell(0, 4);
            who.access_profile = rows.cell(0, 5);
            if (who.expires_at <= st.deps.now()) {
              rp.deliver(revoked());
              return;
            }
            vouch(self, adopt_session(self, std::move(who)), sid, user_id, permission, rp);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
}

}  // namespace

std::vector<std::string> parse_text_array(std::string_view t) {
  std::vector<std::string> out;
  if (t.size() < 2 || t.front() != '{' || t.back() != '}') return out;
  t = t.substr(1, t.size() - 2);
  std::string cur;
  bool quoted = false, any = false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (quoted) {
      if (c == '\\' && i + 1 < t.size())
        cur += t[++i];
      else if (c == '"')
        quoted = false;
      else
        cur += c;
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
      any = true;
    }
  }
  if (any || !out.empty()) out.push_back(std::move(cur));
  return out;
}

caf::behavior tenant(caf::stateful_actor<tenant_state>* self, std::string id, identity_deps deps,
                     caf::actor_addr parent) {
  auto& st = self->state;
  st.id = std::move(id);
  st.deps = std::move(deps);
  // A tenant actor ends with the registry that spawned it; its sessions end
  // with it (and come back from the sessions table on next use).
  monitor_parent(self, parent);
  self->set_down_handler([=](caf::down_msg& dm) {
    if (dm.source == parent) return self->quit(dm.reason);
    if (guard_down(self->state, dm)) return;  // spawned again on the user's next request
    auto& sessions = self->state.sessions;
    for (auto it = sessions.begin(); it != sessions.end(); ++it)
      if (it->second.actor.address() == dm.source) {
        sessions.erase(it);
        break;
      }
  });
  // Load the tenant before serving anything (await holds other messages back).
  // Tenants created before access profiles existed get the baseline ones here.
  db_request load{st.id,
                  {pg_query{storage::stmt_tenant_slug, {st.id}, true}, pg_query{storage::stmt_tenant_roles, {st.id}, true},
                   storage::ensure_profiles_query(st.id), pg_query{storage::stmt_profiles_load, {st.id}, true},
                   pg_query{storage::stmt_guard_budgets, {st.id}, true},
                   pg_query{storage::stmt_guard_honeytokens, {st.id}, true}}};
  self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(load))
      .await(
          [=](db_result& res) {
            auto& st = self->state;
            if (res.sets.at(0).rows.empty()) return;  // no such tenant: every answer is "no"
            st.exists = true;
            st.slug = res.sets[0].cell(0, 0);
            for (size_t i = 0; i < res.sets.at(1).rows.size(); ++i)
              st.roles[res.sets[1].cell(i, 0)] = parse_text_array(res.sets[1].cell(i, 1));
            load_profiles(st, res.sets.at(3));
            load_guard(st, res.sets.at(4), res.sets.at(5));
          },
          [=](caf::error& e) { self->quit(e); });  // requests waiting here get an error reply
  return {
      [=](login_atom, login_request& rq) -> caf::result<login_result> {
        auto& st = self->state;
        auto now = st.deps.now();
        auto wait = std::max(st.accounts.retry_after(account_key(rq), now),
                             st.addresses.retry_after(rq.client, now));
        if (wait > 0) return rate_limited(wait);
        if (!st.exists) return wrong_credentials();
        auto a = std::make_shared<login_attempt>();
        a->rq = std::move(rq);
        a->rp = self->make_response_promise<login_result>();
        if (!st.deps.guard.on()) {
          login(self, a);
          return a->rp;
        }
        // every node's failures (Redis away: this node's alone)
        auto keys = login_keys(st, a->rq);
        redis_then(self, *st.deps.guard.redis, storage::login_state_command(keys),
                   [=](caf::expected<storage::redis_reply> r) {
                     auto& st = self->state;
                     if (r) {
                       if (auto counts = storage::read_login_state(*r, 2)) {
                         auto now = st.deps.now();
                         auto wait = std::max(
                             protocols::throttle_wait(tenant_state::account_policy, (*counts)[0].first, (*counts)[0].second, now),
                             protocols::throttle_wait(tenant_state::address_policy, (*counts)[1].first, (*counts)[1].second, now));
                         if (wait > 0) return a->fail(rate_limited(wait));
                       }
                     }
                     login(self, a);
                   });
        return a->rp;
      },
      [=](auth_atom, const std::string& sid, const std::string& user_id,
          const std::string& permission) -> caf::result<principal> {
        auto& st = self->state;
        if (!st.exists) return revoked();
        auto rp = self->make_response_promise<principal>();
        if (auto it = st.sessions.find(sid); it != st.sessions.end())
          vouch(self, it->second.actor, sid, user_id, permission, rp);
        else
          recover(self, sid, user_id, permission, rp);
        return rp;
      },
      [=](signal_atom, uint8_t kind, const std::string& id, const std::string& user_id) {
        using k = protocols::nxp_signal::kind;
        switch (static_cast<k>(kind)) {
          case k::session_revoked: invalidate_sessions(self, user_id, id); break;
          case k::user_changed:
            invalidate_sessions(self, id);
            forget_guard(self, id, false);  // locked, unlocked or changed: judged anew
            break;
          case k::profiles_changed: reload_profiles(self); break;
          case k::guard_changed: reload_guard(self); break;
        }
      },
      [=](ucreate_atom, user_draft& d) { return create_user(self, std::move(d)); },
      [=](users_atom, const std::string& after, uint32_t limit) { return list_users(self, after, limit); },
      [=](user_atom, const std::string& id) { return get_user(self, id); },
      [=](upatch_atom, const std::string& id, user_draft& d) { return patch_user(self, id, std::move(d)); },
      [=](lock_atom, const std::string& id, const std::string& tp) { return set_locked(self, id, true, tp); },
      [=](unlock_atom, const std::string& id, const std::string& tp) { return set_locked(self, id, false, tp); },
      [=](chaos_atom, uint8_t kind, uint64_t pick) {  // chaos: a session actor, or the budget actors
        auto& st = self->state;
        if (static_cast<chaos_kind>(kind) == chaos_kind::budget) {  // successors adopt the gauges: nothing counted is lost
          for (auto& [user, g] : st.guards)
            if (g.actor) self->send_exit(g.actor, caf::exit_reason::kill);
          return;
        }
        if (st.sessions.empty()) return;
        auto it = std::next(st.sessions.begin(), static_cast<std::ptrdiff_t>(pick % st.sessions.size()));
        if (it->second.actor) self->send_exit(it->second.actor, caf::exit_reason::kill);
      },
      [=](gblock_atom, const std::string& id, const std::string& tp) {  // past a block: lock and revoke
        lock_for_guard(self, id, tp);
      },
      [=](greload_atom) -> caf::result<caf::ok_atom> {  // answered once every budget actor has the new rules
        auto rp = self->make_response_promise<caf::ok_atom>();
        reload_guard(self, [rp]() mutable { rp.deliver(caf::ok_atom::value); });
        return rp;
      },
      [=](run_atom, actor_task& task) { task(); },  // a Redis answer (actors/data/redis_then.hpp)
      [=](roles_atom) { return list_roles(self->state); },
      [=](profiles_atom) { return list_profiles(self->state); },
      [=](profile_atom, const std::string& name) { return get_profile(self->state, name); },
      [=](pput_atom, profile_ptr& p, const std::string& tp) { return put_profile(self, std::move(p), tp); },
      [=](caf::get_atom, const std::string& sid) {  // the live session actor, if any (tests)
        auto it = self->state.sessions.find(sid);
        return it == self->state.sessions.end() ? caf::actor{} : it->second.actor;
      },
      [=](logout_atom, const std::string& sid, const std::string& user_id,
          const std::string& traceparent) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        auto rp = self->make_response_promise<caf::ok_atom>();
        // the live actor ends once the row is revoked (ADR-0037)
        auto after = [=] { invalidate_sessions(self, user_id, sid); };
        db_request q{st.id,
                     {event_context(traceparent),
                      pg_query{storage::stmt_session_revoke, {st.id, sid, std::string{"logout"}}, true}}};
        self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(q))
            .then(
                [=](db_result&) mutable {
                  after();
                  rp.deliver(caf::ok_atom::value);
                },
                [=](caf::error& e) mutable {
                  after();
                  rp.deliver(std::move(e));
                });
        return rp;
      },
  };
}

}  // namespace crm::actors
