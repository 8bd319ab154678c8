// actors/api/query_api.hpp
// Runs a query DSL body over the route's entity and answers the page (the
// lists of query_api.cpp and audit_api.cpp share it).
#pragma once
#include "actors/api/route_context.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace crm::actors {

void run_query(const route_context& c, std::string_view body);

// {"page":{"size":N,"after":"<cursor>"}} (no "after" when it is empty).
std::string page_body(size_t size, std::string_view after);

// The same with {"filter":{"and":[...]}} of the terms (field, op, value;
// an empty value for is_null / a "not" of it when op is "is_not_null").
struct filter_term {
  std::string field, op, value;
};
std::string page_body(size_t size, std::string_view after, const std::vector<filter_term>& terms);

} // namespace crm::actors
