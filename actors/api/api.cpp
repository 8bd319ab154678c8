// actors/api/api.cpp
// The prologue every /api/v1 request goes through, driven by its route's row:
// the caller (platform token, or bearer token + session + permission from
// the identity actors), then the body (media type, JSON), then the route's
// handler with one route_context. Token and permission come first: a
// caller who may not do this learns nothing about the body it sent.
#include "actors/api/api.hpp"

#include "actors/api/guard_front.hpp"
#include "actors/api/handlers.hpp"
#include "actors/api/idempotency.hpp"
#include "actors/api/route_table.hpp"
#include "protocols/problem.hpp"
#include "protocols/uuid.hpp"

#include <caf/all.hpp>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>

namespace crm::actors {

using protocols::body_media;
using protocols::errc;
using protocols::error_of;
using protocols::route_auth;

namespace {

using handler = void (*)(route_context);

// route id -> handler; a new endpoint is a row in route_table.cpp, an id,
// a function in actors/api/*_api.cpp and its line here.
const std::array<handler, route_count>& handlers() {
  static const auto table = [] {
    std::array<handler, route_count> h{};
    h[route_tenants_create] = create_tenant;
    h[route_login] = login;
    h[route_logout] = logout;
    h[route_me] = me;
    h[route_users_create] = create_user;
    h[route_users_list] = list_users;
    h[route_user_get] = get_user;
    h[route_user_patch] = patch_user;
    h[route_user_lock] = lock_user;
    h[route_user_unlock] = unlock_user;
    h[route_roles_list] = list_roles;
    h[route_profiles_list] = list_profiles;
    h[route_profile_get] = get_profile;
    h[route_profile_put] = put_profile;
    h[route_audit_list] = list_audit;
    h[route_entity_create] = create_record;
    h[route_entity_get] = get_record;
    h[route_entity_patch] = patch_record;
    h[route_entity_delete] = delete_record;
    h[route_attachments_create] = attach;
    h[route_attachments_list] = list_attachments;
    h[route_entity_query] = query_records;
    h[route_entity_list] = query_records;
    h[route_audit_query] = query_records;
    h[route_webhooks_create] = create_webhook;
    h[route_webhooks_list] = list_webhooks;
    h[route_webhook_get] = get_webhook;
    h[route_webhook_patch] = patch_webhook;
    h[route_webhook_delete] = delete_webhook;
    h[route_webhook_deliveries] = list_webhook_deliveries;
    h[route_guard_budgets_list] = list_guard_budgets;
    h[route_guard_budgets_create] = create_guard_budget;
    h[route_guard_budget_put] = put_guard_budget;
    h[route_guard_budget_delete] = delete_guard_budget;
    h[route_guard_incidents_list] = list_guard_incidents;
    h[route_guard_incidents_query] = query_records;
    h[route_guard_incident_get] = get_guard_incident;
    h[route_guard_incident_resolve] = resolve_guard_incident;
    h[route_guard_honeytokens_list] = list_guard_honeytokens;
    h[route_guard_honeytokens_create] = create_guard_honeytoken;
    h[route_guard_honeytoken_delete] = delete_guard_honeytoken;
    h[route_content_upload] = upload_content;
    h[route_content_item_get] = get_content_item;
    h[route_content_token_create] = create_download_token;
    h[route_content_download] = download_content;
    h[route_content_settings_get] = get_content_settings;
    h[route_content_settings_put] = put_content_settings;
    return h;
  }();
  return table;
}

// Constant time in the token's content (both sides are hashed first).
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), ha);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), hb);
  return CRYPTO_memcmp(ha, hb, sizeof ha) == 0;
}

// The body step of the prologue, then the handler.
void run_body(route_context&& c) {
  auto media = c.row->media;
  if (media != body_media::none && media != body_media::upload) {
    bool patch = media == body_media::json_or_merge_patch;
    if (!is_json(c.req().header_value("content-type"), patch))
      return c.fail(error_of(errc::request_unsupported_media_type, "send application/json"));
    if (media != body_media::json_text) {
      c.body = std::make_shared<protocols::json_body>(c.req().body);
      if (!c.body->ok()) return c.fail(c.body->malformed_error());
    }
  }
  handlers()[static_cast<size_t>(c.row->id)](std::move(c));
}

// The record step (a malformed id names no record: 404 like another
// tenant's id), a keyed write's key (idempotency.hpp), then the rest.
void run_handler(route_context&& c) {
  if (c.row->entity && !c.param.empty()) {
    if (!protocols::is_uuid(c.param))
      return c.fail(error_of(errc::resource_not_found, "no such record in " + c.row->entity->path));
    c.param = protocols::ascii_lower(c.param);
  }
  if (keyed_request(c)) return idempotency_admit(std::move(c), run_body);
  run_body(std::move(c));
}

// Verifies the bearer token and asks the identity actors for its principal
// (RBAC: the route's permission, if any), then runs the rest.
void authenticate(route_context&& c) {
  auto token = bearer_token(c.req().header_value("authorization"));
  if (token.empty()) return c.fail(error_of(errc::auth_missing_token, "send Authorization: Bearer <token>"));
  auto claims = protocols::verify_jwt(token, *c.deps->keys, c.deps->now());
  if (!claims) return c.fail(claims.error());
  if (!protocols::is_uuid(claims->tid) || !protocols::is_uuid(claims->sid) || !protocols::is_uuid(claims->sub))
    return c.fail(error_of(errc::auth_invalid_token, "the token's ids are malformed"));
  auto registry = c.registry();
  auto deadline = c.timeout();
  auto permission = c.row->permission;
  c.ask(
      registry, deadline,
      [c](principal& who) mutable {
        c.who = std::move(who);
        if (c.who.gauge) return guard_admit(std::move(c), run_handler);
        run_handler(std::move(c));
      },
      auth_atom::value, claims->tid, claims->sid, claims->sub, std::move(permission));
}

} // namespace

bool has_handler(int id) { return id >= 0 && id < route_count && handlers()[static_cast<size_t>(id)]; }

std::string_view bearer_token(std::string_view h) {
  if (h.size() < 7 || protocols::ascii_lower(h.substr(0, 7)) != "bearer ") return {};
  h.remove_prefix(7);
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return h;
}

void handle_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                http::exchange&& x) {
  route_context c{self, &deps, m.matched, std::make_shared<http::exchange>(std::move(x)), {}, {}, {}, {}, {}, {}};
  if (!m.params.empty()) c.param = m.params.front().second;
  if (!has_handler(m.matched->id)) return c.fail(error_of(errc::internal, "the route has no handler"));
  switch (m.matched->auth) {
    case route_auth::none: return run_handler(std::move(c));
    case route_auth::platform: {
      auto token = bearer_token(c.req().header_value("authorization"));
      if (token.empty()) return c.fail(error_of(errc::auth_missing_token, "send the platform token"));
      if (deps.platform_token.empty() || !same_secret(token, deps.platform_token))
        return c.fail(error_of(errc::auth_invalid_token, "the platform token is wrong"));
      return run_handler(std::move(c));
    }
    case route_auth::session: return authenticate(std::move(c));
  }
}

} // namespace crm::actors
