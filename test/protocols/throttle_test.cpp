// Tests protocols/throttle.cpp: growing delays, reset on success, no
// permanent lockout, bounded memory.
#include "protocols/throttle.hpp"

#include <catch2/catch.hpp>

using crm::protocols::failure_throttle;
using crm::protocols::throttle_policy;

TEST_CASE("the first failures are free, then the wait doubles up to the cap", "[protocols][throttle]") {
  failure_throttle t{throttle_policy{3, 1, 8, 3600, 100}};
  int64_t now = 1000;
  t.failed("a", now);
  t.failed("a", now);
  CHECK(t.retry_after("a", now) == 0);
  t.failed("a", now);                      // third failure: wait 1 s
  CHECK(t.retry_after("a", now) == 1);
  CHECK(t.retry_after("a", now + 1) == 0);
  t.failed("a", now + 1);                  // then 2, 4, 8, 8 ...
  CHECK(t.retry_after("a", now + 1) == 2);
  t.failed("a", now + 3);
  CHECK(t.retry_after("a", now + 3) == 4);
  t.failed("a", now + 7);
  t.failed("a", now + 15);
  CHECK(t.retry_after("a", now + 15) == 8);
  CHECK(t.retry_after("b", now + 15) == 0);  // keys are independent
}

TEST_CASE("success resets a key and idle keys are forgotten", "[protocols][throttle]") {
  failure_throttle t{throttle_policy{1, 10, 100, 60, 100}};
  t.failed("a", 0);
  CHECK(t.retry_after("a", 0) == 10);
  t.succeeded("a");
  CHECK(t.retry_after("a", 0) == 0);
  t.failed("b", 0);
  CHECK(t.retry_after("b", 5) == 5);
  CHECK(t.retry_after("b", 61) == 0);  // never a permanent lockout
  t.failed("b", 61);                   // counting starts over
  CHECK(t.retry_after("b", 61) == 10);
}

TEST_CASE("memory stays bounded under a spray of keys", "[protocols][throttle]") {
  failure_throttle t{throttle_policy{5, 1, 900, 3600, 50}};
  for (int i = 0; i < 1000; ++i) t.failed(std::to_string(i) + "k", i);  // ("k" + ... trips GCC 12's -Wrestrict)
  CHECK(t.size() <= 50);
  CHECK(t.retry_after("999k", 999) == 0);  // one failure only: still free
}
