#include "storage/sql/identity_sql.hpp"

#include "storage/sql/entity_sql.hpp"
#include "storage/sql/event_sql.hpp"
#include "storage/sql/content_sql.hpp"
#include "storage/sql/guard_sql.hpp"
#include "storage/sql/idempotency_sql.hpp"
#include "storage/sql/webhook_sql.hpp"

#include <string>

namespace crm::storage {

namespace {

const std::string user_columns =
    " id, email, role, access_profile, locked,"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_text,"
    " to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS updated_text, version";

// A user change with its event crm.user.<action> (subject users/<id>; the
// data is the user as the API shows it: never the password hash).
std::string user_event(const std::string& change, const char* tenant_param, const char* action) {
  return with_event(change, tenant_param, sql_literal(std::string{"crm.user."} + action), "'users/' || w.id",
                    "jsonb_build_object('id', w.id, 'email', w.email, 'role', w.role, 'access_profile',"
                    " w.access_profile, 'locked', w.locked, 'created_at', w.created_text, 'updated_at',"
                    " w.updated_text, 'version', w.version)");
}

}  // namespace

std::vector<pg_statement> identity_statements() {
  return {
      {stmt_tenant_slug, "SELECT slug FROM tenants WHERE id = $1"},
      {stmt_tenant_roles, "SELECT name, permissions FROM roles WHERE tenant_id = $1"},
      {stmt_tenant_insert,
       with_event("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3) RETURNING id, slug, name", "w.id",
                  "'crm.tenant.created'", "'tenants/' || w.id",
                  "jsonb_build_object('id', w.id, 'slug', w.slug, 'name', w.name)")},
      {stmt_role_insert,
       "INSERT INTO roles (tenant_id, name, permissions, builtin) VALUES ($1, $2, string_to_array($3, ','), true)"},
      {stmt_admin_insert,
       "INSERT INTO users (id, tenant_id, email, password_hash, role, access_profile)"
       " VALUES ($1, $2, $3, $4, 'admin', 'admin')"},
      {stmt_slug_context, "SELECT set_config('app.tenant_slug', $1, true)"},
      {stmt_tenant_by_slug, "SELECT id FROM tenants WHERE slug = $1"},
      {stmt_user_by_email,
       "SELECT id, email, password_hash, role, access_profile, locked, session_epoch FROM users"
       " WHERE tenant_id = $1 AND lower(email) = lower($2)"},
      {stmt_session_open,
       "WITH u AS (SELECT session_epoch, locked FROM users WHERE tenant_id = $2 AND id = $3),"
       " opened AS (INSERT INTO sessions (id, tenant_id, user_id, expires_at, user_epoch)"
       " SELECT $1, $2, $3, to_timestamp($4), session_epoch FROM u WHERE session_epoch = $5 AND NOT locked"
       " RETURNING 1)"
       " SELECT COALESCE((SELECT locked FROM u), false), EXISTS (SELECT 1 FROM opened)"},
      {stmt_session_load,
       "SELECT s.user_id, extract(epoch FROM s.expires_at)::bigint, s.revoked_at IS NOT NULL,"
       " u.email, u.role, u.access_profile, u.locked, s.user_epoch = u.session_epoch"
       " FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id"
       " WHERE s.tenant_id = $1 AND s.id = $2"},
      {stmt_session_revoke,
       with_event("UPDATE sessions SET revoked_at = now(), revoked_reason = $3"
                  " WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING id, user_id, revoked_reason",
                  "$1", "'crm.session.revoked'", "'sessions/' || w.id",
                  "jsonb_build_object('id', w.id, 'user_id', w.user_id, 'reason', w.revoked_reason)")},
      {stmt_user_insert,
       user_event("INSERT INTO users (id, tenant_id, email, password_hash, role, access_profile)"
                  " VALUES ($1, $2, $3, $4, $5, $6) RETURNING" + user_columns,
                  "$2", "created")},
      {stmt_user_list, "SELECT" + user_columns +
                           " FROM users WHERE tenant_id = $1 AND lower(email) > $2 ORDER BY lower(email) LIMIT $3"},
      {stmt_user_get, "SELECT" + user_columns + " FROM users WHERE tenant_id = $1 AND id = $2"},
      {stmt_user_patch,
       user_event("UPDATE users SET email = COALESCE($3, email), role = COALESCE($4, role),"
       " access_profile = COALESCE($5, access_profile), password_hash = COALESCE($6, password_hash),"
       " session_epoch = session_epoch + CASE WHEN $6::text IS NULL THEN 0 ELSE 1 END"
       " WHERE tenant_id = $1 AND id = $2 RETURNING" + user_columns, "$1", "updated")},
      {stmt_sessions_end_password,
       "UPDATE sessions SET revoked_at = now(), revoked_reason = 'password'"
       " WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND id IS DISTINCT FROM $3::uuid"},
      {stmt_session_keep,
       "UPDATE sessions s SET user_epoch = u.session_epoch FROM users u"
       " WHERE s.tenant_id = $1 AND s.id = $3::uuid AND s.user_id = $2 AND u.tenant_id = $1 AND u.id = $2"},
      {stmt_user_lock,
       user_event("UPDATE users SET locked = true, locked_at = now(), session_epoch = session_epoch + 1"
                  " WHERE tenant_id = $1 AND id = $2 RETURNING" + user_columns,
                  "$1", "locked")},
      {stmt_user_lock_guard,
       user_event("UPDATE users SET locked = true, locked_at = now(), session_epoch = session_epoch + 1"
                  " WHERE tenant_id = $1 AND id = $2 AND NOT locked RETURNING" + user_columns,
                  "$1", "locked")},
      {stmt_user_unlock,
       user_event("UPDATE users SET locked = false, locked_at = NULL WHERE tenant_id = $1 AND id = $2 RETURNING" +
                      user_columns,
                  "$1", "unlocked")},
      {stmt_sessions_end_lock,
       "UPDATE sessions SET revoked_at = now(), revoked_reason = 'lock'"
       " WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL"},
  };
}

std::vector<pg_statement> all_statements() {
  auto out = entity_statements();
  for (auto& s : identity_statements()) out.push_back(std::move(s));
  for (auto& s : event_statements()) out.push_back(std::move(s));
  for (auto& s : webhook_statements()) out.push_back(std::move(s));
  for (auto& s : guard_statements()) out.push_back(std::move(s));
  for (auto& s : content_statements()) out.push_back(std::move(s));
  for (auto& s : idempotency_statements()) out.push_back(std::move(s));
  return out;
}

} // namespace crm::storage
