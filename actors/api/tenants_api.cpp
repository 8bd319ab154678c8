// actors/api/tenants_api.cpp: POST /api/v1/tenants, the platform operator's
// bootstrap of a tenant and its first admin (the prologue checked the
// platform token).
#include "actors/api/handlers.hpp"
#include "protocols/json_writer.hpp"

#include <caf/all.hpp>

namespace crm::actors {

void create_tenant(route_context c) {
  auto d = read_tenant_draft(*c.body);
  if (!d) return c.fail_validation();
  d->traceparent = c.traceparent();
  c.ask(
      c.registry(), c.timeout() * 4,
      [c](tenant_created& t) {
        protocols::json_writer w;
        w.begin_object().key("data").begin_object();
        w.key("id").string(t.id).key("slug").string(t.slug).key("name").string(t.name);
        w.key("admin_user_id").string(t.admin_user_id);
        w.end_object().end_object();
        auto r = json_response(201, std::move(w).str());
        r.tenant_id = t.id;
        c.reply(std::move(r));
      },
      bootstrap_atom::value, std::move(*d));
}

} // namespace crm::actors
