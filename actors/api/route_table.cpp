// actors/api/route_table.cpp
// The route table of each role: method, pattern, handler id, body limit and
// listener of every endpoint (the edge's body-limit check and the front's
// dispatch read the same table). Kept apart from the handlers so that tools
// (the router fuzz target) can build it alone.
#include "actors/api/route_table.hpp"

#include "protocols/entity.hpp"

namespace crm::actors {

using protocols::listener;

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
    rt.add({"GET", "/api/version", route_api_version, no_body, listener::public_api});
    rt.add({"POST", "/api/v1/tenants", route_tenants_create, small_json, listener::public_api});
    rt.add({"POST", "/api/v1/auth/login", route_login, small_json, listener::public_api});
    rt.add({"POST", "/api/v1/auth/logout", route_logout, ignored_body, listener::public_api});
    rt.add({"GET", "/api/v1/auth/me", route_me, no_body, listener::public_api});
    rt.add({"POST", "/api/v1/users", route_users_create, small_json, listener::public_api});
    rt.add({"GET", "/api/v1/users", route_users_list, no_body, listener::public_api});
    rt.add({"GET", "/api/v1/users/{id}", route_user_get, no_body, listener::public_api});
    rt.add({"PATCH", "/api/v1/users/{id}", route_user_patch, small_json, listener::public_api});
    rt.add({"POST", "/api/v1/users/{id}/lock", route_user_lock, ignored_body, listener::public_api});
    rt.add({"POST", "/api/v1/users/{id}/unlock", route_user_unlock, ignored_body, listener::public_api});
    rt.add({"GET", "/api/v1/roles", route_roles_list, no_body, listener::public_api});
    rt.add({"GET", "/api/v1/access-profiles", route_profiles_list, no_body, listener::public_api});
    rt.add({"GET", "/api/v1/access-profiles/{name}", route_profile_get, no_body, listener::public_api});
    rt.add({"PUT", "/api/v1/access-profiles/{name}", route_profile_put, small_json, listener::public_api});
    rt.add({"GET", "/api/v1/audit-logs", route_audit_list, no_body, listener::public_api});
    rt.add({"POST", "/api/v1/audit-logs/query", route_audit_query, small_json, listener::public_api});
    for (const auto& e : protocols::entity_registry()) {
      auto base = "/api/v1/" + e.path;
      rt.add({"POST", base, route_entity_create, record_json, listener::public_api});
      rt.add({"GET", base + "/{id}", route_entity_get, no_body, listener::public_api});
      rt.add({"PATCH", base + "/{id}", route_entity_patch, record_json, listener::public_api});
      rt.add({"DELETE", base + "/{id}", route_entity_delete, no_body, listener::public_api});
      rt.add({"POST", base + "/{id}/attachments", route_attachments_create, small_json, listener::public_api});
      rt.add({"GET", base + "/{id}/attachments", route_attachments_list, no_body, listener::public_api});
      rt.add({"POST", base + "/query", route_entity_query, small_json, listener::public_api});
      rt.add({"GET", base, route_entity_list, no_body, listener::public_api});
    }
  }
  if (r == role::all || r == role::content)
    rt.add({"GET", "/content/version", route_content_version, no_body, listener::public_api});
  return rt;
}

} // namespace crm::actors
