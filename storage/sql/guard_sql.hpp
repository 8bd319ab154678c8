// storage/sql/guard_sql.hpp
// The statements of the CRM Guard (migration 0010, docs/GUARD.md). Budgets
// come back as: id, scope, metric, window_s, warn, block, created_at,
// updated_at (RFC 3339); honeytokens as: id, entity, record_id, action,
// created_at. Every change writes its event in the same statement. Pure.
#pragma once
#include "storage/pg/pg_pool.hpp"

#include <vector>

namespace crm::storage {

std::vector<pg_statement> guard_statements();

// ($1 tenant) -> budgets ordered by scope, metric, window_s
inline constexpr const char* stmt_guard_budgets = "gd_budgets";
// ($1 tenant, $2 scope, $3 metric, $4 window_s, $5 warn, $6 block) -> budget; crm.guard_budget.created
inline constexpr const char* stmt_guard_budget_insert = "gd_budget_ins";
// ($1 tenant, $2 id, $3 scope, $4 metric, $5 window_s, $6 warn, $7 block) -> budget; crm.guard_budget.updated
inline constexpr const char* stmt_guard_budget_update = "gd_budget_upd";
// ($1 tenant, $2 id) -> id; crm.guard_budget.deleted
inline constexpr const char* stmt_guard_budget_delete = "gd_budget_del";
// ($1 tenant): the baseline profiles' budgets of a new tenant (app_guard_defaults)
inline constexpr const char* stmt_guard_defaults = "gd_defaults";

// ($1 tenant, $2 user, $3 kind, $4 budget id or NULL, $5 metric, $6 observed, $7 threshold,
//  $8 window_s, $9 severity, $10 action, $11 record entity or NULL, $12 record id or NULL,
//  $13 first trace id, $14 last trace id, $15 client address, $16 user agent)
// -> id; crm.guard_incident.raised
inline constexpr const char* stmt_guard_incident_insert = "gd_inc_ins";
// A webhook delivered an event about a record to its subscriber: ($1 tenant,
// $2 subscriber, $3 entity path, $4 record id, $5 trace id) -> the incident
// (severity, column 8 of the RETURNING) when the record is a honeytoken
inline constexpr const char* stmt_guard_honeytoken_delivered = "gd_honey_hook";
// ($1 tenant, $2 id, $3 observed, $4 last trace id): a warn still going on
inline constexpr const char* stmt_guard_incident_touch = "gd_inc_touch";
// ($1 tenant, $2 id, $3 resolver) -> id when it was open; crm.guard_incident.resolved
inline constexpr const char* stmt_guard_incident_resolve = "gd_inc_resolve";
// ($1 tenant, $2 id) -> the incident's columns (protocols::guard_incident_def order)
inline constexpr const char* stmt_guard_incident_get = "gd_inc_get";

// ($1 tenant) -> honeytokens by entity, record
inline constexpr const char* stmt_guard_honeytokens = "gd_honey";
// ($1 tenant, $2 entity, $3 record id, $4 action, $5 creator) -> honeytoken; crm.guard_honeytoken.created
inline constexpr const char* stmt_guard_honeytoken_insert = "gd_honey_ins";
// ($1 tenant, $2 id) -> id; crm.guard_honeytoken.deleted
inline constexpr const char* stmt_guard_honeytoken_delete = "gd_honey_del";

} // namespace crm::storage
