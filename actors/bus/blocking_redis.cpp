#include "actors/bus/blocking_redis.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace crm::actors {

context_ptr connect_blocking(const redis_locate_fn& locate, int read_timeout_s, const std::atomic<bool>& stopping,
                             const std::function<void(std::string_view, std::string_view)>& on_event,
                             std::string_view failed_event) {
  auto backoff = std::chrono::milliseconds(50);
  while (!stopping) {
    auto [host, port] = locate();  // asked every time: a failover moves the primary
    timeval connect_timeout{1, 0};
    context_ptr c{redisConnectWithTimeout(host.c_str(), port, connect_timeout)};
    if (c && !c->err) {
      timeval read_timeout{read_timeout_s, 0};
      redisSetTimeout(c.get(), read_timeout);
      return c;
    }
    if (on_event) on_event(failed_event, c ? c->errstr : "no memory");
    for (auto left = backoff; left.count() > 0 && !stopping; left -= std::chrono::milliseconds(50))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
  return nullptr;
}

reply_ptr command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  return reply_ptr{static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()))};
}

std::string str(const redisReply* r) { return r && r->str ? std::string{r->str, r->len} : std::string{}; }

} // namespace crm::actors
