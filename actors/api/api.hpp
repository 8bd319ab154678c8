// actors/api/api.hpp
// The /api/v1 handlers the front actors run. handle_api does what the
// route's row (actors/api/route_table.cpp) asks for before any handler runs
// (the caller's token and session, its permission, the body's media type
// and JSON) and calls the route's handler (actors/api/handlers.hpp) with one
// route_context (actors/api/route_context.hpp).
#pragma once
#include "actors/core/front_slot.hpp"
#include "actors/identity/identity_messages.hpp"
#include "http/message.hpp"
#include "protocols/json_body.hpp"
#include "protocols/jwt.hpp"
#include "protocols/query.hpp"
#include "protocols/router.hpp"
#include "protocols/webhook.hpp"

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
  protocols::webhook_allowlist webhook_allow;     // NEXTCRM_WEBHOOK_ALLOW_HOSTS
  // The content pipeline (docs/CONTENT.md)
  front_slot* content_pool = nullptr;  // this node's pool (content role), or none
  std::string content_dir;             // quarantine and store below it
  std::string content_token_key;       // signs download tokens
  int64_t content_max_upload = 256ll << 20;
  int64_t content_token_ttl_s = 120;
};

// Runs the prologue and the handler of the matched route for `x`.
void handle_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                http::exchange&& x);

// True when route id `id` has a handler (every /api/v1 row must).
bool has_handler(int id);

// The body of POST /api/v1/tenants (also `nextcrm admin create-tenant`):
// nullopt with every field error recorded in `body` when it is not valid.
std::optional<tenant_draft> read_tenant_draft(protocols::json_body& body);

// The token of an "Authorization: Bearer <token>" header, or "" if absent or
// of another scheme.
std::string_view bearer_token(std::string_view authorization);

} // namespace crm::actors
