// Tests protocols/query.cpp (issue #5, docs/protocols/QUERY-DSL.md): every
// operator against every field type, the value rules, every error code with
// its detail and the order refusals are reported in, every cap at its limit
// and one past it, projection and sort rules, keyset cursors (round trip,
// row comparison, OR expansion with NULLs, every way a cursor is refused),
// fingerprints, and that client text only ever reaches the parameters:
// every accepted plan is checked with test/support/query_sql_check.hpp.
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER
#include "protocols/base64.hpp"
#include "protocols/entity.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/problem.hpp"
#include "protocols/query.hpp"
#include "support/query_sql_check.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace crm::protocols;
using crm::test::only_safe_sql;
using crm::test::plan_is_safe;

namespace {

using params_t = std::vector<std::optional<std::string>>;
using result_t = caf::expected<query_plan>;

const std::string tenant = "7d3c9a4e-0000-4000-8000-00000000aaaa";
const std::string other_tenant = "7d3c9a4e-0000-4000-8000-00000000bbbb";
const std::string key = "unit-test-cursor-key-0123456789ab";

const std::string ts = "2026-11-24 05:00:00.123456+00";  // as the database renders a timestamptz
const std::string row_id = "0b7e4c5a-8f6d-4e1b-9a9c-8d7e6f5a4b3c";

const std::string uuid_a_json = R"("6F1C2A4E-0000-4000-8000-00000000000A")";
const std::string uuid_a = "6f1c2a4e-0000-4000-8000-00000000000a";
const std::string uuid_b_json = R"("6f1c2a4e-0000-4000-8000-00000000000b")";
const std::string uuid_b = "6f1c2a4e-0000-4000-8000-00000000000b";

const entity_def& entity(std::string_view path) {
  if (path == "audit-logs") return audit_log_def();
  const auto* e = entity_by_path(path);
  REQUIRE(e);
  return *e;
}

uint64_t bit(const entity_def& e, std::string_view name) {
  int i = e.field_index(name);
  REQUIRE(i >= 0);
  return uint64_t{1} << i;
}

uint64_t every(const entity_def& e) { return (uint64_t{1} << e.fields.size()) - 1; }

uint64_t every_but(const entity_def& e, std::initializer_list<std::string_view> names) {
  uint64_t m = every(e);
  for (auto n : names) m &= ~bit(e, n);
  return m;
}

// Every field readable unless `readable` says otherwise.
query_scope scope(std::string_view path, std::optional<uint64_t> readable = std::nullopt) {
  const auto& e = entity(path);
  return {&e, readable ? *readable : every(e), tenant, key};
}

// A customers profile like the baseline sales_rep: no annual_revenue, no tax_id.
query_scope sales_rep() { return scope("customers", every_but(entity("customers"), {"annual_revenue", "tax_id"})); }

// Plans `body`; every accepted plan must keep the SQL-safety invariant.
result_t plan_in(const query_scope& s, std::string_view body, const query_caps& caps = {}) {
  auto r = plan_query(body, s, caps);
  if (r) {
    INFO("where: " << r->where << "\norder by: " << r->order_by);
    CHECK(plan_is_safe(*r, s));
  }
  return r;
}

result_t plan(std::string_view path, std::string_view body, const query_caps& caps = {}) {
  return plan_in(scope(path), body, caps);
}

// "ok", or the refusal as "code: detail".
std::string outcome(const result_t& r) {
  if (r) return "ok";
  auto p = to_problem(r.error());
  return std::string{p.kind.code} + ": " + p.detail;
}

std::string code_of(const result_t& r) { return r ? "ok" : std::string{to_problem(r.error()).kind.code}; }

std::string js(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// A predicate; no "value" member when `value_json` is empty.
std::string pred(std::string_view field, std::string_view op, std::string_view value_json = {}) {
  std::string out = "{\"field\":" + js(field) + ",\"op\":" + js(op);
  if (!value_json.empty()) out.append(",\"value\":").append(value_json);
  return out + "}";
}

std::string group(std::string_view name, const std::vector<std::string>& nodes) {
  std::string out = "{\"" + std::string{name} + "\":[";
  for (size_t i = 0; i < nodes.size(); ++i) out += (i ? "," : "") + nodes[i];
  return out + "]}";
}

std::string negate(std::string_view node) { return R"({"not":)" + std::string{node} + "}"; }

std::string filter_body(std::string_view node) { return R"({"filter":)" + std::string{node} + "}"; }

std::string where_with(std::string_view fragment) { return "tenant_id = $1 AND (" + std::string{fragment} + ")"; }

// `body` (a JSON object) with "page":{"after": <cursor_json>} added.
std::string page_after(std::string body, std::string_view cursor_json) {
  body.pop_back();
  if (body != "{") body += ",";
  return body + R"("page":{"after":)" + std::string{cursor_json} + "}}";
}

std::string after(std::string body, std::string_view cursor) { return page_after(std::move(body), js(cursor)); }

// A cursor made by hand as QUERY-DSL.md "Cursors" describes it: any
// payload, signed for `p` in `s`.
std::string sign(const query_plan& p, const query_scope& s, std::string_view payload) {
  std::string data = s.tenant_id + '\x1f' + p.fingerprint + '\x1f' + std::string{payload};
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), s.cursor_key.data(), static_cast<int>(s.cursor_key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return base64url_encode(payload) + "." + base64url_encode({reinterpret_cast<const char*>(mac), 16});
}

// `node` inside `levels` wrappers, cycling and / or / not (innermost first).
std::string nest(std::string node, size_t levels) {
  for (size_t i = 0; i < levels; ++i) {
    if (i % 3 == 0) node = group("and", {node});
    else if (i % 3 == 1) node = group("or", {node});
    else node = negate(node);
  }
  return node;
}

// `n` predicates name eq "n<i>".
std::vector<std::string> name_preds(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(pred("name", "eq", js("n" + std::to_string(i))));
  return out;
}

// A JSON array of `n` distinct strings.
std::string string_array(size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) out += (i ? "," : "") + js("v" + std::to_string(i));
  return out + "]";
}

// A JSON array of `n` copies of the JSON value `v`.
std::string repeat_array(std::string_view v, size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) out += (i ? "," : "") + std::string{v};
  return out + "]";
}

const std::string bad_cursor = "query.bad_cursor: the cursor is not one this query handed out";

// ---------------------------------------------------------------------------
// The field table: every field of every entity and of the audit log, its
// query type, its SQL cast, whether it may be NULL (QUERY-DSL.md "Fields and
// types"), two values in ascending order (JSON) and their parameter text.

struct typed_field {
  std::string path, field, type, sql;
  bool nullable;
  std::string v1, p1, v2, p2;
};

typed_field uuid_f(std::string path, std::string field, bool nullable) {
  return {std::move(path), std::move(field), "uuid", "uuid", nullable, uuid_a_json, uuid_a, uuid_b_json, uuid_b};
}
typed_field text_f(std::string path, std::string field, bool nullable, std::string a, std::string b) {
  return {std::move(path), std::move(field), "text", "text", nullable, js(a), a, js(b), b};
}
typed_field enum_f(std::string path, std::string field, std::string a, std::string b) {
  return {std::move(path), std::move(field), "enum", "text", false, js(a), a, js(b), b};
}
typed_field money_f(std::string path, std::string field) {
  return {std::move(path), std::move(field), "money", "numeric", true, R"("1250.00")", "1250.00", R"("99999.5")", "99999.5"};
}
typed_field integer_f(std::string path) { return {std::move(path), "version", "integer", "bigint", false, "3", "3", "7", "7"}; }
typed_field date_f(std::string path, std::string field) {
  return {std::move(path), std::move(field), "date", "date", true, R"("2026-01-31")", "2026-01-31", R"("2026-12-31")", "2026-12-31"};
}
typed_field timestamp_f(std::string path, std::string field) {
  return {std::move(path), std::move(field), "timestamp", "timestamptz", false, R"("2026-11-24T10:00:00Z")",
          "2026-11-24T10:00:00Z", R"("2026-11-24T11:30:00.123456+01:00")", "2026-11-24T11:30:00.123456+01:00"};
}
typed_field none_f(std::string path, std::string field, std::string value) {
  return {std::move(path), std::move(field), "none", "jsonb", false, value, "", value, ""};
}

const std::vector<typed_field>& typed_fields() {
  static const auto all = [] {
    std::vector<typed_field> out;
    auto common = [&](const std::string& path) {
      out.push_back(uuid_f(path, "id", false));
      out.push_back(timestamp_f(path, "created_at"));
      out.push_back(timestamp_f(path, "updated_at"));
      out.push_back(integer_f(path));
    };
    common("customers");
    out.push_back(text_f("customers", "name", false, "Acme", "Zeta"));
    out.push_back(text_f("customers", "email", true, "a@acme.test", "z@acme.test"));
    out.push_back(text_f("customers", "phone", true, "+49 30 1234", "+49 30 9999"));
    out.push_back(enum_f("customers", "status", "lead", "churned"));
    out.push_back(uuid_f("customers", "owner_id", true));
    out.push_back(money_f("customers", "annual_revenue"));
    out.push_back(text_f("customers", "tax_id", true, "DE123", "DE999"));
    out.push_back(text_f("customers", "notes", true, "call back", "never"));
    common("deals");
    out.push_back(uuid_f("deals", "customer_id", false));
    out.push_back(text_f("deals", "title", false, "Renewal", "Upsell"));
    out.push_back(enum_f("deals", "stage", "won", "lost"));
    out.push_back(money_f("deals", "amount"));
    out.push_back(text_f("deals", "currency", true, "EUR", "USD"));
    out.push_back(date_f("deals", "close_date"));
    out.push_back(uuid_f("deals", "owner_id", true));
    common("products");
    out.push_back(text_f("products", "sku", false, "SKU-1", "SKU-9"));
    out.push_back(text_f("products", "name", false, "Widget", "Zapper"));
    out.push_back(text_f("products", "description", true, "blue", "red"));
    out.push_back(money_f("products", "cost"));
    out.push_back({"products", "active", "boolean", "boolean", false, "true", "true", "false", "false"});
    common("warehouses");
    out.push_back(text_f("warehouses", "code", false, "W1", "W9"));
    out.push_back(text_f("warehouses", "name", true, "Main", "North"));
    out.push_back(text_f("warehouses", "address", true, "Street 1", "Street 9"));
    common("price-lists");
    out.push_back(text_f("price-lists", "name", false, "Standard", "Wholesale"));
    out.push_back(text_f("price-lists", "currency", true, "EUR", "USD"));
    out.push_back(date_f("price-lists", "valid_from"));
    out.push_back(date_f("price-lists", "valid_to"));
    out.push_back(none_f("price-lists", "items", "[]"));
    out.push_back(uuid_f("audit-logs", "id", false));
    out.push_back(timestamp_f("audit-logs", "at"));
    out.push_back(uuid_f("audit-logs", "actor_user_id", true));
    out.push_back(enum_f("audit-logs", "entity", "customers", "price-lists"));
    out.push_back(uuid_f("audit-logs", "entity_id", false));
    out.push_back(enum_f("audit-logs", "action", "create", "delete"));
    out.push_back(none_f("audit-logs", "changes", "{}"));
    out.push_back(text_f("audit-logs", "trace_id", true, "4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4737"));
    return out;
  }();
  return all;
}

const std::vector<std::string> all_ops = {"eq",   "ne",    "lt",          "lte",      "gt",      "gte",    "in",
                                          "nin",  "like",  "ilike",       "starts_with", "contains", "is_null", "between"};

// The operator table of QUERY-DSL.md "Operators".
bool documented_applies(std::string_view op, const typed_field& f) {
  std::string_view t = f.type;
  if (op == "is_null") return f.nullable;
  if (t == "none") return false;
  if (op == "eq" || op == "ne" || op == "in" || op == "nin") return true;
  if (op == "lt" || op == "lte" || op == "gt" || op == "gte" || op == "between")
    return t == "text" || t == "money" || t == "integer" || t == "date" || t == "timestamp";
  return t == "text";  // like, ilike, starts_with, contains
}

// The WHERE fragment and parameters `op` on `f` (with f.v1, or [v1, v2]) must give.
std::pair<std::string, params_t> documented_sql(const std::string& op, const typed_field& f) {
  static const std::map<std::string, std::string> compare = {{"eq", " = "}, {"ne", " <> "}, {"lt", " < "},
                                                             {"lte", " <= "}, {"gt", " > "}, {"gte", " >= "}};
  const std::string& c = f.field;
  const std::string cast = "::" + f.sql;
  if (compare.count(op)) return {c + compare.at(op) + "$2" + cast, {tenant, f.p1}};
  const std::string array = "{\"" + f.p1 + "\",\"" + f.p2 + "\"}";
  if (op == "in") return {c + " = ANY ($2" + cast + "[])", {tenant, array}};
  if (op == "nin") return {c + " <> ALL ($2" + cast + "[])", {tenant, array}};
  if (op == "between") return {c + " BETWEEN $2" + cast + " AND $3" + cast, {tenant, f.p1, f.p2}};
  if (op == "like") return {c + " LIKE $2::text", {tenant, f.p1}};
  if (op == "ilike") return {c + " ILIKE $2::text", {tenant, f.p1}};
  if (op == "contains") return {c + " LIKE $2::text", {tenant, "%" + f.p1 + "%"}};
  if (op == "starts_with") {
    std::string upper = f.p1;  // the sample values are ASCII, no wildcards, not ending in DEL
    ++upper.back();
    return {"(" + c + " ~>=~ $2::text AND " + c + " ~<~ $3::text)", {tenant, f.p1, upper}};
  }
  return {c + " IS NULL", {tenant}};
}

} // namespace

// ---------------------------------------------------------------------------
// Defaults and the operator x type matrix

TEST_CASE("the default caps are the documented ones", "[protocols][query]") {
  query_caps c;
  CHECK(c.default_page == 50);
  CHECK(c.max_page == 500);
  CHECK(c.max_predicates == 20);
  CHECK(c.max_depth == 5);
  CHECK(c.max_in == 100);
  CHECK(c.max_sort == 3);
}

TEST_CASE("{} is the first page with defaults for every entity and the audit log", "[protocols][query]") {
  for (std::string_view path : {"customers", "deals", "products", "warehouses", "price-lists", "audit-logs"}) {
    CAPTURE(path);
    auto p = plan(path, "{}");
    REQUIRE(p);
    CHECK(p->where == "tenant_id = $1");
    CHECK(p->params == params_t{tenant});
    CHECK(p->order_by == (path == "audit-logs" ? "at DESC, id DESC" : "created_at DESC, id DESC"));
    CHECK(p->page_size == 50);
    CHECK(p->limit == 51);
    CHECK(p->fields == every(entity(path)));
    CHECK(p->fingerprint.size() == 64);
  }
}

TEST_CASE("the field table covers every field of every entity and of the audit log", "[protocols][query]") {
  std::vector<const entity_def*> entities;
  for (const auto& e : entity_registry()) entities.push_back(&e);
  entities.push_back(&audit_log_def());
  std::set<std::pair<std::string, std::string>> listed;
  for (const auto& f : typed_fields()) listed.insert({f.path, f.field});
  size_t fields = 0;
  for (const auto* e : entities)
    for (const auto& d : e->fields) {
      CAPTURE(e->path, d.name);
      CHECK(listed.count({e->path, d.name}) == 1);
      ++fields;
    }
  CHECK(listed.size() == fields);
  for (const auto& f : typed_fields()) {
    CAPTURE(f.path, f.field);
    const auto* d = entity(f.path).field(f.field);
    REQUIRE(d);
    CHECK(d->nullable() == f.nullable);
    CHECK(sql_type_of(*d) == f.sql);
  }
}

TEST_CASE("every operator against every field type", "[protocols][query]") {
  size_t accepted = 0, refused = 0;
  for (const auto& f : typed_fields()) {
    for (const auto& op : all_ops) {
      CAPTURE(f.path, f.field, op);
      std::string value;
      if (op == "in" || op == "nin" || op == "between") value = "[" + f.v1 + "," + f.v2 + "]";
      else if (op != "is_null") value = f.v1;
      auto r = plan(f.path, filter_body(pred(f.field, op, value)));
      if (!documented_applies(op, f)) {
        CHECK(outcome(r) == "query.bad_operator: '" + op + "' does not apply to " + f.field);
        ++refused;
        continue;
      }
      REQUIRE(r);
      auto [fragment, params] = documented_sql(op, f);
      CHECK(r->where == where_with(fragment));
      CHECK(r->params == params);
      CHECK(r->order_by == (f.path == "audit-logs" ? "at DESC, id DESC" : "created_at DESC, id DESC"));
      ++accepted;
    }
  }
  CHECK(accepted + refused == typed_fields().size() * all_ops.size());
  CHECK(accepted > 0);
  CHECK(refused > 0);
}

TEST_CASE("is_null applies to nullable fields only and takes no value", "[protocols][query]") {
  CHECK(outcome(plan("customers", filter_body(pred("email", "is_null")))) == "ok");
  for (auto field : {"id", "created_at", "updated_at", "version", "name", "status"})
    CHECK(outcome(plan("customers", filter_body(pred(field, "is_null")))) ==
          std::string{"query.bad_operator: 'is_null' does not apply to "} + field);
  CHECK(outcome(plan("products", filter_body(pred("active", "is_null")))) ==
        "query.bad_operator: 'is_null' does not apply to active");  // default true
  CHECK(outcome(plan("warehouses", filter_body(pred("name", "is_null")))) == "ok");  // not required there
  CHECK(outcome(plan("customers", filter_body(pred("email", "is_null", "true")))) ==
        "query.bad_value: is_null takes no value");
  CHECK(outcome(plan("customers", filter_body(pred("email", "is_null", "null")))) ==
        "query.bad_value: is_null takes no value");
  CHECK(outcome(plan("customers", filter_body(pred("email", "is_null", R"("")")))) ==
        "query.bad_value: is_null takes no value");
}

TEST_CASE("items and changes are neither filterable nor sortable, only projectable", "[protocols][query]") {
  for (const auto& [path, field] : {std::pair{"price-lists", "items"}, std::pair{"audit-logs", "changes"}}) {
    CAPTURE(path);
    for (const auto& op : all_ops)
      CHECK(outcome(plan(path, filter_body(pred(field, op, op == "is_null" ? "" : "[]")))) ==
            "query.bad_operator: '" + op + "' does not apply to " + field);
    CHECK(outcome(plan(path, R"({"sort":[{"field":")" + std::string{field} + R"("}]})")) ==
          "query.bad_value: " + std::string{field} + " cannot be sorted");
    CHECK(outcome(plan(path, R"({"sort":[{"field":")" + std::string{field} + R"(","dir":"desc"}]})")) ==
          "query.bad_value: " + std::string{field} + " cannot be sorted");
    auto p = plan(path, R"({"fields":[")" + std::string{field} + R"("]})");
    REQUIRE(p);
    CHECK(p->fields == (bit(entity(path), "id") | bit(entity(path), field)));
  }
  // unreadable: field_not_allowed comes before the operator
  auto s = scope("price-lists", every_but(entity("price-lists"), {"items"}));
  CHECK(outcome(plan_in(s, filter_body(pred("items", "eq", "[]")))) ==
        "query.field_not_allowed: your access profile cannot read 'items'");
}

// ---------------------------------------------------------------------------
// Values

TEST_CASE("values follow the type rules", "[protocols][query]") {
  struct value_case {
    std::string path, field, value;
    std::optional<std::string> param;  // nullopt: refused with `detail`
    std::string detail;
  };
  const std::string money_type = "annual_revenue: expected a decimal string such as \"1250.00\"";
  const std::string money_format = "annual_revenue: expected a decimal string with at most two decimals";
  const std::string not_ts = "created_at: expected an RFC 3339 timestamp";
  const std::string not_date = "close_date: expected a date YYYY-MM-DD";
  const std::vector<value_case> cases = {
      // uuid: canonical 8-4-4-4-12 hex, any case, bound lower-cased
      {"customers", "owner_id", uuid_a_json, uuid_a, ""},
      {"customers", "id", R"("0B7E4C5A-8F6D-4E1B-9A9C-8D7E6F5A4B3C")", row_id, ""},
      {"customers", "owner_id", R"("6f1c2a4e000040008000000000000001")", std::nullopt, "owner_id: expected a UUID"},
      {"customers", "owner_id", R"("{6f1c2a4e-0000-4000-8000-000000000001}")", std::nullopt, "owner_id: expected a UUID"},
      {"customers", "owner_id", R"("6f1c2a4e-0000-4000-8000-00000000000g")", std::nullopt, "owner_id: expected a UUID"},
      {"customers", "owner_id", R"(" 6f1c2a4e-0000-4000-8000-000000000001")", std::nullopt, "owner_id: expected a UUID"},
      {"customers", "owner_id", R"("")", std::nullopt, "owner_id: expected a UUID"},
      {"customers", "owner_id", "5", std::nullopt, "owner_id: expected a string"},
      {"customers", "owner_id", "true", std::nullopt, "owner_id: expected a string"},
      {"customers", "owner_id", "{}", std::nullopt, "owner_id: expected a string"},
      {"customers", "owner_id", R"([")" + uuid_a + R"("])", std::nullopt, "owner_id: expected a string"},
      {"customers", "owner_id", "null", std::nullopt, "owner_id: 'eq' needs a value"},
      // text: any string
      {"customers", "name", R"("")", "", ""},
      {"customers", "name", R"("Ac'me \"Ltd\"")", "Ac'me \"Ltd\"", ""},
      {"customers", "email", R"("not an email")", "not an email", ""},  // email is text in queries
      {"deals", "currency", R"("EURO")", "EURO", ""},                     // currency too
      {"customers", "name", "5", std::nullopt, "name: expected a string"},
      {"customers", "name", "false", std::nullopt, "name: expected a string"},
      {"customers", "name", R"(["x"])", std::nullopt, "name: expected a string"},
      {"customers", "name", R"({"$ne":null})", std::nullopt, "name: expected a string"},
      {"customers", "name", "null", std::nullopt, "name: 'eq' needs a value"},
      // enum: exactly one of the values
      {"customers", "status", R"("lead")", "lead", ""},
      {"customers", "status", R"("churned")", "churned", ""},
      {"customers", "status", R"("gone")", std::nullopt, "status: not one of the allowed values"},
      {"customers", "status", R"("LEAD")", std::nullopt, "status: not one of the allowed values"},
      {"customers", "status", R"("lead ")", std::nullopt, "status: not one of the allowed values"},
      {"customers", "status", R"("")", std::nullopt, "status: not one of the allowed values"},
      {"customers", "status", "1", std::nullopt, "status: expected a string"},
      {"deals", "stage", R"("proposal")", "proposal", ""},
      {"deals", "stage", R"("lead")", std::nullopt, "stage: not one of the allowed values"},
      {"audit-logs", "entity", R"("price-lists")", "price-lists", ""},
      {"audit-logs", "entity", R"("contacts")", std::nullopt, "entity: not one of the allowed values"},
      {"audit-logs", "action", R"("update")", "update", ""},
      {"audit-logs", "action", R"("read")", std::nullopt, "action: not one of the allowed values"},
      // money: a decimal string, bound as written
      {"customers", "annual_revenue", R"("1250")", "1250", ""},
      {"customers", "annual_revenue", R"("1250.5")", "1250.5", ""},
      {"customers", "annual_revenue", R"("1250.50")", "1250.50", ""},
      {"customers", "annual_revenue", R"("0")", "0", ""},
      {"customers", "annual_revenue", R"("1234567890123456.99")", "1234567890123456.99", ""},
      {"customers", "annual_revenue", "1250.5", std::nullopt, money_type},
      {"customers", "annual_revenue", "1250", std::nullopt, money_type},
      {"customers", "annual_revenue", "true", std::nullopt, money_type},
      {"customers", "annual_revenue", R"("-1.00")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"("+1")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"("1e3")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"("12.345")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"("12345678901234567")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"(".5")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"("1.")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"("")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"(" 1")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"("1,5")", std::nullopt, money_format},
      {"customers", "annual_revenue", R"("NaN")", std::nullopt, money_format},
      // integer: a JSON integer within 64 bits
      {"customers", "version", "3", "3", ""},
      {"customers", "version", "0", "0", ""},
      {"customers", "version", "-1", "-1", ""},
      {"customers", "version", "9223372036854775807", "9223372036854775807", ""},
      {"customers", "version", "-9223372036854775808", "-9223372036854775808", ""},
      {"customers", "version", "9223372036854775808", std::nullopt, "version: expected an integer"},
      {"customers", "version", "3.5", std::nullopt, "version: expected an integer"},
      {"customers", "version", "3.0", std::nullopt, "version: expected an integer"},
      {"customers", "version", "1e2", std::nullopt, "version: expected an integer"},
      {"customers", "version", R"("3")", std::nullopt, "version: expected an integer"},
      {"customers", "version", "true", std::nullopt, "version: expected an integer"},
      // boolean
      {"products", "active", "true", "true", ""},
      {"products", "active", "false", "false", ""},
      {"products", "active", R"("true")", std::nullopt, "active: expected true or false"},
      {"products", "active", "1", std::nullopt, "active: expected true or false"},
      {"products", "active", "0", std::nullopt, "active: expected true or false"},
      {"products", "active", "null", std::nullopt, "active: 'eq' needs a value"},
      // date: a real calendar day, 1900 or later
      {"deals", "close_date", R"("2026-01-31")", "2026-01-31", ""},
      {"deals", "close_date", R"("2024-02-29")", "2024-02-29", ""},
      {"deals", "close_date", R"("1900-01-01")", "1900-01-01", ""},
      {"deals", "close_date", R"("2023-02-29")", std::nullopt, not_date},
      {"deals", "close_date", R"("2027-02-30")", std::nullopt, not_date},
      {"deals", "close_date", R"("2026-13-01")", std::nullopt, not_date},
      {"deals", "close_date", R"("1899-12-31")", std::nullopt, not_date},
      {"deals", "close_date", R"("2026-1-01")", std::nullopt, not_date},
      {"deals", "close_date", R"("2026-01-01T00:00:00Z")", std::nullopt, not_date},
      {"deals", "close_date", "20260101", std::nullopt, "close_date: expected a string"},
      // timestamp: RFC 3339, offsets within +-15:59, 1-9 fraction digits
      {"customers", "created_at", R"("2026-11-24T10:00:00Z")", "2026-11-24T10:00:00Z", ""},
      {"customers", "created_at", R"("2026-11-24t10:00:00z")", "2026-11-24t10:00:00z", ""},
      {"customers", "created_at", R"("2026-11-24 10:00:00Z")", "2026-11-24 10:00:00Z", ""},
      {"customers", "created_at", R"("2026-11-24T23:59:59.1Z")", "2026-11-24T23:59:59.1Z", ""},
      {"customers", "created_at", R"("2026-11-24T10:00:00.123456789Z")", "2026-11-24T10:00:00.123456789Z", ""},
      {"customers", "created_at", R"("2026-11-24T10:00:00+01:00")", "2026-11-24T10:00:00+01:00", ""},
      {"customers", "created_at", R"("2026-11-24T10:00:00+15:59")", "2026-11-24T10:00:00+15:59", ""},
      {"customers", "created_at", R"("2026-11-24T10:00:00-15:59")", "2026-11-24T10:00:00-15:59", ""},
      {"customers", "created_at", R"("2026-11-24T10:00:00.123456789+01:00")", "2026-11-24T10:00:00.123456789+01:00", ""},
      {"customers", "created_at", R"("2026-11-24T10:00:00+16:00")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:00-16:00")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:00+23:59")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:00+01:60")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:00+0100")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:00+01")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:00")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T24:00:00Z")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:60:00Z")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:60Z")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:00.Z")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:00.1234567890Z")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-02-30T10:00:00Z")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24X10:00:00Z")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00Z")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T1a:00:00Z")", std::nullopt, not_ts},
      {"customers", "created_at", R"("2026-11-24T10:00:00ZZ")", std::nullopt, not_ts},
      {"customers", "created_at", R"(" 2026-11-24T10:00:00Z")", std::nullopt, not_ts},
      {"customers", "created_at", "1764000000", std::nullopt, "created_at: expected a string"},
      {"audit-logs", "at", R"("2026-11-24T10:00:00+02:00")", "2026-11-24T10:00:00+02:00", ""},
      {"audit-logs", "at", R"("2026-11-24T10:00:00+24:00")", std::nullopt, "at: expected an RFC 3339 timestamp"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.path, c.field, c.value);
    auto r = plan(c.path, filter_body(pred(c.field, "eq", c.value)));
    if (c.param) {
      REQUIRE(r);
      CHECK(r->params == params_t{tenant, *c.param});
    } else {
      CHECK(outcome(r) == "query.bad_value: " + c.detail);
    }
  }
}

TEST_CASE("string values may not hold NUL and are at most 1024 bytes, wherever they are", "[protocols][query]") {
  const std::string at_cap(1024, 'a'), past(1025, 'a');
  std::string e_acute;  // 512 x U+00E9: 512 characters, 1024 bytes
  for (int i = 0; i < 512; ++i) e_acute += "\xc3\xa9";
  auto eq = [](const std::string& v) { return plan("customers", filter_body(pred("name", "eq", js(v)))); };
  CHECK(outcome(eq(at_cap)) == "ok");
  CHECK(outcome(eq(past)) == "query.bad_value: name: a value is at most 1024 bytes");
  CHECK(outcome(eq(e_acute)) == "ok");
  CHECK(outcome(eq(e_acute + "a")) == "query.bad_value: name: a value is at most 1024 bytes");  // 513 characters
  CHECK(outcome(eq(std::string("a\0b", 3))) == "query.bad_value: name: a value may not contain NUL characters");
  CHECK(outcome(eq(std::string(1, '\0'))) == "query.bad_value: name: a value may not contain NUL characters");

  const std::string nul = js(std::string("x\0", 2));
  const std::string nul_detail = ": a value may not contain NUL characters";
  const std::string long_detail = ": a value is at most 1024 bytes";
  struct place {
    std::string path, field, op, value, detail;
  };
  const std::vector<place> places = {
      {"customers", "name", "ne", nul, "name" + nul_detail},
      {"customers", "name", "lt", nul, "name" + nul_detail},
      {"customers", "name", "in", R"(["ok",)" + nul + "]", "name" + nul_detail},
      {"customers", "name", "nin", "[" + nul + "]", "name" + nul_detail},
      {"customers", "name", "between", R"(["a",)" + nul + "]", "name" + nul_detail},
      {"customers", "name", "between", "[" + nul + R"(,"z"])", "name" + nul_detail},
      {"customers", "name", "like", nul, "name" + nul_detail},
      {"customers", "name", "ilike", nul, "name" + nul_detail},
      {"customers", "name", "starts_with", nul, "name" + nul_detail},
      {"customers", "name", "contains", nul, "name" + nul_detail},
      {"customers", "status", "eq", js(std::string("lead\0", 5)), "status" + nul_detail},
      {"customers", "owner_id", "eq", js(uuid_a + std::string(1, '\0')), "owner_id" + nul_detail},
      {"customers", "annual_revenue", "eq", js(std::string("1\0", 2)), "annual_revenue" + nul_detail},
      {"customers", "created_at", "eq", js("2026-11-24T10:00:00Z" + std::string(1, '\0')), "created_at" + nul_detail},
      {"deals", "close_date", "eq", js("2026-01-01" + std::string(1, '\0')), "close_date" + nul_detail},
      {"customers", "name", "in", R"(["ok",)" + js(past) + "]", "name" + long_detail},
      {"customers", "name", "between", "[" + js(past) + R"(,"z"])", "name" + long_detail},
      {"customers", "name", "like", js(past), "name" + long_detail},
      {"customers", "name", "starts_with", js(past), "name" + long_detail},
      {"customers", "name", "contains", js(past), "name" + long_detail},
      {"customers", "status", "eq", js(past), "status" + long_detail},
  };
  for (const auto& p : places) {
    CAPTURE(p.field, p.op, p.value.substr(0, 40));
    CHECK(outcome(plan(p.path, filter_body(pred(p.field, p.op, p.value)))) == "query.bad_value: " + p.detail);
  }
  // at the cap in every place
  for (auto op : {"like", "ilike", "starts_with", "contains", "gt"})
    CHECK(outcome(plan("customers", filter_body(pred("name", op, js(at_cap))))) == "ok");
  auto p = plan("customers", filter_body(pred("name", "contains", js(at_cap))));
  REQUIRE(p);
  CHECK(p->params.at(1) == "%" + at_cap + "%");  // the wrapped pattern may exceed 1024 bytes
}

TEST_CASE("in, nin and between check every value", "[protocols][query]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {pred("status", "in", R"(["lead","gone"])"), "status: not one of the allowed values"},
      {pred("status", "nin", R"(["gone","lead"])"), "status: not one of the allowed values"},
      {pred("status", "in", R"(["lead",null])"), "status: null is not a value"},
      {pred("status", "in", R"([null])"), "status: null is not a value"},
      {pred("status", "in", R"("lead")"), "status: 'in' takes a non-empty array"},
      {pred("status", "in", "[]"), "status: 'in' takes a non-empty array"},
      {pred("status", "nin", "[]"), "status: 'nin' takes a non-empty array"},
      {pred("status", "nin", "{}"), "status: 'nin' takes a non-empty array"},
      {pred("status", "in", "null"), "status: 'in' needs a value"},
      {pred("status", "in", ""), "status: 'in' needs a value"},
      {pred("version", "in", R"([1,"2"])"), "version: expected an integer"},
      {pred("name", "in", R"([["x"]])"), "name: expected a string"},
      {pred("name", "in", R"([{"a":1}])"), "name: expected a string"},
      {pred("annual_revenue", "in", "[1.5]"), "annual_revenue: expected a decimal string such as \"1250.00\""},
      {pred("annual_revenue", "between", R"(["1","x"])"), "annual_revenue: expected a decimal string with at most two decimals"},
      {pred("annual_revenue", "between", R"(["x","1"])"), "annual_revenue: expected a decimal string with at most two decimals"},
      {pred("annual_revenue", "between", R"([null,"1"])"), "annual_revenue: null is not a bound"},
      {pred("annual_revenue", "between", R"(["1",null])"), "annual_revenue: null is not a bound"},
      {pred("annual_revenue", "between", R"(["1"])"), "annual_revenue: 'between' takes [low, high]"},
      {pred("annual_revenue", "between", R"(["1","2","3"])"), "annual_revenue: 'between' takes [low, high]"},
      {pred("annual_revenue", "between", "[]"), "annual_revenue: 'between' takes [low, high]"},
      {pred("annual_revenue", "between", R"("1")"), "annual_revenue: 'between' takes [low, high]"},
      {pred("annual_revenue", "between", R"({"low":"1","high":"2"})"), "annual_revenue: 'between' takes [low, high]"},
      {pred("annual_revenue", "between", "null"), "annual_revenue: 'between' needs a value"},
      {pred("created_at", "between", R"(["2026-01-01T00:00:00Z","2026-01-02"])"), "created_at: expected an RFC 3339 timestamp"},
  };
  for (const auto& [node, detail] : cases) {
    CAPTURE(node);
    CHECK(outcome(plan("customers", filter_body(node))) == "query.bad_value: " + detail);
  }
}

TEST_CASE("like and ilike take patterns; starts_with and contains take literals", "[protocols][query]") {
  auto p = plan("customers", filter_body(pred("name", "like", R"("Ac%_e\\%")")));
  REQUIRE(p);
  CHECK(p->where == where_with("name LIKE $2::text"));
  CHECK(p->params == params_t{tenant, R"(Ac%_e\%)"});  // as written
  p = plan("customers", filter_body(pred("name", "ilike", R"("acme%")")));
  REQUIRE(p);
  CHECK(p->where == where_with("name ILIKE $2::text"));
  CHECK(p->params == params_t{tenant, "acme%"});
  p = plan("customers", filter_body(pred("name", "like", R"("")")));
  REQUIRE(p);
  CHECK(p->params == params_t{tenant, ""});
  p = plan("customers", filter_body(pred("name", "like", R"("abc\\\\")")));  // abc\\ : an escaped backslash
  REQUIRE(p);
  CHECK(p->params == params_t{tenant, R"(abc\\)"});
  const std::string lone = "query.bad_value: name: the pattern ends with a lone '\\'";
  CHECK(outcome(plan("customers", filter_body(pred("name", "like", R"("abc\\")")))) == lone);
  CHECK(outcome(plan("customers", filter_body(pred("name", "like", R"("\\")")))) == lone);
  CHECK(outcome(plan("customers", filter_body(pred("name", "like", R"("a\\\\\\")")))) == lone);  // three backslashes
  CHECK(outcome(plan("customers", filter_body(pred("name", "ilike", R"("abc\\")")))) == lone);
  CHECK(outcome(plan("customers", filter_body(pred("email", "ilike", R"("%\\")")))) ==
        "query.bad_value: email: the pattern ends with a lone '\\'");

  // starts_with: literal (no pattern at all): the byte-order range of the prefix, bound raw
  p = plan("customers", filter_body(pred("name", "starts_with", R"("50%_off")")));
  REQUIRE(p);
  CHECK(p->where == where_with("(name ~>=~ $2::text AND name ~<~ $3::text)"));
  CHECK(p->params == params_t{tenant, "50%_off", "50%_ofg"});
  p = plan("customers", filter_body(pred("name", "starts_with", R"("abc\\")")));  // a trailing backslash is fine here
  REQUIRE(p);
  CHECK(p->params == params_t{tenant, R"(abc\)", "abc]"});
  // contains: literal, wrapped in %
  p = plan("customers", filter_body(pred("name", "contains", R"("50%_\\")")));
  REQUIRE(p);
  CHECK(p->where == where_with("name LIKE $2::text"));
  CHECK(p->params == params_t{tenant, R"(%50\%\_\\%)"});
  p = plan("customers", filter_body(pred("name", "contains", R"("")")));
  REQUIRE(p);
  CHECK(p->params == params_t{tenant, "%%"});
  p = plan("customers", filter_body(pred("notes", "contains", R"("Acme")")));
  REQUIRE(p);
  CHECK(p->where == where_with("notes LIKE $2::text"));
  CHECK(p->params == params_t{tenant, "%Acme%"});
}

TEST_CASE("starts_with bounds the prefix by byte order for the name index", "[protocols][query]") {
  auto p = plan("customers", filter_body(pred("name", "starts_with", R"("Acme")")));
  REQUIRE(p);
  CHECK(p->where == where_with("(name ~>=~ $2::text AND name ~<~ $3::text)"));
  CHECK(p->params == params_t{tenant, "Acme", "Acmf"});
  p = plan("customers", filter_body(pred("name", "starts_with", R"("a\u00ff")")));  // last char moves to U+0100
  REQUIRE(p);
  CHECK(p->params.at(2) == "a\xc4\x80");
  p = plan("customers", filter_body(pred("name", "starts_with", R"("a\udbff\udfff")")));  // U+10FFFF: carry left
  REQUIRE(p);
  CHECK(p->params.at(2) == "b");
  p = plan("customers", filter_body(pred("name", "starts_with", R"("\udbff\udfff")")));  // nothing above it
  REQUIRE(p);
  CHECK(p->where == where_with("name ~>=~ $2::text"));
  p = plan("customers", filter_body(pred("name", "starts_with", R"("\ud7ff")")));  // skips the surrogates
  REQUIRE(p);
  CHECK(p->params.at(2) == "\xee\x80\x80");
  p = plan("customers", filter_body(pred("name", "starts_with", R"("")")));  // every non-null name
  REQUIRE(p);
  CHECK(p->where == where_with("name LIKE $2::text"));
  CHECK(p->params.at(1) == "%");
}

TEST_CASE("starts_with upper bounds across UTF-8 lengths", "[protocols][query]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("x\u007f")", "x\xc2\x80"},                     // 1 -> 2 bytes
      {R"("x\u07ff")", "x\xe0\xa0\x80"},                 // 2 -> 3 bytes
      {R"("x\uffff")", "x\xf0\x90\x80\x80"},             // 3 -> 4 bytes
      {R"("\ud83d\ude00")", "\xf0\x9f\x98\x81"},         // within 4 bytes
      {R"("ab\udbff\udfff\udbff\udfff")", "ac"},         // carries over two characters
      {R"("z")", "{"},
  };
  for (const auto& [value, upper] : cases) {
    CAPTURE(value);
    auto p = plan("customers", filter_body(pred("name", "starts_with", value)));
    REQUIRE(p);
    REQUIRE(p->params.size() == 3);
    CHECK(p->params.at(2) == upper);
    CHECK(*p->params.at(1) < upper);  // byte order (std::string compares as unsigned char)
  }
  auto p = plan("customers", filter_body(pred("name", "starts_with", R"("\udbff\udfff\udbff\udfff")")));
  REQUIRE(p);
  CHECK(p->where == where_with("name ~>=~ $2::text"));
  CHECK(p->params.size() == 2);
}

// ---------------------------------------------------------------------------
// Errors

TEST_CASE("every error code with its detail", "[protocols][query]") {
  struct refusal {
    query_scope s;
    std::string body, expected;
  };
  const auto customers = scope("customers");
  const std::vector<refusal> cases = {
      // QUERY-DSL.md "Errors", row by row
      {customers, filter_body(pred("nam", "eq", R"("x")")), "query.unknown_field: customers has no field 'nam'"},
      {sales_rep(), filter_body(pred("tax_id", "eq", R"("x")")),
       "query.field_not_allowed: your access profile cannot read 'tax_id'"},
      {sales_rep(), R"({"fields":["id","annual_revenue"]})",
       "query.field_not_allowed: your access profile cannot read 'annual_revenue'"},
      {customers, filter_body(pred("name", "near", R"("x")")), "query.bad_operator: no operator 'near'"},
      {customers, filter_body(pred("annual_revenue", "ilike", R"("1%")")),
       "query.bad_operator: 'ilike' does not apply to annual_revenue"},
      {customers, filter_body(pred("name", "is_null")), "query.bad_operator: 'is_null' does not apply to name"},
      {scope("price-lists"), filter_body(pred("items", "eq", "[]")), "query.bad_operator: 'eq' does not apply to items"},
      {customers, filter_body(pred("annual_revenue", "gt", "1000.5")),
       "query.bad_value: annual_revenue: expected a decimal string such as \"1250.00\""},
      {customers, filter_body(pred("status", "eq", R"("gone")")), "query.bad_value: status: not one of the allowed values"},
      {scope("deals"), filter_body(pred("close_date", "gte", R"("2027-02-30")")),
       "query.bad_value: close_date: expected a date YYYY-MM-DD"},
      {customers, filter_body(pred("email", "is_null", "true")), "query.bad_value: is_null takes no value"},
      {customers, filter_body(pred("name", "like", R"("abc\\")")), "query.bad_value: name: the pattern ends with a lone '\\'"},
      {customers, R"({"filter":{"field":"status","op":"eq","value":"active","and":[]}})",
       "query.bad_value: a 'and' node has no other members"},
      {customers, R"({"sort":[{"field":"name"},{"field":"name","dir":"desc"}]})", "query.bad_value: name is sorted twice"},
      {customers, R"({"limit":10})", "query.bad_value: unknown member 'limit' (filter, sort, page, fields)"},
      {customers, R"({"page":{"size":0}})", "query.bad_value: page.size must be an integer of at least 1"},
      {customers, filter_body(pred("status", "in", repeat_array(R"("lead")", 101))),
       "query.too_complex: status: more than 100 values"},
      {customers, R"({"sort":[{"field":"name"},{"field":"email"},{"field":"status"},{"field":"phone"}]})",
       "query.too_complex: more than 3 sort keys"},
      {customers, R"({"page":{"size":501}})", "query.page_too_large: page.size is at most 500"},
      {customers, R"({"page":{"after":"not-a-cursor"}})", bad_cursor},
      // the rest of each code
      {customers, "not json", "request.malformed_json: the body is not valid JSON"},
      {customers, "", "request.malformed_json: the body is not valid JSON"},
      {customers, "[]", "request.malformed_json: the body must be a JSON object"},
      {customers, "{\"filter\":\"\xff\"}", "request.malformed_json: the body is not valid UTF-8"},
      {scope("audit-logs"), filter_body(pred("created_at", "eq", R"("x")")),
       "query.unknown_field: audit-logs has no field 'created_at'"},
      {customers, R"({"sort":[{"field":"sku"}]})", "query.unknown_field: customers has no field 'sku'"},
      {customers, R"({"fields":["name","nam"]})", "query.unknown_field: customers has no field 'nam'"},
      {sales_rep(), R"({"sort":[{"field":"tax_id"}]})", "query.field_not_allowed: your access profile cannot read 'tax_id'"},
      {customers, filter_body(R"({"field":"name","value":"x"})"), "query.bad_operator: a predicate needs an 'op' string"},
      {customers, filter_body(R"({"field":"name","op":5,"value":"x"})"), "query.bad_operator: a predicate needs an 'op' string"},
      {customers, filter_body(nest(pred("name", "eq", R"("x")"), 5)), "query.too_complex: the filter is nested deeper than 5"},
      {customers, filter_body(group("and", name_preds(21))), "query.too_complex: the filter has more than 20 predicates"},
      {customers, R"({"fields":)" + repeat_array(R"("name")", 65) + "}", "query.too_complex: too many fields"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body.substr(0, 200));
    CHECK(outcome(plan_in(c.s, c.body)) == c.expected);
  }
  // no entity: an internal error, not a client one
  CHECK(code_of(plan_query("{}", query_scope{}, query_caps{})) == "internal");
  // every refusal is a 400
  for (const auto& c : cases) {
    auto r = plan_query(c.body, c.s, query_caps{});
    REQUIRE_FALSE(r);
    CHECK(to_problem(r.error()).kind.status == 400);
  }
}

TEST_CASE("the first failure is reported, in the documented order", "[protocols][query]") {
  struct ordered {
    query_scope s;
    std::string body, expected;
  };
  const auto customers = scope("customers");
  const std::string four_keys_first_unknown =
      R"({"sort":[{"field":"nam"},{"field":"email"},{"field":"status"},{"field":"phone"}]})";
  const std::vector<ordered> cases = {
      // 1. the body
      {customers, R"({"limit":1,)", "request.malformed_json: the body is not valid JSON"},
      // 2. unknown top-level members, wherever they stand
      {customers, R"({"filter":{"field":"nam","op":"eq","value":"x"},"limit":1})",
       "query.bad_value: unknown member 'limit' (filter, sort, page, fields)"},
      // 3..7: filter, sort, fields, page, cursor, whatever the document order
      {customers, R"({"page":{"size":0},"fields":["fax"],"sort":[{"field":"nam"}],"filter":{"field":"phon","op":"eq","value":"x"}})",
       "query.unknown_field: customers has no field 'phon'"},
      {customers, R"({"page":{"size":0},"fields":["fax"],"sort":[{"field":"nam"}]})",
       "query.unknown_field: customers has no field 'nam'"},
      {customers, R"({"page":{"size":0},"fields":["fax"]})", "query.unknown_field: customers has no field 'fax'"},
      {customers, R"({"page":{"after":"junk","size":501}})", "query.page_too_large: page.size is at most 500"},
      {customers, R"({"page":{"after":"junk","size":0}})", "query.bad_value: page.size must be an integer of at least 1"},
      // the filter depth-first, in document order
      {sales_rep(), filter_body(group("and", {pred("nam", "eq", R"("x")"), pred("tax_id", "eq", R"("x")")})),
       "query.unknown_field: customers has no field 'nam'"},
      {sales_rep(), filter_body(group("and", {pred("tax_id", "eq", R"("x")"), pred("nam", "eq", R"("x")")})),
       "query.field_not_allowed: your access profile cannot read 'tax_id'"},
      {customers, filter_body(group("and", {group("or", {negate(pred("fax", "eq", R"("x")"))}), pred("nam", "eq", R"("x")")})),
       "query.unknown_field: customers has no field 'fax'"},
      {customers, filter_body(group("or", {pred("name", "eq", "5"), pred("nam", "eq", R"("x")")})),
       "query.bad_value: name: expected a string"},
      // per node: depth cap before shape
      {customers, filter_body(nest("5", 5)), "query.too_complex: the filter is nested deeper than 5"},
      {customers, filter_body(nest("5", 4)), "query.bad_value: a filter node must be an object"},
      {customers, filter_body(nest(R"({"and":[]})", 5)), "query.too_complex: the filter is nested deeper than 5"},
      // per predicate: count cap, members, field, op, value
      {customers, filter_body(group("and", [] {
         auto v = name_preds(20);
         v.push_back(pred("nam", "near", "5"));
         return v;
       }())),
       "query.too_complex: the filter has more than 20 predicates"},
      {customers, filter_body(R"({"field":"nam","op":"near","value":"x","x":1})"),
       "query.bad_value: unknown member 'x' in a predicate"},
      {customers, filter_body(pred("nam", "near")), "query.unknown_field: customers has no field 'nam'"},
      {sales_rep(), filter_body(pred("tax_id", "near")), "query.field_not_allowed: your access profile cannot read 'tax_id'"},
      {customers, filter_body(pred("name", "near", "5")), "query.bad_operator: no operator 'near'"},
      {customers, filter_body(pred("status", "lt", "5")), "query.bad_operator: 'lt' does not apply to status"},
      {customers, filter_body(pred("name", "lt")), "query.bad_value: name: 'lt' needs a value"},
      {customers, filter_body(pred("status", "in", repeat_array(R"("gone")", 101))),
       "query.too_complex: status: more than 100 values"},
      {customers, filter_body(pred("status", "in", R"(["gone",null])")), "query.bad_value: status: not one of the allowed values"},
      // sort: shape, cap, then per key: shape, field, sortable, duplicate, dir
      {customers, R"({"sort":{"field":"name"}})", "query.bad_value: sort must be an array"},
      {customers, four_keys_first_unknown, "query.too_complex: more than 3 sort keys"},
      {customers, R"({"sort":["name"]})", "query.bad_value: a sort key is {\"field\", \"dir\"}"},
      {customers, R"({"sort":[{"field":"nam","dir":"up","x":1}]})", "query.bad_value: unknown member 'x' in a sort key"},
      {customers, R"({"sort":[{"dir":"up"}]})", "query.bad_value: a sort key needs a field"},
      {customers, R"({"sort":[{"field":5}]})", "query.bad_value: sort field must be a field name"},
      {customers, R"({"sort":[{"field":"nam","dir":"up"}]})", "query.unknown_field: customers has no field 'nam'"},
      {scope("price-lists"), R"({"sort":[{"field":"items","dir":"up"}]})", "query.bad_value: items cannot be sorted"},
      {customers, R"({"sort":[{"field":"name"},{"field":"name","dir":"up"}]})", "query.bad_value: name is sorted twice"},
      {customers, R"({"sort":[{"field":"name","dir":"up"},{"field":"nam"}]})", "query.bad_value: dir is \"asc\" or \"desc\""},
      // fields: shape, count, then each name
      {customers, R"({"fields":"name"})", "query.bad_value: fields must be a non-empty array of field names"},
      {customers, R"({"fields":[]})", "query.bad_value: fields must be a non-empty array of field names"},
      {customers, R"({"fields":)" + repeat_array(R"("nam")", 65) + "}", "query.too_complex: too many fields"},
      {customers, R"({"fields":["name",5,"nam"]})", "query.bad_value: fields must be a field name"},
      // page: shape, members, size
      {customers, R"({"page":[]})", "query.bad_value: page must be an object"},
      {customers, R"({"page":null})", "query.bad_value: page must be an object"},
      {customers, R"({"page":{"size":0,"limit":1}})", "query.bad_value: unknown member 'limit' in page"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body.substr(0, 200));
    CHECK(outcome(plan_in(c.s, c.body)) == c.expected);
  }
}

TEST_CASE("unknown top-level members are query.bad_value", "[protocols][query]") {
  for (std::string name : {"limit", "offset", "Filter", "FILTER", "filter ", " filter", "", "sort_by", "where", "select",
                           "filter; DROP TABLE customers", "page.size"}) {
    CAPTURE(name);
    CHECK(outcome(plan("customers", "{" + js(name) + ":1}")) ==
          "query.bad_value: unknown member '" + name + "' (filter, sort, page, fields)");
    CHECK(outcome(plan("customers", R"({"filter":{"field":"name","op":"eq","value":"x"},)" + js(name) + ":{}}")) ==
          "query.bad_value: unknown member '" + name + "' (filter, sort, page, fields)");
  }
  // control characters and long names are tamed in the detail
  CHECK(outcome(plan("customers", R"({"a\u0000b":1})")) ==
        "query.bad_value: unknown member 'a?b' (filter, sort, page, fields)");
  const std::string long_name(100, 'x');
  CHECK(outcome(plan("customers", "{" + js(long_name) + ":1}")) ==
        "query.bad_value: unknown member '" + std::string(64, 'x') + "...' (filter, sort, page, fields)");
  // every known member at once is fine
  CHECK(outcome(plan("customers", R"({"filter":{"field":"name","op":"eq","value":"x"},"sort":[],"page":{},"fields":["name"]})")) == "ok");
}

// ---------------------------------------------------------------------------
// Filter trees, depth and predicate counting

TEST_CASE("and, or and not nest into parenthesised SQL, values bound in document order", "[protocols][query]") {
  const auto active = pred("status", "eq", R"("active")");
  const auto acme = pred("name", "eq", R"("Acme")");
  auto p = plan("customers", filter_body(group("and", {active, acme})));
  REQUIRE(p);
  CHECK(p->where == where_with("(status = $2::text AND name = $3::text)"));
  CHECK(p->params == params_t{tenant, "active", "Acme"});
  p = plan("customers", filter_body(group("or", {active, acme})));
  REQUIRE(p);
  CHECK(p->where == where_with("(status = $2::text OR name = $3::text)"));
  p = plan("customers", filter_body(negate(active)));
  REQUIRE(p);
  CHECK(p->where == where_with("NOT (status = $2::text)"));
  p = plan("customers", filter_body(group("and", {active})));
  REQUIRE(p);
  CHECK(p->where == where_with("(status = $2::text)"));
  CHECK(p->params == params_t{tenant, "active"});
  p = plan("customers", filter_body(active));
  REQUIRE(p);
  CHECK(p->where == where_with("status = $2::text"));

  // the request example of QUERY-DSL.md: 3 predicates, depth 4
  const std::string example =
      R"({"and":[{"field":"status","op":"eq","value":"active"},
                 {"or":[{"field":"name","op":"ilike","value":"acme%"},
                        {"not":{"field":"email","op":"is_null"}}]}]})";
  p = plan("customers", filter_body(example));
  REQUIRE(p);
  CHECK(p->where == where_with("(status = $2::text AND (name ILIKE $3::text OR NOT (email IS NULL)))"));
  CHECK(p->params == params_t{tenant, "active", "acme%"});
  query_caps caps;
  caps.max_depth = 4;
  caps.max_predicates = 3;
  CHECK(outcome(plan("customers", filter_body(example), caps)) == "ok");
  caps.max_depth = 3;
  CHECK(outcome(plan("customers", filter_body(example), caps)) == "query.too_complex: the filter is nested deeper than 3");
  caps.max_depth = 4;
  caps.max_predicates = 2;
  CHECK(outcome(plan("customers", filter_body(example), caps)) == "query.too_complex: the filter has more than 2 predicates");

  // a deeper mix: every value in document order
  p = plan("customers",
           filter_body(group("or", {group("and", {pred("version", "gt", "1"), negate(pred("email", "contains", R"("x")"))}),
                                    pred("owner_id", "in", "[" + uuid_a_json + "]"),
                                    pred("created_at", "between", R"(["2026-01-01T00:00:00Z","2026-12-31T00:00:00Z"])")})));
  REQUIRE(p);
  CHECK(p->where == where_with("((version > $2::bigint AND NOT (email LIKE $3::text)) OR owner_id = ANY ($4::uuid[]) OR "
                               "created_at BETWEEN $5::timestamptz AND $6::timestamptz)"));
  CHECK(p->params == params_t{tenant, "1", "%x%", "{\"" + uuid_a + "\"}", "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z"});
}

TEST_CASE("filter node shapes", "[protocols][query]") {
  const auto p = pred("name", "eq", R"("x")");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"and":[]})", "'and' takes a non-empty array of nodes"},
      {R"({"or":[]})", "'or' takes a non-empty array of nodes"},
      {R"({"or":{}})", "'or' takes a non-empty array of nodes"},
      {R"({"and":null})", "'and' takes a non-empty array of nodes"},
      {R"({"and":[)" + p + R"(],"x":1})", "a 'and' node has no other members"},
      {R"({"or":[)" + p + R"(],"field":"name"})", "a 'or' node has no other members"},
      {R"({"and":[)" + p + R"(],"or":[)" + p + "]}", "a 'and' node has no other members"},
      {R"({"not":)" + p + R"(,"x":1})", "a 'not' node has no other members"},
      {R"({"not":)" + p + R"(,"field":"name","op":"eq","value":"x"})", "a 'not' node has no other members"},
      {R"({"not":[)" + p + "]}", "a filter node must be an object"},
      {R"({"not":null})", "a filter node must be an object"},
      {R"({"and":[)" + p + ",5]}", "a filter node must be an object"},
      {"5", "a filter node must be an object"},
      {R"("name = 'x'")", "a filter node must be an object"},
      {"[]", "a filter node must be an object"},
      {"null", "a filter node must be an object"},
      {"{}", "a predicate needs 'field' and 'op'"},
      {R"({"op":"eq","value":"x"})", "a predicate needs 'field' and 'op'"},
      {R"({"field":5,"op":"eq","value":"x"})", "field must be a field name"},
      {R"({"field":null,"op":"eq","value":"x"})", "field must be a field name"},
      {R"({"field":"name","op":"eq"})", "name: 'eq' needs a value"},
      {R"({"field":"name","op":"eq","value":null})", "name: 'eq' needs a value"},
      {R"({"field":"name","op":"eq","value":"x","values":["y"]})", "unknown member 'values' in a predicate"},
      {R"({"field":"name","op":"eq","value":"x","AND":[]})", "unknown member 'AND' in a predicate"},
  };
  for (const auto& [node, detail] : cases) {
    CAPTURE(node);
    CHECK(outcome(plan("customers", filter_body(node))) == "query.bad_value: " + detail);
  }
}

TEST_CASE("depth: a bare predicate is depth 1, each and/or/not adds one", "[protocols][query]") {
  const auto p = pred("name", "eq", R"("x")");
  // defaults: 5
  for (size_t levels = 0; levels <= 4; ++levels) {
    CAPTURE(levels);
    auto r = plan("customers", filter_body(nest(p, levels)));
    REQUIRE(r);
    CHECK(r->params == params_t{tenant, "x"});
  }
  CHECK(outcome(plan("customers", filter_body(nest(p, 5)))) == "query.too_complex: the filter is nested deeper than 5");
  CHECK(outcome(plan("customers", filter_body(nest(p, 9)))) == "query.too_complex: the filter is nested deeper than 5");
  // a chain of nots only
  std::string nots = p;
  for (int i = 0; i < 4; ++i) nots = negate(nots);
  CHECK(outcome(plan("customers", filter_body(nots))) == "ok");
  CHECK(outcome(plan("customers", filter_body(negate(nots)))) == "query.too_complex: the filter is nested deeper than 5");
  // depth is the longest path, not the node count: a wide tree is shallow
  CHECK(outcome(plan("customers", filter_body(group("and", {nest(p, 3), nest(p, 3), nest(p, 3)})))) == "ok");
  CHECK(outcome(plan("customers", filter_body(group("and", {nest(p, 3), nest(p, 4)})))) ==
        "query.too_complex: the filter is nested deeper than 5");
  // custom caps
  query_caps one;
  one.max_depth = 1;
  CHECK(outcome(plan("customers", filter_body(p), one)) == "ok");
  CHECK(outcome(plan("customers", filter_body(group("and", {p})), one)) ==
        "query.too_complex: the filter is nested deeper than 1");
  CHECK(outcome(plan("customers", filter_body(negate(p)), one)) == "query.too_complex: the filter is nested deeper than 1");
  query_caps seven;
  seven.max_depth = 7;
  CHECK(outcome(plan("customers", filter_body(nest(p, 6)), seven)) == "ok");
  CHECK(outcome(plan("customers", filter_body(nest(p, 7)), seven)) == "query.too_complex: the filter is nested deeper than 7");
}

TEST_CASE("predicates are counted over the whole tree", "[protocols][query]") {
  auto p = plan("customers", filter_body(group("and", name_preds(20))));
  REQUIRE(p);
  CHECK(p->params.size() == 21);
  CHECK(p->params.back() == "n19");
  CHECK(outcome(plan("customers", filter_body(group("and", name_preds(21))))) ==
        "query.too_complex: the filter has more than 20 predicates");
  // spread over branches and under not
  auto ten = name_preds(10);
  CHECK(outcome(plan("customers", filter_body(group("or", {group("and", ten), negate(group("and", ten))})))) == "ok");
  CHECK(outcome(plan("customers", filter_body(group("or", {group("and", ten), negate(group("and", ten)),
                                                          pred("email", "is_null")})))) ==
        "query.too_complex: the filter has more than 20 predicates");
  // is_null and in count as one each
  std::vector<std::string> mixed = name_preds(18);
  mixed.push_back(pred("email", "is_null"));
  mixed.push_back(pred("status", "in", R"(["lead","active","churned"])"));
  CHECK(outcome(plan("customers", filter_body(group("and", mixed)))) == "ok");
  mixed.push_back(pred("phone", "is_null"));
  CHECK(outcome(plan("customers", filter_body(group("and", mixed)))) ==
        "query.too_complex: the filter has more than 20 predicates");
  // counted when reached: a bad predicate before the cap wins, one after it does not
  auto bad_first = name_preds(25);
  bad_first[4] = pred("nam", "eq", R"("x")");
  CHECK(outcome(plan("customers", filter_body(group("and", bad_first)))) == "query.unknown_field: customers has no field 'nam'");
  auto bad_last = name_preds(25);
  bad_last[20] = pred("nam", "eq", R"("x")");
  CHECK(outcome(plan("customers", filter_body(group("and", bad_last)))) ==
        "query.too_complex: the filter has more than 20 predicates");
  // custom caps
  query_caps three;
  three.max_predicates = 3;
  CHECK(outcome(plan("customers", filter_body(group("and", name_preds(3))), three)) == "ok");
  CHECK(outcome(plan("customers", filter_body(group("and", name_preds(4))), three)) ==
        "query.too_complex: the filter has more than 3 predicates");
  query_caps one;
  one.max_predicates = 1;
  CHECK(outcome(plan("customers", filter_body(pred("name", "eq", R"("x")")), one)) == "ok");
  CHECK(outcome(plan("customers", filter_body(group("or", name_preds(2))), one)) ==
        "query.too_complex: the filter has more than 1 predicates");
  // starts_with binds two values per predicate (its range): 3 of them under tight caps give 7 parameters
  query_caps tight = three;
  tight.max_depth = 2;
  std::vector<std::string> sw(3, pred("name", "starts_with", R"("a")"));
  p = plan("customers", filter_body(group("and", sw)), tight);
  REQUIRE(p);
  CHECK(p->params.size() == 7);
}

// ---------------------------------------------------------------------------
// Caps

TEST_CASE("in and nin take at most max_in values", "[protocols][query]") {
  for (auto op : {"in", "nin"}) {
    CAPTURE(op);
    auto p = plan("customers", filter_body(pred("name", op, string_array(100))));
    REQUIRE(p);
    CHECK(p->params.size() == 2);
    CHECK(p->params.at(1)->rfind(R"({"v0","v1",)", 0) == 0);
    CHECK(outcome(plan("customers", filter_body(pred("name", op, string_array(101))))) ==
          "query.too_complex: name: more than 100 values");
    query_caps two;
    two.max_in = 2;
    p = plan("customers", filter_body(pred("name", op, string_array(2))), two);
    REQUIRE(p);
    CHECK(p->params.at(1) == R"({"v0","v1"})");
    CHECK(outcome(plan("customers", filter_body(pred("name", op, string_array(3))), two)) ==
          "query.too_complex: name: more than 2 values");
    query_caps one;
    one.max_in = 1;
    CHECK(outcome(plan("customers", filter_body(pred("name", op, string_array(1))), one)) == "ok");
    CHECK(outcome(plan("customers", filter_body(pred("name", op, string_array(2))), one)) ==
          "query.too_complex: name: more than 1 values");
  }
  // between is not an in: it takes exactly two
  query_caps one;
  one.max_in = 1;
  CHECK(outcome(plan("customers", filter_body(pred("name", "between", R"(["a","b"])")), one)) == "ok");
}

TEST_CASE("sort takes at most max_sort client keys; the id tie-breaker is extra", "[protocols][query]") {
  auto p = plan("customers", R"({"sort":[{"field":"name"},{"field":"email"},{"field":"status"}]})");
  REQUIRE(p);
  CHECK(p->order_by == "name ASC, email ASC, status ASC, id ASC");
  CHECK(p->sort.size() == 4);
  CHECK(outcome(plan("customers", R"({"sort":[{"field":"name"},{"field":"email"},{"field":"status"},{"field":"phone"}]})")) ==
        "query.too_complex: more than 3 sort keys");
  // keys after id still count
  CHECK(outcome(plan("customers", R"({"sort":[{"field":"id"},{"field":"email"},{"field":"status"},{"field":"phone"}]})")) ==
        "query.too_complex: more than 3 sort keys");
  query_caps one;
  one.max_sort = 1;
  p = plan("customers", R"({"sort":[{"field":"name","dir":"desc"}]})", one);
  REQUIRE(p);
  CHECK(p->order_by == "name DESC, id DESC");
  CHECK(outcome(plan("customers", R"({"sort":[{"field":"name"},{"field":"id"}]})", one)) ==
        "query.too_complex: more than 1 sort keys");
  // the default sort is not a client key
  CHECK(outcome(plan("customers", "{}", one)) == "ok");
  query_caps five;
  five.max_sort = 5;
  p = plan("customers",
           R"({"sort":[{"field":"name"},{"field":"email"},{"field":"status"},{"field":"phone"},{"field":"version","dir":"desc"}]})",
           five);
  REQUIRE(p);
  CHECK(p->order_by == "name ASC, email ASC, status ASC, phone ASC, version DESC, id DESC");
}

TEST_CASE("fields takes at most 64 names", "[protocols][query]") {
  const auto& c = entity("customers");
  auto p = plan("customers", R"({"fields":)" + repeat_array(R"("name")", 64) + "}");
  REQUIRE(p);
  CHECK(p->fields == (bit(c, "id") | bit(c, "name")));
  CHECK(outcome(plan("customers", R"({"fields":)" + repeat_array(R"("name")", 65) + "}")) ==
        "query.too_complex: too many fields");
}

TEST_CASE("page size: default, at the cap and past it", "[protocols][query]") {
  auto p = plan("customers", "{}");
  REQUIRE(p);
  CHECK(p->page_size == 50);
  CHECK(p->limit == 51);
  p = plan("customers", R"({"page":{"size":500}})");
  REQUIRE(p);
  CHECK(p->page_size == 500);
  CHECK(p->limit == 501);
  CHECK(outcome(plan("customers", R"({"page":{"size":501}})")) == "query.page_too_large: page.size is at most 500");
  CHECK(outcome(plan("customers", R"({"page":{"size":9223372036854775807}})")) ==
        "query.page_too_large: page.size is at most 500");
  query_caps small;
  small.default_page = 2;
  small.max_page = 5;
  p = plan("customers", "{}", small);
  REQUIRE(p);
  CHECK(p->page_size == 2);
  CHECK(p->limit == 3);
  p = plan("customers", R"({"page":{"size":5}})", small);
  REQUIRE(p);
  CHECK(p->page_size == 5);
  CHECK(p->limit == 6);
  CHECK(outcome(plan("customers", R"({"page":{"size":6}})", small)) == "query.page_too_large: page.size is at most 5");
  query_caps big;
  big.max_page = 10000;
  p = plan("customers", R"({"page":{"size":10000}})", big);
  REQUIRE(p);
  CHECK(p->limit == 10001);
}

TEST_CASE("page size rules", "[protocols][query]") {
  auto p = plan("customers", R"({"page":{"size":1}})");
  REQUIRE(p);
  CHECK(p->page_size == 1);
  CHECK(p->limit == 2);
  p = plan("customers", R"({"page":{}})");
  REQUIRE(p);
  CHECK(p->page_size == 50);
  p = plan("customers", R"({"page":{"after":null}})");
  REQUIRE(p);
  CHECK(p->page_size == 50);
  CHECK(p->where == "tenant_id = $1");
  CHECK(p->params == params_t{tenant});
  p = plan("customers", R"({"page":{"size":7,"after":null}})");
  REQUIRE(p);
  CHECK(p->page_size == 7);
  for (std::string size : {"0", "-1", "-500", R"("10")", "2.5", "10.0", "1e2", "true", "null", "{}", "[10]"}) {
    CAPTURE(size);
    CHECK(outcome(plan("customers", R"({"page":{"size":)" + size + "}}")) ==
          "query.bad_value: page.size must be an integer of at least 1");
  }
  CHECK(outcome(plan("customers", R"({"page":5})")) == "query.bad_value: page must be an object");
  CHECK(outcome(plan("customers", R"({"page":{"Size":5}})")) == "query.bad_value: unknown member 'Size' in page");
  CHECK(outcome(plan("customers", R"({"page":{"cursor":"x"}})")) == "query.bad_value: unknown member 'cursor' in page");
}

TEST_CASE("page.size above the int64 range is still over the cap", "[protocols][query]") {
  // QUERY-DSL.md: "size < 1 or not an integer is query.bad_value", anything
  // above the cap page_too_large; 2^63 is an integer above the cap.
  CHECK(outcome(plan("customers", R"({"page":{"size":9223372036854775808}})")) ==
        "query.page_too_large: page.size is at most 500");
  CHECK(outcome(plan("customers", R"({"page":{"size":18446744073709551615}})")) ==
        "query.page_too_large: page.size is at most 500");
}

// ---------------------------------------------------------------------------
// Projection, field-level security, sorting

TEST_CASE("projection masks: id always, only readable, only known", "[protocols][query]") {
  const auto& c = entity("customers");
  const uint64_t id = bit(c, "id");
  auto p = plan("customers", "{}");
  REQUIRE(p);
  CHECK(p->fields == every(c));
  p = plan("customers", R"({"fields":["name"]})");
  REQUIRE(p);
  CHECK(p->fields == (id | bit(c, "name")));
  p = plan("customers", R"({"fields":["id"]})");
  REQUIRE(p);
  CHECK(p->fields == id);
  p = plan("customers", R"({"fields":["email","name","email"]})");
  REQUIRE(p);
  CHECK(p->fields == (id | bit(c, "name") | bit(c, "email")));

  // a narrower profile: its readable fields by default, field_not_allowed for the rest
  auto rep = sales_rep();
  p = plan_in(rep, "{}");
  REQUIRE(p);
  CHECK(p->fields == every_but(c, {"annual_revenue", "tax_id"}));
  CHECK(outcome(plan_in(rep, R"({"fields":["name","tax_id"]})")) ==
        "query.field_not_allowed: your access profile cannot read 'tax_id'");
  CHECK(outcome(plan_in(rep, R"({"fields":["nam"]})")) == "query.unknown_field: customers has no field 'nam'");

  // a profile that lists nothing still reads (and returns) id
  auto none = scope("customers", 0);
  p = plan_in(none, "{}");
  REQUIRE(p);
  CHECK(p->fields == id);
  CHECK(p->order_by == "id DESC");
  p = plan_in(none, R"({"filter":{"field":"id","op":"eq","value":")" + uuid_a +
                        R"("},"sort":[{"field":"id"}],"fields":["id"]})");
  REQUIRE(p);
  CHECK(p->fields == id);
  CHECK(p->where == where_with("id = $2::uuid"));
  CHECK(p->order_by == "id ASC");
  CHECK(outcome(plan_in(none, R"({"fields":["name"]})")) == "query.field_not_allowed: your access profile cannot read 'name'");
  // id is added even when the profile does not list it
  auto no_id = scope("customers", every_but(c, {"id"}));
  p = plan_in(no_id, "{}");
  REQUIRE(p);
  CHECK(p->fields == every(c));
  p = plan_in(no_id, R"({"fields":["name"]})");
  REQUIRE(p);
  CHECK(p->fields == (id | bit(c, "name")));

  // shapes
  CHECK(outcome(plan("customers", R"({"fields":[]})")) == "query.bad_value: fields must be a non-empty array of field names");
  CHECK(outcome(plan("customers", R"({"fields":"name"})")) == "query.bad_value: fields must be a non-empty array of field names");
  CHECK(outcome(plan("customers", R"({"fields":null})")) == "query.bad_value: fields must be a non-empty array of field names");
  CHECK(outcome(plan("customers", R"({"fields":[["name"]]})")) == "query.bad_value: fields must be a field name");
  // the audit log
  const auto& a = audit_log_def();
  p = plan("audit-logs", R"({"fields":["at","changes"]})");
  REQUIRE(p);
  CHECK(p->fields == (bit(a, "id") | bit(a, "at") | bit(a, "changes")));
  CHECK(outcome(plan("audit-logs", R"({"fields":["created_at"]})")) ==
        "query.unknown_field: audit-logs has no field 'created_at'");
}

TEST_CASE("field-level security is the same for filter, sort and fields", "[protocols][query]") {
  auto rep = sales_rep();
  for (auto field : {"tax_id", "annual_revenue"}) {
    const std::string not_allowed = std::string{"query.field_not_allowed: your access profile cannot read '"} + field + "'";
    CHECK(outcome(plan_in(rep, filter_body(pred(field, "eq", R"("1")")))) == not_allowed);
    CHECK(outcome(plan_in(rep, filter_body(pred(field, "is_null")))) == not_allowed);
    CHECK(outcome(plan_in(rep, filter_body(negate(group("or", {pred("name", "eq", R"("x")"), pred(field, "eq", R"("1")")}))))) ==
          not_allowed);
    CHECK(outcome(plan_in(rep, R"({"sort":[{"field":")" + std::string{field} + R"("}]})")) == not_allowed);
    CHECK(outcome(plan_in(rep, R"({"fields":[")" + std::string{field} + R"("]})")) == not_allowed);
  }
  for (auto field : {"nam", "sku", "tenant_id", "Name", "created"}) {
    const std::string unknown = std::string{"query.unknown_field: customers has no field '"} + field + "'";
    CHECK(outcome(plan_in(rep, filter_body(pred(field, "eq", R"("1")")))) == unknown);
    CHECK(outcome(plan_in(rep, R"({"sort":[{"field":")" + std::string{field} + R"("}]})")) == unknown);
    CHECK(outcome(plan_in(rep, R"({"fields":[")" + std::string{field} + R"("]})")) == unknown);
  }
  // what the profile reads works everywhere
  CHECK(outcome(plan_in(rep, R"({"filter":{"field":"email","op":"eq","value":"a"},"sort":[{"field":"email"}],"fields":["email"]})")) ==
        "ok");
}

TEST_CASE("default sort: created_at desc then id desc; id alone without created_at; at for the audit log", "[protocols][query]") {
  for (std::string_view path : {"customers", "deals", "products", "warehouses", "price-lists"}) {
    CAPTURE(path);
    const auto& e = entity(path);
    for (std::string body : {"{}", R"({"sort":[]})"}) {
      auto p = plan(path, body);
      REQUIRE(p);
      CHECK(p->order_by == "created_at DESC, id DESC");
      REQUIRE(p->sort.size() == 2);
      CHECK(p->sort[0].field == static_cast<size_t>(e.field_index("created_at")));
      CHECK(p->sort[0].desc);
      CHECK(p->sort[1].field == static_cast<size_t>(e.field_index("id")));
      CHECK(p->sort[1].desc);
      p = plan_in(scope(path, every_but(e, {"created_at"})), body);
      REQUIRE(p);
      CHECK(p->order_by == "id DESC");
      REQUIRE(p->sort.size() == 1);
      CHECK(p->sort[0].desc);
      // updated_at does not stand in for created_at
      p = plan_in(scope(path, bit(e, "updated_at")), body);
      REQUIRE(p);
      CHECK(p->order_by == "id DESC");
    }
  }
  const auto& a = audit_log_def();
  auto p = plan("audit-logs", "{}");
  REQUIRE(p);
  CHECK(p->order_by == "at DESC, id DESC");
  CHECK(p->sort.at(0).field == static_cast<size_t>(a.field_index("at")));
  p = plan_in(scope("audit-logs", every_but(a, {"at"})), "{}");
  REQUIRE(p);
  CHECK(p->order_by == "id DESC");
}

TEST_CASE("the id tie-breaker follows the last key, once; keys after id are checked and dropped", "[protocols][query]") {
  const std::vector<std::pair<std::string, std::string>> orders = {
      {R"([{"field":"name"}])", "name ASC, id ASC"},
      {R"([{"field":"name","dir":"asc"}])", "name ASC, id ASC"},
      {R"([{"field":"name","dir":"desc"}])", "name DESC, id DESC"},
      {R"([{"field":"name","dir":"desc"},{"field":"email"}])", "name DESC, email ASC, id ASC"},
      {R"([{"field":"name"},{"field":"email","dir":"desc"}])", "name ASC, email DESC, id DESC"},
      {R"([{"field":"created_at","dir":"desc"}])", "created_at DESC, id DESC"},
      {R"([{"field":"created_at"}])", "created_at ASC, id ASC"},
      {R"([{"field":"id"}])", "id ASC"},
      {R"([{"field":"id","dir":"desc"}])", "id DESC"},
      {R"([{"field":"name"},{"field":"id","dir":"desc"}])", "name ASC, id DESC"},
      {R"([{"field":"name","dir":"desc"},{"field":"id"}])", "name DESC, id ASC"},
      {R"([{"field":"id"},{"field":"name","dir":"desc"}])", "id ASC"},
      {R"([{"field":"name","dir":"desc"},{"field":"id"},{"field":"email","dir":"desc"}])", "name DESC, id ASC"},
      {R"([{"field":"status"},{"field":"owner_id","dir":"desc"},{"field":"version"}])",
       "status ASC, owner_id DESC, version ASC, id ASC"},  // enum, uuid, integer
      {R"([{"field":"annual_revenue","dir":"desc"},{"field":"updated_at"}])", "annual_revenue DESC, updated_at ASC, id ASC"},
  };
  const auto& c = entity("customers");
  for (const auto& [sort, order] : orders) {
    CAPTURE(sort);
    auto p = plan("customers", R"({"sort":)" + sort + "}");
    REQUIRE(p);
    CHECK(p->order_by == order);
    REQUIRE_FALSE(p->sort.empty());
    CHECK(p->sort.back().field == static_cast<size_t>(c.field_index("id")));
    size_t ids = 0;
    for (const auto& k : p->sort) ids += k.field == static_cast<size_t>(c.field_index("id"));
    CHECK(ids == 1);
  }
  auto p = plan("products", R"({"sort":[{"field":"active","dir":"desc"}]})");
  REQUIRE(p);
  CHECK(p->order_by == "active DESC, id DESC");
  p = plan("deals", R"({"sort":[{"field":"close_date"},{"field":"amount","dir":"desc"}]})");
  REQUIRE(p);
  CHECK(p->order_by == "close_date ASC, amount DESC, id DESC");
  p = plan("audit-logs", R"({"sort":[{"field":"entity"},{"field":"at"}]})");
  REQUIRE(p);
  CHECK(p->order_by == "entity ASC, at ASC, id ASC");

  // keys after id are still checked
  CHECK(outcome(plan("customers", R"({"sort":[{"field":"id"},{"field":"nam"}]})")) ==
        "query.unknown_field: customers has no field 'nam'");
  CHECK(outcome(plan_in(sales_rep(), R"({"sort":[{"field":"id"},{"field":"tax_id"}]})")) ==
        "query.field_not_allowed: your access profile cannot read 'tax_id'");
  CHECK(outcome(plan("customers", R"({"sort":[{"field":"id"},{"field":"name","dir":"up"}]})")) ==
        "query.bad_value: dir is \"asc\" or \"desc\"");
  CHECK(outcome(plan("price-lists", R"({"sort":[{"field":"id"},{"field":"items"}]})")) ==
        "query.bad_value: items cannot be sorted");
  // a field sorted twice, anywhere
  for (std::string sort : {R"([{"field":"name"},{"field":"name"}])", R"([{"field":"name"},{"field":"name","dir":"desc"}])",
                           R"([{"field":"name"},{"field":"email"},{"field":"name"}])",
                           R"([{"field":"id"},{"field":"name"},{"field":"name"}])",
                           R"([{"field":"name"},{"field":"id"},{"field":"name"}])"}) {
    CAPTURE(sort);
    CHECK(outcome(plan("customers", R"({"sort":)" + sort + "}")) == "query.bad_value: name is sorted twice");
  }
  CHECK(outcome(plan("customers", R"({"sort":[{"field":"id"},{"field":"id","dir":"desc"}]})")) ==
        "query.bad_value: id is sorted twice");
  // sort key shapes
  for (std::string dir : {R"("up")", R"("ASC")", R"("Desc")", R"("asc ")", R"("")", R"("descending")", "null", "1", "true",
                          R"("desc; DROP TABLE customers")"}) {
    CAPTURE(dir);
    CHECK(outcome(plan("customers", R"({"sort":[{"field":"name","dir":)" + dir + "}]}")) ==
          "query.bad_value: dir is \"asc\" or \"desc\"");
  }
  CHECK(outcome(plan("customers", R"({"sort":[{"field":"name","order":"asc"}]})")) ==
        "query.bad_value: unknown member 'order' in a sort key");
  CHECK(outcome(plan("customers", R"({"sort":[{}]})")) == "query.bad_value: a sort key needs a field");
  CHECK(outcome(plan("customers", R"({"sort":[null]})")) == "query.bad_value: a sort key is {\"field\", \"dir\"}");
  CHECK(outcome(plan("customers", R"({"sort":"name"})")) == "query.bad_value: sort must be an array");
  CHECK(outcome(plan("customers", R"({"sort":null})")) == "query.bad_value: sort must be an array");
}

// ---------------------------------------------------------------------------
// Cursors

TEST_CASE("a cursor round trip adds the keyset condition with bound values", "[protocols][query]") {
  auto s = scope("customers");
  auto first = plan_in(s, "{}");
  REQUIRE(first);
  auto cursor = make_cursor(*first, s, {ts, row_id});
  // the documented format: base64url({"k":[...]}) "." base64url(16-byte MAC)
  CHECK(cursor == sign(*first, s, R"({"k":[")" + ts + R"(",")" + row_id + R"("]})"));
  auto dot = cursor.find('.');
  REQUIRE(dot != std::string::npos);
  CHECK(base64url_decode(cursor.substr(0, dot)) == R"({"k":[")" + ts + R"(",")" + row_id + R"("]})");
  CHECK(base64url_decode(cursor.substr(dot + 1))->size() == 16);

  auto next = plan_in(s, after("{}", cursor));
  REQUIRE(next);
  CHECK(next->where == "tenant_id = $1 AND ((created_at, id) < ($2::timestamptz, $3::uuid))");
  CHECK(next->params == params_t{tenant, ts, row_id});
  CHECK(next->order_by == first->order_by);
  CHECK(next->fingerprint == first->fingerprint);
  CHECK(next->page_size == 50);

  // page.size and fields may change between pages
  auto other = plan_in(s, R"({"fields":["name"],"page":{"size":7,"after":)" + js(cursor) + "}}");
  REQUIRE(other);
  CHECK(other->page_size == 7);
  CHECK(other->limit == 8);
  CHECK(other->where == next->where);
  // so may the profile, as long as the order is the same
  CHECK(outcome(plan_in(sales_rep(), after("{}", cursor))) == "ok");
  // the same order spelled out is the same query
  CHECK(outcome(plan_in(s, after(R"({"sort":[{"field":"created_at","dir":"desc"}]})", cursor))) == "ok");
  CHECK(outcome(plan_in(s, after(R"({"sort":[]})", cursor))) == "ok");

  // with a filter: the filter's values first, then the cursor's
  const std::string filtered = filter_body(pred("status", "eq", R"("active")"));
  first = plan_in(s, filtered);
  REQUIRE(first);
  next = plan_in(s, after(filtered, make_cursor(*first, s, {ts, row_id})));
  REQUIRE(next);
  CHECK(next->where == "tenant_id = $1 AND (status = $2::text) AND ((created_at, id) < ($3::timestamptz, $4::uuid))");
  CHECK(next->params == params_t{tenant, "active", ts, row_id});

  // cursor values are only ever parameters
  const std::string evil = "x'); DROP TABLE customers; --";
  const std::string by_email = R"({"sort":[{"field":"email"}]})";
  first = plan_in(s, by_email);
  REQUIRE(first);
  next = plan_in(s, after(by_email, make_cursor(*first, s, {evil, row_id})));
  REQUIRE(next);
  CHECK(next->params == params_t{tenant, evil, row_id});
  CHECK(next->where.find("DROP") == std::string::npos);

  // the audit log and the id-only order
  auto audit = scope("audit-logs");
  first = plan_in(audit, "{}");
  REQUIRE(first);
  next = plan_in(audit, after("{}", make_cursor(*first, audit, {ts, row_id})));
  REQUIRE(next);
  CHECK(next->where == "tenant_id = $1 AND ((at, id) < ($2::timestamptz, $3::uuid))");
  auto id_only = scope("customers", 0);
  first = plan_in(id_only, "{}");
  REQUIRE(first);
  next = plan_in(id_only, after("{}", make_cursor(*first, id_only, {row_id})));
  REQUIRE(next);
  CHECK(next->where == "tenant_id = $1 AND ((id) < ($2::uuid))");
  CHECK(next->params == params_t{tenant, row_id});
}

TEST_CASE("keyset conditions: row comparison and OR expansion with NULLs", "[protocols][query]") {
  struct keyset_case {
    std::string path, body;
    params_t values;
    std::string condition;
    params_t bound;
  };
  const std::optional<std::string> null;
  const std::vector<keyset_case> cases = {
      // non-null keys, one direction: one row comparison
      {"customers", "{}", {ts, row_id}, "(created_at, id) < ($2::timestamptz, $3::uuid)", {ts, row_id}},
      {"customers", R"({"sort":[{"field":"created_at","dir":"asc"}]})", {ts, row_id},
       "(created_at, id) > ($2::timestamptz, $3::uuid)", {ts, row_id}},
      {"customers", R"({"sort":[{"field":"version","dir":"desc"},{"field":"name","dir":"desc"}]})", {"3", "Acme", row_id},
       "(version, name, id) < ($2::bigint, $3::text, $4::uuid)", {"3", "Acme", row_id}},
      {"customers", R"({"sort":[{"field":"status"}]})", {"lead", row_id}, "(status, id) > ($2::text, $3::uuid)", {"lead", row_id}},
      {"customers", R"({"sort":[{"field":"id"}]})", {row_id}, "(id) > ($2::uuid)", {row_id}},
      {"customers", R"({"sort":[{"field":"id"},{"field":"name"}]})", {row_id}, "(id) > ($2::uuid)", {row_id}},
      {"products", R"({"sort":[{"field":"active","dir":"desc"}]})", {"true", row_id}, "(active, id) < ($2::boolean, $3::uuid)",
       {"true", row_id}},
      // mixed directions: OR expansion
      {"customers", R"({"sort":[{"field":"name"},{"field":"created_at","dir":"desc"}]})", {"Acme", ts, row_id},
       "(name > $2::text) OR (name = $2::text AND created_at < $3::timestamptz) OR "
       "(name = $2::text AND created_at = $3::timestamptz AND id < $4::uuid)",
       {"Acme", ts, row_id}},
      {"customers", R"({"sort":[{"field":"name"},{"field":"id","dir":"desc"}]})", {"Acme", row_id},
       "(name > $2::text) OR (name = $2::text AND id < $3::uuid)", {"Acme", row_id}},
      // a nullable key (email): NULLs last ascending, first descending
      {"customers", R"({"sort":[{"field":"email"}]})", {"a@acme.test", row_id},
       "((email > $2::text OR email IS NULL)) OR (email = $2::text AND id > $3::uuid)", {"a@acme.test", row_id}},
      {"customers", R"({"sort":[{"field":"email"}]})", {null, row_id}, "(email IS NULL AND id > $2::uuid)", {row_id}},
      {"customers", R"({"sort":[{"field":"email","dir":"desc"}]})", {"a@acme.test", row_id},
       "(email < $2::text) OR (email = $2::text AND id < $3::uuid)", {"a@acme.test", row_id}},
      {"customers", R"({"sort":[{"field":"email","dir":"desc"}]})", {null, row_id},
       "(email IS NOT NULL) OR (email IS NULL AND id < $2::uuid)", {row_id}},
      // two nullable keys
      {"customers", R"({"sort":[{"field":"email"},{"field":"phone"}]})", {null, null, row_id},
       "(email IS NULL AND phone IS NULL AND id > $2::uuid)", {row_id}},
      {"customers", R"({"sort":[{"field":"email"},{"field":"phone","dir":"desc"}]})", {"a", null, row_id},
       "((email > $2::text OR email IS NULL)) OR (email = $2::text AND phone IS NOT NULL) OR "
       "(email = $2::text AND phone IS NULL AND id < $3::uuid)",
       {"a", row_id}},
      {"deals", R"({"sort":[{"field":"amount","dir":"desc"},{"field":"close_date"}]})", {"10.00", "2026-01-31", row_id},
       "(amount < $2::numeric) OR (amount = $2::numeric AND (close_date > $3::date OR close_date IS NULL)) OR "
       "(amount = $2::numeric AND close_date = $3::date AND id > $4::uuid)",
       {"10.00", "2026-01-31", row_id}},
      // nothing can follow: no step at all
      {"customers", R"({"sort":[{"field":"email"}]})", {null, null}, "FALSE", {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.path, c.body);
    auto s = scope(c.path);
    auto first = plan_in(s, c.body);
    REQUIRE(first);
    REQUIRE(first->sort.size() == c.values.size());
    auto next = plan_in(s, after(c.body, make_cursor(*first, s, c.values)));
    REQUIRE(next);
    CHECK(next->where == where_with(c.condition));
    params_t expected{tenant};
    expected.insert(expected.end(), c.bound.begin(), c.bound.end());
    CHECK(next->params == expected);
    CHECK(next->order_by == first->order_by);
  }
}

TEST_CASE("cursors are refused with another filter, sort, entity, tenant or key, or altered", "[protocols][query]") {
  auto s = scope("customers");
  const std::string filtered = filter_body(pred("status", "eq", R"("active")"));
  auto first = plan_in(s, filtered);
  REQUIRE(first);
  const auto cursor = make_cursor(*first, s, {ts, row_id});
  REQUIRE(outcome(plan_in(s, after(filtered, cursor))) == "ok");

  struct replay {
    std::string what;
    query_scope s;
    std::string body;
  };
  auto other_tenant_scope = s;
  other_tenant_scope.tenant_id = other_tenant;
  auto other_key_scope = s;
  other_key_scope.cursor_key = "another-cursor-key-0123456789abcd";
  auto empty_key_scope = s;
  empty_key_scope.cursor_key.clear();
  const std::vector<replay> replays = {
      {"another value", s, filter_body(pred("status", "eq", R"("lead")"))},
      {"another operator", s, filter_body(pred("status", "ne", R"("active")"))},
      {"another field", s, filter_body(pred("name", "eq", R"("active")"))},
      {"no filter", s, "{}"},
      {"a wider filter", s, filter_body(group("and", {pred("status", "eq", R"("active")"), pred("email", "is_null")}))},
      {"a reordered and", s, filter_body(group("and", {pred("email", "is_null"), pred("status", "eq", R"("active")")}))},
      {"the filter wrapped", s, filter_body(group("and", {pred("status", "eq", R"("active")")}))},
      {"another direction", s, R"({"filter":{"field":"status","op":"eq","value":"active"},"sort":[{"field":"created_at"}]})"},
      {"another key", s, R"({"filter":{"field":"status","op":"eq","value":"active"},"sort":[{"field":"updated_at","dir":"desc"}]})"},
      {"another tie-breaker direction", s,
       R"({"filter":{"field":"status","op":"eq","value":"active"},"sort":[{"field":"created_at","dir":"desc"},{"field":"id"}]})"},
      {"a default order without created_at", scope("customers", every_but(entity("customers"), {"created_at"})), filtered},
      {"another entity", scope("deals"), filter_body(pred("stage", "eq", R"("won")"))},
      {"another tenant", other_tenant_scope, filtered},
      {"another signing key", other_key_scope, filtered},
      {"an empty signing key", empty_key_scope, filtered},
  };
  for (const auto& r : replays) {
    CAPTURE(r.what);
    CHECK(outcome(plan_in(r.s, after(r.body, cursor))) == bad_cursor);
  }
  // the same default order on another entity
  const auto customers_first = plan_in(s, "{}");
  REQUIRE(customers_first);
  const auto unfiltered = make_cursor(*customers_first, s, {ts, row_id});
  for (std::string_view path : {"deals", "products", "warehouses", "price-lists", "audit-logs"}) {
    CAPTURE(path);
    CHECK(outcome(plan(path, after("{}", unfiltered))) == bad_cursor);
  }

  // any byte altered
  for (size_t i = 0; i < cursor.size(); ++i) {
    auto bad = cursor;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    CAPTURE(i);
    CHECK(outcome(plan_in(s, after(filtered, bad))) == bad_cursor);
  }
  auto dot = cursor.find('.');
  const std::string payload_part = cursor.substr(0, dot), mac_part = cursor.substr(dot + 1);
  auto payload = *base64url_decode(payload_part);
  auto edited = payload;
  edited[edited.find("+00")] = '-';  // another row, same MAC
  auto mac = *base64url_decode(mac_part);
  auto flipped_mac = mac;
  flipped_mac[0] = static_cast<char>(flipped_mac[0] ^ 1);
  const std::vector<std::string> garbage = {
      "not-a-cursor",
      "",
      ".",
      "a.b",
      payload_part,
      payload_part + ".",
      "." + mac_part,
      mac_part + "." + payload_part,
      cursor + "A",
      cursor + "=",
      payload_part + "=." + mac_part,
      cursor + "." + mac_part,
      base64url_encode(edited) + "." + mac_part,
      payload_part + "." + base64url_encode(flipped_mac),
      payload_part + "." + base64url_encode(mac.substr(0, 15)),
      payload_part + "." + base64url_encode(mac + "x"),
      base64_encode(payload) + "." + base64_encode(mac),
      std::string(8193, 'A'),
      std::string(4096, 'A') + "." + std::string(4096, 'A'),
      sign(*first, s, payload) + "x",
  };
  for (const auto& g : garbage) {
    CAPTURE(g.substr(0, 100));
    CHECK(outcome(plan_in(s, after(filtered, g))) == bad_cursor);
  }
  for (std::string json : {"5", "true", "{}", "[]", R"(["x"])", R"({"k":[]})"}) {
    CAPTURE(json);
    CHECK(outcome(plan_in(s, page_after(filtered, json))) == bad_cursor);
  }
}

TEST_CASE("signed cursors with the wrong values or shape are refused", "[protocols][query]") {
  auto s = scope("customers");
  auto first = plan_in(s, "{}");
  REQUIRE(first);
  // the positive control: a hand-signed payload is accepted
  CHECK(outcome(plan_in(s, after("{}", sign(*first, s, R"({"k":["t","i"]})")))) == "ok");
  CHECK(outcome(plan_in(s, after("{}", sign(*first, s, R"({"k":[null,"i"]})")))) == "ok");
  // wrong value count
  for (const auto& values : std::vector<params_t>{{}, {ts}, {ts, row_id, row_id}, {std::nullopt}}) {
    CAPTURE(values.size());
    CHECK(outcome(plan_in(s, after("{}", make_cursor(*first, s, values)))) == bad_cursor);
  }
  // values of the wrong JSON type, payloads of the wrong shape
  for (std::string payload :
       {R"({"k":[1,"i"]})", R"({"k":["t",2]})", R"({"k":[true,"i"]})", R"({"k":[["t"],"i"]})", R"({"k":[{"t":1},"i"]})",
        R"({"k":["t",1.5]})", R"({"k":"t"})", R"({"k":null})", R"({"k":{}})", R"({"k":{"0":"t","1":"i"}})",
        R"({"K":["t","i"]})", R"({"x":["t","i"]})", R"(["t","i"])", R"("k")", "null", R"({"k":["t","i"])", "", "{}",
        R"({"k":["t"]})", R"({"k":["t","i","x"]})", R"({"k":[]})"}) {
    CAPTURE(payload);
    CHECK(outcome(plan_in(s, after("{}", sign(*first, s, payload)))) == bad_cursor);
  }
  // signed for another fingerprint
  auto other = plan_in(s, R"({"sort":[{"field":"name"}]})");
  REQUIRE(other);
  CHECK(outcome(plan_in(s, after("{}", sign(*other, s, R"({"k":["t","i"]})")))) == bad_cursor);
  // a cursor with a NULL for a non-nullable key is still only parameters
  auto p = plan_in(s, after("{}", make_cursor(*first, s, {std::nullopt, row_id})));
  REQUIRE(p);
  CHECK(p->params == params_t{tenant, row_id});
}

TEST_CASE("fingerprints", "[protocols][query]") {
  auto fp = [](std::string_view path, const std::string& body, std::optional<uint64_t> mask = std::nullopt) {
    auto p = plan_in(scope(path, mask), body);
    REQUIRE(p);
    return p->fingerprint;
  };
  const auto base = fp("customers", "{}");
  CHECK(base.size() == 64);
  CHECK(base.find_first_not_of("0123456789abcdef") == std::string::npos);
  // page, fields and the profile do not count (while the order is the same)
  CHECK(fp("customers", R"({"page":{"size":3},"fields":["name"]})") == base);
  CHECK(fp("customers", "{}", every_but(entity("customers"), {"tax_id"})) == base);
  CHECK(fp("customers", R"({"sort":[{"field":"created_at","dir":"desc"}]})") == base);
  CHECK(fp("customers", R"({"sort":[{"field":"created_at","dir":"desc"},{"field":"id","dir":"desc"}]})") == base);
  // same query, same fingerprint
  CHECK(fp("customers", filter_body(pred("name", "eq", R"("x")"))) == fp("customers", filter_body(pred("name", "eq", R"("x")"))));
  // everything else does
  const std::vector<std::pair<std::string, std::string>> distinct_queries = {
      {"customers", "{}"},
      {"warehouses", "{}"},
      {"deals", "{}"},
      {"customers", R"({"sort":[{"field":"created_at"}]})"},
      {"customers", R"({"sort":[{"field":"created_at","dir":"desc"},{"field":"id"}]})"},
      {"customers", R"({"sort":[{"field":"updated_at","dir":"desc"}]})"},
      {"customers", R"({"sort":[{"field":"id","dir":"desc"}]})"},
      {"customers", filter_body(pred("name", "eq", R"("x")"))},
      {"customers", filter_body(pred("name", "eq", R"("y")"))},
      {"customers", filter_body(pred("name", "ne", R"("x")"))},
      {"customers", filter_body(pred("email", "eq", R"("x")"))},
      {"customers", filter_body(negate(pred("name", "eq", R"("x")")))},
      {"customers", filter_body(group("and", {pred("name", "eq", R"("x")"), pred("email", "is_null")}))},
      {"customers", filter_body(group("and", {pred("email", "is_null"), pred("name", "eq", R"("x")")}))},
      {"customers", filter_body(group("or", {pred("name", "eq", R"("x")"), pred("email", "is_null")}))},
      {"customers", filter_body(pred("name", "in", R"(["a","b"])"))},
      {"customers", filter_body(pred("name", "in", R"(["a,b"])"))},
      {"customers", filter_body(pred("name", "in", R"(["a\",\"b"])"))},
  };
  std::set<std::string> seen;
  for (const auto& [path, body] : distinct_queries) {
    CAPTURE(path, body);
    CHECK(seen.insert(fp(path, body)).second);
  }
  CHECK(fp("customers", "{}", every_but(entity("customers"), {"created_at"})) != base);  // id-only order
}

TEST_CASE("fingerprints differ for filter values that differ only around a separator", "[protocols][query]") {
  auto two = [](const std::string& a, const std::string& b) {
    return filter_body(group("and", {pred("name", "eq", js(a)), pred("email", "eq", js(b))}));
  };
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {two("a\x1f" "b", "c"), two("a", "b\x1f" "c")},   // the old 0x1f separator
      {two("ab", "c"), two("a", "bc")},                // plain concatenation
      {two("1:a", "b"), two("1", "a1:b")},             // length-prefix look-alikes
      {two("x", "1:y"), two("x1:y", "")},
      {two("", "2:ab"), two("2:ab", "")},
      {two("a-", "b"), two("a", "-b")},                // the NULL marker
      {two("\x01null", "b"), two("", "\x01null" "b")},
      {two("name:desc", ""), two("name", ":desc")},
  };
  auto s = scope("customers");
  for (const auto& [a, b] : pairs) {
    CAPTURE(a, b);
    auto pa = plan_in(s, a), pb = plan_in(s, b);
    REQUIRE(pa);
    REQUIRE(pb);
    CHECK(pa->where == pb->where);  // the same SQL, other values
    CHECK(pa->params != pb->params);
    CHECK(pa->fingerprint != pb->fingerprint);
    CHECK(outcome(plan_in(s, after(b, make_cursor(*pa, s, {ts, row_id})))) == bad_cursor);
    CHECK(outcome(plan_in(s, after(a, make_cursor(*pb, s, {ts, row_id})))) == bad_cursor);
  }
  // a value against the sort it could be mistaken for
  CHECK(plan_in(s, filter_body(pred("name", "eq", R"("created_at:desc")")))->fingerprint !=
        plan_in(s, filter_body(pred("name", "eq", R"("")")))->fingerprint);
}

// ---------------------------------------------------------------------------
// Parameters and SQL safety

TEST_CASE("between binds low then high in document order", "[protocols][query]") {
  auto p = plan("deals", filter_body(pred("amount", "between", R"(["10","20.5"])")));
  REQUIRE(p);
  CHECK(p->where == where_with("amount BETWEEN $2::numeric AND $3::numeric"));
  CHECK(p->params == params_t{tenant, "10", "20.5"});
  p = plan("deals", filter_body(pred("amount", "between", R"(["20","10"])")));  // low > high: as written, matches nothing
  REQUIRE(p);
  CHECK(p->params == params_t{tenant, "20", "10"});
  p = plan("deals", filter_body(pred("close_date", "between", R"(["2027-01-01","2027-12-31"])")));
  REQUIRE(p);
  CHECK(p->where == where_with("close_date BETWEEN $2::date AND $3::date"));
  CHECK(p->params == params_t{tenant, "2027-01-01", "2027-12-31"});
  // numbering runs on through the tree
  p = plan("deals", filter_body(group("and", {pred("close_date", "between", R"(["2027-01-01","2027-12-31"])"),
                                              pred("amount", "gt", R"("10000")"),
                                              pred("created_at", "between", R"(["2026-01-01T00:00:00Z","2026-06-30T00:00:00Z"])"),
                                              pred("title", "starts_with", R"("Re")"),
                                              pred("version", "between", "[1,2]")})));
  REQUIRE(p);
  CHECK(p->where == where_with("(close_date BETWEEN $2::date AND $3::date AND amount > $4::numeric AND "
                               "created_at BETWEEN $5::timestamptz AND $6::timestamptz AND "
                               "(title ~>=~ $7::text AND title ~<~ $8::text) AND "
                               "version BETWEEN $9::bigint AND $10::bigint)"));
  CHECK(p->params == params_t{tenant, "2027-01-01", "2027-12-31", "10000", "2026-01-01T00:00:00Z", "2026-06-30T00:00:00Z",
                              "Re", "Rf", "1", "2"});
}

TEST_CASE("in and nin bind one escaped array literal", "[protocols][query]") {
  const std::string values = R"(["a\"b","c\\d","{e,f}","NULL",""])";
  const std::string literal = R"({"a\"b","c\\d","{e,f}","NULL",""})";
  auto p = plan("customers", filter_body(pred("name", "in", values)));
  REQUIRE(p);
  CHECK(p->where == where_with("name = ANY ($2::text[])"));
  CHECK(p->params == params_t{tenant, literal});
  p = plan("customers", filter_body(pred("name", "nin", values)));
  REQUIRE(p);
  CHECK(p->where == where_with("name <> ALL ($2::text[])"));
  CHECK(p->params == params_t{tenant, literal});
  p = plan("customers", filter_body(pred("name", "in", R"json([" a ","'","\\\"","}{,","(1,2)","\u00e9"])json")));
  REQUIRE(p);
  CHECK(p->params == params_t{tenant, R"json({" a ","'","\\\"","}{,","(1,2)","é"})json"});
  p = plan("customers", filter_body(pred("owner_id", "in", "[" + uuid_a_json + "," + uuid_b_json + "]")));
  REQUIRE(p);
  CHECK(p->where == where_with("owner_id = ANY ($2::uuid[])"));
  CHECK(p->params == params_t{tenant, "{\"" + uuid_a + "\",\"" + uuid_b + "\"}"});
  p = plan("customers", filter_body(pred("version", "nin", "[1,-2]")));
  REQUIRE(p);
  CHECK(p->where == where_with("version <> ALL ($2::bigint[])"));
  CHECK(p->params == params_t{tenant, R"({"1","-2"})"});
  p = plan("products", filter_body(pred("active", "in", "[true,false]")));
  REQUIRE(p);
  CHECK(p->where == where_with("active = ANY ($2::boolean[])"));
  CHECK(p->params == params_t{tenant, R"({"true","false"})"});
  p = plan("customers", filter_body(pred("status", "in", R"(["lead"])")));
  REQUIRE(p);
  CHECK(p->params == params_t{tenant, R"({"lead"})"});
  p = plan("deals", filter_body(pred("close_date", "in", R"(["2026-01-31"])")));
  REQUIRE(p);
  CHECK(p->where == where_with("close_date = ANY ($2::date[])"));
}

TEST_CASE("client text never reaches the SQL: values", "[protocols][query]") {
  auto like_escaped = [](const std::string& v) {
    std::string out;
    for (char c : v) {
      if (c == '%' || c == '_' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  };
  const std::vector<std::string> nasty = {
      "x' OR '1'='1",
      "'; DROP TABLE customers; --",
      "\" OR \"\"=\"",
      "$1",
      "$2::text",
      ") OR (TRUE",
      "tenant_id = $1 OR TRUE",
      "/* comment */",
      "-- comment",
      "\\'",
      "'' ''",
      "%_%",
      "' || pg_sleep(10) || '",
      "{\"field\":\"tax_id\",\"op\":\"is_null\"}",
      "{\"filter\":{\"or\":[]}}",
      "[\"a\",\"b\"]",
      "{a,b}",
      "NULL",
      "name",
      "\x01\x1f\x7f",
      "\xe2\x80\xa8",          // U+2028
      "\xe2\x80\xae" "evil",   // right-to-left override
      "\xef\xbb\xbf",          // BOM
      "\xef\xbc\x87",          // fullwidth apostrophe
      "\xca\xbc",              // modifier letter apostrophe
      "\xe2\x80\x8b",          // zero width space
      "\xf0\x9f\x98\x80",      // emoji
      "\xf4\x8f\xbf\xbf",      // U+10FFFF
  };
  for (const auto& v : nasty) {
    CAPTURE(v);
    for (std::string op : {"eq", "ne", "lt", "like", "ilike", "contains", "starts_with"}) {
      CAPTURE(op);
      auto p = plan("customers", filter_body(pred("name", op, js(v))));
      REQUIRE(p);
      CHECK(only_safe_sql(p->where));
      if (op == "contains") {  // the only operator that escapes what it binds (starts_with binds it raw too)
        CHECK(p->params == params_t{tenant, "%" + like_escaped(v) + "%"});
        continue;
      }
      bool found = false;
      for (size_t i = 1; i < p->params.size(); ++i) found = found || p->params[i] == v;
      CHECK(found);
    }
    auto p = plan("customers", filter_body(pred("name", "eq", js(v))));
    REQUIRE(p);
    CHECK(p->where == where_with("name = $2::text"));
    CHECK(p->params == params_t{tenant, v});
    p = plan("customers", filter_body(pred("name", "between", "[" + js(v) + "," + js(v) + "]")));
    REQUIRE(p);
    CHECK(p->params == params_t{tenant, v, v});
    p = plan("customers", filter_body(pred("notes", "in", "[" + js(v) + "]")));
    REQUIRE(p);
    CHECK(p->where == where_with("notes = ANY ($2::text[])"));
  }
  // NUL never gets through, in any spelling JSON allows
  CHECK(code_of(plan("customers", filter_body(pred("name", "eq", R"("\u0000")")))) == "query.bad_value");
  CHECK(code_of(plan("customers", filter_body(pred("name", "eq", R"("abc\u0000' OR 1=1")")))) == "query.bad_value");
  // raw bytes that are not UTF-8 never get through either
  CHECK(outcome(plan("customers", "{\"filter\":{\"field\":\"name\",\"op\":\"eq\",\"value\":\"\xc0\xa7\"}}")) ==
        "request.malformed_json: the body is not valid UTF-8");
  CHECK(outcome(plan("customers", "{\"filter\":{\"field\":\"name\",\"op\":\"eq\",\"value\":\"\xed\xa0\x80\"}}")) ==
        "request.malformed_json: the body is not valid UTF-8");
  CHECK(outcome(plan("customers", "{\"filter\":{\"field\":\"name\",\"op\":\"eq\",\"value\":\"a\xff'\"}}")) ==
        "request.malformed_json: the body is not valid UTF-8");
  // a lone surrogate escape is not a string
  auto lone = plan("customers", filter_body(pred("name", "eq", R"("\ud800")")));
  CHECK(code_of(lone) == "request.malformed_json");
  // values of a structured JSON type are refused, not serialised into SQL
  CHECK(code_of(plan("customers", filter_body(pred("name", "eq", R"({"$gt":""})")))) == "query.bad_value");
  CHECK(code_of(plan("customers", filter_body(pred("name", "in", R"([{"$gt":""}])")))) == "query.bad_value");
}

TEST_CASE("client text never reaches the SQL: field names, operators, directions", "[protocols][query]") {
  const std::vector<std::string> names = {
      "name; DROP TABLE customers",
      "name--",
      "name/*",
      "\"name\"",
      "'name'",
      "name ",
      " name",
      "NAME",
      "n\xd0\xb0me",                              // Cyrillic a
      "\xef\xbd\x8e\xef\xbd\x81\xef\xbd\x8d\xef\xbd\x85",  // fullwidth name
      std::string("name\0", 5),
      "name\xe2\x80\x8b",
      "tenant_id",
      "customers.name",
      "*",
      "1",
      "",
      "name,email",
      "name)",
      "$1",
      "created_at DESC",
      "id; --",
      "{\"field\":\"name\"}",
      "(SELECT 1)",
  };
  for (const auto& n : names) {
    CAPTURE(n);
    CHECK(code_of(plan("customers", filter_body(pred(n, "eq", R"("x")")))) == "query.unknown_field");
    CHECK(code_of(plan("customers", R"({"sort":[{"field":)" + js(n) + "}]}")) == "query.unknown_field");
    CHECK(code_of(plan("customers", R"({"fields":[)" + js(n) + "]}")) == "query.unknown_field");
  }
  // the detail tames what it quotes
  CHECK(outcome(plan("customers", filter_body(pred(std::string("name\0", 5), "eq", R"("x")")))) ==
        "query.unknown_field: customers has no field 'name?'");
  CHECK(outcome(plan("customers", filter_body(pred(std::string(100, 'f'), "eq", R"("x")")))) ==
        "query.unknown_field: customers has no field '" + std::string(64, 'f') + "...'");

  const std::vector<std::string> ops = {
      "EQ", "Eq", "=", "==", "<>", "eq ", " eq", "eq;", std::string("eq\0", 3), "eq OR 1=1", "like' OR '1'='1",
      "", "is null", "IS NULL", "isnull", "between;", "\xef\xbd\x85\xef\xbd\x91", "any", "not", "and", "or", "ANY",
      "lt=", "regex", "~", "~>=~", "similar", "exists", "{\"op\":\"eq\"}",
  };
  for (const auto& o : ops) {
    CAPTURE(o);
    auto r = plan("customers", filter_body(pred("name", o, R"("x")")));
    CHECK(code_of(r) == "query.bad_operator");
    if (!r) CHECK(to_problem(r.error()).detail.rfind("no operator '", 0) == 0);
  }
  CHECK(outcome(plan("customers", filter_body(pred("name", std::string("eq\0", 3), R"("x")")))) ==
        "query.bad_operator: no operator 'eq?'");
  // the operator table is matched exactly
  CHECK(outcome(plan("customers", filter_body(R"({"field":"name","op":["eq"],"value":"x"})"))) ==
        "query.bad_operator: a predicate needs an 'op' string");
}

TEST_CASE("every accepted plan is safe", "[protocols][query]") {
  // A sweep over bodies combining the pieces above, in every scope of the fuzzer.
  const std::vector<std::string> bodies = {
      "{}",
      filter_body(pred("name", "starts_with", R"("Ac'me")")),
      R"({"filter":{"and":[{"field":"status","op":"in","value":["lead","active"]},{"not":{"field":"email","op":"is_null"}}]},"sort":[{"field":"email","dir":"desc"},{"field":"name"}],"page":{"size":10},"fields":["name","email"]})",
      R"({"filter":{"or":[{"field":"version","op":"between","value":[1,5]},{"field":"created_at","op":"gte","value":"2026-01-01T00:00:00Z"}]},"sort":[{"field":"id","dir":"desc"}]})",
      R"({"sort":[{"field":"updated_at"},{"field":"version","dir":"desc"}]})",
  };
  for (const auto& e : entity_registry()) {
    for (uint64_t mask : {every(e), uint64_t{0}}) {
      query_scope s{&e, mask, tenant, key};
      for (const auto& body : bodies) {
        auto r = plan_query(body, s, query_caps{});
        if (!r) continue;  // a field another entity lacks
        CHECK(plan_is_safe(*r, s));
      }
    }
  }
}
