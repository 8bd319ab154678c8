// storage/sql/webhook_sql.hpp
// The statements of the webhook connector (migration 0007, ADR-0047). The
// subscription columns every statement returns, in this order: id,
// owner_user_id, url, events (a JSON array), enabled, failures,
// disabled_reason, created_at (RFC 3339). Pure.
#pragma once
#include "storage/pg/pg_pool.hpp"

#include <vector>

namespace crm::storage {

std::vector<pg_statement> webhook_statements();

// ($1 tenant, $2 id, $3 owner, $4 url, $5 events text[] literal, $6 secret) -> subscription
inline constexpr const char* stmt_webhook_insert = "wh_insert";
// ($1 tenant, $2 after id or '', $3 limit) -> subscriptions by id
inline constexpr const char* stmt_webhook_list = "wh_list";
// ($1 tenant, $2 id) -> subscription
inline constexpr const char* stmt_webhook_get = "wh_get";
// ($1 tenant, $2 id) -> the id when deleted (its jobs and log go with it)
inline constexpr const char* stmt_webhook_delete = "wh_delete";
// ($1 tenant, $2 id, $3 enabled) -> subscription; enabling clears the failures
inline constexpr const char* stmt_webhook_enable = "wh_enable";
// ($1 tenant, $2 webhook, $3 after delivery id or NULL, $4 limit) -> id, event_id,
// event_type, attempt, status, latency_ms, error, at: newest first
inline constexpr const char* stmt_webhook_deliveries = "wh_deliveries";

// The webhooks consumer: ($1 tenant, $2 event id, $3 type, $4 envelope JSON)
// one job per enabled subscription of the tenant whose patterns match;
// idempotent on (subscription, event).
inline constexpr const char* stmt_webhook_fanout = "wh_fanout";
// ($1 consumer, $2 event id, $3 tenant): what the consumer applied
inline constexpr const char* stmt_event_processed = "ev_processed";

// The delivery workers (with stmt_relay_context: every tenant's due jobs):
// ($1 lease seconds) -> tenant, job id, webhook id, event id, event type,
// envelope, attempts (this one included), url, secret, enabled, owner
inline constexpr const char* stmt_webhook_claim = "wh_claim";
// ($1 tenant, $2 owner) -> locked, access profile entities JSON, role permissions "a,b" (tenant-scoped)
inline constexpr const char* stmt_webhook_owner = "wh_owner";
// ($1 tenant, $2 job, $3 seconds): try again later without counting the attempt
// (the owner is locked, the subscription disabled)
inline constexpr const char* stmt_webhook_postpone = "wh_postpone";
// One attempt's outcome, three statements of one transaction:
// ($1 tenant, $2 webhook, $3 event id, $4 type, $5 attempt, $6 status or NULL, $7 latency ms, $8 error or NULL)
inline constexpr const char* stmt_webhook_log = "wh_log";
// ($1 tenant, $2 job, $3 state 'delivered'|'pending'|'dead', $4 seconds to the next attempt)
inline constexpr const char* stmt_webhook_job_state = "wh_job_state";
// ($1 tenant, $2 webhook, $3 succeeded, $4 failures that disable it) -> enabled
inline constexpr const char* stmt_webhook_health = "wh_health";

} // namespace crm::storage
