// Tests storage/entity_sql.cpp: the statements generated from the registry
// name every writable field once, bind every value, and carry no text that
// is not the registry's.
#include "storage/entity_sql.hpp"

#include "protocols/access_profile.hpp"
#include "protocols/values.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>

using namespace crm;
using storage::entity_op;

namespace {

const storage::pg_statement& statement(const std::string& name) {
  static const auto all = storage::entity_statements();
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& s) { return s.name == name; });
  REQUIRE(it != all.end());
  return *it;
}

// The highest $n in `sql`.
int params_of(const std::string& sql) {
  int top = 0;
  std::regex p{R"(\$([0-9]+))"};
  for (std::sregex_iterator it{sql.begin(), sql.end(), p}, end; it != end; ++it)
    top = std::max(top, std::stoi((*it)[1]));
  return top;
}

} // namespace

TEST_CASE("every entity has its statements with one parameter per value", "[storage][entity_sql]") {
  for (const auto& e : protocols::entity_registry()) {
    int writable = static_cast<int>(std::count_if(e.fields.begin(), e.fields.end(), [](auto& f) { return f.writable; }));
    const auto& insert = statement(storage::entity_statement(entity_op::insert, e));
    CHECK(params_of(insert.sql) == 2 + writable);
    CHECK(insert.sql.find("INSERT INTO " + e.table + " ") == 0);
    const auto& update = statement(storage::entity_statement(entity_op::update, e));
    CHECK(params_of(update.sql) == 3 + 2 * writable);
    CHECK(update.sql.find("version = $3") != std::string::npos);
    CHECK(params_of(statement(storage::entity_statement(entity_op::select, e)).sql) == 2);
    CHECK(params_of(statement(storage::entity_statement(entity_op::remove, e)).sql) == 3);
    CHECK(params_of(statement(storage::entity_statement(entity_op::attach, e)).sql) == 5);
    for (const auto& f : e.fields) {
      CHECK(statement(storage::entity_statement(entity_op::select, e)).sql.find(f.name) != std::string::npos);
      if (f.writable) CHECK(insert.sql.find(", " + f.name) != std::string::npos);
    }
    // Every statement is tenant-scoped by its first parameter.
    for (auto op : {entity_op::select, entity_op::update, entity_op::remove, entity_op::probe, entity_op::attachments,
                    entity_op::detach_all})
      CHECK(statement(storage::entity_statement(op, e)).sql.find("tenant_id = $1") != std::string::npos);
  }
}

TEST_CASE("defaults apply on create only when the value is absent", "[storage][entity_sql]") {
  const auto& customers = *protocols::entity_by_path("customers");
  auto sql = statement(storage::entity_statement(entity_op::insert, customers)).sql;
  CHECK(sql.find("COALESCE($6::text, 'lead'::text)") != std::string::npos);  // status
  auto pl = statement(storage::entity_statement(entity_op::insert, *protocols::entity_by_path("price-lists"))).sql;
  CHECK(pl.find("'[]'::jsonb") != std::string::npos);
}

TEST_CASE("text array literals and the baseline profiles query", "[storage][entity_sql]") {
  CHECK(protocols::pg_array_literal({}) == "{}");
  CHECK(protocols::pg_array_literal({"customers.name", "price-lists.items"}) ==
        "{\"customers.name\",\"price-lists.items\"}");
  auto q = storage::ensure_profiles_query("t");
  CHECK(q.params.size() == 1 + 2 * protocols::baseline_profiles().size());
  CHECK(q.text.find("ON CONFLICT (tenant_id, name) DO NOTHING") != std::string::npos);
  CHECK(q.text.find("WHERE EXISTS (SELECT 1 FROM tenants") != std::string::npos);
}
