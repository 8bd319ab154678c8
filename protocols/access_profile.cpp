#include "protocols/access_profile.hpp"


namespace crm::protocols {

bool is_profile_name(std::string_view name) {
  if (name.empty() || name.size() > 40 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

std::vector<std::string> access_profile::readable_paths() const {
  std::vector<std::string> out;
  for (const auto& e : entity_registry())
    for (size_t i = 0; i < e.fields.size(); ++i)
      if (can_read(e, i)) out.push_back(e.path + "." + e.fields[i].name);
  // an attachment's audit row names the record, the content item and who
  // attached it: references, no field of the record itself
  for (const char* f : {"entity", "entity_id", "content_id", "created_by"}) out.push_back(std::string{"attachments."} + f);
  return out;
}

namespace {

// Reads one allowlist (`path` is "entities.customers.read"); returns its mask.
uint64_t read_list(json_body& body, const entity_def& e, const std::string& path, bool writing, bool strict) {
  uint64_t mask = 0;
  auto n = body.array(path, false, 2 * max_entity_fields);
  if (!n) return 0;
  for (size_t i = 0; i < *n; ++i) {
    auto at = path + "." + std::to_string(i);
    auto name = strict ? body.string(at, {true, 1, 64}) : body.string(at, {true, 0, 64});
    if (!name) continue;
    int index = e.field_index(*name);
    if (index < 0) {
      if (strict) body.add_error(path, "unknown", e.path + " has no field '" + (is_valid_utf8(*name) ? *name : "?") + "'");
      continue;
    }
    if (writing && !e.fields[static_cast<size_t>(index)].writable) {
      if (strict) body.add_error(path, "read_only", *name + " is set by the server");
      continue;
    }
    mask |= uint64_t{1} << index;
  }
  return mask;
}

} // namespace

access_profile read_access_entities(json_body& body, std::string_view prefix, bool strict) {
  access_profile p;
  std::string base{prefix};
  auto dot = base.empty() ? "" : ".";
  for (const auto& key : body.keys(prefix)) {
    const auto* e = entity_by_path(key);
    auto path = base + dot + key;
    if (!e) {
      if (strict) body.add_error(member_field(base, key), "unknown", "no entity by that name");
      continue;
    }
    if (strict) body.allow_only(path, {"read", "write"});
    auto& a = p.entities[e->index];
    a.read = read_list(body, *e, path + ".read", false, strict);
    a.write = read_list(body, *e, path + ".write", true, strict);
    // Write implies read: a field written blind answers "does a record with
    // this value exist?" through a 409 (issue 9). (`id` is never writable.)
    if (uint64_t blind = a.write & ~a.read) {
      if (strict) {
        std::string names;
        for (size_t i = 0; i < e->fields.size(); ++i)
          if (blind >> i & 1u) names += (names.empty() ? "" : ", ") + e->fields[i].name;
        body.add_error(path + ".write", "not_readable", "every written field must be readable too: " + names);
      }
      a.write &= ~blind;
    }
  }
  if (strict && !body.is_object(prefix))
    body.add_error(base, body.has(prefix) ? "type" : "required", base + " must be an object");
  return p;
}

void write_access_entities(json_writer& w, const access_profile& p) {
  w.begin_object();
  for (const auto& e : entity_registry()) {
    const auto& a = p.entities[e.index];
    if (!a.read && !a.write) continue;
    w.key(e.path).begin_object();
    for (auto [label, mask] : {std::pair{"read", a.read}, std::pair{"write", a.write}}) {
      w.key(label).begin_array();
      for (size_t i = 0; i < e.fields.size(); ++i)
        if (mask >> i & 1u) w.string(e.fields[i].name);
      w.end_array();
    }
    w.end_object();
  }
  w.end_object();
}

void write_access_profile(json_writer& w, const access_profile& p) {
  w.begin_object().key("name").string(p.name).key("entities");
  write_access_entities(w, p);
  w.key("builtin").boolean(p.builtin).key("version").number(p.version);
  w.key("updated_at").string(p.updated_at).end_object();
}

std::vector<access_profile> baseline_profiles() {
  auto make = [](std::string name, bool sensitive, bool write) {
    access_profile p;
    p.name = std::move(name);
    p.builtin = true;
    for (const auto& e : entity_registry())
      for (size_t i = 0; i < e.fields.size(); ++i) {
        const auto& f = e.fields[i];
        if (f.sensitive && !sensitive) continue;
        p.entities[e.index].read |= uint64_t{1} << i;
        if (write && f.writable) p.entities[e.index].write |= uint64_t{1} << i;
      }
    return p;
  };
  return {make("admin", true, true), make("manager", true, true), make("sales_rep", false, true),
          make("viewer", false, false)};
}

std::string default_profile_for_role(std::string_view role) {
  if (role == "sales") return "sales_rep";
  return std::string{role};
}

} // namespace crm::protocols
