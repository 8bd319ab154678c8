#include "storage/sql/idempotency_sql.hpp"

#include "storage/sql/entity_sql.hpp"

namespace crm::storage {

std::vector<pg_statement> idempotency_statements() {
  return {
      // An expired row of the key goes first (the write's INSERT would run
      // into it): a key older than 24 h names a new write.
      {stmt_idem_lookup,
       "WITH expired AS (DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3"
       " AND created_at <= now() - interval '24 hours')"
       " SELECT fingerprint, route, resource, status, headers, body,"
       " (extract(epoch FROM clock_timestamp() - created_at) * 1000)::bigint"
       " FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3"
       " AND created_at > now() - interval '24 hours'"},
      // A live row of the key stops the INSERT with 23505 on the primary key.
      {stmt_write_context_keyed,
       "WITH k AS (INSERT INTO idempotency_keys (tenant_id, user_id, key, fingerprint, route, resource)"
       " VALUES ($5, $1::text::uuid, $6, $7, $8, $9)) " + write_context_select()},
      {stmt_idem_store,
       "UPDATE idempotency_keys SET status = $5, headers = $6, body = $7"
       " WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND fingerprint = $4 AND status IS NULL"},
      {stmt_idem_unless_attached,
       "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND status IS NULL"
       " AND NOT EXISTS (SELECT 1 FROM attachments WHERE tenant_id = $1 AND id = $4::uuid)"},
      {stmt_idem_unless_uploaded,
       "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND status IS NULL"
       " AND NOT EXISTS (SELECT 1 FROM content_items WHERE tenant_id = $1 AND id = $4::uuid)"},
      {stmt_idem_sweep_context, "SELECT set_config('app.idempotency_sweep', 'on', true)"},
      {stmt_idem_sweep,
       "DELETE FROM idempotency_keys WHERE (tenant_id, user_id, key) IN (SELECT tenant_id, user_id, key"
       " FROM idempotency_keys WHERE created_at < now() - interval '24 hours' LIMIT 10000)"},
  };
}

} // namespace crm::storage
