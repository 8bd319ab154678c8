// actors/api/users_api.cpp: the users of the caller's tenant (users:manage)
// and the list of roles. Another tenant's id or a malformed one is 404,
// never 403.
#include "actors/api/handlers.hpp"
#include "actors/api/identity_bodies.hpp"
#include "actors/api/list_params.hpp"
#include "protocols/base64.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/uuid.hpp"

#include <caf/all.hpp>

namespace crm::actors {

using protocols::errc;
using protocols::error_of;

namespace {

void write_user(protocols::json_writer& w, const user_view& u) {
  w.begin_object();
  w.key("id").string(u.id).key("email").string(u.email).key("role").string(u.role);
  w.key("access_profile").string(u.access_profile).key("locked").boolean(u.locked);
  w.key("created_at").string(u.created_at).key("updated_at").string(u.updated_at);
  w.key("version").number(u.version);
  w.end_object();
}

// Answers {"data": user} with `status`.
auto answer_user(const route_context& c, int status) {
  return [c, status](user_view& u) {
    protocols::json_writer w;
    w.begin_object().key("data");
    write_user(w, u);
    w.end_object();
    c.reply_json(status, std::move(w).str());
  };
}

// The user the path names; false with 404 answered when it is malformed.
bool user_id_of(const route_context& c) {
  if (protocols::is_uuid(c.param)) return true;
  c.fail(error_of(errc::resource_not_found, "no such user"));
  return false;
}

} // namespace

void create_user(route_context c) {
  auto d = read_user(*c.body, true);
  if (!d) return c.fail_validation();
  d->traceparent = c.traceparent();
  c.ask(c.registry(), c.timeout() * 4, answer_user(c, 201), ucreate_atom::value, c.who.tenant_id, std::move(*d));
}

// GET /api/v1/users?limit=N&after=C: by lower-case email, 50 by default,
// 500 at most; the cursor is the base64url of the last email shown.
void list_users(route_context c) {
  protocols::json_body errors{"{}"};
  auto params = read_list_params(c.req().query, 50, 500, {}, errors);
  std::string after;
  if (!params.after.empty()) {
    auto decoded = protocols::base64url_decode(params.after);
    if (!decoded || decoded->empty() || decoded->find('\0') != std::string::npos)
      return c.fail(error_of(errc::query_bad_cursor, "after is not a cursor of this list"));
    after = std::move(*decoded);
  }
  if (!errors.errors().empty()) return c.fail(errors.validation_error());
  auto limit = static_cast<uint32_t>(params.limit);
  c.ask(
      c.registry(), c.timeout(),
      [c, limit](user_list& l) {
        protocols::json_writer w;
        w.begin_object().key("data").begin_array();
        for (const auto& u : l.items) write_user(w, u);
        w.end_array().key("page").begin_object().key("size").number(uint64_t{limit}).key("next_cursor");
        if (l.more && !l.items.empty()) w.string(protocols::base64url_encode(protocols::ascii_lower(l.items.back().email)));
        else w.null();
        w.end_object().end_object();
        c.reply_json(200, std::move(w).str());
      },
      users_atom::value, c.who.tenant_id, std::move(after), limit);
}

void get_user(route_context c) {
  if (!user_id_of(c)) return;
  c.ask(c.registry(), c.timeout(), answer_user(c, 200), user_atom::value, c.who.tenant_id, c.param);
}

void patch_user(route_context c) {
  auto d = read_user(*c.body, false);
  if (!d) return c.fail_validation();
  d->traceparent = c.traceparent();
  if (!user_id_of(c)) return;
  // users setting their own password keep the session they call with
  if (c.param == c.who.user_id) d->keep_session = c.who.session_id;
  c.ask(c.registry(), c.timeout() * 4, answer_user(c, 200), upatch_atom::value, c.who.tenant_id, c.param,
        std::move(*d));
}

void lock_user(route_context c) {
  if (!user_id_of(c)) return;
  if (c.param == c.who.user_id)  // an admin locking itself out of its own tenant
    return c.fail(error_of(errc::resource_conflict, "you cannot lock your own account"));
  c.ask(c.registry(), c.timeout(), answer_user(c, 200), lock_atom::value, c.who.tenant_id, c.param, c.traceparent());
}

void unlock_user(route_context c) {
  if (!user_id_of(c)) return;
  c.ask(c.registry(), c.timeout(), answer_user(c, 200), unlock_atom::value, c.who.tenant_id, c.param, c.traceparent());
}

void list_roles(route_context c) {
  c.ask(
      c.registry(), c.timeout(),
      [c](role_list& l) {
        protocols::json_writer w;
        w.begin_object().key("data").begin_array();
        for (size_t i = 0; i < l.names.size(); ++i) {
          w.begin_object().key("name").string(l.names[i]).key("permissions").begin_array();
          for (const auto& p : l.permissions[i]) w.string(p);
          w.end_array().end_object();
        }
        w.end_array().end_object();
        c.reply_json(200, std::move(w).str());
      },
      roles_atom::value, c.who.tenant_id);
}

} // namespace crm::actors
