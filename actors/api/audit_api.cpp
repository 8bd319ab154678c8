// actors/api/audit_api.cpp: GET /api/v1/audit-logs (audit:read), the newest
// entries first, filtered by `entity` and `entity_id`, paged by `limit`
// (1-200, default 50) and `after`; each entry's `changes` keep only the
// fields the reader's profile may read. It is the audit query of the DSL
// (POST /api/v1/audit-logs/query, query_api.cpp) with those filters, so
// both page alike and share their cursors.
#include "actors/api/handlers.hpp"
#include "actors/api/list_params.hpp"
#include "actors/api/query_api.hpp"
#include "protocols/uuid.hpp"

namespace crm::actors {

namespace {

constexpr size_t audit_default_page = 50;
constexpr size_t audit_max_page = 200;

} // namespace

void list_audit(route_context c) {
  protocols::json_body errors{"{}"};
  auto params =
      read_list_params(c.req().query, audit_default_page, audit_max_page, {"entity", "entity_id"}, errors);
  std::vector<filter_term> filters;
  if (auto it = params.extra.find("entity"); it != params.extra.end()) {
    if (!protocols::entity_by_path(it->second) && it->second != "attachments")
      errors.add_error("entity", "choice", "entity must name a CRM entity or attachments");
    filters.push_back({"entity", "eq", it->second});
  }
  if (auto it = params.extra.find("entity_id"); it != params.extra.end()) {
    if (!protocols::is_uuid(it->second)) errors.add_error("entity_id", "format", "entity_id must be a UUID");
    filters.push_back({"entity_id", "eq", protocols::ascii_lower(it->second)});
  }
  if (!errors.errors().empty()) return c.fail(errors.validation_error());
  run_query(c, page_body(params.limit, params.after, filters));
}

} // namespace crm::actors
