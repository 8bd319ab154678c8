// Tests protocols/problem.cpp: the errc -> RFC 9457 mapping pinned in docs/protocols/ERROR-CONTRACT.md.
#include "protocols/problem.hpp"

#include <caf/sec.hpp>
#include <catch2/catch.hpp>

using namespace crm::protocols;

TEST_CASE("every pinned error code maps to its pinned status", "[protocols][problem]") {
  struct row { errc code; int status; std::string_view name; };
  const row rows[] = {
    {errc::auth_invalid_credentials, 401, "auth.invalid_credentials"},
    {errc::auth_missing_token, 401, "auth.missing_token"},
    {errc::auth_invalid_token, 401, "auth.invalid_token"},
    {errc::auth_session_revoked, 401, "auth.session_revoked"},
    {errc::auth_user_locked, 403, "auth.user_locked"},
    {errc::auth_forbidden, 403, "auth.forbidden"},
    {errc::request_malformed_json, 400, "request.malformed_json"},
    {errc::request_validation, 422, "request.validation"},
    {errc::request_too_large, 413, "request.too_large"},
    {errc::request_unsupported_media_type, 415, "request.unsupported_media_type"},
    {errc::resource_not_found, 404, "resource.not_found"},
    {errc::resource_conflict, 409, "resource.conflict"},
    {errc::resource_precondition_failed, 412, "resource.precondition_failed"},
    {errc::query_unknown_field, 400, "query.unknown_field"},
    {errc::query_field_not_allowed, 400, "query.field_not_allowed"},
    {errc::query_bad_operator, 400, "query.bad_operator"},
    {errc::query_bad_value, 400, "query.bad_value"},
    {errc::query_too_complex, 400, "query.too_complex"},
    {errc::query_page_too_large, 400, "query.page_too_large"},
    {errc::query_bad_cursor, 400, "query.bad_cursor"},
    {errc::guard_blocked, 403, "guard.blocked"},
    {errc::content_not_ready, 409, "content.not_ready"},
    {errc::content_rejected, 422, "content.rejected"},
    {errc::content_token_expired, 410, "content.token_expired"},
    {errc::rate_limited, 429, "rate.limited"},
    {errc::dependency_unavailable, 503, "dependency.unavailable"},
    {errc::internal, 500, "internal"},
    {errc::request_headers_too_large, 431, "request.headers_too_large"},
    {errc::method_not_allowed, 405, "request.method_not_allowed"},
    {errc::request_malformed, 400, "request.malformed"},
    {errc::request_timeout, 408, "request.timeout"},
    {errc::request_version_not_supported, 505, "request.version_not_supported"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    CHECK(kind_of(r.code).status == r.status);
    CHECK(kind_of(r.code).code == r.name);
    CHECK(to_string(r.code) == r.name);
    CHECK_FALSE(kind_of(r.code).title.empty());
  }
}

TEST_CASE("problem_json renders exactly the pinned members", "[protocols][problem]") {
  auto p = make_problem(errc::query_unknown_field, "customers has no field 'nam'");
  CHECK(problem_json(p, "4bf92f3577b34da6a3ce929d0e0e4736") ==
        R"({"type":"https://nextcrm.dev/errors/query.unknown_field","title":"Unknown field",)"
        R"("status":400,"detail":"customers has no field 'nam'","code":"query.unknown_field",)"
        R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"})");
}

TEST_CASE("problem_json escapes the detail and falls back to the title", "[protocols][problem]") {
  auto p = make_problem(errc::request_validation, "field \"x\"\n");
  CHECK(problem_json(p, "t").find(R"("detail":"field \"x\"\n")") != std::string::npos);
  CHECK(problem_json(make_problem(errc::resource_not_found, ""), "t")
            .find(R"("detail":"Not found")") != std::string::npos);
}

TEST_CASE("to_problem keeps our codes and hides everything else", "[protocols][problem]") {
  auto ours = to_problem(error_of(errc::resource_conflict, "sku exists"));
  CHECK(ours.kind.status == 409);
  CHECK(ours.detail == "sku exists");
  CHECK(to_problem(caf::make_error(caf::sec::request_timeout)).kind.code == "dependency.unavailable");
  CHECK(to_problem(caf::make_error(caf::sec::request_receiver_down)).kind.status == 503);
  auto other = to_problem(caf::make_error(caf::sec::runtime_error, "segfault at 0xdead in pg"));
  CHECK(other.kind.status == 500);
  CHECK(other.detail.find("0xdead") == std::string::npos);
}

TEST_CASE("rate.limited carries its Retry-After seconds", "[protocols][problem]") {
  auto p = to_problem(caf::make_error(errc::rate_limited, "slow down", std::string{"42"}));
  CHECK(p.kind.status == 429);
  CHECK(p.retry_after == "42");
  CHECK(p.errors_json.empty());
}
