// actors/api/route_context.hpp
// What every /api/v1 handler is given, once the prologue (actors/api/api.cpp)
// has done what the route's row asks for: the row itself (pattern,
// permission, entity), the exchange, the caller (routes with
// route_auth::session), the parsed body (body_media::json and
// json_or_merge_patch) and the path parameter. A handler validates what is
// its own, asks actors with a deadline and answers through `reply`/`fail`;
// every answer names the route and the caller for logs and metrics.
#pragma once
#include "actors/api/api.hpp"
#include "actors/guard/guard.hpp"
#include "storage/pg/pg_pool.hpp"
#include "protocols/content_access.hpp"
#include "protocols/errc.hpp"
#include "protocols/json_body.hpp"

#include <caf/event_based_actor.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace crm::actors {

// The guard's part of one call (docs/GUARD.md): the snapshot it was judged
// by, its level and RateLimit state, and what it cost, added to the user's
// gauge once the answer has left.
struct guard_ticket {
  snapshot_ptr snap;
  protocols::guard_level level = protocols::guard_level::none;
  size_t tightest = 0;              // the budget the RateLimit headers name (== budgets: none)
  std::string state;                // RateLimit
  int64_t rows = 0;                 // records returned
  std::vector<uint64_t> ids;        // their id hashes (distinct_records), when the snapshot wants them
  std::vector<std::string> honey;   // honeytoken record ids among them
  std::string entity;               // their entity
};

struct idempotency_ticket;  // actors/api/idempotency.hpp

struct route_context {
  caf::event_based_actor* self = nullptr;
  const api_deps* deps = nullptr;
  const protocols::route* row = nullptr;  // the matched route (lives as long as the router)
  std::shared_ptr<http::exchange> ex;
  std::string param;  // the path's {id} or {name}; "" when the pattern has none
  principal who;      // the caller; empty on routes without a session
  std::shared_ptr<protocols::json_body> body;  // the parsed body of json routes
  std::shared_ptr<guard_ticket> guard;         // set when the caller's budget actor admitted the call
  std::shared_ptr<const protocols::content_token> download;  // GET /content/v1/download: the verified token
  std::shared_ptr<idempotency_ticket> idem;    // a keyed write (Idempotency-Key)

  const http::request& req() const { return ex->req; }
  std::string_view route() const { return row->pattern; }
  const protocols::entity_def& entity() const { return *row->entity; }  // routes that name one
  std::chrono::milliseconds timeout() const { return deps->timeout; }
  // The W3C traceparent of this server's span: the events' of a change.
  std::string traceparent() const;
  caf::actor registry() const;  // invalid while the registry restarts: the request then fails
  caf::actor storage() const;

  // Records returned to the caller (rows_read, distinct_records, honeytokens):
  // the ids in column 0 of the first `n` rows.
  void count_rows(const storage::pg_rows& rows, size_t n) const;

  // Answers with `r`, naming the route and the caller; adds the guard's
  // headers and reports the call's cost to the caller's budget actor. The
  // answer of a committed keyed write is stored first (idempotency.hpp).
  void reply(http::response r) const;
  // Answers with a JSON body.
  void reply_json(int status, std::string json) const;
  // Answers 204 without a body.
  void no_content() const;
  // Answers with the problem of `err` (protocols/problem.cpp).
  void fail(const caf::error& err) const;
  // The body's field errors as one 422.
  void fail_validation() const { fail(body->validation_error()); }

  // Asks `dest` and hands its answer to `then`; an error or a missed
  // deadline is answered as a problem.
  template <class F, class... Ts>
  void ask(const caf::actor& dest, std::chrono::milliseconds deadline, F then, Ts&&... xs) const {
    self->request(dest, deadline, std::forward<Ts>(xs)...)
        .then(std::move(then), [c = *this](caf::error& e) { c.fail(e); });
  }
};

http::response json_response(int status, std::string body);

// application/json (and application/merge-patch+json when `merge_patch`).
bool is_json(std::string_view content_type, bool merge_patch = false);

} // namespace crm::actors
