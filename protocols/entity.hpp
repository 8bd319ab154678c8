// protocols/entity.hpp
// The entity registry of the CRM base (docs/ENTITIES.md, issue #4):
// per entity its fields, their kinds, which are required, writable by
// clients and sensitive. One table drives validation (read_record), and is
// meant to drive SQL, response shaping and docs too, so adding a field is
// one change. Pure.
#pragma once
#include "protocols/json_body.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

enum class field_kind : uint8_t {
  text,      // string up to max_length characters
  email,     // plausible email address
  uuid_ref,  // id of a record of `references` in the same tenant
  money,     // decimal string, two decimals at most ("1250.00")
  currency,  // ISO 4217 code
  date,      // "YYYY-MM-DD"
  boolean,
  choice,    // one of `choices`
  timestamp, // server-owned RFC 3339 (created_at, updated_at)
  integer,   // server-owned (version)
  items,     // price-list items: [{"product_id": uuid, "price": money}]
};

struct field_def {
  std::string name;
  field_kind kind = field_kind::text;
  bool required = false;   // on create
  bool writable = true;    // false: owned by the server (id, timestamps, version)
  bool sensitive = false;  // left out of narrow baseline profiles
  size_t max_length = 200;
  std::vector<std::string> choices;
  std::string references;  // for uuid_ref: the entity path ("users" included)
  std::string default_value;  // SQL default on create; such a field is never null
  std::string not_before;     // a date field this one may not precede ("valid_from")
  bool never_null = false;    // server-owned and always set (id, timestamps, version)
  bool nullable() const { return !required && default_value.empty() && !never_null; }
};

// At most 64 fields per entity: access profiles keep one bit per field.
inline constexpr size_t max_entity_fields = 64;
inline constexpr size_t max_price_list_items = 1000;

struct entity_def {
  std::string path;   // URL segment: "customers", "price-lists"
  std::string table;  // SQL table: "customers", "price_lists"
  std::vector<field_def> fields;
  size_t index = 0;   // position in entity_registry()
  const field_def* field(std::string_view name) const;
  // The position of `name` in `fields`, or -1.
  int field_index(std::string_view name) const;
};

// customers, deals, products, warehouses, price-lists, in this order.
const std::vector<entity_def>& entity_registry();
const entity_def* entity_by_path(std::string_view path);

// The audit log as the query DSL sees it (path "audit-logs", not in the
// registry, nothing writable): id, at, actor_user_id, entity, entity_id,
// action, changes (not filterable), trace_id.
const entity_def& audit_log_def();

// The guard's incidents as the query DSL sees them (path "guard/incidents",
// nothing writable): what GET /api/v1/guard/incidents returns.
const entity_def& guard_incident_def();

struct field_value {
  std::string name;
  std::optional<std::string> value;  // text form for a SQL parameter; nullopt = NULL
};

// Reads a create (every required field) or patch (any writable subset) body
// for `e`. Records every problem in `body` (unknown field, read_only, type,
// required, too_long, format, choice, range, duplicate); JSON null clears an
// optional field. Money comes back as written (PostgreSQL normalises it),
// items as canonical JSON with prices normalised to two decimals. Returns
// the values in registry order.
std::vector<field_value> read_record(json_body& body, const entity_def& e, bool create);

} // namespace crm::protocols
