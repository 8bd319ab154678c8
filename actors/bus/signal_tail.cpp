#include "actors/bus/signal_tail.hpp"

#include "actors/bus/blocking_redis.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace crm::actors {

namespace {

constexpr int block_ms = 500;  // how soon stop() is seen

} // namespace

signal_tail::signal_tail(redis_locate_fn locate, std::string stream, signal_fn on_signal, event_fn on_event)
    : locate_(std::move(locate)), stream_(std::move(stream)), on_signal_(std::move(on_signal)),
      on_event_(std::move(on_event)) {}

signal_tail::~signal_tail() { stop(); }

void signal_tail::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread{[this] {
    pthread_setname_np(pthread_self(), "nx-bus-tail");
    run();
  }};
}

void signal_tail::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void signal_tail::run() {
  std::string last = "$";  // from the start of this node: earlier changes are in PostgreSQL already
  while (!stopping_) {
    auto conn = connect_blocking(locate_, block_ms / 1000 + 2, stopping_, on_event_, "bus.tail_connect_failed");
    if (!conn) break;
    redisContext* c = conn.get();
    if (last == "$") {  // pin "now" to an id, so a reconnect misses nothing in between
      if (auto r = command(c, {"XREVRANGE", stream_, "+", "-", "COUNT", "1"})) {
        last = r->type == REDIS_REPLY_ARRAY && r->elements == 1 ? str(r->element[0]->element[0]) : "0-0";
      }
    }
    while (!stopping_) {
      auto r = command(c, {"XREAD", "COUNT", "100", "BLOCK", std::to_string(block_ms), "STREAMS", stream_, last});
      if (!r) break;  // connection lost
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        auto* entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; ++i) {
          auto* entry = entries->element[i];
          last = entry->element[0]->str;
          auto* fields = entry->element[1];
          for (size_t f = 0; f + 1 < fields->elements; f += 2) {
            if (std::string_view{fields->element[f]->str, fields->element[f]->len} != "envelope") continue;
            auto signal = protocols::signal_of({fields->element[f + 1]->str, fields->element[f + 1]->len});
            if (signal && on_signal_) on_signal_(std::move(*signal));
          }
        }
      }
    }
    if (!stopping_ && on_event_) on_event_("bus.tail_lost", c->errstr);
  }
}

} // namespace crm::actors
