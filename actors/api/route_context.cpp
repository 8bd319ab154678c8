#include "actors/api/route_context.hpp"

#include "actors/api/guard_front.hpp"
#include "actors/api/idempotency.hpp"

#include "http/problem_response.hpp"
#include "protocols/problem.hpp"
#include "protocols/trace.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <mutex>

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
  auto& t = *guard;
  n = std::min(n, rows.rows.size());
  t.rows += static_cast<int64_t>(n);
  if (row->entity) t.entity = row->entity->path;
  if (!t.snap->wants_ids) return;
  const auto* honey = t.snap->honeytokens.get();
  for (size_t i = 0; i < n; ++i) {
    const auto& id = rows.cell(i, 0);
    auto h = id_hash(id);
    t.ids.push_back(h);
    if (honey && honey->count(h)) t.honey.push_back(id);
  }
}

void route_context::reply(http::response r) const {
  if (idem && idem->committed && !idem->stored) return idempotency_store(*this, std::move(r));
  r.route = row->pattern;
  if (r.tenant_id.empty()) r.tenant_id = who.tenant_id;
  if (r.user_id.empty()) r.user_id = who.user_id;
  if (!guard || !who.gauge) return ex->reply.send(std::move(r));
  auto& t = *guard;
  if (t.level == protocols::guard_level::warn) r.headers.emplace_back("X-Guard", "warn");
  if (t.tightest < t.snap->policies.size()) {
    r.headers.emplace_back("RateLimit-Policy", t.snap->policies[t.tightest]);
    r.headers.emplace_back("RateLimit", std::move(t.state));
  }
  bool ok = r.status >= 200 && r.status < 300;
  auto downloads = static_cast<int64_t>(r.cost.downloads);
  ex->reply.send(std::move(r));
  // after the answer has left: what the call cost
  using protocols::guard_metric;
  auto& g = *who.gauge;
  auto add = [&g](guard_metric m, int64_t n) { g.counted[static_cast<size_t>(m)].fetch_add(n, std::memory_order_relaxed); };
  const auto& method = row->method;
  bool query = row->pattern.size() >= 6 && row->pattern.compare(row->pattern.size() - 6, 6, "/query") == 0;
  if (ok && (method == "GET" || query)) add(guard_metric::reads, 1);
  else if (ok && method == "DELETE") add(guard_metric::deletes, 1);
  else if (ok) add(guard_metric::writes, 1);
  if (ok && downloads > 0) add(guard_metric::downloads, downloads);
  if (t.rows > 0) {
    add(guard_metric::rows_read, t.rows);
    if (!t.ids.empty()) {
      // new since the last flush: an upper bound of the distinct ones until Redis says
      int64_t fresh = 0;
      {
        std::lock_guard<std::mutex> lock{g.ids_mutex};
        for (auto h : t.ids) {
          if (g.ids.size() >= guard_gauge::max_ids) ++fresh;  // full (Redis away): counted, not kept
          else fresh += g.ids.insert(h).second ? 1 : 0;
        }
      }
      add(guard_metric::distinct_records, fresh);
    }
  }
  for (const auto& id : t.honey) self->send(who.guard, ghoney_atom::value, guard_call_of(*this), t.entity, id);
  guard_after(*this);
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
