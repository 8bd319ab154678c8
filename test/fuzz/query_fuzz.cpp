// test/fuzz/query_fuzz.cpp
// libFuzzer target for protocols/query.cpp (built and run by
// test/fuzz/run_fuzz.sh query). Each input is used
//  1. as a query body for every entity (and the audit log), with three
//     access profiles and two sets of caps;
//  2. as a cursor (page.after);
//  3. as a filter value;
//  4. as the sort-key values of a cursor this process signs, replayed.
// It must never crash, and every plan must keep the invariant of
// test/support/query_sql_check.hpp: WHERE and ORDER BY made only of registry
// names, casts, keywords, operators and $n, every $n bound, the tenant $1.
// Any violation is a __builtin_trap() (a crash to libFuzzer).
#include "protocols/json_writer.hpp"
#include "protocols/problem.hpp"
#include "protocols/query.hpp"
#include "support/query_sql_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace crm::protocols;

namespace {

const std::string tenant = "7d3c9a4e-0000-4000-8000-00000000aaaa";
const std::string key = "fuzz-cursor-key-0123456789abcdef";

void require(bool ok) {
  if (!ok) __builtin_trap();
}

uint64_t bit(const entity_def& e, std::string_view name) {
  int i = e.field_index(name);
  return i < 0 ? 0 : uint64_t{1} << i;
}

// Every entity with: every field readable, none (id only), and a patchy
// profile without the creation time.
const std::vector<query_scope>& scopes() {
  static const auto all = [] {
    std::vector<const entity_def*> entities;
    for (const auto& e : entity_registry()) entities.push_back(&e);
    entities.push_back(&audit_log_def());
    std::vector<query_scope> out;
    for (const auto* e : entities) {
      uint64_t every = (uint64_t{1} << e->fields.size()) - 1;
      for (uint64_t mask : {every, uint64_t{0}, every & 0x5555555555555555u & ~bit(*e, "created_at") & ~bit(*e, "at")})
        out.push_back({e, mask, tenant, key});
    }
    return out;
  }();
  return all;
}

query_caps tight_caps() {
  query_caps c;
  c.default_page = 2;
  c.max_page = 5;
  c.max_predicates = 3;
  c.max_depth = 2;
  c.max_in = 2;
  c.max_sort = 1;
  return c;
}

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// Plans `body` and checks the invariants of a plan, or of a refusal.
caf::expected<query_plan> checked(std::string_view body, const query_scope& s, const query_caps& caps) {
  auto r = plan_query(body, s, caps);
  if (!r) {
    auto p = to_problem(r.error());
    require(p.kind.status == 400);
    require(p.kind.code == "request.malformed_json" || p.kind.code.substr(0, 6) == "query.");
    require(!p.detail.empty());
    return r;
  }
  const auto& e = *s.entity;
  require(crm::test::plan_is_safe(*r, s));
  require(r->page_size >= 1 && r->page_size <= caps.max_page);
  uint64_t id = bit(e, "id");
  require((r->fields & id) != 0 && (r->fields & ~(s.readable | id)) == 0);
  require(r->fingerprint.size() == 64);
  require(r->sort.size() <= caps.max_sort + 1);
  for (const auto& k : r->sort) require(k.field == static_cast<size_t>(e.field_index("id")) || (s.readable >> k.field & 1));
  // each predicate binds at most three values (starts_with: range + pattern), each sort key at most one
  require(r->params.size() <= 1 + 3 * caps.max_predicates + r->sort.size());
  for (size_t i = 1; i < r->params.size(); ++i) require(r->params[i].has_value());
  return r;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  const query_caps defaults{}, tight = tight_caps();

  // 1. the bytes as a body
  for (const auto& s : scopes()) {
    checked(input, s, defaults);
    checked(input, s, tight);
  }

  const auto& customers = scopes()[0];

  // 2. the bytes as a cursor: never one this process signed
  {
    auto r = checked(R"({"page":{"after":)" + json_string(input) + "}}", customers, defaults);
    require(!r && to_problem(r.error()).kind.code == "query.bad_cursor");
  }

  // 3. the bytes as a filter value: bound as written, the SQL fixed
  if (is_valid_utf8(input)) {
    auto r = checked(R"({"filter":{"field":"name","op":"eq","value":)" + json_string(input) + "}}", customers, defaults);
    bool fits = input.size() <= 1024 && input.find('\0') == std::string_view::npos;
    require(static_cast<bool>(r) == fits);
    if (r) {
      require(r->where == "tenant_id = $1 AND (name = $2::text)");
      require(r->params.size() == 2 && r->params[1] == std::string{input});
    }
  }

  // 4. the bytes as the sort-key values of a signed cursor ('\n' separates
  //    values, a lone "~" is NULL), for a sort the first byte picks
  if (size > 0) {
    static const char* const sorts[] = {
        "{}",
        R"({"sort":[{"field":"email"}]})",
        R"({"sort":[{"field":"email","dir":"desc"},{"field":"name"}]})",
        R"({"sort":[{"field":"owner_id"},{"field":"version","dir":"desc"},{"field":"notes"}]})",
        R"({"sort":[{"field":"id"}]})",
        R"({"filter":{"field":"name","op":"contains","value":"x"},"sort":[{"field":"annual_revenue","dir":"desc"}]})",
    };
    const std::string body = sorts[data[0] % (sizeof sorts / sizeof sorts[0])];
    auto first = checked(body, customers, defaults);
    require(static_cast<bool>(first));
    std::vector<std::optional<std::string>> values;
    for (auto& v : split(input.substr(1), '\n')) {
      if (v == "~") values.emplace_back(std::nullopt);
      else values.emplace_back(std::move(v));
    }
    auto cursor = make_cursor(*first, customers, values);
    std::string next_body = body;
    next_body.pop_back();
    next_body += std::string{body.size() > 2 ? "," : ""} + R"("page":{"size":3,"after":)" + json_string(cursor) + "}}";
    auto next = checked(next_body, customers, defaults);
    // stored text never holds a NUL, so no real cursor does: one that does is refused
    bool nul = std::any_of(values.begin(), values.end(),
                           [](const auto& v) { return v && v->find('\0') != std::string::npos; });
    // a cursor past the 8 KiB a query accepts back is refused (long sort
    // values; see the closing note of issue 10: long text sort keys)
    bool too_long = cursor.size() > 8192;
    if (values.size() != first->sort.size() || nul || too_long) {
      require(!next && to_problem(next.error()).kind.code == "query.bad_cursor");
    } else {
      require(static_cast<bool>(next));
      require(next->fingerprint == first->fingerprint);
      require(next->page_size == 3);
      // the non-null values are the last parameters, in order (when they
      // survive the JSON writer unchanged)
      size_t bound = 0;
      for (const auto& v : values) bound += v.has_value();
      require(next->params.size() == first->params.size() + bound);
      size_t at = first->params.size();
      for (const auto& v : values) {
        if (!v) continue;
        if (is_valid_utf8(*v)) require(next->params[at] == *v);
        ++at;
      }
    }
    // the same cursor for another tenant is refused
    auto other = customers;
    other.tenant_id = "7d3c9a4e-0000-4000-8000-00000000bbbb";
    auto r = checked(next_body, other, defaults);
    require(!r && to_problem(r.error()).kind.code == "query.bad_cursor");
  }
  return 0;
}
