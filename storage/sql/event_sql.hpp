// storage/sql/event_sql.hpp
// Events in the same transaction as their change (the transactional outbox,
// migration 0006, ADR-0046). Adding an event to a change is one call:
// with_event() around the change's SQL (one outbox row per changed row, in
// the same statement), or event_query() beside it. The envelope's id, time,
// source and traceparent (app.traceparent of the transaction, set by the
// write context or stmt_event_context) are the outbox's defaults. Pure.
#pragma once
#include "storage/pg/pg_pool.hpp"

#include <string>

namespace crm::storage {

// `change` is a data-modifying statement whose RETURNING names its columns;
// the result is the same statement (its rows unchanged, in a CTE `w`) that
// also inserts, per returned row, the event of type `type_sql` (a SQL
// expression, usually a quoted literal) for tenant `tenant_sql`, subject
// `subject_sql` and data `data_sql` (a jsonb expression over `w`), from
// `source` (the envelope's; "" = the outbox's default, nextcrm/core).
std::string with_event(const std::string& change, const std::string& tenant_sql, const std::string& type_sql,
                       const std::string& subject_sql, const std::string& data_sql, const std::string& source = {});

// One event as its own statement of a transaction: the change it reports
// must be in the same transaction. `data_json` is a JSON object.
pg_query event_query(const std::string& tenant, const std::string& type, const std::string& subject,
                     const std::string& data_json);

// The first statement of a transaction whose changes write events: their
// traceparent is the request's (empty: a new trace).
pg_query event_context(const std::string& traceparent);

// The outbox statements, for pg_pool.
std::vector<pg_statement> event_statements();

inline constexpr const char* stmt_event_insert = "ev_insert";    // ($1 tenant, $2 type, $3 subject, $4 data)
inline constexpr const char* stmt_event_context = "ev_context";  // ($1 traceparent of the request)
// The relay (actors/bus): a batch of envelopes in seq order, then their deletion.
inline constexpr const char* stmt_outbox_batch = "ev_outbox_batch";  // ($1 limit) -> seq, envelope JSON, id, time ms
inline constexpr const char* stmt_outbox_delete = "ev_outbox_delete";  // ($1 seq list as a bigint[] literal)
inline constexpr const char* stmt_relay_context = "ev_relay_ctx";     // no parameters: app.relay = on

// '<literal>' with single quotes doubled.
std::string sql_literal(const std::string& text);

} // namespace crm::storage
