// storage/sql/entity_sql.hpp
// The SQL of the CRM entities, generated once from the entity registry
// (protocols/entity.hpp) and prepared on every pool connection. Client text
// never reaches the SQL text: names come from the registry, values are
// bound parameters. Every statement takes the tenant as $1 and also runs
// under row-level security. Pure.
#pragma once
#include "protocols/entity.hpp"
#include "protocols/query.hpp"
#include "storage/pg/pg_pool.hpp"

#include <optional>
#include <string>
#include <vector>

namespace crm::storage {

enum class entity_op : uint8_t { insert, select, update, remove, probe, attach, attachments, attachment, detach_all };

// The prepared statement's name for `op` on `e` ("ent_insert_customers").
std::string entity_statement(entity_op op, const protocols::entity_def& e);

// Every statement of every entity plus the shared ones below, for pg_pool.
std::vector<pg_statement> entity_statements();

// Shared statement names.
// ($1 user id, $2 trace id, $3 client address, $4 traceparent of the request: the events' traceparent)
inline constexpr const char* stmt_write_context = "app_write_ctx";
// The SELECT of that write context ($1 user id, $2 trace id, $3 client
// address, $4 traceparent), also the tail of a keyed write's (idempotency_sql).
std::string write_context_select();
inline constexpr const char* stmt_profiles_load = "profiles_load";
inline constexpr const char* stmt_profile_put = "profile_put";
// ($1 milliseconds) for the transaction, and custom plans for its prepared statements
inline constexpr const char* stmt_statement_timeout = "app_stmt_timeout";

// Statement parameters (as text) for each operation on `e`:
// insert:  $1 tenant, $2 id, then one per writable field in registry order
//          (nullopt = NULL; a field with a default takes it when NULL)
// select, probe: $1 tenant, $2 id
// update:  $1 tenant, $2 id, $3 expected version or NULL, then per writable
//          field a pair (set?, value)
// remove:  $1 tenant, $2 id, $3 expected version or NULL
// attach:  $1 tenant, $2 attachment id, $3 record id, $4 content id, $5 user id
// attachments: $1 tenant, $2 record id
// attachment: $1 tenant, $2 record id, $3 attachment id (one of them)
// detach_all: $1 tenant, $2 record id: drops the record's attachment rows once
//          the record is gone (run after remove, in its transaction)
// The column list of select/insert/update: entity_columns(e) in registry
// order, rendered as text (timestamps RFC 3339 with microseconds, money
// with two decimals, booleans "t"/"f", items as JSON).
// attach/attachments/attachment return: id, entity, entity_id, content_id, created_by, created_at.
//
// profiles_load: $1 tenant -> name, entities (JSON), builtin, version, updated_at
// profile_put: $1 tenant, $2 name, $3 entities (JSON), $4 builtin -> version,
//   updated_at, created ("t" when the row is new)

// The select list of every field of `e`, in registry order, rendered as the
// statements above render them (for queries built by protocols/query).
const std::string& entity_columns(const protocols::entity_def& e);
// The same for the audit log (protocols::audit_log_def()); `changes` keeps
// only the keys whose "entity.field" is in the text[] parameter $`paths`.
std::string audit_columns(size_t paths);

// A planned DSL query as one transaction: its statement timeout (and custom
// plans), then the SELECT of `e` (the audit log when `audit_readable` is
// given: the "entity.field" paths its `changes` may show). The SELECT is a
// cached shape (pg_query::cache, ADR-0042); its parameters are the plan's.
// The plan's parameters are moved out.
std::vector<pg_query> query_statements(const protocols::entity_def& e, protocols::query_plan& plan,
                                       const std::string& statement_timeout_ms,
                                       std::optional<std::vector<std::string>> audit_readable);

// Whether `value`, written to `field` (a uuid_ref or items field) of a
// record of tenant `tenant`, names records of that tenant: one row, one
// boolean ("t"/"f"). Asked after a foreign-key violation, so that one 422
// can name every missing reference (PostgreSQL names only the first).
// nullopt for fields of other kinds.
std::optional<pg_query> reference_check_query(const protocols::field_def& field, const std::string& tenant,
                                              const std::string& value);

// The INSERT of the baseline profiles (ON CONFLICT DO NOTHING) for tenant $1.
pg_query ensure_profiles_query(const std::string& tenant);

} // namespace crm::storage
