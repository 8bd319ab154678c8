#include "actors/api/api_support.hpp"

#include "http/problem_response.hpp"

#include <caf/all.hpp>

namespace crm::actors {

using protocols::errc;
using protocols::error_of;

http::response json_response(int status, std::string body) {
  http::response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http::response problem_response(const caf::error& err, const http::request& req) {
  return http::problem_response(protocols::to_problem(err), req.trace.trace_id);
}

// Answers `x` with `r`, naming its route for logs and metrics.
void reply(http::exchange& x, http::response r, std::string_view route) {
  r.route = std::string{route};
  x.reply.send(std::move(r));
}

void fail(http::exchange& x, const caf::error& err, std::string_view route) {
  reply(x, problem_response(err, x.req), route);
}

void fail(http::exchange& x, const caf::error& err, std::string_view route, const principal& who) {
  auto r = problem_response(err, x.req);
  r.tenant_id = who.tenant_id;
  r.user_id = who.user_id;
  reply(x, std::move(r), route);
}

// Answers `x` with a JSON body for the caller `who` (named in the log line).
void reply_json(http::exchange& x, std::string_view route, int status, std::string body, const principal& who) {
  auto r = json_response(status, std::move(body));
  r.tenant_id = who.tenant_id;
  r.user_id = who.user_id;
  reply(x, std::move(r), route);
}

bool is_json(std::string_view content_type, bool merge_patch) {
  auto semi = content_type.find(';');
  auto type = protocols::ascii_lower(content_type.substr(0, semi));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return type == "application/json" || (merge_patch && type == "application/merge-patch+json");
}

// The JSON body of `x`, or an error answered already.
std::unique_ptr<protocols::json_body> read_body(http::exchange& x, std::string_view route, bool merge_patch) {
  if (!is_json(x.req.header_value("content-type"), merge_patch)) {
    fail(x, error_of(errc::request_unsupported_media_type, "send application/json"), route);
    return nullptr;
  }
  auto body = std::make_unique<protocols::json_body>(x.req.body);
  if (!body->ok()) {
    fail(x, body->malformed_error(), route);
    return nullptr;
  }
  return body;
}

caf::actor registry_of(const api_deps& deps) { return deps.registry ? deps.registry->get() : caf::actor{}; }

caf::actor storage_of(const api_deps& deps) { return deps.storage ? deps.storage->get() : caf::actor{}; }

} // namespace crm::actors
