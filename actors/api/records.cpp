#include "actors/api/records.hpp"

#include "actors/api/idempotency.hpp"
#include "protocols/trace.hpp"
#include "storage/sql/entity_sql.hpp"
#include "storage/sql/idempotency_sql.hpp"

namespace crm::actors {

using protocols::entity_def;
using protocols::errc;
using protocols::error_of;
using protocols::field_def;
using protocols::field_kind;
using protocols::json_writer;

namespace {

constexpr size_t version_column = 3;  // id, created_at, updated_at, version: every entity's first fields
constexpr uint64_t id_bit = 1;        // id is field 0 of every entity

void write_value(json_writer& w, const field_def& d, const std::optional<std::string>& v) {
  if (!v) {
    w.null();
    return;
  }
  switch (d.kind) {
    case field_kind::boolean: w.boolean(*v == "t"); break;
    case field_kind::integer:
    case field_kind::items: w.raw(*v); break;
    default: w.string(*v); break;
  }
}

// A strong tag of the version: "3".
std::string etag_of(const storage::pg_rows& rows) {
  const auto& version = rows.rows.at(0).at(version_column);
  std::string tag{"\""};
  tag.append(version ? *version : std::string_view{"0"}).push_back('"');
  return tag;
}

// "deals_customer_id_fkey" on deals -> "customer_id"; "" when it is not of this table.
std::string field_of_constraint(const entity_def& e, std::string_view constraint) {
  auto prefix = e.table + "_";
  if (constraint.substr(0, prefix.size()) != prefix) return {};
  constraint.remove_prefix(prefix.size());
  for (std::string_view suffix : {"_fkey", "_key", "_range", "_check"})
    if (constraint.size() > suffix.size() && constraint.substr(constraint.size() - suffix.size()) == suffix)
      return std::string{constraint.substr(0, constraint.size() - suffix.size())};
  return {};
}

// A constraint the database enforced, in the client's terms: a missing
// reference on write is a 422 naming the field; on delete, a record others
// still refer to is a 409; a duplicate key is a 409 naming the field.
caf::error write_error(caf::error err, const entity_def& e, bool deleting) {
  auto v = storage::violation_of(err);
  if (v.sqlstate.empty()) return err;
  auto field = field_of_constraint(e, v.constraint);
  if (v.sqlstate == "23505")
    return error_of(errc::resource_conflict,
                    field.empty() ? "a record with these values exists" : "a record with this " + field + " exists");
  if (v.sqlstate == "23503") {
    if (deleting || field.empty())
      return error_of(errc::resource_conflict, "other records still refer to this record");
    return protocols::validation_error_of(field, "not_found", field + " names no record of this tenant");
  }
  if (v.sqlstate == "23514" && !field.empty()) return protocols::validation_error_of(field, "range", field + " is out of range");
  return err;
}

// A write failed on a foreign key (the database names only the first):
// asks which of the written references name no record of the tenant and
// answers one 422 listing each of them.
void name_missing_references(const route_context& c, const written_values& written, caf::error original) {
  const auto& e = c.entity();
  db_request rq{c.who.tenant_id, {}};
  std::vector<std::string> fields;
  for (const auto& v : *written) {
    const auto* d = e.field(v.name);
    if (!d || !v.value) continue;
    auto check = storage::reference_check_query(*d, c.who.tenant_id, *v.value);
    if (!check) continue;
    rq.queries.push_back(std::move(*check));
    fields.push_back(v.name);
  }
  auto fallback = [c, original] { c.fail(write_error(original, c.entity(), false)); };
  if (rq.queries.empty()) return fallback();
  c.self->request(c.storage(), c.timeout(), db_atom::value, std::move(rq))
      .then(
          [c, fields, fallback](db_result& res) {
            protocols::json_body errors{"{}"};
            for (size_t i = 0; i < fields.size() && i < res.sets.size(); ++i)
              if (!res.sets[i].rows.empty() && res.sets[i].rows[0][0] == std::optional<std::string>{"f"})
                errors.add_error(fields[i], "not_found", fields[i] + " names no record of this tenant");
            if (errors.errors().empty()) return fallback();  // the reference appeared meanwhile
            c.fail(errors.validation_error());
          },
          [fallback](caf::error&) { fallback(); });
}

} // namespace

const protocols::access_profile& profile_of(const principal& who) {
  static const protocols::access_profile none;
  return who.profile ? *who.profile : none;
}

uint64_t readable_of(const principal& who, const entity_def& e) { return profile_of(who).entities[e.index].read | id_bit; }

caf::error record_not_found(const entity_def& e) {
  return error_of(errc::resource_not_found, "no such record in " + e.path);
}

void write_record(json_writer& w, const entity_def& e, const storage::pg_rows& rows, size_t row, uint64_t mask) {
  const auto& cells = rows.rows.at(row);
  w.begin_object();
  for (size_t i = 0; i < e.fields.size() && i < cells.size(); ++i) {
    if (!(mask >> i & 1u)) continue;
    w.key(e.fields[i].name);
    write_value(w, e.fields[i], cells[i]);
  }
  w.end_object();
}

void answer_record(const route_context& c, int status, const storage::pg_rows& rows, bool conditional) {
  const auto& e = c.entity();
  auto etag = etag_of(rows);
  if (conditional && c.req().header_value("if-none-match") == etag) {
    http::response r;
    r.status = 304;
    r.content_type.clear();
    r.headers.emplace_back("ETag", etag);
    return c.reply(std::move(r));
  }
  json_writer w;
  w.begin_object().key("data");
  write_record(w, e, rows, 0, readable_of(c.who, e));
  w.end_object();
  auto r = json_response(status, std::move(w).str());
  r.headers.emplace_back("ETag", std::move(etag));
  if (status == 201)
    r.headers.emplace_back("Location", "/api/v1/" + e.path + "/" + rows.rows[0][0].value_or(""));
  c.reply(std::move(r));
}

storage::pg_query write_context_of(const route_context& c, const std::string& resource) {
  const auto& trace = c.req().trace;
  storage::pg_query q{storage::stmt_write_context,
                      {c.who.user_id, trace.trace_id, c.req().remote_addr, protocols::format_traceparent(trace)},
                      true};
  if (c.idem && !resource.empty()) {  // the key is recorded by the write itself
    q.text = storage::stmt_write_context_keyed;
    for (auto v : {c.who.tenant_id, c.idem->key, c.idem->fingerprint, std::string{c.row->pattern}, resource})
      q.params.emplace_back(std::move(v));
  }
  return q;
}

storage::pg_query write_context(const route_context& c, std::string_view record_id) {
  return write_context_of(c, record_id.empty() ? std::string{} : c.entity().path + "/" + std::string{record_id});
}

void run_records(const route_context& c, std::vector<storage::pg_query> queries, bool deleting,
                 std::function<void(std::vector<storage::pg_rows>&)> then, written_values written) {
  run_keyed(
      c, std::move(queries), [then = std::move(then)](db_result& res) { then(res.sets); },
      [c, deleting, written](caf::error& err) {
        if (written && storage::violation_of(err).sqlstate == "23503")
          return name_missing_references(c, written, std::move(err));
        c.fail(write_error(std::move(err), c.entity(), deleting));
      });
}

} // namespace crm::actors
