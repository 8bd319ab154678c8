// protocols/access_profile.hpp
// Field-level security (docs/ENTITIES.md "Field-level security"): per entity a read and a
// write allowlist of the registry's fields, kept as one bit per field so
// that shaping a response costs a mask test per field. A field an entity
// gains later is unreadable until a profile grants it. Pure.
#pragma once
#include "protocols/entity.hpp"
#include "protocols/json_body.hpp"
#include "protocols/json_writer.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

struct entity_access {
  uint64_t read = 0;   // bit i: fields[i] of the entity
  uint64_t write = 0;
};

struct access_profile {
  std::string name;
  std::vector<entity_access> entities = std::vector<entity_access>(entity_registry().size());
  bool builtin = false;
  int64_t version = 0;
  std::string updated_at;

  bool can_read(const entity_def& e, size_t field) const { return entities[e.index].read >> field & 1u; }
  bool can_write(const entity_def& e, size_t field) const { return entities[e.index].write >> field & 1u; }
  // "customers.name" -> readable? (audit filtering)
  std::vector<std::string> readable_paths() const;
};

// ^[a-z][a-z0-9_]{0,39}$
bool is_profile_name(std::string_view name);

// Reads the `entities` object at `prefix` of `body`:
// {"customers":{"read":[...],"write":[...]},...}. Strict (a PUT): unknown
// entities and fields, server-owned fields in `write` and wrong types are
// recorded in `body`. Lenient (a stored profile): what the registry no
// longer knows is skipped.
access_profile read_access_entities(json_body& body, std::string_view prefix, bool strict);

// {"customers":{"read":[...],"write":[...]},...} in registry order.
void write_access_entities(json_writer& w, const access_profile& p);
// {"name","entities","builtin","version","updated_at"}
void write_access_profile(json_writer& w, const access_profile& p);

// admin and manager (every field), sales_rep (no sensitive field), viewer
// (reads like sales_rep, writes nothing). Created in every tenant.
std::vector<access_profile> baseline_profiles();

// The profile a user gets when none is named: admin -> admin, sales ->
// sales_rep, anything else -> the role's name.
std::string default_profile_for_role(std::string_view role);

} // namespace crm::protocols
