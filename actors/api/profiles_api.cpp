// actors/api/profiles_api.cpp: the access profiles of the caller's tenant
// (profiles:manage). The tenant actor owns them; a PUT replaces a whole
// profile and applies to every request after its commit.
#include "actors/api/handlers.hpp"
#include "protocols/access_profile.hpp"
#include "protocols/json_writer.hpp"

#include <caf/all.hpp>

namespace crm::actors {

using protocols::access_profile;
using protocols::errc;
using protocols::error_of;

namespace {

// Answers {"data": profile} with `status`.
void answer_profile(const route_context& c, int status, const access_profile& p) {
  protocols::json_writer w;
  w.begin_object().key("data");
  protocols::write_access_profile(w, p);
  w.end_object();
  c.reply_json(status, std::move(w).str());
}

} // namespace

void list_profiles(route_context c) {
  c.ask(
      c.registry(), c.timeout(),
      [c](profile_list& l) {
        protocols::json_writer w;
        w.begin_object().key("data").begin_array();
        for (const auto& p : l.items) protocols::write_access_profile(w, *p);
        w.end_array().end_object();
        c.reply_json(200, std::move(w).str());
      },
      profiles_atom::value, c.who.tenant_id);
}

void get_profile(route_context c) {
  if (!protocols::is_profile_name(c.param))
    return c.fail(error_of(errc::resource_not_found, "no such access profile"));
  c.ask(c.registry(), c.timeout(), [c](profile_ptr& p) { answer_profile(c, 200, *p); }, profile_atom::value,
        c.who.tenant_id, c.param);
}

void put_profile(route_context c) {
  auto& body = *c.body;
  const auto& name = c.param;
  body.allow_only("", {"name", "entities"});
  if (!protocols::is_profile_name(name))
    body.add_error("name", "format", "a profile name is a-z, 0-9 and '_', starting with a letter, 40 at most");
  if (auto v = body.string("name", {false, 1, 40}); v && *v != name)
    body.add_error("name", "mismatch", "name must be the one in the path");
  auto p = protocols::read_access_entities(body, "entities", true);
  if (!body.errors().empty()) return c.fail_validation();
  p.name = name;
  c.ask(
      c.registry(), c.timeout(),
      [c](profile_stored& s) { answer_profile(c, s.created ? 201 : 200, *s.profile); }, pput_atom::value,
      c.who.tenant_id, profile_ptr{std::make_shared<const access_profile>(std::move(p))}, c.traceparent());
}

} // namespace crm::actors
