// protocols/guard.hpp
// The CRM Guard's rules (Block 6, docs/GUARD.md): metrics, budgets and which
// of them bind a user, the sliding window's buckets, levels, the IETF
// RateLimit headers and the baseline test. The budget actors
// (actors/guard/budget.cpp) count and act; what counts as "past" lives here.
// Pure.
#pragma once
#include "protocols/json_body.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm::protocols {

// requests: calls admitted; reads: read calls (a record, a page);
// rows_read: records returned; distinct_records: distinct record ids
// returned; writes: records created or changed; deletes; downloads:
// content tokens redeemed.
enum class guard_metric : uint8_t { requests, reads, rows_read, distinct_records, writes, deletes, downloads };
inline constexpr size_t guard_metric_count = 7;

std::string_view metric_name(guard_metric m);
std::optional<guard_metric> metric_of(std::string_view name);

struct guard_budget {
  std::string id;
  std::string scope;  // "profile:<name>" or "user:<uuid>"
  guard_metric metric = guard_metric::requests;
  int64_t window_s = 60;
  int64_t warn = 0;   // past it: the call succeeds with X-Guard: warn, one incident per window
  int64_t block = 0;  // past it: 403 guard.blocked, the user locked, every session revoked
};

inline constexpr int64_t guard_max_window_s = 86400;
inline constexpr int64_t guard_max_threshold = 1'000'000'000'000;

// The body of POST /api/v1/guard/budgets and PUT /{id}: scope, metric,
// window_s, warn, block (warn <= block). nullopt with every problem recorded
// in `body` when it is not valid.
std::optional<guard_budget> read_guard_budget(json_body& body);

// The budgets that bind `user_id` of profile `profile`, from all of the
// tenant's: per metric, the user's own budgets when it has any, else its
// profile's (ADR-0048).
std::vector<guard_budget> binding_budgets(const std::vector<guard_budget>& all, std::string_view user_id,
                                          std::string_view profile);

// The sliding window over `window_s` (ADR-0049): counts go into buckets of
// `bucket_ms`; the observed value is the sum of the newest `buckets`
// buckets, the current one included, so it covers at least the window and
// at most one bucket more (a burst is never split by a boundary).
struct window_buckets {
  int64_t bucket_ms = 1000;
  int64_t buckets = 1;
};
inline constexpr int64_t guard_buckets_per_window = 20;
window_buckets buckets_of(int64_t window_s);

enum class guard_level : uint8_t { none, warn, block };
// block when observed > block, warn when observed > warn.
guard_level level_of(const guard_budget& b, int64_t observed);

// IETF draft-ietf-httpapi-ratelimit-headers. A budget is the policy
// "<metric>-<window_s>" with quota q = block and window w; the answers name
// the binding budget with the least room left (the nearest wall):
// RateLimit-Policy: "requests-60";q=6000;w=60 and RateLimit:
// "requests-60";r=12;t=60 (r = room left before block; t = the window: a
// sliding window frees room gradually, the whole window is the honest
// upper bound).
std::string ratelimit_policy(const guard_budget& b);
std::string ratelimit_state(const guard_budget& b, int64_t observed);
// The same around r, for callers that format it per call: {"\"<name>\";r=", ";t=<window>"}.
std::pair<std::string, std::string> ratelimit_state_parts(const guard_budget& b);
// The index of the budget with the least room left (share of its block),
// or budgets.size() when there is none.
size_t tightest_budget(const std::vector<guard_budget>& budgets, const std::vector<int64_t>& observed);

// The per-user baseline (ADR-0050): an exponentially weighted mean of a
// metric per period. A period far above it (past factor x mean and past
// floor) is a warn once `periods` of history exist.
struct baseline_rule {
  int64_t period_s = 3600;
  int64_t min_periods = 24;
  double factor = 10.0;
  int64_t floor = 1000;
  double alpha = 0.2;  // weight of the newest period
};
bool baseline_exceeded(const baseline_rule& r, double mean, int64_t periods, int64_t current);

} // namespace crm::protocols
