// actors/api/guard_api.cpp: the CRM Guard's endpoints (guard:manage;
// docs/GUARD.md). Budgets (GET, POST, PUT and DELETE /api/v1/guard/budgets),
// incidents (GET list with filters, POST .../query with the DSL, GET one,
// POST .../{id}/resolve) and honeytokens (GET, POST, DELETE
// /api/v1/guard/honeytokens). A change to budgets or honeytokens is an
// event (every node's tenant actor reloads on its signal) and is applied on
// this node as soon as it has committed.
#include "actors/api/handlers.hpp"
#include "actors/api/list_params.hpp"
#include "actors/api/query_api.hpp"
#include "actors/api/records.hpp"
#include "actors/identity/identity_messages.hpp"
#include "protocols/entity.hpp"
#include "protocols/guard.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/uuid.hpp"
#include "storage/sql/event_sql.hpp"
#include "storage/sql/guard_sql.hpp"

namespace crm::actors {

using protocols::errc;
using protocols::error_of;
using storage::pg_query;

namespace {

constexpr size_t incident_default_page = 50;
constexpr size_t incident_max_page = 200;

// {"id","scope","metric","window_s","warn","block","created_at","updated_at"} of row `i`.
void write_budget(protocols::json_writer& w, const storage::pg_rows& rows, size_t i) {
  w.begin_object();
  w.key("id").string(rows.cell(i, 0)).key("scope").string(rows.cell(i, 1)).key("metric").string(rows.cell(i, 2));
  w.key("window_s").raw(rows.cell(i, 3)).key("warn").raw(rows.cell(i, 4)).key("block").raw(rows.cell(i, 5));
  w.key("created_at").string(rows.cell(i, 6)).key("updated_at").string(rows.cell(i, 7));
  w.end_object();
}

// {"id","entity","record_id","action","created_at"} of row `i`.
void write_honeytoken(protocols::json_writer& w, const storage::pg_rows& rows, size_t i) {
  w.begin_object();
  w.key("id").string(rows.cell(i, 0)).key("entity").string(rows.cell(i, 1));
  w.key("record_id").string(rows.cell(i, 2)).key("action").string(rows.cell(i, 3));
  w.key("created_at").string(rows.cell(i, 4));
  w.end_object();
}

using row_writer = void (*)(protocols::json_writer&, const storage::pg_rows&, size_t);

// Answers {"data": [rows of set `set`]}.
auto answer_list(const route_context& c, row_writer write, size_t set = 0) {
  return [c, write, set](db_result& res) {
    const auto& rows = res.sets.at(set);
    protocols::json_writer w;
    w.begin_object().key("data").begin_array();
    for (size_t i = 0; i < rows.rows.size(); ++i) write(w, rows, i);
    w.end_array().end_object();
    c.reply_json(200, std::move(w).str());
  };
}

// Answers {"data": row} of set `set`, or 404 `missing`. When `changed`
// (budgets, honeytokens), this node applies the change before answering: the
// caller's next request is judged by it (other nodes on the event's signal).
auto answer_one(const route_context& c, int status, row_writer write, const char* missing, size_t set, bool changed) {
  return [=](db_result& res) {
    const auto& rows = res.sets.at(set);
    if (rows.rows.empty()) return c.fail(error_of(errc::resource_not_found, missing));
    std::string body;
    if (status != 204) {
      protocols::json_writer w;
      w.begin_object().key("data");
      write(w, rows, 0);
      w.end_object();
      body = std::move(w).str();
    }
    auto answer = [c, status, body]() mutable {
      if (status == 204) return c.no_content();
      c.reply_json(status, std::move(body));
    };
    auto registry = c.registry();
    if (!changed || !registry) return answer();
    c.self->request(registry, c.timeout(), greload_atom::value, c.who.tenant_id)
        .then([answer](caf::ok_atom) mutable { answer(); },
              [answer](caf::error&) mutable { answer(); });  // committed: the signal will apply it
  };
}

bool id_param(const route_context& c, const char* missing) {
  if (protocols::is_uuid(c.param)) return true;
  c.fail(error_of(errc::resource_not_found, missing));
  return false;
}

// One change and its event, in one transaction of the caller's tenant.
db_request change(const route_context& c, pg_query q) {
  return db_request{c.who.tenant_id, {storage::event_context(c.traceparent()), std::move(q)}};
}

void write_incident(protocols::json_writer& w, const storage::pg_rows& rows, size_t i) {
  write_record(w, protocols::guard_incident_def(), rows, i, ~uint64_t{0});
}

} // namespace

void list_guard_budgets(route_context c) {
  pg_query q{storage::stmt_guard_budgets, {c.who.tenant_id}, true};
  c.ask(c.storage(), c.timeout(), answer_list(c, write_budget), db_atom::value, db_request{c.who.tenant_id, {std::move(q)}});
}

void create_guard_budget(route_context c) {
  auto b = protocols::read_guard_budget(*c.body);
  if (!b) return c.fail_validation();
  pg_query q{storage::stmt_guard_budget_insert,
             {c.who.tenant_id, b->scope, std::string{protocols::metric_name(b->metric)}, std::to_string(b->window_s),
              std::to_string(b->warn), std::to_string(b->block)},
             true};
  c.ask(c.storage(), c.timeout(), answer_one(c, 201, write_budget, "no such budget", 1, true), db_atom::value,
        change(c, std::move(q)));
}

void put_guard_budget(route_context c) {
  if (!id_param(c, "no such budget")) return;
  auto b = protocols::read_guard_budget(*c.body);
  if (!b) return c.fail_validation();
  pg_query q{storage::stmt_guard_budget_update,
             {c.who.tenant_id, protocols::ascii_lower(c.param), b->scope, std::string{protocols::metric_name(b->metric)},
              std::to_string(b->window_s), std::to_string(b->warn), std::to_string(b->block)},
             true};
  c.ask(c.storage(), c.timeout(), answer_one(c, 200, write_budget, "no such budget", 1, true), db_atom::value,
        change(c, std::move(q)));
}

void delete_guard_budget(route_context c) {
  if (!id_param(c, "no such budget")) return;
  pg_query q{storage::stmt_guard_budget_delete, {c.who.tenant_id, protocols::ascii_lower(c.param)}, true};
  c.ask(c.storage(), c.timeout(), answer_one(c, 204, write_budget, "no such budget", 1, true), db_atom::value,
        change(c, std::move(q)));
}

// GET /api/v1/guard/incidents: newest first; ?user_id, ?severity, ?kind,
// ?resolved=true|false; the DSL's paging (POST .../query for the rest).
void list_guard_incidents(route_context c) {
  protocols::json_body errors{"{}"};
  auto params = read_list_params(c.req().query, incident_default_page, incident_max_page,
                                 {"user_id", "severity", "kind", "resolved"}, errors);
  std::vector<filter_term> filters;
  auto choice = [&](const char* name, std::initializer_list<std::string_view> allowed) {
    auto it = params.extra.find(name);
    if (it == params.extra.end()) return;
    if (std::find(allowed.begin(), allowed.end(), it->second) == allowed.end())
      errors.add_error(name, "choice", std::string{name} + " is not one of its values");
    filters.push_back({name, "eq", it->second});
  };
  choice("severity", {"warn", "block"});
  choice("kind", {"budget", "baseline", "honeytoken"});
  if (auto it = params.extra.find("user_id"); it != params.extra.end()) {
    if (!protocols::is_uuid(it->second)) errors.add_error("user_id", "format", "user_id must be a UUID");
    filters.push_back({"user_id", "eq", protocols::ascii_lower(it->second)});
  }
  if (auto it = params.extra.find("resolved"); it != params.extra.end()) {
    if (it->second != "true" && it->second != "false")
      errors.add_error("resolved", "type", "resolved is true or false");
    filters.push_back({"resolved_at", it->second == "true" ? "is_not_null" : "is_null", {}});
  }
  if (!errors.errors().empty()) return c.fail(errors.validation_error());
  run_query(c, page_body(params.limit, params.after, filters));
}

void get_guard_incident(route_context c) {
  if (!id_param(c, "no such incident")) return;
  pg_query q{storage::stmt_guard_incident_get, {c.who.tenant_id, protocols::ascii_lower(c.param)}, true};
  c.ask(c.storage(), c.timeout(), answer_one(c, 200, write_incident, "no such incident", 0, false), db_atom::value,
        db_request{c.who.tenant_id, {std::move(q)}});
}

// Resolving records who and when; it does not unlock the user (that stays
// POST /api/v1/users/{id}/unlock, audited on its own). Resolving twice
// answers the incident as it is.
void resolve_guard_incident(route_context c) {
  if (!id_param(c, "no such incident")) return;
  auto id = protocols::ascii_lower(c.param);
  auto rq = change(c, pg_query{storage::stmt_guard_incident_resolve, {c.who.tenant_id, id, c.who.user_id}, true});
  rq.queries.push_back(pg_query{storage::stmt_guard_incident_get, {c.who.tenant_id, id}, true});
  c.ask(c.storage(), c.timeout(), answer_one(c, 200, write_incident, "no such incident", 2, false), db_atom::value,
        std::move(rq));
}

void list_guard_honeytokens(route_context c) {
  pg_query q{storage::stmt_guard_honeytokens, {c.who.tenant_id}, true};
  c.ask(c.storage(), c.timeout(), answer_list(c, write_honeytoken), db_atom::value,
        db_request{c.who.tenant_id, {std::move(q)}});
}

// {"entity": "customers", "record_id": "<uuid>", "action": "warn"|"block"}
void create_guard_honeytoken(route_context c) {
  auto& body = *c.body;
  body.allow_only("", {"entity", "record_id", "action"});
  auto entity = body.string("entity", {true, 1, 40});
  if (entity && !protocols::entity_by_path(*entity))
    body.add_error("entity", "choice", "entity must name a CRM entity");
  auto record = body.string("record_id", {true, 36, 36});
  if (record && !protocols::is_uuid(*record)) body.add_error("record_id", "format", "record_id must be a UUID");
  std::string action = "warn";
  if (body.has("action")) {
    auto a = body.string("action", {true, 1, 10});
    if (a && *a != "warn" && *a != "block") body.add_error("action", "choice", "action is warn or block");
    if (a) action = *a;
  }
  if (!body.errors().empty()) return c.fail_validation();
  pg_query q{storage::stmt_guard_honeytoken_insert,
             {c.who.tenant_id, *entity, protocols::ascii_lower(*record), action, c.who.user_id},
             true};
  c.ask(c.storage(), c.timeout(), answer_one(c, 201, write_honeytoken, "no such honeytoken", 1, true), db_atom::value,
        change(c, std::move(q)));
}

void delete_guard_honeytoken(route_context c) {
  if (!id_param(c, "no such honeytoken")) return;
  pg_query q{storage::stmt_guard_honeytoken_delete, {c.who.tenant_id, protocols::ascii_lower(c.param)}, true};
  c.ask(c.storage(), c.timeout(), answer_one(c, 204, write_honeytoken, "no such honeytoken", 1, true), db_atom::value,
        change(c, std::move(q)));
}

} // namespace crm::actors
