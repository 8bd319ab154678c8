// storage/sql/content_sql.hpp
// The statements of the content pipeline (migration 0011, docs/CONTENT.md).
// Items come back as: id, status, reason, detail, filename, declared_mime,
// sniffed_mime, size, sha256, safe_mime, safe_size, safe_sha256,
// created_by, created_at, updated_at (RFC 3339), attempts. Every state
// change writes its content.item.* event in the same statement. Pure.
#pragma once
#include "storage/pg/pg_pool.hpp"

#include <vector>

namespace crm::storage {

std::vector<pg_statement> content_statements();

// Column indexes of an item row.
enum content_item_column : size_t {
  ci_id, ci_status, ci_reason, ci_detail, ci_filename, ci_declared, ci_sniffed, ci_size, ci_sha256,
  ci_safe_mime, ci_safe_size, ci_safe_sha256, ci_created_by, ci_created_at, ci_updated_at, ci_attempts,
  ci_quarantine_name, ci_traceparent, ci_column_count
};

// ($1 tenant) -> max_upload_bytes, allowed_types (text[] literal), archives, pdf_rasterize,
// retain_original_s, updated_at; no row = the defaults
inline constexpr const char* stmt_content_settings = "ct_settings";
// ($1 tenant, $2 max, $3 types (text[] literal), $4 archives, $5 rasterize, $6 retain) -> the row;
// content.settings.updated
inline constexpr const char* stmt_content_settings_put = "ct_settings_put";
// ($1 tenant, $2 id, $3 filename, $4 declared mime, $5 size, $6 sha256, $7 quarantine name,
//  $8 created_by, $9 traceparent, $10 the node's cap, $11 the default tenant cap) -> item, none
// when the size is past the tenant's cap (within the node's); content.item.quarantined
inline constexpr const char* stmt_content_insert = "ct_insert";
// ($1 tenant, $2 id) -> item
inline constexpr const char* stmt_content_get = "ct_get";
// The job takes the item: ($1 tenant, $2 id, $3 node, $4 lease seconds) -> item when it was
// open and not leased by another node; content.item.processing
inline constexpr const char* stmt_content_claim = "ct_claim";
// ($1 tenant, $2 id, $3 node, $4 lease seconds) -> id while the lease is still this node's
inline constexpr const char* stmt_content_renew = "ct_renew";
// ($1 tenant, $2 id, $3 node, $4 sniffed, $5 safe mime, $6 safe size, $7 safe sha256,
//  $8 quarantine name or NULL) -> item; content.item.safe
inline constexpr const char* stmt_content_safe = "ct_safe";
// ($1 tenant, $2 id, $3 node or NULL (any), $4 reason, $5 detail, $6 sniffed or NULL,
//  $7 quarantine name or NULL) -> item; content.item.rejected
inline constexpr const char* stmt_content_reject = "ct_reject";
// The pool's context (app.content_pool = on), then the open jobs of every
// tenant: ($1 limit) -> tenant_id, id, traceparent
inline constexpr const char* stmt_content_pool_context = "ct_pool_ctx";
inline constexpr const char* stmt_content_open = "ct_open";
// A download: ($1 tenant, $2 id, $3 nonce, $4 expiry (unix s), $5 one-time) -> safe_sha256,
// safe_mime, safe_size, filename, fresh (false: a one-time token already used)
inline constexpr const char* stmt_content_download = "ct_download";
// One-time tokens' nonces past their expiry (the token is refused as expired
// before its nonce is looked at), every tenant, with the pool's context
inline constexpr const char* stmt_content_tokens_expire = "ct_tokens_expire";
// Quarantine files still wanted: ($1 names as a text[] literal) -> the names some open item holds
inline constexpr const char* stmt_content_quarantine_held = "ct_q_held";

} // namespace crm::storage
