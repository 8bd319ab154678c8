#include "protocols/throttle.hpp"

#include <algorithm>

namespace crm::protocols {

int64_t throttle_wait(const throttle_policy& p, uint64_t failures, int64_t last, int64_t now) {
  if (failures < p.free_failures || now - last >= p.forget_after_s) return 0;
  auto steps = std::min<uint64_t>(failures - p.free_failures, 20);
  return std::max<int64_t>(0, last + std::min(p.max_delay_s, p.base_delay_s << steps) - now);
}

int64_t failure_throttle::retry_after(std::string_view key, int64_t now) const {
  auto it = entries_.find(std::string{key});
  if (it == entries_.end() || now - it->second.last >= policy_.forget_after_s) return 0;
  return std::max<int64_t>(0, it->second.blocked_until - now);
}

void failure_throttle::failed(std::string_view key, int64_t now) {
  if (entries_.size() >= policy_.max_keys) prune(now);
  auto& e = entries_[std::string{key}];
  if (e.failures > 0 && now - e.last >= policy_.forget_after_s) e = {};
  ++e.failures;
  e.last = now;
  e.blocked_until = now + throttle_wait(policy_, e.failures, now, now);
}

void failure_throttle::prune(int64_t now) {
  for (auto it = entries_.begin(); it != entries_.end();)
    it = now - it->second.last >= policy_.forget_after_s ? entries_.erase(it) : std::next(it);
  while (entries_.size() >= policy_.max_keys) {  // still full: drop the stalest
    auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                   [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
    entries_.erase(oldest);
  }
}

} // namespace crm::protocols
