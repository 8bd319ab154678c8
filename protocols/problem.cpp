#include "protocols/problem.hpp"

#include "protocols/json_writer.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace crm::protocols {

problem_kind kind_of(errc code) {
  switch (code) {  // no default: -Wswitch flags an errc without a row
    case errc::auth_invalid_credentials: return {401, "auth.invalid_credentials", "Invalid credentials"};
    case errc::auth_missing_token: return {401, "auth.missing_token", "Missing token"};
    case errc::auth_invalid_token: return {401, "auth.invalid_token", "Invalid token"};
    case errc::auth_session_revoked: return {401, "auth.session_revoked", "Session revoked"};
    case errc::auth_user_locked: return {403, "auth.user_locked", "User locked"};
    case errc::auth_forbidden: return {403, "auth.forbidden", "Forbidden"};
    case errc::request_malformed: return {400, "request.malformed", "Malformed request"};
    case errc::request_malformed_json: return {400, "request.malformed_json", "Malformed JSON"};
    case errc::request_validation: return {422, "request.validation", "Validation failed"};
    case errc::request_too_large: return {413, "request.too_large", "Request body too large"};
    case errc::request_headers_too_large:
      return {431, "request.headers_too_large", "Request header fields too large"};
    case errc::request_timeout: return {408, "request.timeout", "Request timeout"};
    case errc::request_version_not_supported:
      return {505, "request.version_not_supported", "HTTP version not supported"};
    case errc::request_unsupported_media_type:
      return {415, "request.unsupported_media_type", "Unsupported media type"};
    case errc::method_not_allowed: return {405, "request.method_not_allowed", "Method not allowed"};
    case errc::resource_not_found: return {404, "resource.not_found", "Not found"};
    case errc::resource_conflict: return {409, "resource.conflict", "Conflict"};
    case errc::resource_precondition_failed:
      return {412, "resource.precondition_failed", "Precondition failed"};
    case errc::query_unknown_field: return {400, "query.unknown_field", "Unknown field"};
    case errc::query_field_not_allowed: return {400, "query.field_not_allowed", "Field not allowed"};
    case errc::query_bad_operator: return {400, "query.bad_operator", "Bad operator"};
    case errc::query_bad_value: return {400, "query.bad_value", "Bad value"};
    case errc::query_too_complex: return {400, "query.too_complex", "Query too complex"};
    case errc::query_page_too_large: return {400, "query.page_too_large", "Page too large"};
    case errc::query_bad_cursor: return {400, "query.bad_cursor", "Bad cursor"};
    case errc::guard_blocked: return {403, "guard.blocked", "Blocked by guard"};
    case errc::content_not_ready: return {409, "content.not_ready", "Content not ready"};
    case errc::content_rejected: return {422, "content.rejected", "Content rejected"};
    case errc::content_token_expired: return {410, "content.token_expired", "Download token expired"};
    case errc::idempotency_invalid_key: return {400, "idempotency.invalid_key", "Invalid idempotency key"};
    case errc::idempotency_key_reused: return {422, "idempotency.key_reused", "Idempotency key reused"};
    case errc::idempotency_in_progress: return {409, "idempotency.in_progress", "Request in progress"};
    case errc::rate_limited: return {429, "rate.limited", "Too many requests"};
    case errc::dependency_unavailable: return {503, "dependency.unavailable", "Service unavailable"};
    case errc::none:
    case errc::internal: break;
  }
  return {500, "internal", "Internal error"};
}

std::string to_string(errc code) { return std::string{kind_of(code).code}; }

caf::error error_of(errc code, std::string detail) {
  return caf::make_error(code, std::move(detail));
}

problem make_problem(errc code, std::string detail) { return {kind_of(code), std::move(detail), {}, {}}; }

problem to_problem(const caf::error& err) {
  if (err.category() == caf::atom("crm")) {
    auto code = static_cast<errc>(err.code());
    std::string detail;
    const auto& ctx = err.context();
    if (ctx.size() >= 1 && ctx.match_element<std::string>(0))
      detail = ctx.get_as<std::string>(0);
    auto p = make_problem(code, std::move(detail));
    if (ctx.size() >= 2 && ctx.match_element<std::string>(1)) {
      if (code == errc::rate_limited || code == errc::idempotency_in_progress) p.retry_after = ctx.get_as<std::string>(1);
      else p.errors_json = ctx.get_as<std::string>(1);
    }
    return p;
  }
  if (err == caf::sec::request_timeout || err == caf::sec::request_receiver_down)
    return make_problem(errc::dependency_unavailable, "a backend component did not answer in time");
  return make_problem(errc::internal, "the server failed to process the request");
}

std::string problem_json(const problem& p, std::string_view trace_id) {
  json_writer w;
  w.begin_object();
  w.key("type").string(std::string{"https://nextcrm.dev/errors/"}.append(p.kind.code));
  w.key("title").string(p.kind.title);
  w.key("status").number(p.kind.status);
  w.key("detail").string(p.detail.empty() ? p.kind.title : std::string_view{p.detail});
  w.key("code").string(p.kind.code);
  w.key("trace_id").string(trace_id);
  if (!p.errors_json.empty()) w.key("errors").raw(p.errors_json);
  w.end_object();
  return std::move(w).str();
}

} // namespace crm::protocols
