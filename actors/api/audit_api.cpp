// actors/api/audit_api.cpp: GET /api/v1/audit-logs (audit:read), the newest
// entries first, filtered by `entity` and `entity_id`, paged by `limit`
// (1-200, default 50) and `after`; each entry's `changes` keep only the
// fields the reader's profile may read. It is the audit query of the DSL
// (POST /api/v1/audit-logs/query, query_api.cpp) with those filters, so
// both page alike and share their cursors.
#include "actors/api/handlers.hpp"
#include "actors/api/list_params.hpp"
#include "actors/api/query_api.hpp"
#include "protocols/json_writer.hpp"
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
  std::vector<std::pair<const char*, std::string>> filters;
  if (auto it = params.extra.find("entity"); it != params.extra.end()) {
    if (!protocols::entity_by_path(it->second))
      errors.add_error("entity", "choice", "entity must name a CRM entity");
    filters.emplace_back("entity", it->second);
  }
  if (auto it = params.extra.find("entity_id"); it != params.extra.end()) {
    if (!protocols::is_uuid(it->second)) errors.add_error("entity_id", "format", "entity_id must be a UUID");
    filters.emplace_back("entity_id", protocols::ascii_lower(it->second));
  }
  if (!errors.errors().empty()) return c.fail(errors.validation_error());
  protocols::json_writer w;
  w.begin_object();
  if (!filters.empty()) {
    w.key("filter").begin_object().key("and").begin_array();
    for (const auto& [field, value] : filters)
      w.begin_object().key("field").string(field).key("op").string("eq").key("value").string(value).end_object();
    w.end_array().end_object();
  }
  w.key("page").begin_object().key("size").number(static_cast<uint64_t>(params.limit));
  if (!params.after.empty()) w.key("after").string(params.after);
  w.end_object().end_object();
  run_query(c, w.view());
}

} // namespace crm::actors
