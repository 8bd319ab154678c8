#include "actors/api/list_params.hpp"

#include "protocols/hex.hpp"

#include <algorithm>
#include <charconv>

namespace crm::actors {

namespace {

std::string percent_decode(std::string_view raw) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '+') out += ' ';
    else if (raw[i] == '%' && i + 2 < raw.size() && protocols::hex_digit(raw[i + 1]) >= 0 &&
             protocols::hex_digit(raw[i + 2]) >= 0) {
      out += static_cast<char>(protocols::hex_digit(raw[i + 1]) * 16 + protocols::hex_digit(raw[i + 2]));
      i += 2;
    } else out += raw[i];
  }
  return out;
}

} // namespace

std::vector<std::pair<std::string, std::string>> query_pairs(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    out.emplace_back(percent_decode(pair.substr(0, eq)), percent_decode(value));
  }
  return out;
}

list_params read_list_params(std::string_view query, size_t default_limit, size_t max_limit,
                             const std::set<std::string>& filters, protocols::json_body& errors) {
  list_params out;
  out.limit = default_limit;
  std::set<std::string> seen;
  for (auto& [name, value] : query_pairs(query)) {
    // names are echoed in the error: printable ASCII only, and short
    bool printable = name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char ch) {
                       return ch > ' ' && ch < 127;
                     });
    auto field = printable ? name : std::string{"(parameter)"};
    if (!seen.insert(name).second) {
      errors.add_error(field, "duplicate", field + " is given more than once");
      continue;
    }
    if (name == "limit") {
      size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc{} || end != value.data() + value.size() || n < 1 || n > max_limit)
        errors.add_error("limit", "range", "limit must be an integer from 1 to " + std::to_string(max_limit));
      else
        out.limit = n;
    } else if (name == "after") {
      if (value.empty()) errors.add_error("after", "required", "after must be the next_cursor of a page");
      out.after = std::move(value);
    } else if (filters.count(name)) {
      out.extra[name] = std::move(value);
    } else {
      std::string supported = "limit, after";
      for (const auto& f : filters) supported += ", " + f;
      errors.add_error(field, "unknown", field + " is not a parameter of this list (" + supported + ")");
    }
  }
  return out;
}

} // namespace crm::actors
