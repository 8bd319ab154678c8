// Tests protocols/access_profile.cpp: allowlists as bit masks, strict
// reading of a PUT body, lenient reading of a stored profile, the baseline
// profiles (issue #4: sales_rep never sees tax_id, cost, annual_revenue).
#include "protocols/access_profile.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace crm::protocols;

namespace {

const entity_def& entity(std::string_view path) { return *entity_by_path(path); }

size_t at(std::string_view path, std::string_view field) {
  return static_cast<size_t>(entity(path).field_index(field));
}

std::vector<std::string> errors_of(json_body& body) {
  std::vector<std::string> out;
  for (const auto& e : body.errors()) out.push_back(e.field + ":" + e.code);
  return out;
}

const access_profile& baseline(std::string_view name) {
  static const auto all = baseline_profiles();
  return *std::find_if(all.begin(), all.end(), [&](const access_profile& p) { return p.name == name; });
}

} // namespace

TEST_CASE("baseline profiles: admin sees all, sales_rep and viewer no sensitive field", "[protocols][profile]") {
  const auto& admin = baseline("admin");
  const auto& rep = baseline("sales_rep");
  const auto& viewer = baseline("viewer");
  CHECK(baseline("manager").entities.size() == entity_registry().size());
  for (const auto& e : entity_registry())
    for (size_t i = 0; i < e.fields.size(); ++i) {
      CHECK(admin.can_read(e, i));
      CHECK(admin.can_write(e, i) == e.fields[i].writable);
      CHECK(rep.can_read(e, i) == !e.fields[i].sensitive);
      CHECK(rep.can_write(e, i) == (e.fields[i].writable && !e.fields[i].sensitive));
      CHECK(viewer.can_read(e, i) == !e.fields[i].sensitive);
      CHECK_FALSE(viewer.can_write(e, i));
    }
  for (auto [path, field] : {std::pair{"customers", "tax_id"}, std::pair{"customers", "annual_revenue"},
                             std::pair{"products", "cost"}})
    CHECK_FALSE(rep.can_read(entity(path), at(path, field)));
  CHECK(default_profile_for_role("sales") == "sales_rep");
  CHECK(default_profile_for_role("admin") == "admin");
  CHECK(default_profile_for_role("viewer") == "viewer");
}

TEST_CASE("a strict read takes allowlists and rejects what the registry does not know", "[protocols][profile]") {
  json_body ok{R"({"entities":{"customers":{"read":["id","name","email"],"write":["name"]},"deals":{"read":[]}}})"};
  auto p = read_access_entities(ok, "entities", true);
  CHECK(ok.errors().empty());
  const auto& c = entity("customers");
  CHECK(p.can_read(c, at("customers", "id")));
  CHECK(p.can_read(c, at("customers", "email")));
  CHECK_FALSE(p.can_read(c, at("customers", "tax_id")));
  CHECK(p.can_write(c, at("customers", "name")));
  CHECK_FALSE(p.can_write(c, at("customers", "email")));
  CHECK(p.entities[entity("deals").index].read == 0);
  CHECK(p.entities[entity("products").index].read == 0);  // not listed: nothing

  json_body bad{R"({"entities":{"contacts":{},"customers":{"read":["nam",5],"write":["id"],"x":1},
                    "deals":{"read":"title"}}})"};
  read_access_entities(bad, "entities", true);
  auto errors = errors_of(bad);
  for (auto expected : {"entities.contacts:unknown", "entities.customers.read:unknown",
                        "entities.customers.read.1:type", "entities.customers.write:read_only",
                        "entities.customers.x:unknown", "entities.deals.read:type"})
    CHECK(std::find(errors.begin(), errors.end(), expected) != errors.end());

  json_body missing{R"({})"};
  read_access_entities(missing, "entities", true);
  CHECK(errors_of(missing) == std::vector<std::string>{"entities:required"});
  json_body wrong{R"({"entities":[]})"};
  read_access_entities(wrong, "entities", true);
  CHECK(errors_of(wrong) == std::vector<std::string>{"entities:type"});
}

TEST_CASE("a stored profile is read leniently: fields the registry lost are skipped", "[protocols][profile]") {
  json_body stored{R"({"customers":{"read":["id","gone_field"],"write":["gone_field"]},"contacts":{"read":["id"]}})"};
  auto p = read_access_entities(stored, "", false);
  CHECK(stored.errors().empty());
  CHECK(p.entities[entity("customers").index].read == 1u);  // id only
  CHECK(p.entities[entity("customers").index].write == 0u);
}

TEST_CASE("profiles round-trip through their JSON form", "[protocols][profile]") {
  for (const auto& original : baseline_profiles()) {
    json_writer w;
    write_access_entities(w, original);
    json_body body{w.view()};
    auto back = read_access_entities(body, "", true);
    CHECK(body.errors().empty());
    for (size_t i = 0; i < original.entities.size(); ++i) {
      CHECK(back.entities[i].read == original.entities[i].read);
      CHECK(back.entities[i].write == original.entities[i].write);
    }
  }
  auto paths = baseline("sales_rep").readable_paths();
  CHECK(std::find(paths.begin(), paths.end(), "customers.name") != paths.end());
  CHECK(std::find(paths.begin(), paths.end(), "customers.tax_id") == paths.end());
}

TEST_CASE("profile names", "[protocols][profile]") {
  CHECK(is_profile_name("sales_rep"));
  CHECK(is_profile_name("a"));
  for (auto bad : {"", "Sales", "1rep", "rep-2", "a b", "x'; drop", std::string(41, 'a').c_str()})
    CHECK_FALSE(is_profile_name(bad));
}
