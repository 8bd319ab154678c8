#include "protocols/entity.hpp"

#include "protocols/json_writer.hpp"
#include "protocols/uuid.hpp"
#include "protocols/values.hpp"

#include <algorithm>

namespace crm::protocols {
namespace {

field_def f(std::string name, field_kind kind, bool required = false, size_t max_length = 200) {
  field_def d;
  d.name = std::move(name);
  d.kind = kind;
  d.required = required;
  d.max_length = max_length;
  return d;
}

field_def choice(std::string name, std::vector<std::string> choices) {
  auto d = f(std::move(name), field_kind::choice);
  d.choices = std::move(choices);
  return d;
}

field_def ref(std::string name, std::string entity, bool required = false) {
  auto d = f(std::move(name), field_kind::uuid_ref, required);
  d.references = std::move(entity);
  return d;
}

field_def sensitive(field_def d) {
  d.sensitive = true;
  return d;
}

field_def with_default(field_def d, std::string value) {
  d.default_value = std::move(value);
  return d;
}

field_def not_before(field_def d, std::string other) {
  d.not_before = std::move(other);
  return d;
}

// id, created_at, updated_at, version: every record has them, no client writes them.
std::vector<field_def> with_common(std::vector<field_def> fields) {
  std::vector<field_def> out;
  for (auto [name, kind] : {std::pair{"id", field_kind::uuid_ref}, std::pair{"created_at", field_kind::timestamp},
                            std::pair{"updated_at", field_kind::timestamp}, std::pair{"version", field_kind::integer}}) {
    auto d = f(name, kind);
    d.writable = false;
    d.never_null = true;
    out.push_back(std::move(d));
  }
  for (auto& d : fields) out.push_back(std::move(d));
  return out;
}

std::vector<entity_def> make_registry() {
  std::vector<entity_def> out{
      {"customers", "customers",
       with_common({f("name", field_kind::text, true), f("email", field_kind::email, false, 254),
                    f("phone", field_kind::text, false, 40),
                    with_default(choice("status", {"lead", "active", "churned"}), "lead"), ref("owner_id", "users"),
                    sensitive(f("annual_revenue", field_kind::money)),
                    sensitive(f("tax_id", field_kind::text, false, 64)), f("notes", field_kind::text, false, 10000)})},
      {"deals", "deals",
       with_common({ref("customer_id", "customers", true), f("title", field_kind::text, true),
                    with_default(choice("stage", {"prospect", "qualified", "proposal", "won", "lost"}), "prospect"),
                    f("amount", field_kind::money), f("currency", field_kind::currency),
                    f("close_date", field_kind::date), ref("owner_id", "users")})},
      {"products", "products",
       with_common({f("sku", field_kind::text, true, 64), f("name", field_kind::text, true),
                    f("description", field_kind::text, false, 10000), sensitive(f("cost", field_kind::money)),
                    with_default(f("active", field_kind::boolean), "true")})},
      {"warehouses", "warehouses",
       with_common({f("code", field_kind::text, true, 32), f("name", field_kind::text),
                    f("address", field_kind::text, false, 1000)})},
      {"price-lists", "price_lists",
       with_common({f("name", field_kind::text, true), f("currency", field_kind::currency),
                    f("valid_from", field_kind::date), not_before(f("valid_to", field_kind::date), "valid_from"),
                    with_default(f("items", field_kind::items), "[]")})},
  };
  for (size_t i = 0; i < out.size(); ++i) out[i].index = i;
  return out;
}

// Price-list items: an array of {"product_id","price"}, a product at most
// once; returns canonical JSON or nullopt (errors recorded).
std::optional<std::string> read_items(json_body& body, const std::string& name) {
  auto n = body.array(name, false, max_price_list_items);
  if (!n) return std::nullopt;
  json_writer w;
  w.begin_array();
  std::vector<std::string> seen;
  bool ok = true;
  for (size_t i = 0; i < *n; ++i) {
    auto at = name + "." + std::to_string(i);
    auto before = body.errors().size();
    body.allow_only(at, {"product_id", "price"});
    if (body.errors().size() != before && body.keys(at).empty()) {  // not an object
      ok = false;
      continue;
    }
    auto product = body.string(at + ".product_id", {true, 1, 36});
    auto price = body.string(at + ".price", {true, 1, 32});
    if (product && !is_uuid(*product)) body.add_error(at + ".product_id", "format", "product_id must be a UUID");
    if (price && !is_money(*price, 2, 1000))
      body.add_error(at + ".price", "format", "price must be a decimal string with at most two decimals");
    else if (price && !is_money(*price))
      body.add_error(at + ".price", "range", "price has more than 16 integer digits");
    if (body.errors().size() != before) {
      ok = false;
      continue;
    }
    auto id = ascii_lower(*product);
    if (std::find(seen.begin(), seen.end(), id) != seen.end()) {
      body.add_error(name, "duplicate", "a product appears twice in " + name);
      ok = false;
      continue;
    }
    seen.push_back(id);
    w.begin_object().key("product_id").string(id).key("price").string(normalize_money(*price)).end_object();
  }
  w.end_array();
  if (!ok) return std::nullopt;
  return std::move(w).str();
}

// Reads one writable field; records the problem in `body` when it is bad.
std::optional<field_value> read_field(json_body& body, const field_def& d, bool create) {
  const auto& name = d.name;
  if (!body.has(name)) {
    if (create && d.required) body.add_error(name, "required", name + " is required");
    return std::nullopt;
  }
  if (body.is_null(name)) {
    if (!d.nullable()) body.add_error(name, "required", name + " cannot be null");
    return field_value{name, std::nullopt};
  }
  if (d.kind == field_kind::items) {
    auto v = read_items(body, name);
    if (!v) return std::nullopt;
    return field_value{name, std::move(*v)};
  }
  if (d.kind == field_kind::boolean) {
    auto v = body.boolean(name, true);
    if (!v) return std::nullopt;
    return field_value{name, *v ? "true" : "false"};
  }
  auto v = body.string(name, {true, d.required ? size_t{1} : size_t{0}, d.max_length});
  if (!v) return std::nullopt;
  auto bad = [&](std::string code, std::string detail) {
    body.add_error(name, std::move(code), std::move(detail));
    return std::nullopt;
  };
  switch (d.kind) {
    case field_kind::email:
      if (!is_plausible_email(*v)) return bad("format", name + " is not an email address");
      break;
    case field_kind::uuid_ref:
      if (!is_uuid(*v)) return bad("format", name + " must be a UUID");
      break;
    case field_kind::money:
      if (!is_money(*v, 2, 1000)) return bad("format", name + " must be a decimal string with at most two decimals");
      if (!is_money(*v)) return bad("range", name + " has more than 16 integer digits");
      break;
    case field_kind::currency:
      if (!is_iso4217(*v)) return bad("format", name + " must be an ISO 4217 currency code");
      break;
    case field_kind::date:
      if (!is_iso_date(*v)) return bad("format", name + " must be a date YYYY-MM-DD");
      break;
    case field_kind::choice:
      if (std::find(d.choices.begin(), d.choices.end(), *v) == d.choices.end())
        return bad("choice", name + " must be one of the allowed values");
      break;
    case field_kind::text:
    case field_kind::boolean:
    case field_kind::timestamp:
    case field_kind::integer:
    case field_kind::items: break;
  }
  return field_value{name, std::move(*v)};
}

} // namespace

const field_def* entity_def::field(std::string_view name) const {
  for (const auto& d : fields)
    if (d.name == name) return &d;
  return nullptr;
}

int entity_def::field_index(std::string_view name) const {
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == name) return static_cast<int>(i);
  return -1;
}

const std::vector<entity_def>& entity_registry() {
  static const auto registry = make_registry();
  return registry;
}

namespace {

// A field of a server-written log (audit, incidents): never written by clients.
field_def server(field_def d, bool never_null = true) {
  d.writable = false;
  d.never_null = never_null;
  return d;
}

std::vector<std::string> entity_paths() {
  std::vector<std::string> out;
  for (const auto& e : entity_registry()) out.push_back(e.path);
  return out;
}

} // namespace

const entity_def& audit_log_def() {
  static const entity_def def = [] {
    auto entities = entity_paths();
    entities.push_back("attachments");  // attaching content to a record is audited too (migration 0011)
    entity_def e{"audit-logs", "audit_logs",
                 {server(f("id", field_kind::uuid_ref)), server(f("at", field_kind::timestamp)),
                  server(f("actor_user_id", field_kind::uuid_ref), false), server(choice("entity", entities)),
                  server(f("entity_id", field_kind::uuid_ref)),
                  server(choice("action", {"create", "update", "delete"})), server(f("changes", field_kind::items)),
                  server(f("trace_id", field_kind::text, false, 32), false)}};
    e.index = entity_registry().size();
    return e;
  }();
  return def;
}

const entity_def& guard_incident_def() {
  static const entity_def def = [] {
    auto entities = entity_paths();
    std::vector<std::string> metrics{"requests", "reads",   "rows_read", "distinct_records",
                                     "writes",   "deletes", "downloads"};
    entity_def e{"guard/incidents", "guard_incidents",
                 {server(f("id", field_kind::uuid_ref)), server(f("created_at", field_kind::timestamp)),
                  server(f("user_id", field_kind::uuid_ref)), server(choice("kind", {"budget", "baseline", "honeytoken"})),
                  server(f("budget_id", field_kind::uuid_ref), false), server(choice("metric", metrics)),
                  server(f("observed", field_kind::integer)), server(f("threshold", field_kind::integer)),
                  server(f("window_s", field_kind::integer)), server(choice("severity", {"warn", "block"})),
                  server(choice("action", {"flagged", "blocked"})), server(choice("record_entity", entities), false),
                  server(f("record_id", field_kind::uuid_ref), false),
                  server(f("first_trace_id", field_kind::text, false, 32)),
                  server(f("last_trace_id", field_kind::text, false, 32)),
                  server(f("client_addr", field_kind::text, false, 64)),
                  server(f("user_agent", field_kind::text, false, 512)),
                  server(f("last_seen_at", field_kind::timestamp)), server(f("resolved_at", field_kind::timestamp), false),
                  server(f("resolved_by", field_kind::uuid_ref), false)}};
    e.index = entity_registry().size() + 1;
    return e;
  }();
  return def;
}

const entity_def* entity_by_path(std::string_view path) {
  for (const auto& e : entity_registry())
    if (e.path == path) return &e;
  return nullptr;
}

std::vector<field_value> read_record(json_body& body, const entity_def& e, bool create) {
  std::vector<field_value> out;
  for (const auto& key : body.keys()) {
    const auto* d = e.field(key);
    if (!d) body.add_error(member_field("", key, 64), "unknown", "unknown field");
    else if (!d->writable) body.add_error(key, "read_only", key + " is set by the server");
  }
  for (const auto& d : e.fields) {
    if (!d.writable) continue;
    if (auto v = read_field(body, d, create)) out.push_back(std::move(*v));
  }
  if (!create && out.empty() && body.errors().empty())
    body.add_error("", "required", "send at least one writable field");
  // Date order within the body (a PATCH of one side is checked by the database).
  for (const auto& d : e.fields) {
    if (d.not_before.empty()) continue;
    auto find = [&](const std::string& n) {
      return std::find_if(out.begin(), out.end(), [&](const field_value& v) { return v.name == n; });
    };
    auto late = find(d.name), early = find(d.not_before);
    if (late != out.end() && early != out.end() && late->value && early->value && *late->value < *early->value)
      body.add_error(d.name, "range", d.name + " is before " + d.not_before);
  }
  return out;
}

} // namespace crm::protocols
