// actors/api/route_table.cpp
// The route table of each role: one row per endpoint with everything the
// request path needs before the handler runs: method, pattern, handler id,
// body limit, media type, who may call it, the permission and the entity.
// The edge's body-limit check, the front's dispatch and the API prologue
// (actors/api/api.cpp) read the same row. Kept apart from the handlers so
// that tools (the router fuzz target) can build it alone.
#include "actors/api/route_table.hpp"

#include "protocols/entity.hpp"

namespace crm::actors {

using protocols::body_media;
using protocols::listener;
using protocols::route_auth;

namespace {

constexpr size_t no_body = 0;            // GET endpoints accept no request body
constexpr size_t small_json = 16 * 1024;  // identity bodies are a few hundred bytes
constexpr size_t record_json = 256 * 1024;  // a record: 10,000-character notes, 1,000 price-list items
constexpr size_t ignored_body = 1024;     // actions that read no body accept a small one (`{}`)

} // namespace

bool parse_role(std::string_view text, role& out) {
  if (text == "all") out = role::all;
  else if (text == "core") out = role::core;
  else if (text == "content") out = role::content;
  else if (text == "runner") out = role::runner;
  else return false;
  return true;
}

protocols::router build_router(role r) {
  protocols::router rt;
  rt.add({"GET", "/health", route_health, no_body, listener::public_api});
  rt.add({"GET", "/health", route_health, no_body, listener::admin});
  rt.add({"GET", "/metrics", route_metrics, no_body, listener::admin});
  if (r == role::all || r == role::core) {
    constexpr auto none = body_media::none, json = body_media::json, text = body_media::json_text;
    constexpr auto open = route_auth::none, platform = route_auth::platform, session = route_auth::session;
    auto api = [&](const char* method, std::string pattern, route_id id, size_t limit, body_media media,
                   route_auth auth, std::string permission = {}, const protocols::entity_def* e = nullptr) {
      rt.add({method, std::move(pattern), id, limit, listener::public_api, std::move(permission), e, auth, media});
    };
    // method, pattern, handler, body limit, body, caller, permission, entity
    api("GET", "/api/version", route_api_version, no_body, none, open);
    api("POST", "/api/v1/tenants", route_tenants_create, small_json, json, platform);
    api("POST", "/api/v1/auth/login", route_login, small_json, json, open);
    api("POST", "/api/v1/auth/logout", route_logout, ignored_body, none, session);
    api("GET", "/api/v1/auth/me", route_me, no_body, none, session);
    api("POST", "/api/v1/users", route_users_create, small_json, json, session, "users:manage");
    api("GET", "/api/v1/users", route_users_list, no_body, none, session, "users:manage");
    api("GET", "/api/v1/users/{id}", route_user_get, no_body, none, session, "users:manage");
    api("PATCH", "/api/v1/users/{id}", route_user_patch, small_json, json, session, "users:manage");
    api("POST", "/api/v1/users/{id}/lock", route_user_lock, ignored_body, none, session, "users:manage");
    api("POST", "/api/v1/users/{id}/unlock", route_user_unlock, ignored_body, none, session, "users:manage");
    api("GET", "/api/v1/roles", route_roles_list, no_body, none, session);
    api("GET", "/api/v1/access-profiles", route_profiles_list, no_body, none, session, "profiles:manage");
    api("GET", "/api/v1/access-profiles/{name}", route_profile_get, no_body, none, session, "profiles:manage");
    api("PUT", "/api/v1/access-profiles/{name}", route_profile_put, small_json, json, session, "profiles:manage");
    api("GET", "/api/v1/audit-logs", route_audit_list, no_body, none, session, "audit:read",
        &protocols::audit_log_def());
    api("POST", "/api/v1/audit-logs/query", route_audit_query, small_json, text, session, "audit:read",
        &protocols::audit_log_def());
    api("POST", "/api/v1/webhooks", route_webhooks_create, small_json, json, session, "users:manage");
    api("GET", "/api/v1/webhooks", route_webhooks_list, no_body, none, session, "users:manage");
    api("GET", "/api/v1/webhooks/{id}", route_webhook_get, no_body, none, session, "users:manage");
    api("PATCH", "/api/v1/webhooks/{id}", route_webhook_patch, small_json, json, session, "users:manage");
    api("DELETE", "/api/v1/webhooks/{id}", route_webhook_delete, no_body, none, session, "users:manage");
    api("GET", "/api/v1/webhooks/{id}/deliveries", route_webhook_deliveries, no_body, none, session, "users:manage");
    const auto* incidents = &protocols::guard_incident_def();
    api("GET", "/api/v1/guard/budgets", route_guard_budgets_list, no_body, none, session, "guard:manage");
    api("POST", "/api/v1/guard/budgets", route_guard_budgets_create, small_json, json, session, "guard:manage");
    api("PUT", "/api/v1/guard/budgets/{id}", route_guard_budget_put, small_json, json, session, "guard:manage");
    api("DELETE", "/api/v1/guard/budgets/{id}", route_guard_budget_delete, no_body, none, session, "guard:manage");
    api("GET", "/api/v1/guard/incidents", route_guard_incidents_list, no_body, none, session, "guard:manage", incidents);
    api("POST", "/api/v1/guard/incidents/query", route_guard_incidents_query, small_json, text, session,
        "guard:manage", incidents);
    api("GET", "/api/v1/guard/incidents/{id}", route_guard_incident_get, no_body, none, session, "guard:manage");
    api("POST", "/api/v1/guard/incidents/{id}/resolve", route_guard_incident_resolve, ignored_body, none, session,
        "guard:manage");
    api("GET", "/api/v1/guard/honeytokens", route_guard_honeytokens_list, no_body, none, session, "guard:manage");
    api("POST", "/api/v1/guard/honeytokens", route_guard_honeytokens_create, small_json, json, session,
        "guard:manage");
    api("DELETE", "/api/v1/guard/honeytokens/{id}", route_guard_honeytoken_delete, no_body, none, session,
        "guard:manage");
    for (const auto& e : protocols::entity_registry()) {
      auto base = "/api/v1/" + e.path;
      auto read = e.path + ":read", write = e.path + ":write";
      constexpr auto patch = body_media::json_or_merge_patch;
      api("POST", base, route_entity_create, record_json, json, session, write, &e);
      api("GET", base + "/{id}", route_entity_get, no_body, none, session, read, &e);
      api("PATCH", base + "/{id}", route_entity_patch, record_json, patch, session, write, &e);
      api("DELETE", base + "/{id}", route_entity_delete, no_body, none, session, e.path + ":delete", &e);
      api("POST", base + "/{id}/attachments", route_attachments_create, small_json, json, session, write, &e);
      api("GET", base + "/{id}/attachments", route_attachments_list, no_body, none, session, read, &e);
      api("POST", base + "/query", route_entity_query, small_json, text, session, read, &e);
      api("GET", base, route_entity_list, no_body, none, session, read, &e);
    }
  }
  if (r == role::all || r == role::content) {
    constexpr auto none = body_media::none, json = body_media::json, upload = body_media::upload;
    constexpr auto open = route_auth::none, session = route_auth::session;
    auto content = [&](const char* method, std::string pattern, route_id id, size_t limit, body_media media,
                       route_auth auth, std::string permission = {}) {
      rt.add({method, std::move(pattern), id, limit, listener::public_api, std::move(permission), nullptr, auth, media});
    };
    rt.add({"GET", "/content/version", route_content_version, no_body, listener::public_api});
    // the upload's limit is the node's cap, set at the edge (actors/api/content_edge.hpp)
    content("POST", "/content/v1/uploads", route_content_upload, no_body, upload, session, "content:upload");
    content("GET", "/content/v1/items/{id}", route_content_item_get, no_body, none, session);
    content("POST", "/content/v1/items/{id}/download-tokens", route_content_token_create, ignored_body, none, session);
    // the token is the credential (a link that works in a browser); a bearer, if sent, must be of its tenant
    content("GET", "/content/v1/download/{token}", route_content_download, no_body, none, open);
    content("GET", "/content/v1/settings", route_content_settings_get, no_body, none, session, "content:manage");
    content("PUT", "/content/v1/settings", route_content_settings_put, small_json, json, session, "content:manage");
  }
  return rt;
}

} // namespace crm::actors
