// actors/api/auth_api.cpp: POST /api/v1/auth/login, POST /api/v1/auth/logout
// and GET /api/v1/auth/me.
#include "actors/api/handlers.hpp"
#include "protocols/access_log.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/password.hpp"

#include <caf/all.hpp>

namespace crm::actors {

void login(route_context c) {
  auto& body = *c.body;
  body.allow_only("", {"tenant", "email", "password"});
  auto tenant = body.string("tenant", {true, 1, 63});
  auto email = body.string("email", {true, 1, 254});
  auto password = body.string("password", {true, 1, protocols::password_max_bytes});
  // A NUL is never part of a credential: the answer of any wrong one (issue 9).
  if (body.nul_seen()) return c.fail(wrong_credentials());
  if (!body.errors().empty()) return c.fail_validation();
  login_request rq{*tenant, *email, *password, c.req().remote_addr};
  c.ask(
      c.registry(), c.timeout() * 4,
      [c](login_result& res) {
        protocols::json_writer w;
        w.begin_object();
        w.key("access_token").string(res.access_token).key("token_type").string("Bearer");
        w.key("expires_in").number(res.expires_in).key("session_id").string(res.session_id);
        w.end_object();
        auto r = json_response(200, std::move(w).str());
        r.headers.emplace_back("Cache-Control", "no-store");
        r.tenant_id = res.tenant_id;
        r.user_id = res.user_id;
        c.reply(std::move(r));
      },
      login_atom::value, std::move(rq));
}

void logout(route_context c) {
  const auto& who = c.who;
  c.ask(c.registry(), c.timeout(), [c](caf::ok_atom) { c.no_content(); }, logout_atom::value, who.tenant_id,
        who.session_id, who.user_id, c.traceparent());
}

void me(route_context c) {
  const auto& who = c.who;
  protocols::json_writer w;
  w.begin_object().key("data").begin_object();
  w.key("user").begin_object();
  w.key("id").string(who.user_id).key("email").string(who.email).key("role").string(who.role);
  w.key("access_profile").string(who.access_profile).end_object();
  w.key("tenant").begin_object().key("id").string(who.tenant_id).key("slug").string(who.tenant_slug).end_object();
  w.key("session").begin_object().key("id").string(who.session_id);
  w.key("expires_at").string(protocols::format_rfc3339_s(who.expires_at)).end_object();
  w.end_object().end_object();
  c.reply_json(200, std::move(w).str());
}

} // namespace crm::actors
