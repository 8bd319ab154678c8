// actors/api/api_support.hpp
// What every /api/v1 handler shares: answering with JSON or a problem,
// reading a JSON body, and authenticating the caller (token, session,
// RBAC) before anything else runs.
#pragma once
#include "actors/api/api.hpp"
#include "protocols/errc.hpp"
#include "protocols/uuid.hpp"

#include <caf/event_based_actor.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace crm::actors {

http::response json_response(int status, std::string body);
http::response problem_response(const caf::error& err, const http::request& req);

// Answers `x` with `r`, naming its route for logs and metrics.
void reply(http::exchange& x, http::response r, std::string_view route);
void fail(http::exchange& x, const caf::error& err, std::string_view route);
// The same for an authenticated caller (named in the log line).
void fail(http::exchange& x, const caf::error& err, std::string_view route, const principal& who);
// Answers `x` with a JSON body for the caller `who` (named in the log line).
void reply_json(http::exchange& x, std::string_view route, int status, std::string body, const principal& who);

// application/json (and application/merge-patch+json when `merge_patch`).
bool is_json(std::string_view content_type, bool merge_patch = false);
// The JSON body of `x`, or nullptr with the error answered already.
std::unique_ptr<protocols::json_body> read_body(http::exchange& x, std::string_view route, bool merge_patch = false);

// The current tenant registry / storage actor (invalid while one restarts).
caf::actor registry_of(const api_deps& deps);
caf::actor storage_of(const api_deps& deps);

// Verifies the bearer token and asks the identity actors for its principal
// (RBAC: `permission` unless empty); `then` runs with it, errors are
// answered here.
template <class F>
void authenticate(caf::event_based_actor* self, const api_deps& deps, std::shared_ptr<http::exchange> ex,
                  std::string_view route, std::string permission, F then) {
  using protocols::errc;
  using protocols::error_of;
  auto token = bearer_token(ex->req.header_value("authorization"));
  if (token.empty())
    return fail(*ex, error_of(errc::auth_missing_token, "send Authorization: Bearer <token>"), route);
  auto claims = protocols::verify_jwt(token, *deps.keys, deps.now());
  if (!claims) return fail(*ex, claims.error(), route);
  if (!protocols::is_uuid(claims->tid) || !protocols::is_uuid(claims->sid) || !protocols::is_uuid(claims->sub))
    return fail(*ex, error_of(errc::auth_invalid_token, "the token's ids are malformed"), route);
  self->request(registry_of(deps), deps.timeout, auth_atom::value, claims->tid, claims->sid, claims->sub,
                std::move(permission))
      .then([ex, then](principal& who) mutable { then(who); }, [ex, route](caf::error& e) { fail(*ex, e, route); });
}

} // namespace crm::actors
