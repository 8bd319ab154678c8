#include "actors/identity/identity.hpp"

#include "actors/core/random.hpp"
#include "protocols/errc.hpp"
#include "protocols/permissions.hpp"
#include "storage/sql/entity_sql.hpp"
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

// The tenant row, its baseline roles and access profiles and its admin: one transaction.
db_request bootstrap_plan(const std::string& tenant_id, const std::string& admin_id, const tenant_draft& d,
                          const std::string& hash) {
  db_request rq{tenant_id, {event_context(d.traceparent)}};
  rq.queries.push_back({storage::stmt_tenant_insert, {tenant_id, d.slug, d.name}, true});
  for (const auto& role : protocols::baseline_roles()) {
    std::string perms;
    for (const auto& p : role.permissions) perms += (perms.empty() ? "" : ",") + p;
    rq.queries.push_back({storage::stmt_role_insert, {tenant_id, role.name, perms}, true});
  }
  rq.queries.push_back({storage::stmt_admin_insert, {admin_id, tenant_id, d.admin_email, hash}, true});
  rq.queries.push_back(storage::ensure_profiles_query(tenant_id));
  rq.queries.push_back({storage::stmt_guard_defaults, {tenant_id}, true});  // docs/GUARD.md
  return rq;
}

// slug -> tenant id, outside any tenant: the policy on `tenants` lets a
// transaction that set app.tenant_slug see that one row.
db_request resolve_plan(const std::string& slug) {
  return {{},
          {pg_query{storage::stmt_slug_context, {slug}, true}, pg_query{storage::stmt_tenant_by_slug, {slug}, true}}};
}

}  // namespace

caf::actor tenants_state::tenant_actor(const std::string& id) {
  if (auto it = tenants.find(id); it != tenants.end()) return it->second;
  return caf::actor{};
}

caf::behavior tenants(caf::stateful_actor<tenants_state>* self, identity_deps deps) {
  self->state.deps = std::move(deps);
  auto tenant_of = [self](const std::string& id) {
    auto& st = self->state;
    if (auto a = st.tenant_actor(id)) return a;
    auto a = self->spawn<caf::monitored>(tenant, id, st.deps, self->address());
    st.tenants.emplace(id, a);
    return a;
  };
  self->set_down_handler([=](caf::down_msg& dm) {  // re-spawned lazily on next use
    auto& ts = self->state.tenants;
    for (auto it = ts.begin(); it != ts.end(); ++it)
      if (it->second.address() == dm.source) {
        ts.erase(it);
        break;
      }
  });
  return {
      [=](bootstrap_atom, tenant_draft& d) -> caf::result<tenant_created> {
        auto& st = self->state;
        auto rp = self->make_response_promise<tenant_created>();
        auto password = std::move(d.admin_password);
        self->request(st.deps.hasher, st.deps.timeout * 4, hash_atom::value, password)
            .then(
                [=](std::string& hash) mutable {
                  auto& st = self->state;
                  tenant_created out{new_uuid(), d.slug, d.name, new_uuid()};
                  self->request(st.deps.storage, st.deps.timeout, db_atom::value,
                                bootstrap_plan(out.id, out.admin_user_id, d, hash))
                      .then(
                          [=](db_result&) mutable {
                            self->state.slugs[out.slug] = out.id;
                            rp.deliver(out);
                          },
                          [=](caf::error& e) mutable {
                            if (e == errc::resource_conflict)
                              e = error_of(errc::resource_conflict, "a tenant with this slug exists");
                            rp.deliver(std::move(e));
                          });
                },
                [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
      [=](login_atom, login_request& rq) -> caf::result<login_result> {
        auto& st = self->state;
        auto rp = self->make_response_promise<login_result>();
        if (auto it = st.slugs.find(rq.tenant_slug); it != st.slugs.end()) {
          rp.delegate(tenant_of(it->second), login_atom::value, std::move(rq));
          return rp;
        }
        self->request(st.deps.storage, st.deps.timeout, db_atom::value, resolve_plan(rq.tenant_slug))
            .then(
                [=](db_result& res) mutable {
                  const auto& rows = res.sets.at(1).rows;
                  if (rows.empty() || !rows[0][0]) {
                    // Unknown tenant: spend a verification anyway (same time, same answer).
                    auto& st = self->state;
                    self->request(st.deps.hasher, st.deps.timeout * 4, verify_atom::value, st.deps.dummy_hash,
                                  rq.password)
                        .then(
                            [=](bool) mutable {
                              rp.deliver(wrong_credentials());
                            },
                            [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
                    return;
                  }
                  self->state.slugs[rq.tenant_slug] = *rows[0][0];
                  rp.delegate(tenant_of(*rows[0][0]), login_atom::value, rq);
                },
                [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
      [=](auth_atom, const std::string& tid, const std::string& sid, const std::string& user_id,
          const std::string& permission) {
        return self->delegate(tenant_of(tid), auth_atom::value, sid, user_id, permission);
      },
      [=](ucreate_atom a, const std::string& tid, user_draft& d) {
        return self->delegate(tenant_of(tid), a, std::move(d));
      },
      [=](users_atom a, const std::string& tid, const std::string& after, uint32_t limit) {
        return self->delegate(tenant_of(tid), a, after, limit);
      },
      [=](user_atom a, const std::string& tid, const std::string& id) {
        return self->delegate(tenant_of(tid), a, id);
      },
      [=](upatch_atom a, const std::string& tid, const std::string& id, user_draft& d) {
        return self->delegate(tenant_of(tid), a, id, std::move(d));
      },
      [=](lock_atom a, const std::string& tid, const std::string& id, const std::string& tp) {
        return self->delegate(tenant_of(tid), a, id, tp);
      },
      [=](unlock_atom a, const std::string& tid, const std::string& id, const std::string& tp) {
        return self->delegate(tenant_of(tid), a, id, tp);
      },
      [=](roles_atom a, const std::string& tid) { return self->delegate(tenant_of(tid), a); },
      [=](profiles_atom a, const std::string& tid) { return self->delegate(tenant_of(tid), a); },
      [=](profile_atom a, const std::string& tid, const std::string& name) {
        return self->delegate(tenant_of(tid), a, name);
      },
      // only a live tenant actor caches anything; none is started for a signal
      [=](signal_atom a, const std::string& tid, uint8_t kind, const std::string& id, const std::string& user_id) {
        if (auto t = self->state.tenant_actor(tid)) self->send(t, a, kind, id, user_id);
      },
      [=](greload_atom a, const std::string& tid) { return self->delegate(tenant_of(tid), a); },
      [=](chaos_atom a, uint8_t kind, uint64_t pick) {  // chaos (actors/chaos): one live tenant, or the budget actors of all
        auto& ts = self->state.tenants;
        if (ts.empty()) return;
        auto it = std::next(ts.begin(), static_cast<std::ptrdiff_t>(pick % ts.size()));
        if (static_cast<chaos_kind>(kind) == chaos_kind::budget) {  // the budget actors of every tenant at once
          for (auto& [id, t] : ts) self->send(t, a, kind, pick);
          return;
        }
        if (static_cast<chaos_kind>(kind) == chaos_kind::tenant) self->send_exit(it->second, caf::exit_reason::kill);
        else self->send(it->second, a, kind, pick / ts.size());
      },
      [=](pput_atom a, const std::string& tid, profile_ptr& p, const std::string& tp) {
        return self->delegate(tenant_of(tid), a, p, tp);
      },
      [=](caf::get_atom, const std::string& tid) { return tenant_of(tid); },  // supervision, tests
      [=](logout_atom, const std::string& tid, const std::string& sid, const std::string& uid,
          const std::string& tp) {
        return self->delegate(tenant_of(tid), logout_atom::value, sid, uid, tp);
      },
  };
}

}  // namespace crm::actors
