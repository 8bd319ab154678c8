#include "storage/sql/guard_sql.hpp"

#include "protocols/entity.hpp"
#include "storage/sql/entity_sql.hpp"
#include "storage/sql/event_sql.hpp"

#include <string>

namespace crm::storage {

namespace {

const std::string time_format = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";

std::string utc(const std::string& column) { return "to_char(" + column + " AT TIME ZONE 'UTC', " + time_format + ")"; }

const std::string budget_columns = " id, scope, metric, window_s, warn, block, " + utc("created_at") + " AS created_text, " +
                                   utc("updated_at") + " AS updated_text";

const std::string honeytoken_columns = " id, entity, record_id, action, " + utc("created_at") + " AS created_text";

std::string budget_event(const std::string& change, const char* action) {
  return with_event(change, "$1", std::string{"'crm.guard_budget."} + action + "'", "'guard/budgets/' || w.id",
                    "jsonb_build_object('id', w.id, 'scope', w.scope, 'metric', w.metric, 'window_s', w.window_s,"
                    " 'warn', w.warn, 'block', w.block)");
}

std::string honeytoken_event(const std::string& change, const char* action) {
  return with_event(change, "$1", std::string{"'crm.guard_honeytoken."} + action + "'",
                    "'guard/honeytokens/' || w.id",
                    "jsonb_build_object('id', w.id, 'entity', w.entity, 'record_id', w.record_id, 'action', w.action)");
}

// One incident per row the INSERT ... writes, with its event.
std::string incident_event(const std::string& insert) {
  return with_event(insert + " RETURNING id, user_id, kind, budget_id, metric, observed, threshold, window_s,"
                             " severity, action, record_entity, record_id, first_trace_id, client_addr",
                    "$1", "'crm.guard_incident.raised'", "'guard/incidents/' || w.id",
                    "jsonb_build_object('id', w.id, 'user_id', w.user_id, 'kind', w.kind, 'budget_id', w.budget_id,"
                    " 'metric', w.metric, 'observed', w.observed, 'threshold', w.threshold, 'window_s', w.window_s,"
                    " 'severity', w.severity, 'action', w.action, 'record_entity', w.record_entity,"
                    " 'record_id', w.record_id, 'trace_id', w.first_trace_id, 'client_addr', w.client_addr)");
}

} // namespace

std::vector<pg_statement> guard_statements() {
  return {
      {stmt_guard_budgets,
       "SELECT" + budget_columns + " FROM guard_budgets WHERE tenant_id = $1 ORDER BY scope, metric, window_s, id"},
      {stmt_guard_budget_insert,
       budget_event("INSERT INTO guard_budgets (tenant_id, scope, metric, window_s, warn, block)"
                    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING" + budget_columns,
                    "created")},
      {stmt_guard_budget_update,
       budget_event("UPDATE guard_budgets SET scope = $3, metric = $4, window_s = $5, warn = $6, block = $7,"
                    " updated_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING" + budget_columns,
                    "updated")},
      {stmt_guard_budget_delete,
       budget_event("DELETE FROM guard_budgets WHERE tenant_id = $1 AND id = $2 RETURNING" + budget_columns, "deleted")},
      {stmt_guard_defaults, "SELECT app_guard_defaults($1)"},
      {stmt_guard_incident_insert,
       // $17: the id every node raising this incident uses (budget.cpp raise_once)
       incident_event("INSERT INTO guard_incidents (tenant_id, user_id, kind, budget_id, metric, observed, threshold,"
                      " window_s, severity, action, record_entity, record_id, first_trace_id, last_trace_id,"
                      " client_addr, user_agent, id) VALUES ($1, $2, $3, $4::uuid, $5, $6, $7, $8, $9, $10, $11,"
                      " $12::uuid, $13, $14, $15, $16, $17::uuid) ON CONFLICT (tenant_id, id) DO NOTHING")},
      {stmt_guard_honeytoken_delivered,
       incident_event("INSERT INTO guard_incidents (tenant_id, user_id, kind, metric, observed, threshold, window_s,"
                      " severity, action, record_entity, record_id, first_trace_id, last_trace_id, client_addr,"
                      " user_agent) SELECT $1, $2, 'honeytoken', 'reads', 1, 1, 0, h.action,"
                      " CASE h.action WHEN 'block' THEN 'blocked' ELSE 'flagged' END, h.entity, h.record_id, $5, $5,"
                      " 'webhook', 'nextcrm webhook delivery' FROM guard_honeytokens h"
                      " WHERE h.tenant_id = $1 AND h.entity = $3 AND h.record_id::text = $4")},
      {stmt_guard_incident_touch,
       "UPDATE guard_incidents SET observed = GREATEST(observed, $3), last_trace_id = $4, last_seen_at = clock_timestamp()"
       " WHERE tenant_id = $1 AND id = $2"},
      {stmt_guard_incident_resolve,
       with_event("UPDATE guard_incidents SET resolved_at = clock_timestamp(), resolved_by = $3"
                  " WHERE tenant_id = $1 AND id = $2 AND resolved_at IS NULL RETURNING id, user_id, resolved_by",
                  "$1", "'crm.guard_incident.resolved'", "'guard/incidents/' || w.id",
                  "jsonb_build_object('id', w.id, 'user_id', w.user_id, 'resolved_by', w.resolved_by)")},
      {stmt_guard_incident_get,
       "SELECT " + entity_columns(protocols::guard_incident_def()) + " FROM guard_incidents WHERE tenant_id = $1 AND id = $2"},
      {stmt_guard_honeytokens,
       "SELECT" + honeytoken_columns + " FROM guard_honeytokens WHERE tenant_id = $1 ORDER BY entity, record_id"},
      {stmt_guard_honeytoken_insert,
       honeytoken_event("INSERT INTO guard_honeytokens (tenant_id, entity, record_id, action, created_by)"
                        " VALUES ($1, $2, $3, $4, $5) RETURNING" + honeytoken_columns,
                        "created")},
      {stmt_guard_honeytoken_delete,
       honeytoken_event("DELETE FROM guard_honeytokens WHERE tenant_id = $1 AND id = $2 RETURNING" + honeytoken_columns,
                        "deleted")},
  };
}

} // namespace crm::storage
