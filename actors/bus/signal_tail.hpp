// actors/bus/signal_tail.hpp
// The cross-node signals (Block 8): every node tails the event stream from
// the moment it starts (XREAD BLOCK on a connection and a thread of its own:
// a blocking read must not share the command connection, IO-NOTES 3.2) and
// hands the envelopes that change live state (protocols/nxp.hpp: a revoked
// session, a locked or changed user, a changed access profile) to
// `on_signal`. Its own node's changes come back too; applying them twice is
// harmless (they only drop cached state). Reconnects with backoff and
// resumes after the last entry it saw.
#pragma once
#include "actors/bus/blocking_redis.hpp"
#include "protocols/nxp.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace crm::actors {

class signal_tail {
public:
  using signal_fn = std::function<void(protocols::nxp_signal)>;
  using event_fn = std::function<void(std::string_view event, std::string_view detail)>;

  signal_tail(redis_locate_fn locate, std::string stream, signal_fn on_signal, event_fn on_event = {});
  ~signal_tail();
  signal_tail(const signal_tail&) = delete;
  signal_tail& operator=(const signal_tail&) = delete;

  void start();
  void stop();  // returns within one BLOCK period

private:
  void run();

  redis_locate_fn locate_;
  std::string stream_;
  signal_fn on_signal_;
  event_fn on_event_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

} // namespace crm::actors
