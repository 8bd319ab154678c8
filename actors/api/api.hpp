// actors/api/api.hpp
// The /api/v1 handlers the front actor runs for identity (Block 2): platform
// bootstrap, login, logout, me, users, roles; handle_api also dispatches
// the CRM base routes (actors/api/api_entities.hpp). Each reads and validates its body here,
// asks the identity actors with a deadline and answers through the reply
// handle; errors become problems (protocols/problem.cpp).
#pragma once
#include "actors/core/front_slot.hpp"
#include "actors/identity/identity_messages.hpp"
#include "protocols/json_body.hpp"
#include "http/message.hpp"
#include "protocols/jwt.hpp"
#include "protocols/query.hpp"
#include "protocols/router.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace crm::actors {

struct api_deps {
  front_slot* registry = nullptr;  // the tenant registry (actors/identity/identity.hpp)
  front_slot* storage = nullptr;   // the storage actor (actors/data/storage_actor.hpp)
  std::shared_ptr<const protocols::jwt_keyring> keys;
  std::string platform_token;  // secret; empty = bootstrap over HTTP disabled
  std::chrono::milliseconds timeout{5000};
  std::function<int64_t()> now;  // unix seconds
  protocols::query_caps query_caps;               // the query DSL's caps (NEXTCRM_QUERY_*)
  std::chrono::milliseconds query_timeout{2000};  // statement_timeout of a query
  std::string cursor_key;                         // signs query cursors
};

// Runs the handler of the matched route (actors/api/route_table.hpp) for `x`.
void handle_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                http::exchange&& x);

// The body of POST /api/v1/tenants (also `nextcrm admin create-tenant`):
// nullopt with every field error recorded in `body` when it is not valid.
std::optional<tenant_draft> read_tenant_draft(protocols::json_body& body);

// The token of an "Authorization: Bearer <token>" header, or "" if absent or
// of another scheme.
std::string_view bearer_token(std::string_view authorization);

} // namespace crm::actors
