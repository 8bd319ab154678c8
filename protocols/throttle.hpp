// protocols/throttle.hpp
// Failure throttling for logins (NIST SP 800-63B 5.2.2): after
// `free_failures` consecutive failures for a key (an account or a client
// address), each further attempt must wait, the wait doubling per failure
// up to `max_delay`. There is no permanent lockout from guessing alone; a
// success resets the key, and keys idle for `forget_after` are dropped. Pure:
// the clock comes in (unix seconds).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace crm::protocols {

struct throttle_policy {
  uint32_t free_failures = 5;
  int64_t base_delay_s = 1;
  int64_t max_delay_s = 900;
  int64_t forget_after_s = 3600;
  size_t max_keys = 100'000;  // memory bound; the oldest entries go first
};

// Seconds a key must still wait at `now` after `failures` consecutive
// failures, the last at `last` (0: it may try). The one rule of both the
// in-process throttle below and the cluster-wide counts in Redis
// (actors/guard/login_guard.cpp).
int64_t throttle_wait(const throttle_policy& p, uint64_t failures, int64_t last, int64_t now);

class failure_throttle {
public:
  explicit failure_throttle(throttle_policy p = {}) : policy_(p) {}

  // Seconds until `key` may try again; 0 when it may try now.
  int64_t retry_after(std::string_view key, int64_t now) const;
  void failed(std::string_view key, int64_t now);
  void succeeded(std::string_view key) { entries_.erase(std::string{key}); }
  size_t size() const { return entries_.size(); }

private:
  struct entry {
    uint32_t failures = 0;
    int64_t last = 0;
    int64_t blocked_until = 0;
  };
  void prune(int64_t now);
  throttle_policy policy_;
  std::unordered_map<std::string, entry> entries_;
};

} // namespace crm::protocols
