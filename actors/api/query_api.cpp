// actors/api/query_api.cpp: the query DSL over HTTP (docs/protocols/QUERY-DSL.md):
// POST /api/v1/{entity}/query, GET /api/v1/{entity} (`?limit`, `?after`:
// the DSL's first page in the default order, and the pages after it) and
// POST /api/v1/audit-logs/query. The plan is built here (protocols/query.cpp:
// only registry names and $n reach the SQL, the caller's readable fields
// bound what may be filtered, sorted and shown), the storage actor runs it
// as a cached prepared shape, and the page is written with its signed next
// cursor. GET /api/v1/audit-logs runs through run_query too (audit_api.cpp).
#include "actors/api/handlers.hpp"
#include "actors/api/list_params.hpp"
#include "actors/api/query_api.hpp"
#include "actors/api/records.hpp"
#include "storage/sql/entity_sql.hpp"

namespace crm::actors {

void run_query(const route_context& c, std::string_view body) {
  const auto& e = c.entity();
  bool audit = &e == &protocols::audit_log_def();
  bool server_log = audit || &e == &protocols::guard_incident_def();  // every field readable by its permission
  const auto& deps = *c.deps;
  protocols::query_scope scope{&e, server_log ? ~uint64_t{0} : readable_of(c.who, e), c.who.tenant_id,
                               deps.cursor_key};
  auto plan = protocols::plan_query(body, scope, deps.query_caps);
  if (!plan) return c.fail(plan.error());
  // the audit log's `changes` keep only what the reader may read
  std::optional<std::vector<std::string>> readable_paths;
  if (audit) readable_paths = profile_of(c.who).readable_paths();
  auto queries =
      storage::query_statements(e, *plan, std::to_string(deps.query_timeout.count()), std::move(readable_paths));
  auto shared_plan = std::make_shared<protocols::query_plan>(std::move(*plan));
  c.ask(
      c.storage(), c.timeout(),
      [c, shared_plan, scope](db_result& res) {
        const auto& rows = res.sets.at(1);
        const auto& plan = *shared_plan;
        size_t shown = std::min(rows.rows.size(), plan.page_size);
        c.count_rows(rows, shown);
        protocols::json_writer w;
        w.begin_object().key("data").begin_array();
        for (size_t i = 0; i < shown; ++i) write_record(w, c.entity(), rows, i, plan.fields);
        w.end_array().key("page").begin_object().key("size").number(static_cast<uint64_t>(plan.page_size));
        w.key("next_cursor");
        if (rows.rows.size() > plan.page_size && shown > 0) {
          std::vector<std::optional<std::string>> last;
          for (const auto& k : plan.sort) last.push_back(rows.rows[shown - 1].at(k.field));
          w.string(protocols::make_cursor(plan, scope, last));
        } else {
          w.null();
        }
        w.end_object().end_object();
        c.reply_json(200, std::move(w).str());
      },
      db_atom::value, db_request{c.who.tenant_id, std::move(queries)});
}

std::string page_body(size_t size, std::string_view after) { return page_body(size, after, {}); }

std::string page_body(size_t size, std::string_view after, const std::vector<filter_term>& terms) {
  protocols::json_writer w;
  w.begin_object();
  if (!terms.empty()) {
    w.key("filter").begin_object().key("and").begin_array();
    for (const auto& t : terms) {
      if (t.op == "is_not_null") {
        w.begin_object().key("not").begin_object().key("field").string(t.field).key("op").string("is_null");
        w.end_object().end_object();
        continue;
      }
      w.begin_object().key("field").string(t.field).key("op").string(t.op);
      if (t.op != "is_null") w.key("value").string(t.value);
      w.end_object();
    }
    w.end_array().end_object();
  }
  w.key("page").begin_object().key("size").number(static_cast<uint64_t>(size));
  if (!after.empty()) w.key("after").string(after);
  w.end_object().end_object();
  return std::move(w).str();
}

void query_records(route_context c) {
  if (c.row->media == protocols::body_media::json_text) return run_query(c, c.req().body);
  // GET: the default filter and order, paged by ?limit and ?after
  protocols::json_body errors{"{}"};
  const auto& caps = c.deps->query_caps;
  auto params = read_list_params(c.req().query, caps.default_page, caps.max_page, {}, errors);
  if (!errors.errors().empty()) return c.fail(errors.validation_error());
  run_query(c, page_body(params.limit, params.after));
}

} // namespace crm::actors
