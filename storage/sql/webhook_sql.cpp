#include "storage/sql/webhook_sql.hpp"

#include <string>

namespace crm::storage {

namespace {

const std::string webhook_columns =
    " id, owner_user_id, url, array_to_json(events)::text, enabled, failures, disabled_reason,"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

} // namespace

std::vector<pg_statement> webhook_statements() {
  return {
      {stmt_webhook_insert,
       "INSERT INTO webhooks (tenant_id, id, owner_user_id, url, events, secret) VALUES ($1, $2, $3, $4, $5::text[], $6)"
       " RETURNING" + webhook_columns},
      {stmt_webhook_list, "SELECT" + webhook_columns +
                              " FROM webhooks WHERE tenant_id = $1 AND id::text > $2 ORDER BY id::text LIMIT $3"},
      {stmt_webhook_get, "SELECT" + webhook_columns + " FROM webhooks WHERE tenant_id = $1 AND id = $2"},
      {stmt_webhook_delete, "DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2 RETURNING id"},
      {stmt_webhook_enable,
       "UPDATE webhooks SET enabled = $3, failures = CASE WHEN $3 THEN 0 ELSE failures END,"
       " disabled_reason = CASE WHEN $3 THEN NULL ELSE 'disabled by a user' END"
       " WHERE tenant_id = $1 AND id = $2 RETURNING" + webhook_columns},
      {stmt_webhook_deliveries,
       "SELECT id, event_id, event_type, attempt, status, latency_ms, error,"
       " to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
       " FROM webhook_deliveries d WHERE tenant_id = $1 AND webhook_id = $2"
       " AND ($3::uuid IS NULL OR (at, id) < (SELECT at, id FROM webhook_deliveries"
       " WHERE tenant_id = $1 AND id = $3::uuid)) ORDER BY at DESC, id DESC LIMIT $4"},
      {stmt_webhook_fanout,
       "INSERT INTO webhook_jobs (tenant_id, webhook_id, event_id, event_type, envelope)"
       " SELECT $1, w.id, $2, $3, $4::jsonb FROM webhooks w WHERE w.tenant_id = $1 AND w.enabled"
       " AND EXISTS (SELECT 1 FROM unnest(w.events) p WHERE p = $3"
       " OR (right(p, 2) = '.*' AND left($3, length(p) - 1) = left(p, length(p) - 1) AND length($3) > length(p) - 1))"
       " ON CONFLICT (webhook_id, event_id) DO NOTHING"},
      {stmt_event_processed,
       "INSERT INTO processed_events (consumer, event_id, tenant_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"},
      {stmt_webhook_claim,
       "WITH j AS (SELECT tenant_id, id FROM webhook_jobs wj WHERE state = 'pending' AND next_attempt_at <= now()"
       " AND EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = wj.tenant_id AND w.id = wj.webhook_id AND w.enabled)"
       " ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED),"
       " c AS (UPDATE webhook_jobs wj SET attempts = wj.attempts + 1, next_attempt_at = now() + make_interval(secs => $1)"
       " FROM j WHERE wj.tenant_id = j.tenant_id AND wj.id = j.id RETURNING wj.*)"
       " SELECT c.tenant_id, c.id, c.webhook_id, c.event_id, c.event_type, c.envelope::text, c.attempts,"
       " w.url, w.secret, w.enabled, w.owner_user_id"
       " FROM c JOIN webhooks w ON w.tenant_id = c.tenant_id AND w.id = c.webhook_id"},
      {stmt_webhook_owner,
       "SELECT u.locked, COALESCE(ap.entities::text, '{}'), COALESCE(array_to_string(r.permissions, ','), '')"
       " FROM users u LEFT JOIN access_profiles ap ON ap.tenant_id = u.tenant_id AND ap.name = u.access_profile"
       " LEFT JOIN roles r ON r.tenant_id = u.tenant_id AND r.name = u.role WHERE u.tenant_id = $1 AND u.id = $2"},
      {stmt_webhook_postpone,
       "UPDATE webhook_jobs SET attempts = attempts - 1, next_attempt_at = now() + make_interval(secs => $3)"
       " WHERE tenant_id = $1 AND id = $2"},
      {stmt_webhook_log,
       "INSERT INTO webhook_deliveries (tenant_id, webhook_id, event_id, event_type, attempt, status, latency_ms, error)"
       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"},
      {stmt_webhook_job_state,
       "UPDATE webhook_jobs SET state = $3, next_attempt_at = now() + make_interval(secs => $4)"
       " WHERE tenant_id = $1 AND id = $2"},
      {stmt_webhook_health,
       "UPDATE webhooks SET failures = CASE WHEN $3 THEN 0 ELSE failures + 1 END,"
       " enabled = enabled AND ($3 OR failures + 1 < $4),"
       " disabled_reason = CASE WHEN NOT $3 AND failures + 1 >= $4 THEN 'disabled after ' || (failures + 1)"
       " || ' failed deliveries in a row' ELSE disabled_reason END"
       " WHERE tenant_id = $1 AND id = $2 RETURNING enabled"},
  };
}

} // namespace crm::storage
