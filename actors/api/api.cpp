#include "actors/api/api.hpp"

#include "actors/api/api_entities.hpp"
#include "actors/api/api_support.hpp"

#include "actors/identity/identity_messages.hpp"
#include "actors/api/route_table.hpp"
#include "protocols/access_log.hpp"
#include "protocols/json_body.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/password.hpp"
#include "protocols/problem.hpp"
#include "protocols/uuid.hpp"

#include <caf/all.hpp>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <regex>

namespace crm::actors {

using protocols::errc;
using protocols::error_of;

namespace {

// Constant time in the token's content (both sides are hashed first).
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), ha);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), hb);
  return CRYPTO_memcmp(ha, hb, sizeof ha) == 0;
}

// -- POST /api/v1/tenants ------------------------------------------------------

const std::regex slug_pattern{"^[a-z0-9][a-z0-9-]{1,62}$"};

}  // namespace

namespace {

// An email field (3-254 characters, plausible form); records the errors.
std::optional<std::string> read_email(protocols::json_body& body, std::string_view path, bool required) {
  auto v = body.string(path, {required, 3, 254});
  if (v && !protocols::is_plausible_email(*v))
    body.add_error(std::string{path}, "format", std::string{path} + " is not an email address");
  return v;
}

// A password being set: the policy (12 characters to 1024 bytes) applies.
std::optional<std::string> read_new_password(protocols::json_body& body, std::string_view path, bool required) {
  auto v = body.string(path, {required, 1, protocols::password_max_bytes});
  if (v)
    if (auto why = protocols::password_policy_violation(*v)) body.add_error(std::string{path}, "policy", *why);
  return v;
}

}  // namespace

std::optional<tenant_draft> read_tenant_draft(protocols::json_body& body) {
  body.allow_only("", {"slug", "name", "admin"});
  body.allow_only("admin", {"email", "password"});
  auto slug = body.string("slug", {true, 2, 63});
  if (slug && !std::regex_match(*slug, slug_pattern))
    body.add_error("slug", "format", "slug must be lower-case letters, digits and '-'");
  auto name = body.string("name", {true, 1, 200});
  auto email = read_email(body, "admin.email", true);
  auto password = read_new_password(body, "admin.password", true);
  if (!body.errors().empty()) return std::nullopt;
  return tenant_draft{*slug, *name, *email, *password};
}

namespace {

void create_tenant(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match&,
                   http::exchange&& x) {
  static constexpr std::string_view route = "/api/v1/tenants";
  auto token = bearer_token(x.req.header_value("authorization"));
  if (token.empty()) return fail(x, error_of(errc::auth_missing_token, "send the platform token"), route);
  if (deps.platform_token.empty() || !same_secret(token, deps.platform_token))
    return fail(x, error_of(errc::auth_invalid_token, "the platform token is wrong"), route);
  auto body = read_body(x, route);
  if (!body) return;
  auto d = read_tenant_draft(*body);
  if (!d) return fail(x, body->validation_error(), route);
  auto registry = registry_of(deps);
  auto ex = std::make_shared<http::exchange>(std::move(x));
  self->request(registry, deps.timeout * 4, bootstrap_atom::value, std::move(*d))
      .then(
          [ex](tenant_created& t) {
            protocols::json_writer w;
            w.begin_object().key("data").begin_object();
            w.key("id").string(t.id).key("slug").string(t.slug).key("name").string(t.name);
            w.key("admin_user_id").string(t.admin_user_id);
            w.end_object().end_object();
            auto r = json_response(201, std::move(w).str());
            r.tenant_id = t.id;
            reply(*ex, std::move(r), route);
          },
          [ex](caf::error& e) { fail(*ex, e, route); });
}

// -- POST /api/v1/auth/login ----------------------------------------------------

void login(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match&,
           http::exchange&& x) {
  static constexpr std::string_view route = "/api/v1/auth/login";
  auto body = read_body(x, route);
  if (!body) return;
  body->allow_only("", {"tenant", "email", "password"});
  auto tenant = body->string("tenant", {true, 1, 63});
  auto email = body->string("email", {true, 1, 254});
  auto password = body->string("password", {true, 1, protocols::password_max_bytes});
  // A NUL is never part of a credential: the answer of any wrong one (issue 9).
  if (body->nul_seen())
    return fail(x, wrong_credentials(), route);
  if (!body->errors().empty()) return fail(x, body->validation_error(), route);
  login_request rq{*tenant, *email, *password, x.req.remote_addr};
  auto ex = std::make_shared<http::exchange>(std::move(x));
  self->request(registry_of(deps), deps.timeout * 4, login_atom::value, std::move(rq))
      .then(
          [ex](login_result& res) {
            protocols::json_writer w;
            w.begin_object();
            w.key("access_token").string(res.access_token).key("token_type").string("Bearer");
            w.key("expires_in").number(res.expires_in).key("session_id").string(res.session_id);
            w.end_object();
            auto r = json_response(200, std::move(w).str());
            r.headers.emplace_back("Cache-Control", "no-store");
            r.tenant_id = res.tenant_id;
            r.user_id = res.user_id;
            reply(*ex, std::move(r), route);
          },
          [ex](caf::error& e) { fail(*ex, e, route); });
}

// -- authenticated routes --------------------------------------------------------

void me(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match&,
        http::exchange&& x) {
  static constexpr std::string_view route = "/api/v1/auth/me";
  auto ex = std::make_shared<http::exchange>(std::move(x));
  authenticate(self, deps, ex, route, {}, [ex](const principal& who) {
    protocols::json_writer w;
    w.begin_object().key("data").begin_object();
    w.key("user").begin_object();
    w.key("id").string(who.user_id).key("email").string(who.email).key("role").string(who.role);
    w.key("access_profile").string(who.access_profile).end_object();
    w.key("tenant")
        .begin_object()
        .key("id")
        .string(who.tenant_id)
        .key("slug")
        .string(who.tenant_slug)
        .end_object();
    w.key("session").begin_object().key("id").string(who.session_id);
    w.key("expires_at").string(protocols::format_rfc3339_s(who.expires_at)).end_object();
    w.end_object().end_object();
    reply_json(*ex, route, 200, std::move(w).str(), who);
  });
}

void logout(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match&,
            http::exchange&& x) {
  static constexpr std::string_view route = "/api/v1/auth/logout";
  auto ex = std::make_shared<http::exchange>(std::move(x));
  auto registry = registry_of(deps);
  auto timeout = deps.timeout;
  authenticate(self, deps, ex, route, {}, [self, ex, registry, timeout](const principal& who) {
    self->request(registry, timeout, logout_atom::value, who.tenant_id, who.session_id, who.user_id)
        .then(
            [ex, who](caf::ok_atom) {
              http::response r;
              r.status = 204;
              r.content_type.clear();
              r.tenant_id = who.tenant_id;
              r.user_id = who.user_id;
              reply(*ex, std::move(r), route);
            },
            [ex](caf::error& e) { fail(*ex, e, route); });
  });
}

// -- users and roles ----------------------------------------------------------

void write_user(protocols::json_writer& w, const user_view& u) {
  w.begin_object();
  w.key("id").string(u.id).key("email").string(u.email).key("role").string(u.role);
  w.key("access_profile").string(u.access_profile).key("locked").boolean(u.locked);
  w.key("created_at").string(u.created_at).key("updated_at").string(u.updated_at);
  w.key("version").number(u.version);
  w.end_object();
}

// Reads a user body: every field for create, any subset (at least one) for PATCH.
std::optional<user_draft> read_user(protocols::json_body& body, bool create) {
  body.allow_only("", {"email", "password", "role", "access_profile"});
  user_draft d;
  if (auto v = read_email(body, "email", create)) {
    d.email = *v;
    d.has_email = true;
  }
  if (auto v = read_new_password(body, "password", create)) {
    d.password = *v;
    d.has_password = true;
  }
  if (auto v = body.string("role", {create, 1, 40})) {
    d.role = *v;
    d.has_role = true;
  }
  if (auto v = body.string("access_profile", {false, 1, 40})) {
    d.access_profile = *v;
    d.has_profile = true;
  } else if (create && body.errors().empty()) {
    d.access_profile = protocols::default_profile_for_role(d.role);
    d.has_profile = true;
  }
  if (!create && !d.has_email && !d.has_password && !d.has_role && !d.has_profile && body.errors().empty())
    body.add_error("", "required", "send at least one of email, password, role, access_profile");
  if (!body.errors().empty()) return std::nullopt;
  return d;
}

void users_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
               http::exchange&& x) {
  auto route = std::string_view{m.matched->pattern};
  int id = m.matched->id;
  std::string user_id{m.param("id")};
  auto ex = std::make_shared<http::exchange>(std::move(x));
  // Another tenant's id or no id at all: not found, never forbidden.
  bool needs_id = id != route_users_create && id != route_users_list && id != route_roles_list;
  std::string permission = m.matched->permission;  // users:manage, none for the roles list
  auto registry = registry_of(deps);
  auto timeout = deps.timeout;
  // Token and permission first: a caller who may not do this learns nothing
  // about the body it sent.
  authenticate(self, deps, ex, route, permission, [=](const principal& who) {
    std::shared_ptr<user_draft> draft;
    if (id == route_users_create || id == route_user_patch) {
      auto body = read_body(*ex, route);
      if (!body) return;
      auto d = read_user(*body, id == route_users_create);
      if (!d) return fail(*ex, body->validation_error(), route);
      draft = std::make_shared<user_draft>(std::move(*d));
    }
    if (needs_id && !protocols::is_uuid(user_id))
      return fail(*ex, error_of(errc::resource_not_found, "no such user"), route);
    // users setting their own password keep the session they call with
    if (id == route_user_patch && user_id == who.user_id) draft->keep_session = who.session_id;
    if (id == route_user_lock && user_id == who.user_id)  // an admin locking itself out of its own tenant
      return fail(*ex, error_of(errc::resource_conflict, "you cannot lock your own account"), route);
    auto tid = who.tenant_id;
    auto done_user = [ex, route, who](int status) {
      return [ex, route, who, status](user_view& u) {
        protocols::json_writer w;
        w.begin_object().key("data");
        write_user(w, u);
        w.end_object();
        reply_json(*ex, route, status, std::move(w).str(), who);
      };
    };
    auto failed = [ex, route](caf::error& e) { fail(*ex, e, route); };
    switch (id) {
      case route_users_create:
        self->request(registry, timeout * 4, ucreate_atom::value, tid, *draft).then(done_user(201), failed);
        break;
      case route_user_get:
        self->request(registry, timeout, user_atom::value, tid, user_id).then(done_user(200), failed);
        break;
      case route_user_patch:
        self->request(registry, timeout * 4, upatch_atom::value, tid, user_id, *draft)
            .then(done_user(200), failed);
        break;
      case route_user_lock:
        self->request(registry, timeout, lock_atom::value, tid, user_id).then(done_user(200), failed);
        break;
      case route_user_unlock:
        self->request(registry, timeout, unlock_atom::value, tid, user_id).then(done_user(200), failed);
        break;
      case route_users_list:
        self->request(registry, timeout, users_atom::value, tid)
            .then(
                [ex, route, who](user_list& l) {
                  protocols::json_writer w;
                  w.begin_object().key("data").begin_array();
                  for (const auto& u : l.items) write_user(w, u);
                  w.end_array().end_object();
                  reply_json(*ex, route, 200, std::move(w).str(), who);
                },
                failed);
        break;
      case route_roles_list:
        self->request(registry, timeout, roles_atom::value, tid)
            .then(
                [ex, route, who](role_list& l) {
                  protocols::json_writer w;
                  w.begin_object().key("data").begin_array();
                  for (size_t i = 0; i < l.names.size(); ++i) {
                    w.begin_object().key("name").string(l.names[i]).key("permissions").begin_array();
                    for (const auto& p : l.permissions[i]) w.string(p);
                    w.end_array().end_object();
                  }
                  w.end_array().end_object();
                  reply_json(*ex, route, 200, std::move(w).str(), who);
                },
                failed);
        break;
      default:
        break;
    }
  });
}

}  // namespace

std::string_view bearer_token(std::string_view h) {
  if (h.size() < 7 || protocols::ascii_lower(h.substr(0, 7)) != "bearer ") return {};
  h.remove_prefix(7);
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return h;
}

void handle_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                http::exchange&& x) {
  // route id -> handler. The route table (route_table.cpp) carries each
  // route's entity and permission; a new endpoint is a row there, a function
  // and a line here.
  using handler = void (*)(caf::event_based_actor*, const api_deps&, const protocols::route_match&, http::exchange&&);
  static const auto handlers = [] {
    std::array<handler, route_audit_query + 1> h{};
    h[route_tenants_create] = create_tenant;
    h[route_login] = login;
    h[route_me] = me;
    h[route_logout] = logout;
    for (int id : {route_users_create, route_users_list, route_user_get, route_user_patch, route_user_lock,
                   route_user_unlock, route_roles_list})
      h[id] = users_api;
    for (int id : {route_profiles_list, route_profile_get, route_profile_put}) h[id] = handle_profiles_api;
    h[route_audit_list] = handle_audit_api;
    for (int id : {route_entity_create, route_entity_get, route_entity_patch, route_entity_delete,
                   route_attachments_create, route_attachments_list})
      h[id] = handle_entity_api;
    for (int id : {route_entity_query, route_entity_list, route_audit_query}) h[id] = handle_query_api;
    return h;
  }();
  auto id = static_cast<size_t>(m.matched->id);
  if (id >= handlers.size() || !handlers[id]) return fail(x, error_of(errc::internal, "the route has no handler"), "");
  handlers[id](self, deps, m, std::move(x));
}

}  // namespace crm::actors
