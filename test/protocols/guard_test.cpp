// Tests protocols/guard.cpp: budget bodies, which budgets bind a user (a
// user's own override its profile's per metric), the sliding window's
// buckets, levels, the RateLimit headers and the baseline rule; and the
// throttle rule the cluster-wide login counts share (protocols/throttle.cpp).
#include "protocols/guard.hpp"
#include "protocols/throttle.hpp"

#include <catch2/catch.hpp>

using namespace crm::protocols;

namespace {

guard_budget budget(std::string scope, guard_metric m, int64_t window, int64_t warn, int64_t block) {
  guard_budget b;
  b.id = scope + "/" + std::string{metric_name(m)};
  b.scope = std::move(scope);
  b.metric = m;
  b.window_s = window;
  b.warn = warn;
  b.block = block;
  return b;
}

const std::string user = "5b1f0c56-9d2a-4c1e-8f3a-0a1b2c3d4e5f";

} // namespace

TEST_CASE("a budget body is read whole or refused with every problem", "[protocols][guard]") {
  json_body ok{R"({"scope":"profile:sales_rep","metric":"rows_read","window_s":3600,"warn":10,"block":20})"};
  auto b = read_guard_budget(ok);
  REQUIRE(b);
  CHECK(b->metric == guard_metric::rows_read);
  CHECK(b->window_s == 3600);
  json_body bad{R"({"scope":"user:NOT-A-UUID","metric":"bytes","window_s":0,"warn":5,"block":4,"x":1})"};
  CHECK_FALSE(read_guard_budget(bad));
  std::vector<std::string> fields;
  for (const auto& e : bad.errors()) fields.push_back(e.field);
  CHECK(fields == std::vector<std::string>{"x", "scope", "metric", "window_s", "block"});
  json_body order{R"({"scope":"profile:viewer","metric":"requests","window_s":60,"warn":50,"block":10})"};
  CHECK_FALSE(read_guard_budget(order));
  REQUIRE(order.errors().size() == 1);
  CHECK(order.errors()[0].field == "block");
  json_body fraction{R"({"scope":"profile:viewer","metric":"requests","window_s":60.5,"warn":1,"block":1})"};
  CHECK_FALSE(read_guard_budget(fraction));
  json_body upper{R"({"scope":"user:5B1F0C56-9D2A-4C1E-8F3A-0A1B2C3D4E5F","metric":"requests","window_s":60,"warn":1,"block":1})"};
  CHECK_FALSE(read_guard_budget(upper));
}

TEST_CASE("a user's own budget overrides its profile's for that metric only", "[protocols][guard]") {
  std::vector<guard_budget> all{budget("profile:sales_rep", guard_metric::requests, 60, 10, 20),
                                budget("profile:sales_rep", guard_metric::rows_read, 3600, 100, 200),
                                budget("profile:viewer", guard_metric::requests, 60, 1, 2),
                                budget("user:" + user, guard_metric::requests, 10, 500, 900)};
  auto mine = binding_budgets(all, user, "sales_rep");
  REQUIRE(mine.size() == 2);
  CHECK(mine[0].scope == "profile:sales_rep");
  CHECK(mine[0].metric == guard_metric::rows_read);
  CHECK(mine[1].scope == "user:" + user);
  auto other = binding_budgets(all, "00000000-0000-4000-8000-000000000000", "sales_rep");
  REQUIRE(other.size() == 2);
  CHECK(other[0].metric == guard_metric::requests);
  CHECK(other[0].warn == 10);
  CHECK(binding_budgets(all, user, "nobody").size() == 1);
}

TEST_CASE("the window's buckets cover the whole window and at most one bucket more", "[protocols][guard]") {
  for (int64_t w : {1, 2, 7, 60, 61, 3600, 86400}) {
    auto b = buckets_of(w);
    CHECK(b.bucket_ms * (b.buckets - 1) <= w * 1000);
    CHECK(b.bucket_ms * b.buckets >= w * 1000);
    CHECK(b.buckets <= guard_buckets_per_window + 1);
  }
  // a burst straddling a fixed-window boundary falls into buckets that are
  // summed together: both halves stay inside the newest `buckets`
  auto b = buckets_of(10);
  int64_t before = 9'900 / b.bucket_ms, after = 10'100 / b.bucket_ms;
  CHECK(after - before < b.buckets);
}

TEST_CASE("levels: past warn, past block", "[protocols][guard]") {
  auto b = budget("profile:x", guard_metric::requests, 60, 10, 20);
  CHECK(level_of(b, 10) == guard_level::none);
  CHECK(level_of(b, 11) == guard_level::warn);
  CHECK(level_of(b, 20) == guard_level::warn);
  CHECK(level_of(b, 21) == guard_level::block);
}

TEST_CASE("RateLimit headers name the budget with the least room left", "[protocols][guard]") {
  std::vector<guard_budget> bs{budget("profile:x", guard_metric::requests, 60, 10, 100),
                               budget("profile:x", guard_metric::rows_read, 3600, 10, 1000)};
  CHECK(ratelimit_policy(bs[0]) == R"("requests-60";q=100;w=60)");
  CHECK(tightest_budget(bs, {10, 950}) == 1);
  CHECK(ratelimit_state(bs[1], 950) == R"("rows_read-3600";r=50;t=3600)");
  CHECK(tightest_budget(bs, {99, 0}) == 0);
  CHECK(ratelimit_state(bs[0], 99) == R"("requests-60";r=1;t=60)");
  CHECK(ratelimit_state(bs[0], 500) == R"("requests-60";r=0;t=60)");
  CHECK(tightest_budget({}, {}) == 0);
}

TEST_CASE("the baseline warns only with history, past the floor and far above the mean", "[protocols][guard]") {
  baseline_rule r{3600, 3, 5.0, 20, 0.2};
  CHECK_FALSE(baseline_exceeded(r, 10.0, 2, 1000));  // not enough history
  CHECK_FALSE(baseline_exceeded(r, 10.0, 3, 20));    // under the floor
  CHECK_FALSE(baseline_exceeded(r, 10.0, 3, 50));    // 5x, not past it
  CHECK(baseline_exceeded(r, 10.0, 3, 51));
}

TEST_CASE("the throttle rule: free failures, doubling waits, forgotten when idle", "[protocols][guard][throttle]") {
  throttle_policy p{3, 1, 8, 60, 100};
  CHECK(throttle_wait(p, 2, 1000, 1000) == 0);
  CHECK(throttle_wait(p, 3, 1000, 1000) == 1);
  CHECK(throttle_wait(p, 4, 1000, 1000) == 2);
  CHECK(throttle_wait(p, 4, 1000, 1001) == 1);
  CHECK(throttle_wait(p, 30, 1000, 1000) == 8);
  CHECK(throttle_wait(p, 30, 1000, 1060) == 0);
}
