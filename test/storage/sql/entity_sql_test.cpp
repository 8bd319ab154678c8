// Tests storage/sql/entity_sql.cpp: the statements generated from the registry
// name every writable field once, bind every value, and carry no text that
// is not the registry's.
#include "storage/sql/entity_sql.hpp"

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
    // the change in a CTE that writes its event in the same statement (ADR-0046)
    CHECK(insert.sql.find("WITH w AS (INSERT INTO " + e.table + " ") == 0);
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
    // Every change writes exactly one event of its type, for the tenant $1.
    auto singular = e.table.substr(0, e.table.size() - 1);
    for (auto [op, action] : {std::pair{entity_op::insert, "created"}, std::pair{entity_op::update, "updated"},
                              std::pair{entity_op::remove, "deleted"}, std::pair{entity_op::attach, "attachment_added"}}) {
      const auto& sql = statement(storage::entity_statement(op, e)).sql;
      CHECK(sql.find("INSERT INTO outbox (tenant_id, type, subject, data) SELECT $1, 'crm." + singular + "." + action +
                     "', '" + e.path + "/' || ") != std::string::npos);
      CHECK(sql.rfind(") SELECT * FROM w") == sql.size() - std::string_view{") SELECT * FROM w"}.size());
    }
    // Every statement is tenant-scoped by its first parameter.
    for (auto op : {entity_op::select, entity_op::update, entity_op::remove, entity_op::probe, entity_op::attachments,
                    entity_op::attachment, entity_op::detach_all})
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

TEST_CASE("a planned query becomes its timeout statement and one cached SELECT", "[storage][entity_sql]") {
  const auto& customers = *protocols::entity_by_path("customers");
  protocols::query_scope scope{&customers, ~uint64_t{0}, "7d3c9a4e-0000-4000-8000-00000000aaaa",
                               "key-0123456789abcdef0123456789abcdef"};
  auto plan = protocols::plan_query(R"({"filter":{"field":"status","op":"eq","value":"active"},"page":{"size":5}})",
                                    scope, protocols::query_caps{});
  REQUIRE(plan);
  auto params = plan->params;
  auto q = storage::query_statements(customers, *plan, "2000", std::nullopt);
  REQUIRE(q.size() == 2);
  CHECK(q[0].prepared);
  CHECK(q[0].text == storage::stmt_statement_timeout);
  CHECK(q[0].params.at(0) == "2000");
  CHECK(q[1].cache);
  CHECK_FALSE(q[1].prepared);
  CHECK(q[1].params == params);
  CHECK(q[1].text.rfind("SELECT ", 0) == 0);
  CHECK(q[1].text.find(" FROM customers WHERE ") != std::string::npos);
  CHECK(q[1].text.find(" LIMIT 6") != std::string::npos);  // one more than the page: is there a next one?
  // the audit log: the readable paths are the last parameter
  const auto& audit = protocols::audit_log_def();
  protocols::query_scope ascope{&audit, ~uint64_t{0}, scope.tenant_id, scope.cursor_key};
  auto aplan = protocols::plan_query("{}", ascope, protocols::query_caps{});
  REQUIRE(aplan);
  auto n = aplan->params.size();
  auto aq = storage::query_statements(audit, *aplan, "2000", std::vector<std::string>{"customers.name"});
  REQUIRE(aq[1].params.size() == n + 1);
  CHECK(aq[1].params.back() == R"({"customers.name"})");
  CHECK(aq[1].text.find(" FROM audit_logs WHERE ") != std::string::npos);
}
