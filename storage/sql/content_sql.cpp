#include "storage/sql/content_sql.hpp"

#include "storage/sql/event_sql.hpp"

#include <string>

namespace crm::storage {
namespace {

std::string utc(const std::string& column) {
  return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
}

// In content_item_column order.
const std::string item_columns = " id, status, reason, detail, filename, declared_mime, sniffed_mime, size, sha256,"
                                 " safe_mime, safe_size, safe_sha256, created_by, " + utc("created_at") + " AS created_text, " +
                                 utc("updated_at") + " AS updated_text, attempts, quarantine_name, traceparent";

const std::string settings_columns = " max_upload_bytes, allowed_types, archives, pdf_rasterize, retain_original_s, " +
                                     utc("updated_at") + " AS updated_text";

// `change` returns the item's columns; the event carries what a consumer
// needs (never the quarantine's file name).
std::string item_event(const std::string& change, const char* status) {
  return with_event(change + " RETURNING" + item_columns, "$1", std::string{"'content.item."} + status + "'",
                    "'content/items/' || w.id",
                    "jsonb_strip_nulls(jsonb_build_object('id', w.id, 'status', w.status, 'filename', w.filename,"
                    " 'size', w.size, 'sha256', w.sha256, 'declared_mime', w.declared_mime, 'sniffed_mime', w.sniffed_mime,"
                    " 'reason', w.reason, 'safe', CASE WHEN w.safe_sha256 IS NULL THEN NULL ELSE jsonb_build_object("
                    "'mime', w.safe_mime, 'size', w.safe_size, 'sha256', w.safe_sha256) END, 'created_by', w.created_by))",
                    "nextcrm/content");
}

const std::string job_end = ", lease_owner = NULL, lease_until = NULL, processed_at = clock_timestamp(),"
                            " updated_at = clock_timestamp()";

} // namespace

std::vector<pg_statement> content_statements() {
  return {
      {stmt_content_settings, "SELECT" + settings_columns + " FROM content_settings WHERE tenant_id = $1"},
      {stmt_content_settings_put,
       with_event("INSERT INTO content_settings (tenant_id, max_upload_bytes, allowed_types, archives, pdf_rasterize,"
                  " retain_original_s) VALUES ($1, $2, $3::text[], $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET"
                  " max_upload_bytes = EXCLUDED.max_upload_bytes, allowed_types = EXCLUDED.allowed_types,"
                  " archives = EXCLUDED.archives, pdf_rasterize = EXCLUDED.pdf_rasterize,"
                  " retain_original_s = EXCLUDED.retain_original_s, updated_at = now() RETURNING" + settings_columns,
                  "$1", "'content.settings.updated'", "'content/settings'",
                  "jsonb_build_object('max_upload_bytes', w.max_upload_bytes, 'allowed_types', to_jsonb(w.allowed_types),"
                  " 'archives', w.archives, 'pdf_rasterize', w.pdf_rasterize, 'retain_original_s', w.retain_original_s)",
                  "nextcrm/content")},
      {stmt_content_insert,
       item_event("INSERT INTO content_items (tenant_id, id, status, filename, declared_mime, size, sha256,"
                  " quarantine_name, created_by, traceparent) SELECT $1, $2, 'quarantined', $3, $4, $5, $6, $7, $8, $9"
                  " WHERE $5::bigint <= LEAST($10::bigint, COALESCE((SELECT max_upload_bytes FROM content_settings"
                  " WHERE tenant_id = $1), $11::bigint))",
                  "quarantined")},
      {stmt_content_get, "SELECT" + item_columns + " FROM content_items WHERE tenant_id = $1 AND id = $2"},
      {stmt_content_claim,
       item_event("UPDATE content_items SET status = 'processing', attempts = attempts + 1, lease_owner = $3,"
                  " lease_until = clock_timestamp() + $4::integer * interval '1 second', updated_at = clock_timestamp()"
                  " WHERE tenant_id = $1 AND id = $2 AND status IN ('quarantined', 'processing')"
                  " AND (lease_until IS NULL OR lease_until < clock_timestamp() OR lease_owner = $3)",
                  "processing")},
      {stmt_content_renew,
       "UPDATE content_items SET lease_until = clock_timestamp() + $4::integer * interval '1 second'"
       " WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'processing' RETURNING id"},
      {stmt_content_safe,
       item_event("UPDATE content_items SET status = 'safe', reason = NULL, detail = NULL, sniffed_mime = $4,"
                  " safe_mime = $5, safe_size = $6, safe_sha256 = $7, quarantine_name = $8" + job_end +
                  " WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'processing'",
                  "safe")},
      {stmt_content_reject,
       item_event("UPDATE content_items SET status = 'rejected', reason = $4, detail = $5,"
                  " sniffed_mime = COALESCE($6, sniffed_mime), quarantine_name = $7" + job_end +
                  " WHERE tenant_id = $1 AND id = $2 AND status IN ('quarantined', 'processing')"
                  " AND ($3::text IS NULL OR lease_owner = $3)",
                  "rejected")},
      {stmt_content_pool_context, "SELECT set_config('app.content_pool', 'on', true)"},
      {stmt_content_open,
       "SELECT tenant_id, id, traceparent FROM content_items WHERE status IN ('quarantined', 'processing')"
       " AND (lease_until IS NULL OR lease_until < clock_timestamp()) ORDER BY lease_until NULLS FIRST LIMIT $1"},
      {stmt_content_download,
       "WITH i AS (SELECT safe_sha256, safe_mime, safe_size, filename FROM content_items"
       "           WHERE tenant_id = $1 AND id = $2 AND status = 'safe'),"
       " u AS (INSERT INTO content_token_uses (tenant_id, nonce, content_id, expires_at)"
       "       SELECT $1, $3, $2, to_timestamp($4::bigint) WHERE $5::boolean AND EXISTS (SELECT 1 FROM i)"
       "       ON CONFLICT DO NOTHING RETURNING 1)"
       " SELECT i.safe_sha256, i.safe_mime, i.safe_size, i.filename,"
       "        (NOT $5::boolean OR EXISTS (SELECT 1 FROM u)) AS fresh FROM i"},
      {stmt_content_tokens_expire, "DELETE FROM content_token_uses WHERE expires_at < clock_timestamp() - interval '1 minute'"},
      {stmt_content_quarantine_held,
       "SELECT quarantine_name FROM content_items WHERE quarantine_name = ANY ($1::text[])"},
  };
}

} // namespace crm::storage
