// storage/sql/identity_sql.hpp
// The identity statements (tenants, roles, users, sessions), named and
// prepared on every pool session (identity_statements()); the identity
// actors send these names with their parameters, never SQL text. Every
// statement carries the tenant predicate; the pool also sets app.tenant_id.
#pragma once
#include "storage/pg/pg_pool.hpp"

#include <vector>

namespace crm::storage {

// Tenant load: ($1 tenant) -> slug; ($1 tenant) -> name, permissions (text[]).
inline constexpr const char* stmt_tenant_slug = "id_tenant_slug";
inline constexpr const char* stmt_tenant_roles = "id_tenant_roles";
// Bootstrap: ($1 id, $2 slug, $3 name); a role ($1 tenant, $2 name, $3
// comma-separated permissions); the admin ($1 id, $2 tenant, $3 email, $4 hash).
inline constexpr const char* stmt_tenant_insert = "id_tenant_insert";
inline constexpr const char* stmt_role_insert = "id_role_insert";
inline constexpr const char* stmt_admin_insert = "id_admin_insert";
// Slug resolution outside any tenant: ($1 slug) sets app.tenant_slug, then ($1 slug) -> id.
inline constexpr const char* stmt_slug_context = "id_slug_context";
inline constexpr const char* stmt_tenant_by_slug = "id_tenant_by_slug";

// Login: ($1 tenant, $2 email) -> id, email, password_hash, role,
// access_profile, locked, session_epoch (case-insensitive email).
inline constexpr const char* stmt_user_by_email = "id_user_by_email";
// ($1 session, $2 tenant, $3 user, $4 expiry unix s, $5 session_epoch read
// with the hash) -> (locked now, opened): opened only while the epoch is
// unchanged and the user unlocked.
inline constexpr const char* stmt_session_open = "id_session_open";
// ($1 tenant, $2 session) -> user_id, expiry unix s, revoked, email, role,
// access_profile, locked, epochs equal.
inline constexpr const char* stmt_session_load = "id_session_load";
// ($1 tenant, $2 session, $3 reason)
inline constexpr const char* stmt_session_revoke = "id_session_revoke";

// Users; every one answers the user columns (user_view): id, email, role,
// access_profile, locked, created_at, updated_at, version.
// ($1 id, $2 tenant, $3 email, $4 hash, $5 role, $6 access_profile)
inline constexpr const char* stmt_user_insert = "id_user_insert";
// ($1 tenant, $2 lower-case email to start after ('' = the first), $3 limit), by lower(email)
inline constexpr const char* stmt_user_list = "id_user_list";
inline constexpr const char* stmt_user_get = "id_user_get";    // ($1 tenant, $2 id)
// ($1 tenant, $2 id, $3 email, $4 role, $5 profile, $6 hash; NULL keeps the
// column); a new hash bumps session_epoch.
inline constexpr const char* stmt_user_patch = "id_user_patch";
// ($1 tenant, $2 user, $3 the session to keep or NULL): revoked for 'password'
inline constexpr const char* stmt_sessions_end_password = "id_sessions_end_pw";
// ($1 tenant, $2 user, $3 session): the kept session takes the new epoch
inline constexpr const char* stmt_session_keep = "id_session_keep";
// ($1 tenant, $2 id): locked, session_epoch bumped / unlocked
inline constexpr const char* stmt_user_lock = "id_user_lock";
// ($1 tenant, $2 user) -> the user when it was not locked yet (the guard's
// lock: locking a locked user again writes no event)
inline constexpr const char* stmt_user_lock_guard = "user_lock_guard";
inline constexpr const char* stmt_user_unlock = "id_user_unlock";
// ($1 tenant, $2 user): every live session revoked for 'lock'
inline constexpr const char* stmt_sessions_end_lock = "id_sessions_end_lock";

std::vector<pg_statement> identity_statements();

// Every named statement of the server (entity_statements() and the identity
// ones): what a node's pool prepares on each session.
std::vector<pg_statement> all_statements();

} // namespace crm::storage
