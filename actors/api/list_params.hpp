// actors/api/list_params.hpp
// The one paging story of every GET list (records, audit log, users):
// `?limit=N` (1 to the list's maximum, its default when absent) and
// `?after=<next_cursor of the previous page>`; any other parameter, or one
// given twice, is a 422 naming it (never silently ignored). Each answer
// carries "page": {"size", "next_cursor"}.
#pragma once
#include "protocols/json_body.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace crm::actors {

struct list_params {
  size_t limit = 0;
  std::string after;                          // "" = the first page
  std::map<std::string, std::string> extra;  // the list's own filters (audit: entity, entity_id)
};

// Reads `query` (the raw query string). `filters` names the list's own
// parameters besides limit and after. Errors are recorded in `errors`
// (field = the parameter's name).
list_params read_list_params(std::string_view query, size_t default_limit, size_t max_limit,
                             const std::set<std::string>& filters, protocols::json_body& errors);

// The decoded pairs of a query string ("a=1&b=x%20y"), in order.
std::vector<std::pair<std::string, std::string>> query_pairs(std::string_view query);

} // namespace crm::actors
