#include "actors/identity/tenant_profiles.hpp"

#include "storage/sql/event_sql.hpp"

#include "protocols/errc.hpp"
#include "storage/sql/entity_sql.hpp"

#include <caf/all.hpp>

namespace crm::actors {

using storage::event_context;

using protocols::access_profile;
using protocols::errc;
using protocols::error_of;

void load_profiles(tenant_state& st, const storage::pg_rows& rows) {
  st.profiles.clear();
  for (size_t i = 0; i < rows.rows.size(); ++i) {
    protocols::json_body body{rows.cell(i, 1)};
    auto p = std::make_shared<access_profile>(protocols::read_access_entities(body, "", false));
    p->name = rows.cell(i, 0);
    p->builtin = rows.cell(i, 2) == "t";
    p->version = std::stoll(rows.cell(i, 3));
    p->updated_at = rows.cell(i, 4);
    st.profiles[p->name] = std::move(p);
  }
}

profile_ptr profile_named(const tenant_state& st, const std::string& name) {
  static const auto none = std::make_shared<const access_profile>();
  auto it = st.profiles.find(name);
  return it == st.profiles.end() ? none : it->second;
}

profile_list list_profiles(const tenant_state& st) {
  profile_list out;
  for (const auto& [name, p] : st.profiles) out.items.push_back(p);
  return out;
}

caf::result<profile_ptr> get_profile(const tenant_state& st, const std::string& name) {
  auto it = st.profiles.find(name);
  if (it == st.profiles.end()) return error_of(errc::resource_not_found, "no such access profile");
  return it->second;
}

caf::result<profile_stored> put_profile(caf::stateful_actor<tenant_state>* self, profile_ptr p,
                                        const std::string& traceparent) {
  auto& st = self->state;
  auto rp = self->make_response_promise<profile_stored>();
  protocols::json_writer w;
  protocols::write_access_entities(w, *p);
  db_request rq{st.id,
                {event_context(traceparent),
                 storage::pg_query{storage::stmt_profile_put, {st.id, p->name, std::move(w).str(), "false"}, true}}};
  self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(rq))
      .then(
          [=](db_result& res) mutable {
            auto& st = self->state;
            const auto& rows = res.sets.at(1);
            auto stored = std::make_shared<access_profile>(*p);
            stored->version = std::stoll(rows.cell(0, 0));
            stored->updated_at = rows.cell(0, 1);
            bool created = rows.cell(0, 2) == "t";
            auto& slot = st.profiles[stored->name];
            stored->builtin = slot && slot->builtin;
            // Two PUTs may come back out of order: the newer row wins.
            if (!slot || slot->version < stored->version) slot = stored;
            rp.deliver(profile_stored{std::move(stored), created});
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

void reload_profiles(caf::stateful_actor<tenant_state>* self) {
  auto& st = self->state;
  db_request rq{st.id, {storage::pg_query{storage::stmt_profiles_load, {st.id}, true}}};
  self->request(st.deps.storage, st.deps.timeout, db_atom::value, std::move(rq))
      .then(
          [self](db_result& res) {
            tenant_state fresh;
            load_profiles(fresh, res.sets.at(0));
            auto& profiles = self->state.profiles;
            for (auto& [name, p] : fresh.profiles) {
              auto& slot = profiles[name];
              if (!slot || slot->version <= p->version) slot = std::move(p);
            }
          },
          [](caf::error&) {});  // the next signal or request will do; sessions re-read on their own
}

} // namespace crm::actors
