#include "storage/sql/entity_sql.hpp"

#include "storage/sql/event_sql.hpp"

#include "protocols/access_profile.hpp"
#include "protocols/query.hpp"
#include "protocols/values.hpp"

namespace crm::storage {

using protocols::entity_def;
using protocols::field_def;
using protocols::field_kind;

namespace {

constexpr const char* rfc3339_us = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

std::string timestamp_text(const std::string& column) {
  return "to_char(" + column + " AT TIME ZONE 'UTC', " + rfc3339_us + ")";
}

const char* sql_type(const field_def& d) { return protocols::sql_type_of(d); }

// The expression that renders column `d` as text.
std::string column_text(const field_def& d, const std::string& alias = "") {
  auto col = alias + d.name;
  switch (d.kind) {
    case field_kind::timestamp: return timestamp_text(col);
    case field_kind::date: return "to_char(" + col + ", 'YYYY-MM-DD')";
    case field_kind::uuid_ref:
    case field_kind::money:
    case field_kind::items:
    case field_kind::integer: return col + "::text";
    default: return col;
  }
}

std::string columns(const entity_def& e) {
  std::string out;
  for (const auto& d : e.fields) {
    if (!out.empty()) out += ", ";
    out += column_text(d);
  }
  return out;
}

// The same, aliased c0..cN (a CTE's rows are read by these names).
std::string aliased_columns(const entity_def& e) {
  std::string out;
  for (size_t i = 0; i < e.fields.size(); ++i) {
    if (i) out += ", ";
    out += column_text(e.fields[i]) + " AS c" + std::to_string(i);
  }
  return out;
}

// The record of CTE `w` (aliased columns) as the API's JSON for a
// full-access profile: money, dates and timestamps as strings, integers as
// numbers, items as JSON.
std::string record_json(const entity_def& e) {
  std::string out = "jsonb_build_object(";
  for (size_t i = 0; i < e.fields.size(); ++i) {
    const auto& d = e.fields[i];
    auto col = "w.c" + std::to_string(i);
    if (i) out += ", ";
    out += "'" + d.name + "', ";
    switch (d.kind) {
      case field_kind::integer: out += col + "::bigint"; break;
      case field_kind::items: out += col + "::jsonb"; break;
      default: out += col; break;
    }
  }
  return out + ")";
}

// The event type of `action` on `e`: "crm.price_list.updated".
std::string event_type(const entity_def& e, std::string_view action) {
  auto singular = e.table.substr(0, e.table.size() - 1);  // every table is a plural in -s
  return "crm." + singular + "." + std::string{action};
}

// The change with its event (storage/sql/event_sql.hpp): subject
// "<path>/<id>" (column c0 of `w`), tenant $1.
std::string change_with_event(const std::string& change, const entity_def& e, std::string_view action,
                              const std::string& data) {
  return with_event(change, "$1", sql_literal(event_type(e, action)), sql_literal(e.path + "/") + " || w.c0", data);
}

// "$3::numeric"
std::string param(size_t n, const field_def& d) {
  std::string out{"$"};
  out.append(std::to_string(n)).append("::").append(sql_type(d));
  return out;
}

std::string insert_sql(const entity_def& e) {
  std::string names = "tenant_id, id", values = "$1, $2";
  size_t n = 3;
  for (const auto& d : e.fields) {
    if (!d.writable) continue;
    names += ", " + d.name;
    auto p = param(n++, d);
    values += ", " + (d.default_value.empty() ? p : "COALESCE(" + p + ", '" + d.default_value + "'::" + sql_type(d) + ")");
  }
  return change_with_event("INSERT INTO " + e.table + " (" + names + ") VALUES (" + values + ") RETURNING " +
                        aliased_columns(e),
                    e, "created", record_json(e));
}

std::string update_sql(const entity_def& e) {
  std::string sets;
  size_t n = 4;
  for (const auto& d : e.fields) {
    if (!d.writable) continue;
    if (!sets.empty()) sets += ", ";
    sets += d.name + " = CASE WHEN $" + std::to_string(n) + "::boolean THEN " + param(n + 1, d) + " ELSE " + d.name +
            " END";
    n += 2;
  }
  return change_with_event("UPDATE " + e.table + " SET " + sets +
                        " WHERE tenant_id = $1 AND id = $2 AND ($3::bigint IS NULL OR version = $3) RETURNING " +
                        aliased_columns(e),
                    e, "updated", record_json(e));
}

std::string remove_sql(const entity_def& e) {
  return change_with_event("DELETE FROM " + e.table +
                        " WHERE tenant_id = $1 AND id = $2 AND ($3::bigint IS NULL OR version = $3)"
                        " RETURNING id::text AS c0, version AS c1",
                    e, "deleted", "jsonb_build_object('id', w.c0, 'version', w.c1)");
}

const char* attachment_columns =
    "id, entity, entity_id, content_id, created_by, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
// The same, with a name for the rendered time (read by the attach CTE).
const std::string attachment_columns_named = std::string{attachment_columns} + " AS created_text";

const char* op_name(entity_op op) {
  switch (op) {
    case entity_op::insert: return "insert";
    case entity_op::select: return "select";
    case entity_op::update: return "update";
    case entity_op::remove: return "delete";
    case entity_op::probe: return "probe";
    case entity_op::attach: return "attach";
    case entity_op::attachments: return "attachments";
    case entity_op::attachment: return "attachment";
    case entity_op::detach_all: return "detach_all";
  }
  return "";
}

} // namespace

const std::string& entity_columns(const entity_def& e) {
  // Aliased: an ORDER BY of the same statement must name the table's
  // columns, not these text renderings (cost::text would sort as text).
  // Built once per entity: every query of the entity sends the same list.
  static const auto lists = [] {
    std::vector<std::string> out;
    auto add = [&](const entity_def& entity) {
      std::string list;
      for (size_t i = 0; i < entity.fields.size(); ++i) {
        if (i) list += ", ";
        list += column_text(entity.fields[i]) + " AS c" + std::to_string(i);
      }
      out.push_back(std::move(list));
    };
    for (const auto& entity : protocols::entity_registry()) add(entity);
    add(protocols::audit_log_def());       // index: registry size
    add(protocols::guard_incident_def());  // the next
    return out;
  }();
  return lists.at(e.index);
}

std::string audit_columns(size_t paths) {
  return "id::text AS c0, " + timestamp_text("at") +
         " AS c1, actor_user_id::text AS c2, entity AS c3, entity_id::text AS c4, action AS c5,"
         " COALESCE((SELECT jsonb_object_agg(c.key, c.value) FROM jsonb_each(audit_logs.changes) c"
         " WHERE (audit_logs.entity || '.' || c.key) = ANY ($" +
         std::to_string(paths) + "::text[])), '{}')::text AS c6, trace_id AS c7";
}

std::string entity_statement(entity_op op, const entity_def& e) {
  return std::string{"ent_"} + op_name(op) + "_" + e.table;
}

std::vector<pg_query> query_statements(const protocols::entity_def& e, protocols::query_plan& plan,
                                       const std::string& statement_timeout_ms,
                                       std::optional<std::vector<std::string>> audit_readable) {
  pg_query select{"SELECT ", std::move(plan.params), false};  // the rows' cursors need no parameters
  select.cache = true;
  if (audit_readable) {
    select.text += audit_columns(select.params.size() + 1);
    select.params.emplace_back(protocols::pg_array_literal(*audit_readable));
  } else {
    select.text += entity_columns(e);
  }
  select.text += " FROM " + e.table + " WHERE " + plan.where + " ORDER BY " + plan.order_by + " LIMIT " +
                 std::to_string(plan.limit);
  return {pg_query{stmt_statement_timeout, {statement_timeout_ms}, true}, std::move(select)};
}

std::string write_context_select() {
  // $1 typed as text: a keyed write also reads it as the key's user id (uuid)
  return "SELECT set_config('app.user_id', $1::text, true), set_config('app.trace_id', $2, true),"
         " set_config('app.client_addr', $3, true), set_config('app.traceparent', $4, true)";
}

std::vector<pg_statement> entity_statements() {
  std::vector<pg_statement> out;
  for (const auto& e : protocols::entity_registry()) {
    auto key = " WHERE tenant_id = $1 AND id = $2";
    out.push_back({entity_statement(entity_op::insert, e), insert_sql(e)});
    out.push_back({entity_statement(entity_op::select, e), "SELECT " + columns(e) + " FROM " + e.table + key});
    out.push_back({entity_statement(entity_op::update, e), update_sql(e)});
    out.push_back({entity_statement(entity_op::remove, e), remove_sql(e)});
    out.push_back({entity_statement(entity_op::probe, e), "SELECT version FROM " + e.table + key});
    // crm.<entity>.attachment_added, subject <entity>/<record id>
    out.push_back(
        {entity_statement(entity_op::attach, e),
         with_event("INSERT INTO attachments (tenant_id, id, entity, entity_id, content_id, created_by)"
                    " SELECT $1::uuid, $2::uuid, '" + e.path + "', $3::uuid, $4::uuid, $5::uuid WHERE EXISTS (SELECT 1 FROM " +
                        e.table + " WHERE tenant_id = $1 AND id = $3) AND EXISTS (SELECT 1 FROM content_items WHERE tenant_id = $1"
                        " AND id = $4::uuid AND status = 'safe') RETURNING " + attachment_columns_named,
                    "$1", sql_literal(event_type(e, "attachment_added")), sql_literal(e.path + "/") + " || w.entity_id",
                    "jsonb_build_object('id', w.id, 'entity', w.entity, 'entity_id', w.entity_id, 'content_id',"
                    " w.content_id, 'created_by', w.created_by, 'created_at', w.created_text)")});
    out.push_back({entity_statement(entity_op::attachments, e),
                   std::string{"SELECT "} + attachment_columns + " FROM attachments WHERE tenant_id = $1 AND entity = '" +
                       e.path + "' AND entity_id = $2 ORDER BY created_at, id LIMIT 1000"});
    out.push_back({entity_statement(entity_op::attachment, e),
                   std::string{"SELECT "} + attachment_columns + " FROM attachments WHERE tenant_id = $1 AND entity = '" +
                       e.path + "' AND entity_id = $2 AND id = $3::uuid"});
    out.push_back({entity_statement(entity_op::detach_all, e),
                   "DELETE FROM attachments WHERE tenant_id = $1 AND entity = '" + e.path +
                       "' AND entity_id = $2 AND NOT EXISTS (SELECT 1 FROM " + e.table + key + ")"});
  }
  // A DSL query is prepared once per connection (pg_query::cache) but planned
  // for its values every time: a generic plan cannot see that 'active' or a
  // name prefix is selective and scans by the sort key instead (measured:
  // 3x PostgreSQL CPU per query, ADR-0042).
  out.push_back({stmt_statement_timeout, "SELECT set_config('statement_timeout', $1, true),"
                                         " set_config('plan_cache_mode', 'force_custom_plan', true)"});
  out.push_back({stmt_write_context, write_context_select()});
  out.push_back({stmt_profiles_load, "SELECT name, entities::text, builtin, version, " + timestamp_text("updated_at") +
                                         " FROM access_profiles WHERE tenant_id = $1 ORDER BY name"});
  // crm.access_profile.created / .updated, subject access-profiles/<name>
  out.push_back({stmt_profile_put,
                 with_event("INSERT INTO access_profiles (tenant_id, name, entities, builtin) VALUES ($1, $2, $3::jsonb, $4)"
                            " ON CONFLICT (tenant_id, name) DO UPDATE SET entities = EXCLUDED.entities"
                            " RETURNING version, " + timestamp_text("updated_at") +
                                " AS updated_text, (xmax = 0) AS created, name, entities",
                            "$1", "CASE WHEN w.created THEN 'crm.access_profile.created' ELSE 'crm.access_profile.updated' END",
                            "'access-profiles/' || w.name",
                            "jsonb_build_object('name', w.name, 'entities', w.entities, 'version', w.version,"
                            " 'updated_at', w.updated_text)")});
  return out;
}

std::optional<pg_query> reference_check_query(const protocols::field_def& field, const std::string& tenant,
                                              const std::string& value) {
  using protocols::field_kind;
  if (field.kind == field_kind::uuid_ref) {
    const auto* target = protocols::entity_by_path(field.references);
    const auto& table = target ? target->table : std::string{"users"};  // owner_id, created_by: users
    return pg_query{"SELECT EXISTS (SELECT 1 FROM " + table + " WHERE tenant_id = $1 AND id = $2::uuid)",
                    {tenant, value},
                    false};
  }
  if (field.kind == field_kind::items)
    return pg_query{"SELECT count(*) = jsonb_array_length($2::jsonb) FROM products WHERE tenant_id = $1"
                    " AND id IN (SELECT (i ->> 'product_id')::uuid FROM jsonb_array_elements($2::jsonb) i)",
                    {tenant, value},
                    false};
  return std::nullopt;
}

pg_query ensure_profiles_query(const std::string& tenant) {
  // Only for an existing tenant: a token may name a tenant that is gone.
  pg_query q{"INSERT INTO access_profiles (tenant_id, name, entities, builtin) SELECT $1::uuid, v.name, v.entities, true"
             " FROM (VALUES ",
             {tenant},
             false};
  size_t n = 2;
  for (const auto& p : protocols::baseline_profiles()) {
    if (n > 2) q.text += ", ";
    q.text += "($" + std::to_string(n) + "::text, $" + std::to_string(n + 1) + "::jsonb)";
    n += 2;
    protocols::json_writer w;
    protocols::write_access_entities(w, p);
    q.params.emplace_back(p.name);
    q.params.emplace_back(std::move(w).str());
  }
  q.text += ") AS v (name, entities) WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1::uuid)"
            " ON CONFLICT (tenant_id, name) DO NOTHING";
  return q;
}

} // namespace crm::storage
