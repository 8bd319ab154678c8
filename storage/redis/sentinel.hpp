// storage/redis/sentinel.hpp
// Where the Redis primary is (docs/CLUSTER.md, Redis Sentinel). Fixed: the
// configured address. With sentinels: a thread asks them
// (SENTINEL get-master-addr-by-name <name>, blocking hiredis with short
// timeouts, each sentinel in turn) every 250 ms; when the answer changes
// (a failover), `current()` says the new address and the change callback
// runs (on that thread): the connections move to the new primary.
#pragma once
#include "storage/redis/redis_client.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace crm::storage {

using redis_address = std::pair<std::string, uint16_t>;

class redis_locator {
public:
  // Always `fixed`.
  explicit redis_locator(redis_address fixed);
  // Asks `sentinels` for the primary named `master`.
  redis_locator(std::vector<redis_address> sentinels, std::string master, redis_event_fn on_event = {});
  ~redis_locator();
  redis_locator(const redis_locator&) = delete;
  redis_locator& operator=(const redis_locator&) = delete;

  // Sentinels: asks them once (up to ~1 s), then starts the watch thread.
  void start();
  void stop();
  redis_address current() const;
  bool watched() const { return !sentinels_.empty(); }
  // Runs on the watch thread after each change. Set before start().
  void on_change(std::function<void()> f) { changed_ = std::move(f); }

private:
  bool ask();  // true when a sentinel answered
  void run();
  std::vector<redis_address> sentinels_;
  std::string master_;
  redis_event_fn on_event_;
  std::function<void()> changed_;
  mutable std::mutex mutex_;
  redis_address current_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

} // namespace crm::storage
