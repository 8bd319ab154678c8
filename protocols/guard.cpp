#include "protocols/guard.hpp"

#include "protocols/uuid.hpp"

#include <algorithm>

namespace crm::protocols {

namespace {

constexpr std::array<std::string_view, guard_metric_count> metric_names{
    "requests", "reads", "rows_read", "distinct_records", "writes", "deletes", "downloads"};

bool valid_scope(std::string_view s) {
  if (s.rfind("user:", 0) == 0) {
    auto id = s.substr(5);
    return is_uuid(id) && ascii_lower(id) == id;
  }
  if (s.rfind("profile:", 0) != 0) return false;
  auto name = s.substr(8);
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string policy_name(const guard_budget& b) {
  return std::string{metric_name(b.metric)} + '-' + std::to_string(b.window_s);
}

} // namespace

std::string_view metric_name(guard_metric m) { return metric_names.at(static_cast<size_t>(m)); }

std::optional<guard_metric> metric_of(std::string_view name) {
  for (size_t i = 0; i < metric_names.size(); ++i)
    if (metric_names[i] == name) return static_cast<guard_metric>(i);
  return std::nullopt;
}

std::optional<guard_budget> read_guard_budget(json_body& body) {
  body.allow_only("", {"scope", "metric", "window_s", "warn", "block"});
  guard_budget b;
  auto scope = body.string("scope", {true, 6, 80});
  if (scope && !valid_scope(*scope))
    body.add_error("scope", "format", "scope is profile:<name> or user:<lower-case uuid>");
  auto metric = body.string("metric", {true, 1, 40});
  std::optional<guard_metric> m;
  if (metric && !(m = metric_of(*metric)))
    body.add_error("metric", "choice",
                   "metric is one of requests, reads, rows_read, distinct_records, writes, deletes, downloads");
  auto window = body.integer("window_s", true, 1, guard_max_window_s);
  auto warn = body.integer("warn", true, 1, guard_max_threshold);
  auto block = body.integer("block", true, 1, guard_max_threshold);
  if (warn && block && *block < *warn) body.add_error("block", "range", "block must not be below warn");
  if (!body.errors().empty()) return std::nullopt;
  b.scope = *scope;
  b.metric = *m;
  b.window_s = *window;
  b.warn = *warn;
  b.block = *block;
  return b;
}

std::vector<guard_budget> binding_budgets(const std::vector<guard_budget>& all, std::string_view user_id,
                                          std::string_view profile) {
  std::string user_scope = "user:" + std::string{user_id};
  std::string profile_scope = "profile:" + std::string{profile};
  std::array<bool, guard_metric_count> own{};
  for (const auto& b : all)
    if (b.scope == user_scope) own[static_cast<size_t>(b.metric)] = true;
  std::vector<guard_budget> out;
  for (const auto& b : all) {
    bool mine = b.scope == user_scope;
    bool profiles = b.scope == profile_scope && !own[static_cast<size_t>(b.metric)];
    if (mine || profiles) out.push_back(b);
  }
  return out;
}

window_buckets buckets_of(int64_t window_s) {
  int64_t window_ms = std::clamp<int64_t>(window_s, 1, guard_max_window_s) * 1000;
  int64_t bucket_ms = (window_ms + guard_buckets_per_window - 1) / guard_buckets_per_window;
  // the newest bucket is partial: one more than the window divides into
  return {bucket_ms, window_ms / bucket_ms + 1};
}

guard_level level_of(const guard_budget& b, int64_t observed) {
  if (observed > b.block) return guard_level::block;
  if (observed > b.warn) return guard_level::warn;
  return guard_level::none;
}

std::string ratelimit_policy(const guard_budget& b) {
  return '"' + policy_name(b) + "\";q=" + std::to_string(b.block) + ";w=" + std::to_string(b.window_s);
}

std::pair<std::string, std::string> ratelimit_state_parts(const guard_budget& b) {
  return {'"' + policy_name(b) + "\";r=", ";t=" + std::to_string(b.window_s)};
}

std::string ratelimit_state(const guard_budget& b, int64_t observed) {
  auto [head, tail] = ratelimit_state_parts(b);
  return head + std::to_string(std::max<int64_t>(0, b.block - observed)) + tail;
}

size_t tightest_budget(const std::vector<guard_budget>& budgets, const std::vector<int64_t>& observed) {
  size_t best = budgets.size();
  double least = 2.0;
  for (size_t i = 0; i < budgets.size() && i < observed.size(); ++i) {
    const auto& b = budgets[i];
    double left = static_cast<double>(std::max<int64_t>(0, b.block - observed[i]));
    double share = left / static_cast<double>(std::max<int64_t>(1, b.block));
    if (share < least) {
      best = i;
      least = share;
    }
  }
  return best;
}

bool baseline_exceeded(const baseline_rule& r, double mean, int64_t periods, int64_t current) {
  if (periods < r.min_periods || current <= r.floor) return false;
  return static_cast<double>(current) > r.factor * mean;
}

} // namespace crm::protocols
