// actors/api/route_table.hpp
// The route table of each role: every endpoint's method, pattern, handler,
// body limit, media type, caller (auth), permission, entity and listener
// (actors/api/route_table.cpp). The edge's body-limit check, the front's
// dispatch and the API's prologue (actors/api/api.cpp) read the same row.
#pragma once
#include "protocols/router.hpp"

#include <cstdint>
#include <string_view>

namespace crm::actors {

enum class role : uint8_t { all, core, content, runner };

// "all", "core", "content", "runner"; false for anything else.
bool parse_role(std::string_view text, role& out);

// The handler of a route. System routes are answered by the front itself
// (actors/front/system_routes.cpp); from route_tenants_create on, each id is
// one function of actors/api/handlers.hpp (the array in actors/api/api.cpp
// maps them). Routes of the five entities share their handler: the row
// names the entity.
enum route_id : int {
  route_health = 1,
  route_api_version,
  route_content_version,
  route_metrics,
  route_tenants_create,  // first /api/v1 route: actors/api/*_api.cpp
  route_login,
  route_logout,
  route_me,
  route_users_create,
  route_users_list,
  route_user_get,
  route_user_patch,
  route_user_lock,
  route_user_unlock,
  route_roles_list,
  route_profiles_list,
  route_profile_get,
  route_profile_put,
  route_audit_list,
  route_entity_create,  // one route per entity for each of these: actors/api/records_api.cpp
  route_entity_get,
  route_entity_patch,
  route_entity_delete,
  route_attachments_create,
  route_attachments_list,
  route_entity_query,  // POST /api/v1/{entity}/query: actors/api/query_api.cpp
  route_entity_list,   // GET /api/v1/{entity}: the first page, default order
  route_audit_query,   // POST /api/v1/audit-logs/query
  route_webhooks_create,  // actors/api/webhooks_api.cpp
  route_webhooks_list,
  route_webhook_get,
  route_webhook_patch,
  route_webhook_delete,
  route_webhook_deliveries,
  route_guard_budgets_list,  // actors/api/guard_api.cpp
  route_guard_budgets_create,
  route_guard_budget_put,
  route_guard_budget_delete,
  route_guard_incidents_list,
  route_guard_incidents_query,
  route_guard_incident_get,
  route_guard_incident_resolve,
  route_guard_honeytokens_list,
  route_guard_honeytokens_create,
  route_guard_honeytoken_delete,
  route_content_upload,  // actors/api/content_api.cpp (role content)
  route_content_item_get,
  route_content_token_create,
  route_content_download,
  route_content_settings_get,
  route_content_settings_put,
  route_count          // one past the last
};

// True for routes answered asynchronously by actors/api/api.cpp.
inline bool is_api_route(int id) { return id >= route_tenants_create; }

// Routes served by `r`: /health everywhere, /api/* for core, /content/* for
// content, GET /metrics on the admin listener only.
protocols::router build_router(role r);

} // namespace crm::actors
