// actors/bus/blocking_redis.hpp
// A blocking hiredis connection for the stream readers that own a thread
// (signal_tail, group_consumer): connect with backoff until it succeeds or
// `stopping` is set, and argv commands with owned replies. Never used on an
// Asio thread or an actor (IO-NOTES 3.2: blocking reads need their own
// connection and thread).
#pragma once
#include <hiredis/hiredis.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm::actors {

struct reply_deleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

struct context_deleter {
  void operator()(redisContext* c) const {
    if (c) redisFree(c);
  }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

// Where the Redis primary is now (storage/redis/sentinel.hpp: fixed, or
// what the sentinels say).
using redis_locate_fn = std::function<std::pair<std::string, uint16_t>()>;

// Connects to where `locate` says (asked before every attempt; 1 s timeout,
// reads time out after `read_timeout_s`), retrying with exponential backoff
// (50 ms to 2 s) and reporting each failure as `failed_event`; null only
// when `stopping` was set.
context_ptr connect_blocking(const redis_locate_fn& locate, int read_timeout_s, const std::atomic<bool>& stopping,
                             const std::function<void(std::string_view, std::string_view)>& on_event,
                             std::string_view failed_event);

// One command; null when the connection is lost.
reply_ptr command(redisContext* c, const std::vector<std::string>& argv);

// The string of a reply element ("" for none).
std::string str(const redisReply* r);

} // namespace crm::actors
