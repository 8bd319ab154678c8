// actors/api/api_entities.hpp
// The /api/v1 handlers of the CRM base (Blocks 3 and 5), run by the front
// actor: entity CRUD and attachment references (handle_entity_api), access
// profiles (handle_profiles_api) and the audit log (handle_audit_api).
#pragma once
#include "actors/api/api.hpp"

namespace crm::actors {

void handle_entity_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                       http::exchange&& x);
void handle_profiles_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                         http::exchange&& x);
// POST /api/v1/{entity}/query, GET /api/v1/{entity}, POST /api/v1/audit-logs/query.
void handle_query_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                      http::exchange&& x);
void handle_audit_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                      http::exchange&& x);

} // namespace crm::actors
