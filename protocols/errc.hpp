// protocols/errc.hpp
// The one error vocabulary of Next_CRM: one enumerator per code pinned in
// docs/protocols/ERROR-CONTRACT.md. Every layer returns these (as caf::error); only protocols/problem.cpp
// knows their HTTP status and title.
#pragma once
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <cstdint>
#include <string>

namespace crm::protocols {

enum class errc : uint8_t {
  none = 0,
  auth_invalid_credentials,        // 401 auth.invalid_credentials
  auth_missing_token,              // 401 auth.missing_token
  auth_invalid_token,              // 401 auth.invalid_token
  auth_session_revoked,            // 401 auth.session_revoked
  auth_user_locked,                // 403 auth.user_locked
  auth_forbidden,                  // 403 auth.forbidden (RBAC)
  request_malformed,               // 400 request.malformed (unparseable HTTP)
  request_malformed_json,          // 400 request.malformed_json
  request_validation,              // 422 request.validation
  request_too_large,               // 413 request.too_large
  request_headers_too_large,       // 431 request.headers_too_large
  request_timeout,                 // 408 request.timeout
  request_version_not_supported,   // 505 request.version_not_supported (not HTTP/1.x)
  request_unsupported_media_type,  // 415 request.unsupported_media_type
  method_not_allowed,              // 405 request.method_not_allowed (with Allow)
  resource_not_found,              // 404 resource.not_found, also another tenant's record
  resource_conflict,               // 409 resource.conflict
  resource_precondition_failed,    // 412 resource.precondition_failed
  query_unknown_field,             // 400 query.unknown_field
  query_field_not_allowed,         // 400 query.field_not_allowed
  query_bad_operator,              // 400 query.bad_operator
  query_bad_value,                 // 400 query.bad_value
  query_too_complex,               // 400 query.too_complex
  query_page_too_large,            // 400 query.page_too_large
  query_bad_cursor,                // 400 query.bad_cursor
  guard_blocked,                   // 403 guard.blocked
  content_not_ready,               // 409 content.not_ready
  content_rejected,                // 422 content.rejected
  content_token_expired,           // 410 content.token_expired
  idempotency_invalid_key,         // 400 idempotency.invalid_key
  idempotency_key_reused,          // 422 idempotency.key_reused (same key, another request)
  idempotency_in_progress,         // 409 idempotency.in_progress (with Retry-After)
  rate_limited,                    // 429 rate.limited
  dependency_unavailable,          // 503 dependency.unavailable
  internal,                        // 500 internal, never with internals in detail
};

// The dotted code of `code` as pinned in docs/openapi.yaml, e.g. "resource.not_found".
std::string to_string(errc code);

// Builds the error every layer returns; `detail` is shown to clients, so it
// must never carry internals (SQL, stack, secrets).
caf::error error_of(errc code, std::string detail = {});

} // namespace crm::protocols

CAF_ERROR_CODE_ENUM(crm::protocols::errc, "crm")
