// test/support/query_sql_check.hpp
// The SQL-safety invariant of protocols/query.cpp, shared by the unit tests
// (test/protocols/query_test.cpp) and the fuzz target (test/fuzz/query_fuzz.cpp):
// the WHERE and ORDER BY a plan carries are made only of registry names
// (columns, tenant_id), the SQL types values are cast to, fixed keywords,
// comparison operators, parentheses, commas and $n placeholders. No quote,
// no semicolon, no comment, no literal: client text can only be in params.
#pragma once
#include "protocols/entity.hpp"
#include "protocols/query.hpp"

#include <cstddef>
#include <set>
#include <string>
#include <string_view>

namespace crm::test {

// Every column the planner may name: the fields of every entity, of the
// audit log, and tenant_id.
inline const std::set<std::string, std::less<>>& query_columns() {
  static const auto names = [] {
    std::set<std::string, std::less<>> out{"tenant_id"};
    for (const auto& e : protocols::entity_registry())
      for (const auto& f : e.fields) out.insert(f.name);
    for (const auto& f : protocols::audit_log_def().fields) out.insert(f.name);
    return out;
  }();
  return names;
}

inline bool is_query_sql_type(std::string_view t) {
  for (std::string_view x : {"uuid", "text", "numeric", "date", "boolean", "jsonb", "bigint", "timestamptz"})
    if (t == x) return true;
  return false;
}

inline bool is_query_keyword(std::string_view w) {
  for (std::string_view x : {"AND", "OR", "NOT", "IS", "NULL", "LIKE", "ILIKE", "BETWEEN", "ANY", "ALL", "FALSE", "ASC", "DESC"})
    if (w == x) return true;
  return false;
}

// True when `sql` is made only of the tokens above; every $n is 1..max_param
// (no leading zero) and may carry one ::type cast, optionally an array ([]).
// `placeholders`, when given, collects the $n seen.
inline bool only_safe_sql(std::string_view sql, size_t max_param = static_cast<size_t>(-1),
                          std::set<size_t>* placeholders = nullptr) {
  auto lower = [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; };
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t i = 0, n = sql.size();
  while (i < n) {
    char c = sql[i];
    if (c == ' ' || c == '(' || c == ')' || c == ',') {
      ++i;
    } else if (sql.substr(i, 4) == "~>=~" || sql.substr(i, 3) == "~<~") {  // pattern (byte-order) comparisons
      i += sql.substr(i, 4) == "~>=~" ? 4 : 3;
    } else if (c == '=' || c == '<' || c == '>') {
      size_t j = i;
      while (j < n && (sql[j] == '=' || sql[j] == '<' || sql[j] == '>')) ++j;
      auto op = sql.substr(i, j - i);
      if (op != "=" && op != "<>" && op != "<" && op != ">" && op != "<=" && op != ">=") return false;
      i = j;
    } else if (c == '$') {
      size_t j = ++i;
      while (j < n && digit(sql[j])) ++j;
      if (j == i || sql[i] == '0' || j - i > 6) return false;
      size_t number = std::stoul(std::string{sql.substr(i, j - i)});
      if (number > max_param) return false;
      if (placeholders) placeholders->insert(number);
      i = j;
      if (sql.substr(i, 2) == "::") {
        i += 2;
        j = i;
        while (j < n && (lower(sql[j]) || digit(sql[j]))) ++j;
        if (!is_query_sql_type(sql.substr(i, j - i))) return false;
        i = j;
        if (sql.substr(i, 2) == "[]") i += 2;
      }
    } else if (lower(c)) {
      size_t j = i;
      while (j < n && (lower(sql[j]) || digit(sql[j]))) ++j;
      if (!query_columns().count(sql.substr(i, j - i))) return false;
      i = j;
    } else if (upper(c)) {
      size_t j = i;
      while (j < n && upper(sql[j])) ++j;
      if (!is_query_keyword(sql.substr(i, j - i))) return false;
      i = j;
    } else {
      return false;  // quotes, semicolons, dashes, slashes, any other byte
    }
  }
  return true;
}

// The whole invariant for a plan: WHERE starts with the tenant predicate,
// WHERE and ORDER BY are safe, every parameter $1..$n is referenced and no
// other, ORDER BY binds nothing and spells the sort keys, the tenant is $1,
// the order ends with id, and LIMIT is one more than the page.
inline bool plan_is_safe(const protocols::query_plan& p, const protocols::query_scope& scope) {
  std::set<size_t> used;
  if (p.where.rfind("tenant_id = $1", 0) != 0) return false;
  if (!only_safe_sql(p.where, p.params.size(), &used)) return false;
  std::set<size_t> none;
  if (!only_safe_sql(p.order_by, 0, &none) || !none.empty()) return false;
  if (used.size() != p.params.size()) return false;  // all of 1..n, each at least once
  if (p.params.empty() || p.params[0] != scope.tenant_id) return false;
  std::string order;
  for (const auto& k : p.sort) {
    if (k.field >= scope.entity->fields.size()) return false;
    order += (order.empty() ? "" : ", ") + scope.entity->fields[k.field].name + (k.desc ? " DESC" : " ASC");
  }
  if (order != p.order_by) return false;
  if (p.sort.empty() || scope.entity->fields[p.sort.back().field].name != "id") return false;
  return p.limit == p.page_size + 1;
}

} // namespace crm::test
