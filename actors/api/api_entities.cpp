// actors/api/api_entities.cpp: the CRM base over HTTP (Blocks 3 and 5): CRUD of
// the five entities, attachment references, access profiles and the audit
// log. The front actor authenticates the caller (the tenant actor resolves
// its access profile on every request), validates the body against the
// entity registry and the profile, sends one transaction to the storage
// actor and shapes the rows it gets back: a field the profile cannot read
// is absent from every answer.
#include "actors/api/api_entities.hpp"

#include "actors/api/api_support.hpp"
#include "actors/identity/random.hpp"
#include "actors/api/route_table.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/values.hpp"
#include "storage/sql/entity_sql.hpp"

#include <caf/all.hpp>

#include <charconv>

namespace crm::actors {

using protocols::access_profile;
using protocols::entity_def;
using protocols::errc;
using protocols::error_of;
using protocols::field_def;
using protocols::field_kind;
using protocols::json_writer;
using storage::entity_op;
using storage::entity_statement;
using storage::pg_query;

namespace {

constexpr size_t version_column = 3;  // id, created_at, updated_at, version: every entity's first fields

const access_profile& profile_of(const principal& who) {
  static const access_profile none;
  return who.profile ? *who.profile : none;
}

constexpr uint64_t id_bit = 1;  // id is field 0 of every entity

// The fields of `e` the caller may read: its profile's allowlist, and the
// id, which addresses the record and is always readable (ADR-0033).
uint64_t readable_of(const principal& who, const entity_def& e) {
  return profile_of(who).entities[e.index].read | id_bit;
}

caf::error not_found(const entity_def& e) { return error_of(errc::resource_not_found, "no such record in " + e.path); }

// -- shaping ------------------------------------------------------------------

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

// Row `row` of `rows` (columns in registry order) with the fields of `mask`.
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

// A strong tag of the version: "3".
std::string etag_of(const storage::pg_rows& rows) {
  const auto& version = rows.rows.at(0).at(version_column);
  std::string tag{"\""};
  tag.append(version ? *version : std::string_view{"0"}).push_back('"');
  return tag;
}

// {"data":{record}} with its ETag; 304 when the client's copy is current.
void answer_record(http::exchange& x, std::string_view route, int status, const entity_def& e,
                   const storage::pg_rows& rows, const principal& who, bool conditional = false) {
  auto etag = etag_of(rows);
  if (conditional && x.req.header_value("if-none-match") == etag) {
    http::response r;
    r.status = 304;
    r.content_type.clear();
    r.headers.emplace_back("ETag", etag);
    r.tenant_id = who.tenant_id;
    r.user_id = who.user_id;
    return reply(x, std::move(r), route);
  }
  json_writer w;
  w.begin_object().key("data");
  write_record(w, e, rows, 0, readable_of(who, e));
  w.end_object();
  auto r = json_response(status, std::move(w).str());
  r.headers.emplace_back("ETag", std::move(etag));
  if (status == 201)
    r.headers.emplace_back("Location", "/api/v1/" + e.path + "/" + rows.rows[0][0].value_or(""));
  r.tenant_id = who.tenant_id;
  r.user_id = who.user_id;
  reply(x, std::move(r), route);
}

// -- errors of a write ----------------------------------------------------------

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

// -- conditional requests ---------------------------------------------------------

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

// -- CRUD ------------------------------------------------------------------------------

struct entity_call {
  caf::event_based_actor* self;
  caf::actor storage;
  std::chrono::milliseconds timeout;
  std::shared_ptr<http::exchange> ex;
  std::string_view route;
  const entity_def* e;
  principal who;
  std::string id;
};

// The write context of the audit trigger: who writes, in which trace, from
// which client address.
pg_query write_context(const entity_call& c) {
  return {storage::stmt_write_context, {c.who.user_id, c.ex->req.trace.trace_id, c.ex->req.remote_addr}, true};
}

using written_values = std::shared_ptr<const std::vector<protocols::field_value>>;

// A write failed on a foreign key (the database names only the first):
// asks which of the written references name no record of the tenant and
// answers one 422 listing each of them.
void name_missing_references(const entity_call& c, const written_values& written, caf::error original) {
  db_request rq{c.who.tenant_id, {}};
  std::vector<std::string> fields;
  for (const auto& v : *written) {
    const auto* d = c.e->field(v.name);
    if (!d || !v.value) continue;
    if (d->kind == field_kind::uuid_ref) {
      const auto* target = protocols::entity_by_path(d->references);
      auto table = target ? target->table : std::string{"users"};
      rq.queries.push_back(
          {"SELECT EXISTS (SELECT 1 FROM " + table + " WHERE tenant_id = $1 AND id = $2::uuid)", {c.who.tenant_id, v.value}, false});
    } else if (d->kind == field_kind::items) {
      rq.queries.push_back({"SELECT count(*) = jsonb_array_length($2::jsonb) FROM products WHERE tenant_id = $1"
                            " AND id IN (SELECT (i ->> 'product_id')::uuid FROM jsonb_array_elements($2::jsonb) i)",
                            {c.who.tenant_id, v.value},
                            false});
    } else {
      continue;
    }
    fields.push_back(v.name);
  }
  auto ex = c.ex;
  auto route = c.route;
  const auto* e = c.e;
  auto who = c.who;
  auto fallback = [ex, route, e, original, who] { fail(*ex, write_error(original, *e, false), route, who); };
  if (rq.queries.empty()) return fallback();
  c.self->request(c.storage, c.timeout, db_atom::value, std::move(rq))
      .then(
          [ex, route, fields, fallback, who](db_result& res) {
            protocols::json_body errors{"{}"};
            for (size_t i = 0; i < fields.size() && i < res.sets.size(); ++i)
              if (!res.sets[i].rows.empty() && res.sets[i].rows[0][0] == std::optional<std::string>{"f"})
                errors.add_error(fields[i], "not_found", fields[i] + " names no record of this tenant");
            if (errors.errors().empty()) return fallback();  // the reference appeared meanwhile
            fail(*ex, errors.validation_error(), route, who);
          },
          [fallback](caf::error&) { fallback(); });
}

// Runs `rq` and hands the result sets to `then`; errors are answered, in
// the client's terms for writes (`written`: the values of a create or PATCH).
template <class F>
void run(const entity_call& c, db_request rq, bool deleting, F then, written_values written = nullptr) {
  auto ex = c.ex;
  auto route = c.route;
  const auto* e = c.e;
  c.self->request(c.storage, c.timeout, db_atom::value, std::move(rq))
      .then([then](db_result& res) mutable { then(res.sets); },
            [c, ex, route, e, deleting, written](caf::error& err) {
              if (written && storage::violation_of(err).sqlstate == "23503")
                return name_missing_references(c, written, std::move(err));
              fail(*ex, write_error(std::move(err), *e, deleting), route, c.who);
            });
}

// Reads a create or PATCH body: the registry's rules, then the caller's
// write allowlist. nullopt when the answer (400/415/422) is sent already.
std::optional<std::vector<protocols::field_value>> read_write(const entity_call& c, bool create) {
  auto body = read_body(*c.ex, c.route, !create);
  if (!body) return std::nullopt;
  auto values = protocols::read_record(*body, *c.e, create);
  const auto& p = profile_of(c.who);
  for (const auto& v : values)
    if (!p.can_write(*c.e, static_cast<size_t>(c.e->field_index(v.name))))
      body->add_error(v.name, "not_writable", "your access profile cannot write " + v.name);
  if (!body->errors().empty()) {
    fail(*c.ex, body->validation_error(), c.route, c.who);
    return std::nullopt;
  }
  return values;
}

void create_record(entity_call c) {
  auto values = read_write(c, true);
  if (!values) return;
  pg_query insert{entity_statement(entity_op::insert, *c.e), {c.who.tenant_id, new_uuid()}, true};
  auto v = values->begin();
  for (const auto& d : c.e->fields) {
    if (!d.writable) continue;
    if (v != values->end() && v->name == d.name) insert.params.push_back((v++)->value);
    else insert.params.emplace_back(std::nullopt);
  }
  auto written = std::make_shared<const std::vector<protocols::field_value>>(std::move(*values));
  run(
      c, {c.who.tenant_id, {write_context(c), std::move(insert)}}, false,
      [c](std::vector<storage::pg_rows>& sets) { answer_record(*c.ex, c.route, 201, *c.e, sets.at(1), c.who); },
      written);
}

void get_record(entity_call c) {
  pg_query select{entity_statement(entity_op::select, *c.e), {c.who.tenant_id, c.id}, true};
  run(c, {c.who.tenant_id, {std::move(select)}}, false, [c](std::vector<storage::pg_rows>& sets) {
    if (sets.at(0).rows.empty()) return fail(*c.ex, not_found(*c.e), c.route, c.who);
    answer_record(*c.ex, c.route, 200, *c.e, sets[0], c.who, true);
  });
}

void patch_record(entity_call c) {
  std::optional<std::string> expected;
  if (!expected_version(c.ex->req.header_value("if-match"), expected)) return fail(*c.ex, stale(), c.route, c.who);
  auto values = read_write(c, false);
  if (!values) return;
  pg_query update{entity_statement(entity_op::update, *c.e), {c.who.tenant_id, c.id, expected}, true};
  auto v = values->begin();
  for (const auto& d : c.e->fields) {
    if (!d.writable) continue;
    bool set = v != values->end() && v->name == d.name;
    update.params.emplace_back(set ? "true" : "false");
    update.params.push_back(set ? (v++)->value : std::nullopt);
  }
  pg_query probe{entity_statement(entity_op::probe, *c.e), {c.who.tenant_id, c.id}, true};
  auto written = std::make_shared<const std::vector<protocols::field_value>>(std::move(*values));
  run(
      c, {c.who.tenant_id, {write_context(c), std::move(update), std::move(probe)}}, false,
      [c](std::vector<storage::pg_rows>& sets) {
        if (!sets.at(1).rows.empty()) return answer_record(*c.ex, c.route, 200, *c.e, sets[1], c.who);
        fail(*c.ex, sets.at(2).rows.empty() ? not_found(*c.e) : stale(), c.route, c.who);
      },
      written);
}

void delete_record(entity_call c) {
  std::optional<std::string> expected;
  if (!expected_version(c.ex->req.header_value("if-match"), expected)) return fail(*c.ex, stale(), c.route, c.who);
  pg_query remove{entity_statement(entity_op::remove, *c.e), {c.who.tenant_id, c.id, expected}, true};
  pg_query probe{entity_statement(entity_op::probe, *c.e), {c.who.tenant_id, c.id}, true};
  pg_query detach{entity_statement(entity_op::detach_all, *c.e), {c.who.tenant_id, c.id}, true};
  run(c, {c.who.tenant_id, {write_context(c), std::move(remove), std::move(probe), std::move(detach)}}, true,
      [c](std::vector<storage::pg_rows>& sets) {
        if (sets.at(1).affected == 0)
          return fail(*c.ex, sets.at(2).rows.empty() ? not_found(*c.e) : stale(), c.route, c.who);
        http::response r;
        r.status = 204;
        r.content_type.clear();
        r.tenant_id = c.who.tenant_id;
        r.user_id = c.who.user_id;
        reply(*c.ex, std::move(r), c.route);
      });
}

// -- attachments --------------------------------------------------------------------

void write_attachment(json_writer& w, const storage::pg_rows& rows, size_t i) {
  static constexpr const char* names[] = {"id", "entity", "entity_id", "content_id", "created_by", "created_at"};
  w.begin_object();
  for (size_t k = 0; k < std::size(names); ++k) {
    const auto& v = rows.rows.at(i).at(k);
    w.key(names[k]);
    v ? w.string(*v) : w.null();
  }
  w.end_object();
}

void attach(entity_call c) {
  auto body = read_body(*c.ex, c.route);
  if (!body) return;
  body->allow_only("", {"content_id"});
  auto content = body->string("content_id", {true, 1, 36});
  if (content && !protocols::is_uuid(*content))
    body->add_error("content_id", "format", "content_id must be the UUID of a content item");
  if (!body->errors().empty()) return fail(*c.ex, body->validation_error(), c.route, c.who);
  pg_query insert{entity_statement(entity_op::attach, *c.e),
                  {c.who.tenant_id, new_uuid(), c.id, protocols::ascii_lower(*content), c.who.user_id},
                  true};
  run(c, {c.who.tenant_id, {write_context(c), std::move(insert)}}, false, [c](std::vector<storage::pg_rows>& sets) {
    if (sets.at(1).rows.empty()) return fail(*c.ex, not_found(*c.e), c.route, c.who);
    json_writer w;
    w.begin_object().key("data");
    write_attachment(w, sets[1], 0);
    w.end_object();
    reply_json(*c.ex, c.route, 201, std::move(w).str(), c.who);
  });
}

void list_attachments(entity_call c) {
  pg_query probe{entity_statement(entity_op::probe, *c.e), {c.who.tenant_id, c.id}, true};
  pg_query list{entity_statement(entity_op::attachments, *c.e), {c.who.tenant_id, c.id}, true};
  run(c, {c.who.tenant_id, {std::move(probe), std::move(list)}}, false, [c](std::vector<storage::pg_rows>& sets) {
    if (sets.at(0).rows.empty()) return fail(*c.ex, not_found(*c.e), c.route, c.who);
    json_writer w;
    w.begin_object().key("data").begin_array();
    for (size_t i = 0; i < sets.at(1).rows.size(); ++i) write_attachment(w, sets[1], i);
    w.end_array().end_object();
    reply_json(*c.ex, c.route, 200, std::move(w).str(), c.who);
  });
}

} // namespace

void handle_entity_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                       http::exchange&& x) {
  auto route = std::string_view{m.matched->pattern};
  int id = m.matched->id;
  const auto* e = m.matched->entity;  // the route table names the entity and the permission
  auto ex = std::make_shared<http::exchange>(std::move(x));
  if (!e) return fail(*ex, error_of(errc::internal, "the route names no entity"), route);
  entity_call c{self, storage_of(deps), deps.timeout, ex, route, e, {}, std::string{m.param("id")}};
  authenticate(self, deps, ex, route, m.matched->permission, [c, id](principal& who) mutable {
    c.who = std::move(who);
    // A malformed id names no record: 404 like another tenant's id.
    if (id != route_entity_create && !protocols::is_uuid(c.id)) return fail(*c.ex, not_found(*c.e), c.route, c.who);
    c.id = protocols::ascii_lower(c.id);
    switch (id) {
      case route_entity_create: return create_record(std::move(c));
      case route_entity_get: return get_record(std::move(c));
      case route_entity_patch: return patch_record(std::move(c));
      case route_entity_delete: return delete_record(std::move(c));
      case route_attachments_create: return attach(std::move(c));
      case route_attachments_list: return list_attachments(std::move(c));
      default: return fail(*c.ex, error_of(errc::internal, "the route has no handler"), c.route, c.who);
    }
  });
}

// -- access profiles ----------------------------------------------------------------

void handle_profiles_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                         http::exchange&& x) {
  auto route = std::string_view{m.matched->pattern};
  int id = m.matched->id;
  std::string name{m.param("name")};
  auto ex = std::make_shared<http::exchange>(std::move(x));
  auto registry = registry_of(deps);
  auto timeout = deps.timeout;
  authenticate(self, deps, ex, route, m.matched->permission, [=](const principal& who) {
    auto failed = [ex, route, who](caf::error& e) { fail(*ex, e, route, who); };
    auto one = [ex, route, who](int status) {
      return [ex, route, who, status](const access_profile& p) {
        json_writer w;
        w.begin_object().key("data");
        protocols::write_access_profile(w, p);
        w.end_object();
        reply_json(*ex, route, status, std::move(w).str(), who);
      };
    };
    if (id == route_profiles_list) {
      self->request(registry, timeout, profiles_atom::value, who.tenant_id)
          .then(
              [ex, route, who](profile_list& l) {
                json_writer w;
                w.begin_object().key("data").begin_array();
                for (const auto& p : l.items) protocols::write_access_profile(w, *p);
                w.end_array().end_object();
                reply_json(*ex, route, 200, std::move(w).str(), who);
              },
              failed);
      return;
    }
    if (id == route_profile_get) {
      if (!protocols::is_profile_name(name))
        return fail(*ex, error_of(errc::resource_not_found, "no such access profile"), route, who);
      self->request(registry, timeout, profile_atom::value, who.tenant_id, name)
          .then([one](profile_ptr& p) { one(200)(*p); }, failed);
      return;
    }
    // PUT: the whole profile is replaced.
    auto body = read_body(*ex, route);
    if (!body) return;
    body->allow_only("", {"name", "entities"});
    if (!protocols::is_profile_name(name))
      body->add_error("name", "format", "a profile name is a-z, 0-9 and '_', starting with a letter, 40 at most");
    if (auto v = body->string("name", {false, 1, 40}); v && *v != name)
      body->add_error("name", "mismatch", "name must be the one in the path");
    auto p = protocols::read_access_entities(*body, "entities", true);
    if (!body->errors().empty()) return fail(*ex, body->validation_error(), route, who);
    p.name = name;
    self->request(registry, timeout, pput_atom::value, who.tenant_id,
                  profile_ptr{std::make_shared<const access_profile>(std::move(p))})
        .then([one](profile_stored& s) { one(s.created ? 201 : 200)(*s.profile); }, failed);
  });
}

// -- audit log ------------------------------------------------------------------------

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The decoded value of `name` in a query string ("a=1&b=x%20y"), or nullopt.
std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    auto raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') out += ' ';
      else if (raw[i] == '%' && i + 2 < raw.size() && hex_value(raw[i + 1]) >= 0 && hex_value(raw[i + 2]) >= 0) {
        out += static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
        i += 2;
      } else out += raw[i];
    }
    return out;
  }
  return std::nullopt;
}

} // namespace

void handle_audit_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                      http::exchange&& x) {
  auto route = std::string_view{m.matched->pattern};
  auto ex = std::make_shared<http::exchange>(std::move(x));
  auto storage = storage_of(deps);
  auto timeout = deps.timeout;
  authenticate(self, deps, ex, route, m.matched->permission, [=](const principal& who) {
    protocols::json_body errors{"{}"};
    std::optional<std::string> entity, entity_id;
    std::string limit = "50";
    if (auto v = query_param(ex->req.query, "entity")) {
      if (!protocols::entity_by_path(*v)) errors.add_error("entity", "choice", "entity must name a CRM entity");
      entity = std::move(*v);
    }
    if (auto v = query_param(ex->req.query, "entity_id")) {
      if (!protocols::is_uuid(*v)) errors.add_error("entity_id", "format", "entity_id must be a UUID");
      entity_id = protocols::ascii_lower(*v);
    }
    if (auto v = query_param(ex->req.query, "limit")) {
      int n = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc{} || end != v->data() + v->size() || n < 1 || n > 200)
        errors.add_error("limit", "range", "limit must be an integer from 1 to 200");
      limit = *v;
    }
    if (!errors.errors().empty()) return fail(*ex, errors.validation_error(), route, who);
    // The reader's profile decides which fields' from/to values it may see.
    auto readable = protocols::pg_array_literal(profile_of(who).readable_paths());
    db_request rq{who.tenant_id,
                  {pg_query{storage::stmt_audit_list, {who.tenant_id, readable, entity, entity_id, limit}, true}}};
    self->request(storage, timeout, db_atom::value, std::move(rq))
        .then(
            [ex, route, who](db_result& res) {
              static constexpr const char* names[] = {"id",     "at",      "actor_user_id", "entity",
                                                      "entity_id", "action", "changes",       "trace_id"};
              const auto& rows = res.sets.at(0);
              json_writer w;
              w.begin_object().key("data").begin_array();
              for (const auto& row : rows.rows) {
                w.begin_object();
                for (size_t k = 0; k < std::size(names); ++k) {
                  w.key(names[k]);
                  if (!row.at(k)) w.null();
                  else if (k == 6) w.raw(*row[k]);
                  else w.string(*row[k]);
                }
                w.end_object();
              }
              w.end_array().end_object();
              reply_json(*ex, route, 200, std::move(w).str(), who);
            },
            [ex, route, who](caf::error& e) { fail(*ex, e, route, who); });
  });
}

} // namespace crm::actors

// -- queries (issue #5) ----------------------------------------------------------------

namespace crm::actors {

void handle_query_api(caf::event_based_actor* self, const api_deps& deps, const protocols::route_match& m,
                      http::exchange&& x) {
  auto route = std::string_view{m.matched->pattern};
  int id = m.matched->id;
  bool audit = id == route_audit_query;
  const auto* e = m.matched->entity;  // the audit log's definition for the audit query
  auto ex = std::make_shared<http::exchange>(std::move(x));
  if (!e) return fail(*ex, error_of(errc::internal, "the route names no entity"), route);
  auto storage = storage_of(deps);
  auto timeout = deps.timeout;
  auto caps = deps.query_caps;
  auto statement_timeout = std::to_string(deps.query_timeout.count());
  auto cursor_key = deps.cursor_key;
  authenticate(self, deps, ex, route, m.matched->permission, [=](const principal& who) {
    std::string body = "{}";
    if (id != route_entity_list) {
      if (!is_json(ex->req.header_value("content-type")))
        return fail(*ex, error_of(errc::request_unsupported_media_type, "send application/json"), route, who);
      body = ex->req.body;
    }
    protocols::query_scope scope{e, audit ? ~uint64_t{0} : readable_of(who, *e), who.tenant_id, cursor_key};
    auto plan = protocols::plan_query(body, scope, caps);
    if (!plan) return fail(*ex, plan.error(), route, who);
    // the audit log's `changes` keep only what the reader may read
    std::optional<std::vector<std::string>> readable_paths;
    if (audit) readable_paths = profile_of(who).readable_paths();
    auto queries = storage::query_statements(*e, *plan, statement_timeout, std::move(readable_paths));
    db_request rq{who.tenant_id, std::move(queries)};
    auto shared_plan = std::make_shared<protocols::query_plan>(std::move(*plan));
    self->request(storage, timeout, db_atom::value, std::move(rq))
        .then(
            [ex, route, who, e, shared_plan, scope](db_result& res) {
              const auto& rows = res.sets.at(1);
              const auto& plan = *shared_plan;
              size_t shown = std::min(rows.rows.size(), plan.page_size);
              json_writer w;
              w.begin_object().key("data").begin_array();
              for (size_t i = 0; i < shown; ++i) write_record(w, *e, rows, i, plan.fields);
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
              reply_json(*ex, route, 200, std::move(w).str(), who);
            },
            [ex, route, who](caf::error& err) { fail(*ex, err, route, who); });
  });
}

} // namespace crm::actors
