// actors/data/storage_messages.hpp
// What the storage actor (actors/data/storage_actor.hpp) takes and answers:
// one transaction per message. Local-only (rows are not serialized).
#pragma once
#include "storage/pg/pg_pool.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <string>
#include <vector>

namespace crm::actors {

using db_atom = caf::atom_constant<caf::atom("db")>;            // run one transaction
using db_done_atom = caf::atom_constant<caf::atom("dbdone")>;   // pool callback -> storage actor

// One transaction for the storage actor: queries, tenant-scoped when
// `tenant` is set.
struct db_request {
  std::string tenant;
  std::vector<storage::pg_query> queries;
};

// One pg_rows per query of the request.
struct db_result {
  std::vector<storage::pg_rows> sets;
};

} // namespace crm::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::db_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::db_result)
