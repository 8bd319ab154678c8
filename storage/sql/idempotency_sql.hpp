// storage/sql/idempotency_sql.hpp
// The statements of Idempotency-Key (migration 0012, docs/IDEMPOTENCY.md):
// a key is recorded by the write's own transaction (in place of the plain
// write context), its answer stored right after. Pure.
#pragma once
#include "storage/pg/pg_pool.hpp"

#include <vector>

namespace crm::storage {

std::vector<pg_statement> idempotency_statements();

// The primary key a second write with a live key runs into (23505): the
// write rolls back and the first one's answer is looked up.
inline constexpr const char* idempotency_key_constraint = "idempotency_keys_pkey";

// ($1 tenant, $2 user, $3 key) -> fingerprint, route, resource, status
// (NULL until stored), headers, body, age in ms; nothing when the key is
// unknown or older than 24 h (an expired row is deleted)
inline constexpr const char* stmt_idem_lookup = "idem_lookup";
// The write context of stmt_write_context plus the key: ($1 user, $2 trace
// id, $3 client address, $4 traceparent, $5 tenant, $6 key, $7 fingerprint,
// $8 route, $9 resource)
inline constexpr const char* stmt_write_context_keyed = "idem_write_ctx";
// ($1 tenant, $2 user, $3 key, $4 fingerprint, $5 status, $6 headers, $7 body):
// the answer, once (a stored answer is never replaced)
inline constexpr const char* stmt_idem_store = "idem_store";
// ($1 tenant, $2 user, $3 key, $4 attachment id): in an attach's own
// transaction, after its insert: the key goes unless the attachment was
// inserted (content not safe, record gone: nothing written, no key)
inline constexpr const char* stmt_idem_unless_attached = "idem_unless_att";
// The same for an upload: ($4 content item id) (over the tenant's cap:
// nothing written, no key)
inline constexpr const char* stmt_idem_unless_uploaded = "idem_unless_up";
// () then (): removes up to 10,000 keys of every tenant older than 24 h (a
// transaction of its own, the first statement opening every tenant's rows)
inline constexpr const char* stmt_idem_sweep_context = "idem_sweep_ctx";
inline constexpr const char* stmt_idem_sweep = "idem_sweep";

} // namespace crm::storage
