#include "storage/redis/sentinel.hpp"

#include <hiredis/hiredis.h>
#include <pthread.h>

#include <chrono>

namespace crm::storage {

redis_locator::redis_locator(redis_address fixed) : current_(std::move(fixed)) {}

redis_locator::redis_locator(std::vector<redis_address> sentinels, std::string master, redis_event_fn on_event)
    : sentinels_(std::move(sentinels)), master_(std::move(master)), on_event_(std::move(on_event)) {}

redis_locator::~redis_locator() { stop(); }

redis_address redis_locator::current() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return current_;
}

bool redis_locator::ask() {
  for (const auto& [host, port] : sentinels_) {
    timeval tv{0, 200'000};
    redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
    if (!c || c->err) {
      if (c) redisFree(c);
      continue;
    }
    redisSetTimeout(c, tv);
    const char* argv[] = {"SENTINEL", "get-master-addr-by-name", master_.c_str()};
    size_t lens[] = {8, 23, master_.size()};
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, 3, argv, lens));
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
              r->element[1]->type == REDIS_REPLY_STRING;
    redis_address found;
    if (ok) {
      found.first.assign(r->element[0]->str, r->element[0]->len);
      try {
        found.second = static_cast<uint16_t>(std::stoi(std::string{r->element[1]->str, r->element[1]->len}));
      } catch (...) {
        ok = false;
      }
    }
    if (r) freeReplyObject(r);
    redisFree(c);
    if (!ok) continue;
    bool moved = false;
    {
      std::lock_guard<std::mutex> lock{mutex_};
      moved = !current_.first.empty() && found != current_;
      current_ = found;
    }
    if (moved) {
      if (on_event_) on_event_("redis.primary_moved", found.first + ":" + std::to_string(found.second));
      if (changed_) changed_();
    }
    return true;
  }
  return false;
}

void redis_locator::start() {
  if (sentinels_.empty() || thread_.joinable()) return;
  stopping_ = false;
  for (int i = 0; i < 5 && !ask(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "nx-sentinel");
    run();
  });
}

void redis_locator::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void redis_locator::run() {
  bool reachable = true;
  while (!stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (stopping_) break;
    bool now = ask();
    if (now != reachable && on_event_)  // said once per change, not every 250 ms
      on_event_(now ? "redis.sentinels_reachable" : "redis.sentinels_unreachable", master_);
    reachable = now;
  }
}

} // namespace crm::storage
