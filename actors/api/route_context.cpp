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

void route_context::count_rows(const storage::pg_rows& rows, size_t n) const {
  if (!guard) return;
  auto& ids = guard->cost.ids;
  for (size_t i = 0; i < n && i < rows.rows.size(); ++i) ids.push_back(rows.cell(i, 0));
  if (row->entity) guard->cost.entity = row->entity->path;
}

void route_context::reply(http::response r) const {
  r.route = row->pattern;
  if (r.tenant_id.empty()) r.tenant_id = who.tenant_id;
  if (r.user_id.empty()) r.user_id = who.user_id;
  if (!guard || !who.guard) return ex->reply.send(std::move(r));
  const auto& v = guard->verdict;
  if (v.level == protocols::guard_level::warn) r.headers.emplace_back("X-Guard", "warn");
  if (!v.policy.empty()) {
    r.headers.emplace_back("RateLimit-Policy", v.policy);
    r.headers.emplace_back("RateLimit", v.state);
  }
  bool ok = r.status >= 200 && r.status < 300;
  ex->reply.send(std::move(r));
  // after the answer has left: what the call cost
  auto& cost = guard->cost;
  const auto& method = row->method;
  bool query = row->pattern.size() >= 6 && row->pattern.compare(row->pattern.size() - 6, 6, "/query") == 0;
  bool read = method == "GET" || query;
  if (ok && read) cost.reads = 1;
  else if (ok && method == "DELETE") cost.deletes = 1;
  else if (ok) cost.writes = 1;
  self->send(who.guard, gcost_atom::value, std::move(cost));
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
