// actors/api/records_api.cpp: create, read, update and delete the records of
// the five CRM entities (the row names the entity; the prologue checked the
// record id). Bodies are validated against the entity registry and the
// caller's write allowlist; one transaction per request, its first
// statement the audit trigger's write context. Conditional requests:
// If-None-Match on GET (304), If-Match on PATCH and DELETE (412).
#include "actors/api/handlers.hpp"
#include "actors/api/records.hpp"
#include "actors/core/random.hpp"
#include "storage/sql/entity_sql.hpp"

#include <charconv>

namespace crm::actors {

using protocols::errc;
using protocols::error_of;
using storage::entity_op;
using storage::entity_statement;
using storage::pg_query;

namespace {

// The version an If-Match header demands: nullopt when absent or "*".
// False when it can never match (a weak tag, a list, garbage): 412 at once.
bool expected_version(std::string_view h, std::optional<std::string>& out) {
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  out.reset();
  if (h.empty() || h == "*") return true;
  if (h.size() < 3 || h.size() > 20 || h.front() != '"' || h.back() != '"') return false;
  auto digits = h.substr(1, h.size() - 2);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc{} || end != digits.data() + digits.size() || v < 1) return false;
  out = std::string{digits};
  return true;
}

caf::error stale() {
  return error_of(errc::resource_precondition_failed, "the record changed since the version named in If-Match");
}

// The values of a create or PATCH body: the registry's rules, then the
// caller's write allowlist. nullopt when the 422 is answered already.
std::optional<std::vector<protocols::field_value>> read_write(const route_context& c, bool create) {
  auto& body = *c.body;
  const auto& e = c.entity();
  auto values = protocols::read_record(body, e, create);
  const auto& p = profile_of(c.who);
  for (const auto& v : values)
    if (!p.can_write(e, static_cast<size_t>(e.field_index(v.name))))
      body.add_error(v.name, "not_writable", "your access profile cannot write " + v.name);
  if (!body.errors().empty()) {
    c.fail_validation();
    return std::nullopt;
  }
  return values;
}

} // namespace

void create_record(route_context c) {
  auto values = read_write(c, true);
  if (!values) return;
  const auto& e = c.entity();
  auto id = new_uuid();
  pg_query insert{entity_statement(entity_op::insert, e), {c.who.tenant_id, id}, true};
  auto v = values->begin();
  for (const auto& d : e.fields) {
    if (!d.writable) continue;
    if (v != values->end() && v->name == d.name) insert.params.push_back((v++)->value);
    else insert.params.emplace_back(std::nullopt);
  }
  auto written = std::make_shared<const std::vector<protocols::field_value>>(std::move(*values));
  run_records(
      c, {write_context(c, id), std::move(insert)}, false,
      [c](std::vector<storage::pg_rows>& sets) { answer_record(c, 201, sets.at(1)); }, written);
}

void get_record(route_context c) {
  pg_query select{entity_statement(entity_op::select, c.entity()), {c.who.tenant_id, c.param}, true};
  run_records(c, {std::move(select)}, false, [c](std::vector<storage::pg_rows>& sets) {
    if (sets.at(0).rows.empty()) return c.fail(record_not_found(c.entity()));
    c.count_rows(sets[0], 1);
    answer_record(c, 200, sets[0], true);
  });
}

void patch_record(route_context c) {
  std::optional<std::string> expected;
  if (!expected_version(c.req().header_value("if-match"), expected)) return c.fail(stale());
  auto values = read_write(c, false);
  if (!values) return;
  const auto& e = c.entity();
  pg_query update{entity_statement(entity_op::update, e), {c.who.tenant_id, c.param, expected}, true};
  auto v = values->begin();
  for (const auto& d : e.fields) {
    if (!d.writable) continue;
    bool set = v != values->end() && v->name == d.name;
    update.params.emplace_back(set ? "true" : "false");
    update.params.push_back(set ? (v++)->value : std::nullopt);
  }
  pg_query probe{entity_statement(entity_op::probe, e), {c.who.tenant_id, c.param}, true};
  auto written = std::make_shared<const std::vector<protocols::field_value>>(std::move(*values));
  run_records(
      c, {write_context(c, c.param), std::move(update), std::move(probe)}, false,
      [c](std::vector<storage::pg_rows>& sets) {
        if (!sets.at(1).rows.empty()) return answer_record(c, 200, sets[1]);
        c.fail(sets.at(2).rows.empty() ? record_not_found(c.entity()) : stale());
      },
      written);
}

void delete_record(route_context c) {
  std::optional<std::string> expected;
  if (!expected_version(c.req().header_value("if-match"), expected)) return c.fail(stale());
  const auto& e = c.entity();
  pg_query remove{entity_statement(entity_op::remove, e), {c.who.tenant_id, c.param, expected}, true};
  pg_query probe{entity_statement(entity_op::probe, e), {c.who.tenant_id, c.param}, true};
  pg_query detach{entity_statement(entity_op::detach_all, e), {c.who.tenant_id, c.param}, true};
  run_records(c, {write_context(c, c.param), std::move(remove), std::move(probe), std::move(detach)}, true,
              [c](std::vector<storage::pg_rows>& sets) {
                if (sets.at(1).affected == 0)
                  return c.fail(sets.at(2).rows.empty() ? record_not_found(c.entity()) : stale());
                c.no_content();
              });
}

} // namespace crm::actors
