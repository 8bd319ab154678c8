// The cost of the query DSL layer alone (issue #5): parse + validate + SQL
// build per query, with and without a cursor, in microseconds. No I/O.
//   build/nextcrm_query_bench [iterations]
// Prints one line per shape: the median of 7 runs and the spread.
#include "protocols/access_profile.hpp"
#include "protocols/query.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace crm::protocols;

namespace {

double run(const std::string& body, const query_scope& scope, const query_caps& caps, size_t n) {
  size_t sink = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    auto plan = plan_query(body, scope, caps);
    if (!plan) {
      std::fprintf(stderr, "query refused: %s\n", to_string(plan.error()).c_str());
      std::exit(1);
    }
    sink += plan->where.size();
  }
  auto t1 = std::chrono::steady_clock::now();
  if (sink == 0) std::abort();
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / static_cast<double>(n);
}

} // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100'000;
  const auto& customers = *entity_by_path("customers");
  auto profiles = baseline_profiles();
  query_scope scope{&customers, profiles[0].entities[customers.index].read,  // admin
                    "6f1c2a4e-0000-4000-8000-000000000001", std::string(32, 'k')};
  query_caps caps;
  std::string body = R"({"filter":{"and":[{"field":"status","op":"eq","value":"active"},)"
                     R"({"field":"name","op":"starts_with","value":"Acme"}]},)"
                     R"("sort":[{"field":"created_at","dir":"desc"}],"page":{"size":50}})";
  auto first = plan_query(body, scope, caps);
  if (!first) return 1;
  auto cursor = make_cursor(*first, scope, {std::string{"2026-11-24T10:00:00.123456Z"},
                                            std::string{"6f1c2a4e-0000-4000-8000-0000000000aa"}});
  std::string paged = body.substr(0, body.size() - 2) + R"(,"after":")" + cursor + R"("}})";
  std::string wide = R"({"filter":{"or":[{"field":"status","op":"in","value":["lead","active"]},)"
                     R"({"and":[{"field":"annual_revenue","op":"between","value":["1000","5000"]},)"
                     R"({"not":{"field":"email","op":"is_null"}},{"field":"notes","op":"contains","value":"vip"}]}]},)"
                     R"("sort":[{"field":"name"},{"field":"email","dir":"desc"}],"fields":["id","name","email","status"]})";
  for (auto [label, text] : {std::pair{"status + name prefix, sort created_at desc, size 50", body},
                             std::pair{"the same with a cursor (HMAC check, keyset)", paged},
                             std::pair{"6 predicates, 2 sort keys, projection", wide}}) {
    std::vector<double> us;
    for (int r = 0; r < 7; ++r) us.push_back(run(text, scope, caps, n));
    std::sort(us.begin(), us.end());
    std::printf("%-55s median %.2f us/query (min %.2f, max %.2f; %zu x 7)\n", label, us[3], us.front(), us.back(), n);
  }
  return 0;
}
