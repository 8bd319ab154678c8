// actors/api/records.hpp
// What the handlers of CRM records share (records, attachments, queries):
// the caller's field-level access, rows shaped as JSON (a field the profile
// cannot read is absent from every answer), and one transaction sent to
// the storage actor with database errors told in the client's terms.
#pragma once
#include "actors/api/route_context.hpp"
#include "actors/data/storage_messages.hpp"
#include "protocols/entity.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/values.hpp"
#include "storage/pg/pg_pool.hpp"

#include <caf/all.hpp>

#include <memory>
#include <vector>

namespace crm::actors {

// The caller's access profile (an empty one if none was resolved).
const protocols::access_profile& profile_of(const principal& who);

// The fields of `e` the caller may read: its profile's allowlist, and the
// id, which addresses the record and is always readable (ADR-0033).
uint64_t readable_of(const principal& who, const protocols::entity_def& e);

caf::error record_not_found(const protocols::entity_def& e);

// Row `row` of `rows` (columns in registry order) with the fields of `mask`.
void write_record(protocols::json_writer& w, const protocols::entity_def& e, const storage::pg_rows& rows,
                  size_t row, uint64_t mask);

// {"data":{record}} with its ETag and, for 201, its Location; 304 when
// `conditional` and the client's copy (If-None-Match) is current.
void answer_record(const route_context& c, int status, const storage::pg_rows& rows, bool conditional = false);

// The write context of the audit trigger: who writes, in which trace, from
// which client address. First statement of every write transaction. A
// keyed write (c.idem) of record `record_id` also records its key there.
storage::pg_query write_context(const route_context& c, std::string_view record_id = {});
// The same for a keyed write of another resource ("webhooks/<id>",
// "customers/<id>/attachments/<id>"): what its answer is rebuilt from.
storage::pg_query write_context_of(const route_context& c, const std::string& resource);

// The values of a create or PATCH, kept to name missing references.
using written_values = std::shared_ptr<const std::vector<protocols::field_value>>;

// Sends `queries` as one transaction of the caller's tenant and hands the
// result sets to `then`. Errors are answered: constraint violations in the
// client's terms (`deleting`: a record still referred to is a 409; on a
// write, a missing reference is a 422 naming every such field of `written`).
void run_records(const route_context& c, std::vector<storage::pg_query> queries, bool deleting,
                 std::function<void(std::vector<storage::pg_rows>&)> then, written_values written = nullptr);

} // namespace crm::actors
