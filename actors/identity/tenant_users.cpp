// actors/identity/tenant_users.cpp: the users part of the tenant actor (create, list,
// get, patch, lock, unlock). Lock and a password set by someone else end
// every session of the user: in PostgreSQL in the same transaction (rows
// revoked, users.session_epoch bumped), among the live session actors once
// it has committed (invalidate_sessions).
#include "actors/identity/tenant_users.hpp"

#include "actors/core/random.hpp"
#include "actors/identity/tenant_guard.hpp"
#include "protocols/errc.hpp"
#include "protocols/json_body.hpp"
#include "storage/sql/event_sql.hpp"
#include "storage/sql/identity_sql.hpp"

#include <caf/all.hpp>

namespace crm::actors {

using protocols::errc;
using protocols::error_of;
using storage::event_context;
using storage::pg_query;

namespace {

user_view view_of(const storage::pg_rows& rows, size_t i) {
  auto cell = [&](size_t c) { return rows.cell(i, c); };
  return {cell(0), cell(1), cell(2), cell(3), cell(4) == "t", cell(5), cell(6), std::stoll(cell(7))};
}

caf::error not_found() { return error_of(errc::resource_not_found, "no such user"); }

// Runs `rq` and answers `rp` with the first row of its `set`-th result as a
// user. `after` runs before the answer, whatever the outcome (a failed or
// timed-out write may still have committed).
void answer_user(caf::stateful_actor<tenant_state>* self, db_request rq, size_t set,
                 caf::typed_response_promise<user_view> rp, std::function<void()> after = {}) {
  self->request(self->state.deps.storage, self->state.deps.timeout, db_atom::value, std::move(rq))
      .then(
          [=](db_result& res) mutable {
            if (after) after();
            const auto& rows = res.sets.at(set);
            if (rows.rows.empty()) return rp.deliver(not_found()), void();
            rp.deliver(view_of(rows, 0));
          },
          [=](caf::error& e) mutable {
            if (after) after();
            rp.deliver(std::move(e));
          });
}

// A role must exist in this tenant: a 422 naming the field, not a foreign-key error.
bool check_role(const tenant_state& st, const user_draft& d, caf::error& err) {
  if (!d.has_role || st.roles.count(d.role)) return true;
  err = protocols::validation_error_of("role", "unknown", "no role '" + d.role.substr(0, 40) + "' in this tenant");
  return false;
}

// An access profile must exist in this tenant too.
bool check_profile(const tenant_state& st, const user_draft& d, caf::error& err) {
  if (!d.has_profile || st.profiles.count(d.access_profile)) return true;
  err = protocols::validation_error_of("access_profile", "unknown",
                                       "no access profile '" + d.access_profile.substr(0, 40) + "' in this tenant");
  return false;
}

// Optional parameter: NULL keeps the column (COALESCE in the UPDATE).
std::optional<std::string> opt(bool set, const std::string& v) {
  return set ? std::optional<std::string>{v} : std::nullopt;
}

}  // namespace

void invalidate_sessions(caf::stateful_actor<tenant_state>* self, const std::string& user_id,
                         const std::string& only_session) {
  auto& st = self->state;
  ++st.epochs[user_id];
  for (auto it = st.sessions.begin(); it != st.sessions.end();) {
    bool drop = it->second.user_id == user_id && (only_session.empty() || it->first == only_session);
    if (drop) {
      self->send_exit(it->second.actor, caf::exit_reason::user_shutdown);
      it = st.sessions.erase(it);
    } else {
      ++it;
    }
  }
}

caf::result<user_view> create_user(caf::stateful_actor<tenant_state>* self, user_draft d) {
  auto& st = self->state;
  caf::error err;
  if (!check_role(st, d, err) || !check_profile(st, d, err)) return err;
  auto rp = self->make_response_promise<user_view>();
  auto password = std::move(d.password);
  self->request(st.deps.hasher, st.deps.timeout * 4, hash_atom::value, password)
      .then(
          [=](std::string& hash) mutable {
            auto& st = self->state;
            db_request rq{
                st.id,
                {event_context(d.traceparent),
                 pg_query{storage::stmt_user_insert, {new_uuid(), st.id, d.email, hash, d.role, d.access_profile},
                          true}}};
            answer_user(self, std::move(rq), 1, rp);
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<user_list> list_users(caf::stateful_actor<tenant_state>* self, const std::string& after,
                                  uint32_t limit) {
  auto& st = self->state;
  auto rp = self->make_response_promise<user_list>();
  // one more than asked: whether another page follows
  db_request rq{st.id,
                {pg_query{storage::stmt_user_list, {st.id, protocols::ascii_lower(after), std::to_string(limit + 1)},
                          true}}};
  self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(rq))
      .then(
          [=](db_result& res) mutable {
            user_list out;
            const auto& rows = res.sets.at(0).rows;
            out.more = rows.size() > limit;
            for (size_t i = 0; i < rows.size() && i < limit; ++i) out.items.push_back(view_of(res.sets[0], i));
            rp.deliver(std::move(out));
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<user_view> get_user(caf::stateful_actor<tenant_state>* self, const std::string& id) {
  auto& st = self->state;
  auto rp = self->make_response_promise<user_view>();
  answer_user(
      self,
      {st.id,
       {pg_query{storage::stmt_user_get, {st.id, id}, true}}},
      0, rp);
  return rp;
}

caf::result<user_view> patch_user(caf::stateful_actor<tenant_state>* self, const std::string& id,
                                  user_draft d) {
  auto& st = self->state;
  caf::error err;
  if (!check_role(st, d, err) || !check_profile(st, d, err)) return err;
  auto rp = self->make_response_promise<user_view>();
  auto update = [=](std::optional<std::string> hash) mutable {
    auto& st = self->state;
    bool ends_sessions = hash.has_value();
    // A new password ends the user's other sessions (OWASP ASVS 3.3): the
    // caller's own one survives when users change their own password.
    auto keep = opt(!d.keep_session.empty(), d.keep_session);
    db_request rq{
        st.id,
        {event_context(d.traceparent),
         pg_query{storage::stmt_user_patch,
                  {st.id, id, opt(d.has_email, d.email), opt(d.has_role, d.role),
                   opt(d.has_profile, d.access_profile), hash},
                  true}}};
    if (ends_sessions) {
      rq.queries.push_back({storage::stmt_sessions_end_password, {st.id, id, keep}, true});
      rq.queries.push_back({storage::stmt_session_keep, {st.id, id, keep}, true});
    }
    // Live sessions carry the old role, profile or password epoch: once the
    // change has committed they are all dropped (the kept one too: it may
    // carry an old role) and rebuilt from the new rows.
    answer_user(self, std::move(rq), 1, rp, [=] { invalidate_sessions(self, id); });
  };
  if (!d.has_password) {
    update(std::nullopt);
    return rp;
  }
  self->request(st.deps.hasher, st.deps.timeout * 4, hash_atom::value, d.password)
      .then([=](std::string& hash) mutable { update(std::move(hash)); },
            [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

void lock_for_guard(caf::stateful_actor<tenant_state>* self, const std::string& id, const std::string& traceparent) {
  auto& st = self->state;
  db_request rq{st.id,
                {event_context(traceparent), pg_query{storage::stmt_user_lock_guard, {st.id, id}, true},
                 pg_query{storage::stmt_sessions_end_lock, {st.id, id}, true}}};
  // the live actors end once the rows have committed; nobody waits for an answer
  self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(rq))
      .then([self, id](db_result&) { invalidate_sessions(self, id); }, [](caf::error&) {});
}

caf::result<user_view> set_locked(caf::stateful_actor<tenant_state>* self, const std::string& id,
                                  bool locked, const std::string& traceparent) {
  auto& st = self->state;
  auto rp = self->make_response_promise<user_view>();
  db_request rq{st.id, {event_context(traceparent)}};
  if (locked) {
    rq.queries.push_back({storage::stmt_user_lock, {st.id, id}, true});
    rq.queries.push_back({storage::stmt_sessions_end_lock, {st.id, id}, true});
    // the live actors end once the rows have committed
    answer_user(self, std::move(rq), 1, rp, [=] { invalidate_sessions(self, id); });
  } else {
    rq.queries.push_back({storage::stmt_user_unlock, {st.id, id}, true});
    // the guard's counts start afresh once the unlock has committed
    answer_user(self, std::move(rq), 1, rp, [=] { forget_guard(self, id, true); });
  }
  return rp;
}

role_list list_roles(const tenant_state& st) {
  role_list out;
  for (const auto& [name, perms] : st.roles) {
    out.names.push_back(name);
    out.permissions.push_back(perms);
  }
  return out;
}

}  // namespace crm::actors
