// Tests actors/node/health.cpp: the probe-round logic of health_state, called
// directly (no actor system, no clock).
#include "actors/node/health.hpp"
#include "actors/api/route_table.hpp"
#include "actors/front/system_routes.hpp"

#include <catch2/catch.hpp>

using namespace crm::actors;

namespace {
bool answer(health_state& st, bool health_status::*check, bool health_state::*answered, bool ok) {
  return st.record(check, answered, st.round, ok);
}
constexpr auto pg = &health_status::postgres;
constexpr auto redis = &health_status::redis;
constexpr auto pg_seen = &health_state::pg_answered;
constexpr auto redis_seen = &health_state::redis_answered;
} // namespace

TEST_CASE("health is unknown, hence down, until the first round is answered", "[actors][health]") {
  health_state st;
  CHECK(health_json(st.status) == R"({"status":"degraded","checks":{"postgres":"down","redis":"down"}})");
  st.begin_round();
  CHECK(answer(st, pg, pg_seen, true));
  CHECK_FALSE(st.status.known);
  CHECK(answer(st, redis, redis_seen, true));
  CHECK(st.status.known);
  CHECK(health_json(st.status) == R"({"status":"ok","checks":{"postgres":"ok","redis":"ok"}})");
}

TEST_CASE("a probe without an answer by the next round counts as down", "[actors][health]") {
  health_state st;
  st.begin_round();
  answer(st, pg, pg_seen, true);
  answer(st, redis, redis_seen, true);
  st.begin_round();                   // round 2: PostgreSQL hangs, Redis answers
  answer(st, redis, redis_seen, true);
  CHECK(st.status.postgres);          // not yet: its deadline is the next round
  st.begin_round();                   // round 3 starts: round 2's silence is judged
  CHECK_FALSE(st.status.postgres);
  CHECK(st.status.redis);
}

TEST_CASE("a failed probe is down at once and a late answer of an old round is ignored",
          "[actors][health]") {
  health_state st;
  st.begin_round();
  answer(st, pg, pg_seen, true);
  answer(st, redis, redis_seen, false);
  CHECK_FALSE(st.status.redis);
  auto old_round = st.round;
  st.begin_round();
  CHECK_FALSE(st.record(redis, redis_seen, old_round, true));  // stale: dropped
  CHECK_FALSE(st.status.redis);
  CHECK(st.record(redis, redis_seen, st.round, true));
  CHECK(st.status.redis);
}
