#include "protocols/query.hpp"

#include "protocols/base64.hpp"
#include "protocols/errc.hpp"
#include "protocols/hex.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/jwt.hpp"
#include "protocols/uuid.hpp"
#include "protocols/values.hpp"

#include <openssl/crypto.h>
#include <simdjson.h>

#include <algorithm>
#include <array>

namespace crm::protocols {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

enum class qtype : uint8_t { uuid, text, enumeration, money, integer, boolean, date, timestamp, none };

qtype type_of(const field_def& d) {
  switch (d.kind) {
    case field_kind::uuid_ref: return qtype::uuid;
    case field_kind::text:
    case field_kind::email:
    case field_kind::currency: return qtype::text;
    case field_kind::choice: return qtype::enumeration;
    case field_kind::money: return qtype::money;
    case field_kind::integer: return qtype::integer;
    case field_kind::boolean: return qtype::boolean;
    case field_kind::date: return qtype::date;
    case field_kind::timestamp: return qtype::timestamp;
    case field_kind::items: return qtype::none;
  }
  return qtype::none;
}

using op = query_op;

struct op_def {
  std::string_view name;
  op code;
  const char* sql;  // comparison fragment for the one-value operators
};

constexpr std::array<op_def, 14> operators = {{
    {"eq", op::eq, " = "},
    {"ne", op::ne, " <> "},
    {"lt", op::lt, " < "},
    {"lte", op::lte, " <= "},
    {"gt", op::gt, " > "},
    {"gte", op::gte, " >= "},
    {"in", op::in, ""},
    {"nin", op::nin, ""},
    {"like", op::like, " LIKE "},
    {"ilike", op::ilike, " ILIKE "},
    {"starts_with", op::starts_with, " LIKE "},
    {"contains", op::contains, " LIKE "},
    {"is_null", op::is_null, ""},
    {"between", op::between, ""},
}};

bool ordered(qtype t) {
  return t == qtype::text || t == qtype::money || t == qtype::integer || t == qtype::date || t == qtype::timestamp;
}

bool applies(op o, qtype t, bool nullable) {
  switch (o) {
    case op::eq:
    case op::ne:
    case op::in:
    case op::nin: return t != qtype::none;
    case op::lt:
    case op::lte:
    case op::gt:
    case op::gte:
    case op::between: return ordered(t);
    case op::like:
    case op::ilike:
    case op::starts_with:
    case op::contains: return t == qtype::text;
    case op::is_null: return nullable;
  }
  return false;
}

// A client string inside a detail: short and printable (the writer escapes it).
std::string quoted(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  if (s.size() > 64) out += "...";
  return "'" + out + "'";
}

// LIKE patterns: `\` escapes the next character, so a pattern may not end in a lone one.
bool valid_pattern(std::string_view p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] == '\\' && ++i == p.size()) return false;
  return true;
}

// The least string above every string that starts with `prefix`, in byte
// order: the prefix with its last character moved to the next code point
// (UTF-8 keeps code point order in byte order); nullopt when there is none.
std::optional<std::string> prefix_upper_bound(std::string prefix) {
  while (!prefix.empty()) {
    size_t start = prefix.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(prefix[start]) & 0xC0) == 0x80) --start;
    auto lead = static_cast<unsigned char>(prefix[start]);
    size_t len = prefix.size() - start;
    uint32_t cp = len == 1 ? lead : len == 2 ? lead & 0x1Fu : len == 3 ? lead & 0x0Fu : lead & 0x07u;
    for (size_t i = start + 1; i < prefix.size(); ++i) cp = cp << 6 | (static_cast<unsigned char>(prefix[i]) & 0x3Fu);
    prefix.resize(start);
    ++cp;
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xE000;
    if (cp > 0x10FFFF) continue;  // no next character here: move one to the left
    if (cp < 0x80) {
      prefix += static_cast<char>(cp);
    } else if (cp < 0x800) {
      prefix += static_cast<char>(0xC0 | cp >> 6);
      prefix += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      prefix += static_cast<char>(0xE0 | cp >> 12);
      prefix += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      prefix += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      prefix += static_cast<char>(0xF0 | cp >> 18);
      prefix += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
      prefix += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      prefix += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return prefix;
  }
  return std::nullopt;
}

std::string escape_like(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '%' || c == '_') out += '\\';
    out += c;
  }
  return out;
}

// A cursor's MAC: over the tenant, the query's fingerprint and the payload.
std::string cursor_mac(const query_scope& scope, const std::string& fingerprint, std::string_view payload) {
  auto mac = hmac_sha256(scope.cursor_key, scope.tenant_id + '\x1f' + fingerprint + '\x1f' + std::string{payload});
  mac.resize(16);  // 128 bits are plenty
  return mac;
}

class planner {
public:
  planner(const query_scope& scope, const query_caps& caps) : scope_(scope), caps_(caps), e_(*scope.entity) {
    plan_.params.emplace_back(scope.tenant_id);
  }

  caf::expected<query_plan> run(std::string_view body) {
    thread_local simdjson::dom::parser parser;  // reused: its buffers outlive one query
    element root;
    auto status = parser.parse(body.data(), body.size()).get(root);
    if (status) {
      return error_of(errc::request_malformed_json,
                      status == simdjson::UTF8_ERROR ? "the body is not valid UTF-8" : "the body is not valid JSON");
    }
    object top;
    if (root.get_object().get(top)) return error_of(errc::request_malformed_json, "the body must be a JSON object");
    for (auto member : top) {
      auto k = member.key;
      if (k != "filter" && k != "sort" && k != "page" && k != "fields")
        return error_of(errc::query_bad_value, "unknown member " + quoted(k) + " (filter, sort, page, fields)");
    }
    // 1. the checked tree: fields, operators, values, caps, FLS
    std::optional<filter_node> tree;
    element el;
    if (!top["filter"].get(el) && !node(el, 1, tree.emplace())) return err_;
    if (!sort(top) || !fields(top) || !page(top)) return err_;
    // 2. its SQL, every value a parameter
    std::string filter;
    if (tree) emit(*tree, filter);
    auto filter_params = plan_.params;
    // The fingerprint a cursor is bound to: entity, filter (its SQL and
    // values) and order, each part length-prefixed so no two differ only
    // in where a separator falls.
    std::string print;
    auto part = [&print](std::string_view text) { print.append(std::to_string(text.size())).append(":").append(text); };
    part(e_.path);
    part(filter);
    for (const auto& p : filter_params) p ? part(*p) : void(print.append("-"));
    for (const auto& k : plan_.sort) part(e_.fields[k.field].name + (k.desc ? ":desc" : ":asc"));
    plan_.fingerprint = sha256_hex(print);
    plan_.where = "tenant_id = $1";
    if (!filter.empty()) plan_.where += " AND (" + filter + ")";
    if (!after(top)) return err_;
    for (size_t i = 0; i < plan_.sort.size(); ++i) {
      if (i) plan_.order_by += ", ";
      plan_.order_by += e_.fields[plan_.sort[i].field].name + (plan_.sort[i].desc ? " DESC" : " ASC");
    }
    plan_.limit = plan_.page_size + 1;
    return std::move(plan_);
  }

private:
  bool fail(errc code, std::string detail) {
    err_ = error_of(code, std::move(detail));
    return false;
  }

  std::string bind(std::string value, const field_def& d, bool as_array = false) {
    plan_.params.emplace_back(std::move(value));
    std::string ref{"$"};
    ref.append(std::to_string(plan_.params.size())).append("::").append(sql_type_of(d));
    if (as_array) ref.append("[]");
    return ref;
  }

  bool readable(size_t i) const { return (scope_.readable >> i & 1u) || e_.fields[i].name == "id"; }

  // The field named by `el` (a string): unknown -> query.unknown_field, not
  // readable -> query.field_not_allowed, for filters, sorts and projections
  // alike (no filtering on what the caller cannot see).
  bool field(element el, size_t& index, std::string_view where) {
    std::string_view name;
    if (el.get_string().get(name)) return fail(errc::query_bad_value, std::string{where} + " must be a field name");
    int i = e_.field_index(name);
    if (i < 0) return fail(errc::query_unknown_field, e_.path + " has no field " + quoted(name));
    index = static_cast<size_t>(i);
    if (!readable(index))
      return fail(errc::query_field_not_allowed, "your access profile cannot read " + quoted(name));
    return true;
  }

  // One value of field `d`, as the text it is bound with.
  bool value(element v, const field_def& d, std::string& out) {
    auto t = type_of(d);
    auto name = d.name;
    auto bad = [&](std::string why) { return fail(errc::query_bad_value, name + ": " + why); };
    if (t == qtype::integer) {
      int64_t n = 0;
      if (v.get_int64().get(n)) return bad("expected an integer");
      out = std::to_string(n);
      return true;
    }
    if (t == qtype::boolean) {
      bool b = false;
      if (v.get_bool().get(b)) return bad("expected true or false");
      out = b ? "true" : "false";
      return true;
    }
    std::string_view s;
    if (v.get_string().get(s)) return bad(t == qtype::money ? "expected a decimal string such as \"1250.00\"" : "expected a string");
    if (s.find('\0') != std::string_view::npos) return bad("a value may not contain NUL characters");
    if (s.size() > 1024) return bad("a value is at most 1024 bytes");
    switch (t) {
      case qtype::uuid:
        if (!is_uuid(s)) return bad("expected a UUID");
        out = ascii_lower(s);
        return true;
      case qtype::enumeration:
        if (std::find(d.choices.begin(), d.choices.end(), s) == d.choices.end()) return bad("not one of the allowed values");
        break;
      case qtype::money:
        if (!is_money(s)) return bad("expected a decimal string with at most two decimals");
        break;
      case qtype::date:
        if (!is_iso_date(s)) return bad("expected a date YYYY-MM-DD");
        break;
      case qtype::timestamp:
        if (!is_rfc3339(s)) return bad("expected an RFC 3339 timestamp");
        break;
      default: break;
    }
    out = std::string{s};
    return true;
  }

  // -- parsing: JSON -> a checked filter_node tree (no SQL yet) --------------

  bool node(element el, size_t depth, filter_node& out) {
    if (depth > caps_.max_depth)
      return fail(errc::query_too_complex, "the filter is nested deeper than " + std::to_string(caps_.max_depth));
    object obj;
    if (el.get_object().get(obj)) return fail(errc::query_bad_value, "a filter node must be an object");
    size_t n = obj.size();
    element child;
    for (std::string_view group : {"and", "or"}) {
      if (obj[group].get(child)) continue;
      if (n != 1) return fail(errc::query_bad_value, "a '" + std::string{group} + "' node has no other members");
      array items;
      if (child.get_array().get(items) || items.size() == 0)
        return fail(errc::query_bad_value, "'" + std::string{group} + "' takes a non-empty array of nodes");
      out.type = group == "and" ? filter_node::kind::all : filter_node::kind::any;
      for (auto item : items)
        if (!node(item, depth + 1, out.children.emplace_back())) return false;
      return true;
    }
    if (!obj["not"].get(child)) {
      if (n != 1) return fail(errc::query_bad_value, "a 'not' node has no other members");
      out.type = filter_node::kind::negate;
      return node(child, depth + 1, out.children.emplace_back());
    }
    out.type = filter_node::kind::predicate;
    return predicate(obj, out);
  }

  bool predicate(object obj, filter_node& out) {
    if (++predicates_ > caps_.max_predicates)
      return fail(errc::query_too_complex, "the filter has more than " + std::to_string(caps_.max_predicates) + " predicates");
    for (auto member : obj)
      if (member.key != "field" && member.key != "op" && member.key != "value")
        return fail(errc::query_bad_value, "unknown member " + quoted(member.key) + " in a predicate");
    element f, o, v;
    if (obj["field"].get(f)) return fail(errc::query_bad_value, "a predicate needs 'field' and 'op'");
    if (!field(f, out.field, "field")) return false;
    const auto& d = e_.fields[out.field];
    std::string_view op_name;
    if (obj["op"].get(o) || o.get_string().get(op_name)) return fail(errc::query_bad_operator, "a predicate needs an 'op' string");
    auto it = std::find_if(operators.begin(), operators.end(), [&](const op_def& x) { return x.name == op_name; });
    if (it == operators.end()) return fail(errc::query_bad_operator, "no operator " + quoted(op_name));
    out.op = it->code;
    if (!applies(it->code, type_of(d), d.nullable()))
      return fail(errc::query_bad_operator, "'" + std::string{it->name} + "' does not apply to " + d.name);
    bool has_value = !obj["value"].get(v);
    if (it->code == op::is_null) {
      if (has_value) return fail(errc::query_bad_value, "is_null takes no value");
      return true;
    }
    if (!has_value || v.is_null()) return fail(errc::query_bad_value, d.name + ": '" + std::string{it->name} + "' needs a value");
    std::string text;
    if (it->code == op::in || it->code == op::nin) {
      array values;
      if (v.get_array().get(values) || values.size() == 0)
        return fail(errc::query_bad_value, d.name + ": '" + std::string{it->name} + "' takes a non-empty array");
      if (values.size() > caps_.max_in)
        return fail(errc::query_too_complex, d.name + ": more than " + std::to_string(caps_.max_in) + " values");
      for (auto x : values) {
        if (x.is_null()) return fail(errc::query_bad_value, d.name + ": null is not a value");
        if (!value(x, d, text)) return false;
        out.values.push_back(std::move(text));
      }
      return true;
    }
    if (it->code == op::between) {
      array pair;
      if (v.get_array().get(pair) || pair.size() != 2)
        return fail(errc::query_bad_value, d.name + ": 'between' takes [low, high]");
      element lo, hi;
      if (pair.at(0).get(lo) || pair.at(1).get(hi) || lo.is_null() || hi.is_null())
        return fail(errc::query_bad_value, d.name + ": null is not a bound");
      out.values.resize(2);
      return value(lo, d, out.values[0]) && value(hi, d, out.values[1]);
    }
    if (!value(v, d, text)) return false;
    if ((it->code == op::like || it->code == op::ilike) && !valid_pattern(text))
      return fail(errc::query_bad_value, d.name + ": the pattern ends with a lone '\\'");
    out.values.push_back(std::move(text));
    return true;
  }

  // -- SQL: a checked tree -> text with every value bound, in document order --

  void emit(const filter_node& n, std::string& sql) {
    switch (n.type) {
      case filter_node::kind::all:
      case filter_node::kind::any: {
        sql += "(";
        for (size_t i = 0; i < n.children.size(); ++i) {
          if (i) sql += n.type == filter_node::kind::all ? " AND " : " OR ";
          emit(n.children[i], sql);
        }
        sql += ")";
        return;
      }
      case filter_node::kind::negate:
        sql += "NOT (";
        emit(n.children.at(0), sql);
        sql += ")";
        return;
      case filter_node::kind::predicate: emit_predicate(n, sql); return;
    }
  }

  void emit_predicate(const filter_node& n, std::string& sql) {
    const auto& d = e_.fields[n.field];
    const auto& col = d.name;
    const auto& def = *std::find_if(operators.begin(), operators.end(), [&](const op_def& x) { return x.code == n.op; });
    switch (n.op) {
      case op::is_null: sql += col + " IS NULL"; return;
      case op::in:
      case op::nin: {
        auto p = bind(pg_array_literal(n.values), d, true);
        sql += n.op == op::in ? col + " = ANY (" + p + ")" : col + " <> ALL (" + p + ")";
        return;
      }
      case op::between: {
        auto low_ref = bind(n.values.at(0), d);  // in document order: $n, $n+1
        auto high_ref = bind(n.values.at(1), d);
        sql += col + " BETWEEN " + low_ref + " AND " + high_ref;
        return;
      }
      case op::starts_with: {
        // As a byte-order range, which is exactly the strings with this
        // prefix: [prefix, next prefix). LIKE 'abc%' would say the same, but
        // LIKE is not leakproof, so under row-level security it neither
        // becomes an index condition nor gets estimated from the column's
        // statistics; ~>=~ and ~<~ (text_pattern_ops) are and do.
        const auto& prefix = n.values.at(0);
        if (prefix.empty()) {
          sql += col + " LIKE " + bind("%", d);
          return;
        }
        auto upper = prefix_upper_bound(prefix);
        if (!upper) {
          sql += col + " ~>=~ " + bind(prefix, d);
          return;
        }
        auto lower_ref = bind(prefix, d);
        auto upper_ref = bind(std::move(*upper), d);
        sql += "(" + col + " ~>=~ " + lower_ref + " AND " + col + " ~<~ " + upper_ref + ")";
        return;
      }
      case op::contains: sql += col + def.sql + bind("%" + escape_like(n.values.at(0)) + "%", d); return;
      default: sql += col + def.sql + bind(n.values.at(0), d); return;
    }
  }

  bool sort(object top) {
    element el;
    auto& keys = plan_.sort;
    auto add = [&](size_t index, bool desc) {
      keys.push_back({index, desc});
      return e_.fields[index].name == "id";  // unique: the order is total
    };
    bool total = false;
    std::vector<size_t> seen;
    if (!top["sort"].get(el)) {
      array items;
      if (el.get_array().get(items)) return fail(errc::query_bad_value, "sort must be an array");
      if (items.size() > caps_.max_sort)
        return fail(errc::query_too_complex, "more than " + std::to_string(caps_.max_sort) + " sort keys");
      for (auto item : items) {
        object key;
        if (item.get_object().get(key)) return fail(errc::query_bad_value, "a sort key is {\"field\", \"dir\"}");
        for (auto member : key)
          if (member.key != "field" && member.key != "dir")
            return fail(errc::query_bad_value, "unknown member " + quoted(member.key) + " in a sort key");
        element f, d;
        if (key["field"].get(f)) return fail(errc::query_bad_value, "a sort key needs a field");
        size_t index = 0;
        if (!field(f, index, "sort field")) return false;
        if (type_of(e_.fields[index]) == qtype::none)
          return fail(errc::query_bad_value, e_.fields[index].name + " cannot be sorted");
        if (std::find(seen.begin(), seen.end(), index) != seen.end())
          return fail(errc::query_bad_value, e_.fields[index].name + " is sorted twice");
        seen.push_back(index);
        bool desc = false;
        if (!key["dir"].get(d)) {
          std::string_view dir;
          if (d.get_string().get(dir) || (dir != "asc" && dir != "desc"))
            return fail(errc::query_bad_value, "dir is \"asc\" or \"desc\"");
          desc = dir == "desc";
        }
        if (!total) total = add(index, desc);
      }
    }
    if (keys.empty()) {  // default: newest first, by a readable creation time
      for (std::string_view name : {"created_at", "at"}) {
        int i = e_.field_index(name);
        if (i >= 0 && readable(static_cast<size_t>(i))) {
          add(static_cast<size_t>(i), true);
          break;
        }
      }
    }
    if (!total) add(static_cast<size_t>(e_.field_index("id")), keys.empty() ? true : keys.back().desc);
    return true;
  }

  bool fields(object top) {
    element el;
    uint64_t id_bit = uint64_t{1} << e_.field_index("id");
    if (top["fields"].get(el)) {
      plan_.fields = scope_.readable | id_bit;
      return true;
    }
    array items;
    if (el.get_array().get(items) || items.size() == 0)
      return fail(errc::query_bad_value, "fields must be a non-empty array of field names");
    if (items.size() > max_entity_fields) return fail(errc::query_too_complex, "too many fields");
    plan_.fields = id_bit;
    for (auto item : items) {
      size_t index = 0;
      if (!field(item, index, "fields")) return false;
      plan_.fields |= uint64_t{1} << index;
    }
    return true;
  }

  bool page(object top) {
    plan_.page_size = caps_.default_page;
    element el;
    if (top["page"].get(el)) return true;
    object p;
    if (el.get_object().get(p)) return fail(errc::query_bad_value, "page must be an object");
    for (auto member : p)
      if (member.key != "size" && member.key != "after")
        return fail(errc::query_bad_value, "unknown member " + quoted(member.key) + " in page");
    element size;
    if (!p["size"].get(size)) {
      int64_t n = 0;
      uint64_t huge = 0;
      if (size.get_int64().get(n) && !size.get_uint64().get(huge))  // above int64: still just too large
        return fail(errc::query_page_too_large, "page.size is at most " + std::to_string(caps_.max_page));
      if (size.get_int64().get(n) || n < 1) return fail(errc::query_bad_value, "page.size must be an integer of at least 1");
      if (static_cast<uint64_t>(n) > caps_.max_page)
        return fail(errc::query_page_too_large, "page.size is at most " + std::to_string(caps_.max_page));
      plan_.page_size = static_cast<size_t>(n);
    }
    return true;
  }

  // page.after: the keyset condition after the cursor's row.
  bool after(object top) {
    element el;
    if (top["page"].get(el) || el["after"].get(el) || el.is_null()) return true;
    std::string_view token;
    auto bad = [&] { return fail(errc::query_bad_cursor, "the cursor is not one this query handed out"); };
    if (el.get_string().get(token) || token.size() > 8192) return bad();
    auto dot = token.find('.');
    if (dot == std::string_view::npos) return bad();
    auto payload = base64url_decode(token.substr(0, dot));
    auto mac = base64url_decode(token.substr(dot + 1));
    if (!payload || !mac || mac->size() != 16) return bad();
    auto expected = cursor_mac(scope_, plan_.fingerprint, *payload);
    if (CRYPTO_memcmp(expected.data(), mac->data(), 16) != 0) return bad();
    thread_local simdjson::dom::parser parser;  // not the body's: that one is still being read
    element root;
    array values;
    if (parser.parse(*payload).get(root) || root["k"].get_array().get(values) || values.size() != plan_.sort.size())
      return bad();
    // Bind each cursor value once; NULLs order last ascending, first descending.
    std::vector<std::optional<std::string>> bound;
    for (auto v : values) {
      std::string_view s;
      if (v.is_null()) bound.emplace_back(std::nullopt);
      else if (!v.get_string().get(s) && s.find('\0') == std::string_view::npos) bound.emplace_back(std::string{s});
      else return bad();  // no stored value holds a NUL: no cursor this server made does
    }
    std::vector<std::string> refs;
    bool simple = true;
    for (size_t i = 0; i < plan_.sort.size(); ++i) {
      const auto& d = e_.fields[plan_.sort[i].field];
      refs.push_back(bound[i] ? bind(*bound[i], d) : std::string{});
      simple = simple && bound[i] && !d.nullable() && plan_.sort[i].desc == plan_.sort[0].desc;
    }
    std::string cond;
    if (simple) {  // one row comparison: an index range scan
      std::string left, right;
      for (size_t i = 0; i < plan_.sort.size(); ++i) {
        left += (i ? ", " : "") + e_.fields[plan_.sort[i].field].name;
        right += (i ? ", " : "") + refs[i];
      }
      cond = "(" + left + ")" + (plan_.sort[0].desc ? " < " : " > ") + "(" + right + ")";
    } else {
      for (size_t j = 0; j < plan_.sort.size(); ++j) {
        const auto& d = e_.fields[plan_.sort[j].field];
        std::string step;
        if (plan_.sort[j].desc) step = bound[j] ? d.name + " < " + refs[j] : d.name + " IS NOT NULL";
        else if (bound[j]) step = d.nullable() ? "(" + d.name + " > " + refs[j] + " OR " + d.name + " IS NULL)" : d.name + " > " + refs[j];
        else continue;  // nothing follows NULL ascending on this key
        std::string term;
        for (size_t i = 0; i < j; ++i) {
          const auto& c = e_.fields[plan_.sort[i].field].name;
          term += (bound[i] ? c + " = " + refs[i] : c + " IS NULL") + " AND ";
        }
        cond += (cond.empty() ? "" : " OR ") + ("(" + term + step + ")");
      }
      if (cond.empty()) cond = "FALSE";
    }
    plan_.where += " AND (" + cond + ")";
    return true;
  }

  const query_scope& scope_;
  const query_caps& caps_;
  const entity_def& e_;
  query_plan plan_;
  caf::error err_;
  size_t predicates_ = 0;
};

} // namespace

const char* sql_type_of(const field_def& d) {
  switch (d.kind) {
    case field_kind::uuid_ref: return "uuid";
    case field_kind::money: return "numeric";
    case field_kind::date: return "date";
    case field_kind::boolean: return "boolean";
    case field_kind::items: return "jsonb";
    case field_kind::integer: return "bigint";
    case field_kind::timestamp: return "timestamptz";
    case field_kind::text:
    case field_kind::email:
    case field_kind::currency:
    case field_kind::choice: return "text";
  }
  return "text";
}

caf::expected<query_plan> plan_query(std::string_view body, const query_scope& scope, const query_caps& caps) {
  if (!scope.entity) return error_of(errc::internal, "no entity to query");
  return planner{scope, caps}.run(body);
}

std::string make_cursor(const query_plan& plan, const query_scope& scope,
                        const std::vector<std::optional<std::string>>& values) {
  json_writer w;
  w.begin_object().key("k").begin_array();
  for (const auto& v : values) v ? w.string(*v) : w.null();
  w.end_array().end_object();
  auto payload = std::move(w).str();
  return base64url_encode(payload) + "." + base64url_encode(cursor_mac(scope, plan.fingerprint, payload));
}

} // namespace crm::protocols
