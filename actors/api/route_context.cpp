#include "actors/api/route_context.hpp"

#include "http/problem_response.hpp"
#include "protocols/problem.hpp"
#include "protocols/trace.hpp"

#include <caf/all.hpp>

namespace crm::actors {

http::response json_response(int status, std::string body) {
  http::response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

bool is_json(std::string_view content_type, bool merge_patch) {
  auto semi = content_type.find(';');
  auto type = protocols::ascii_lower(content_type.substr(0, semi));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return type == "application/json" || (merge_patch && type == "application/merge-patch+json");
}

std::string route_context::traceparent() const { return protocols::format_traceparent(ex->req.trace); }

caf::actor route_context::registry() const { return deps->registry ? deps->registry->get() : caf::actor{}; }

caf::actor route_context::storage() const { return deps->storage ? deps->storage->get() : caf::actor{}; }

void route_context::reply(http::response r) const {
  r.route = row->pattern;
  if (r.tenant_id.empty()) r.tenant_id = who.tenant_id;
  if (r.user_id.empty()) r.user_id = who.user_id;
  ex->reply.send(std::move(r));
}

void route_context::reply_json(int status, std::string json) const { reply(json_response(status, std::move(json))); }

void route_context::no_content() const {
  http::response r;
  r.status = 204;
  r.content_type.clear();
  reply(std::move(r));
}

void route_context::fail(const caf::error& err) const {
  reply(http::problem_response(protocols::to_problem(err), ex->req.trace.trace_id));
}

} // namespace crm::actors
