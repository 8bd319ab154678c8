// actors/api/idempotency.hpp
// Idempotency-Key on the writes of CRM records (docs/IDEMPOTENCY.md,
// ADR-0054): POST, PATCH and DELETE of /api/v1/{entity}[/{id}], POST of
// /api/v1/{entity}/{id}/attachments, /api/v1/webhooks and
// /content/v1/uploads (its fingerprint takes the file's SHA-256). A key names
// one write of one user for 24 hours, on every node:
//  - the write's transaction records the key (stmt_write_context_keyed): the
//    key exists if and only if the write committed, and a second request
//    with the same key runs into its primary key and rolls back;
//  - the answer is stored before it is sent; a retry gets it again
//    (`Idempotent-Replayed: true`);
//  - a retry while the first is between commit and answer gets 409
//    idempotency.in_progress (Retry-After); once that has lasted longer than
//    a request can (its node died after the commit), the answer is rebuilt
//    from the record as it is now, stored, and sent;
//  - the same key with another request (method, target or body) is 422.
#pragma once
#include "actors/api/route_context.hpp"

#include <functional>
#include <string>
#include <vector>

namespace crm::actors {

struct idempotency_ticket {
  std::string key;
  std::string fingerprint;
  bool committed = false;  // the write's transaction (which recorded the key) committed
  bool stored = false;     // its answer went to be stored
};

// Does this request carry a key for a route that honors it?
bool keyed_request(const route_context& c);

// The prologue's step for a keyed request: a malformed key is 400; a key in
// use answers as above; an unknown key runs `next` with c.idem set.
void idempotency_admit(route_context&& c, void (*next)(route_context&&));

// Sends `queries` (the first a write_context_of the resource) as one
// transaction; a keyed write marked committed when it did, a run into the
// same key's row answered as idempotency_conflict (after `lost_race`: the
// other request wrote, this one's leftovers may go), other errors to
// `failed` (answered as they are without it).
void run_keyed(const route_context& c, std::vector<storage::pg_query> queries,
               std::function<void(db_result&)> then, std::function<void(caf::error&)> failed = {},
               std::function<void()> lost_race = {});

// The keyed write ran into the same key's row (another request committed
// it meanwhile): answers as idempotency_admit would now.
void idempotency_conflict(const route_context& c);

// route_context::reply's path for a committed keyed write: stores `r` as
// the key's answer, then sends it (also when storing failed: the answer is
// then rebuilt for a retry).
void idempotency_store(const route_context& c, http::response r);

} // namespace crm::actors
