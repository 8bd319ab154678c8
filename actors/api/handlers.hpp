// actors/api/handlers.hpp
// Every /api/v1 handler, one per route id (actors/api/route_table.hpp), one
// file per resource. Each takes the route_context the prologue built
// (actors/api/api.cpp): the caller is authenticated and permitted, the body
// is of the route's media type and parsed.
#pragma once
#include "actors/api/route_context.hpp"

namespace crm::actors {

// tenants_api.cpp
void create_tenant(route_context c);
// auth_api.cpp
void login(route_context c);
void logout(route_context c);
void me(route_context c);
// users_api.cpp
void create_user(route_context c);
void list_users(route_context c);
void get_user(route_context c);
void patch_user(route_context c);
void lock_user(route_context c);
void unlock_user(route_context c);
void list_roles(route_context c);
// profiles_api.cpp
void list_profiles(route_context c);
void get_profile(route_context c);
void put_profile(route_context c);
// audit_api.cpp
void list_audit(route_context c);
// records_api.cpp
void create_record(route_context c);
void get_record(route_context c);
void patch_record(route_context c);
void delete_record(route_context c);
// attachments_api.cpp
void attach(route_context c);
void list_attachments(route_context c);
// the answer of a keyed create whose node died before answering, from
// what it wrote (the attachment of the record c.param names)
void rebuild_attachment(const route_context& c, const std::string& id);
// webhooks_api.cpp
void create_webhook(route_context c);
void rebuild_webhook(const route_context& c, const std::string& id);  // as rebuild_attachment
void list_webhooks(route_context c);
void get_webhook(route_context c);
void patch_webhook(route_context c);
void delete_webhook(route_context c);
void list_webhook_deliveries(route_context c);
// guard_api.cpp
void list_guard_budgets(route_context c);
void create_guard_budget(route_context c);
void put_guard_budget(route_context c);
void delete_guard_budget(route_context c);
void list_guard_incidents(route_context c);
void get_guard_incident(route_context c);
void resolve_guard_incident(route_context c);
void list_guard_honeytokens(route_context c);
void create_guard_honeytoken(route_context c);
void delete_guard_honeytoken(route_context c);
// content_api.cpp (role content)
void upload_content(route_context c);
void rebuild_upload(const route_context& c, const std::string& id);  // as rebuild_attachment
void get_content_item(route_context c);
void create_download_token(route_context c);
void download_content(route_context c);
void get_content_settings(route_context c);
void put_content_settings(route_context c);
// query_api.cpp: POST /api/v1/{entity}/query, GET /api/v1/{entity}, POST /api/v1/audit-logs/query,
// POST /api/v1/guard/incidents/query
void query_records(route_context c);

} // namespace crm::actors
