// protocols/query.hpp
// The query DSL (docs/protocols/QUERY-DSL.md): a JSON
// body -> a checked AST -> the WHERE, ORDER BY and LIMIT of one keyset-paged
// SELECT with every client value a bound parameter. Field names resolve
// through the entity registry, operators to fixed SQL fragments; no client
// text ever reaches the SQL text. Caps are counted while parsing. Cursors
// are signed (HMAC-SHA256) over the tenant, the entity, the filter and the
// sort they came from. Pure.
#pragma once
#include "protocols/entity.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

struct query_caps {
  size_t default_page = 50;
  size_t max_page = 500;
  size_t max_predicates = 20;  // leaves of the filter tree
  size_t max_depth = 5;        // a bare predicate is depth 1
  size_t max_in = 100;         // values of one in / nin
  size_t max_sort = 3;         // client sort keys (the id tie-breaker is extra)
};

// What a query may see: the entity, the caller's readable fields (bit i =
// e.fields[i]), the tenant and the key cursors are signed with.
struct query_scope {
  const entity_def* entity = nullptr;
  uint64_t readable = 0;
  std::string tenant_id;
  std::string cursor_key;
};

enum class query_op : uint8_t { eq, ne, lt, lte, gt, gte, in, nin, like, ilike, starts_with, contains, is_null, between };

// The typed AST of a filter: what parsing has checked (field known,
// readable and filterable; operator applies to its type; values of its
// type; caps), before any SQL is written.
struct filter_node {
  enum class kind : uint8_t { predicate, all, any, negate };
  kind type = kind::predicate;
  size_t field = 0;                   // predicate: index in entity->fields
  query_op op = query_op::eq;         // predicate
  std::vector<std::string> values;    // predicate: values as bound (in/nin: 1..max_in, between: 2, is_null: 0)
  std::vector<filter_node> children;  // all/any: one or more; negate: one
};

struct sort_key {
  size_t field = 0;  // index in entity->fields
  bool desc = false;
};

// The parts of `SELECT <columns> FROM <table> WHERE <where> ORDER BY
// <order_by> LIMIT <limit>`; $1 is the tenant, params hold $1..$n.
struct query_plan {
  std::string where;
  std::string order_by;
  size_t page_size = 0;
  size_t limit = 0;  // page_size + 1: the extra row says a next page exists
  std::vector<std::optional<std::string>> params;
  uint64_t fields = 0;          // fields to render: the projection within the readable ones
  std::vector<sort_key> sort;   // the order, ending with the id tie-breaker
  std::string fingerprint;      // entity + filter + sort, for cursors
};

// Parses `body` into the typed AST and checks it for `scope`, then writes
// the SQL parts from the tree (errors: request.malformed_json and the
// query.* codes, each with a detail naming what is wrong; the first one in
// the order filter, sort, fields, page, cursor).
caf::expected<query_plan> plan_query(std::string_view body, const query_scope& scope, const query_caps& caps);

// The cursor that continues after a row whose sort-key values, in
// plan.sort order and as the database renders them (NULL = nullopt), are
// `values`.
std::string make_cursor(const query_plan& plan, const query_scope& scope,
                        const std::vector<std::optional<std::string>>& values);

// The SQL type a value of `d` is bound as ("uuid", "text", "numeric", ...).
const char* sql_type_of(const field_def& d);

} // namespace crm::protocols
