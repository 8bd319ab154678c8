#include "actors/bus/signal_tail.hpp"

#include <hiredis/hiredis.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace crm::actors {

namespace {

constexpr int block_ms = 500;  // how soon stop() is seen
constexpr auto backoff_min = std::chrono::milliseconds(50);
constexpr auto backoff_max = std::chrono::milliseconds(2000);

redisReply* command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  return static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
}

} // namespace

signal_tail::signal_tail(std::string host, uint16_t port, std::string stream, signal_fn on_signal, event_fn on_event)
    : host_(std::move(host)), port_(port), stream_(std::move(stream)), on_signal_(std::move(on_signal)),
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
  auto backoff = backoff_min;
  while (!stopping_) {
    timeval connect_timeout{1, 0};
    redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, connect_timeout);
    if (!c || c->err) {
      if (on_event_) on_event_("bus.tail_connect_failed", c ? c->errstr : "no memory");
      if (c) redisFree(c);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, backoff_max);
      continue;
    }
    timeval read_timeout{block_ms / 1000 + 2, 0};  // longer than the BLOCK
    redisSetTimeout(c, read_timeout);
    if (last == "$") {  // pin "now" to an id, so a reconnect misses nothing in between
      if (auto* r = command(c, {"XREVRANGE", stream_, "+", "-", "COUNT", "1"})) {
        last = r->type == REDIS_REPLY_ARRAY && r->elements == 1 ? r->element[0]->element[0]->str : "0-0";
        freeReplyObject(r);
      }
    }
    backoff = backoff_min;
    while (!stopping_) {
      auto* r = command(c, {"XREAD", "COUNT", "100", "BLOCK", std::to_string(block_ms), "STREAMS", stream_, last});
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
            if (signal && on_signal_) {
              on_signal_(std::move(*signal));
              ++applied_;
            }
          }
        }
      }
      freeReplyObject(r);
    }
    if (!stopping_ && on_event_) on_event_("bus.tail_lost", c->errstr);
    redisFree(c);
  }
}

} // namespace crm::actors
