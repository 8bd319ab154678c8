// actors/bus/group_consumer.hpp
// A consumer group on the event stream (Block 8, ADR-0046), on a Redis
// connection and a thread of its own (XREADGROUP BLOCKs) reading new
// entries (>). `handle` gets a batch and answers, per entry, "" (done: XACK) or why
// it failed (left pending). Its own failures it reads again from its pending
// list after a backoff (250 ms doubling up to `claim_every`); every
// `claim_every` it takes over entries idle longer than `min_idle` (a dead
// consumer's) with XAUTOCLAIM; an entry delivered more than `max_deliveries` times goes to
// `<stream>:dead` with its envelope, group and last reason, and is
// acknowledged, so the stream keeps flowing behind a poison event. The
// group starts at the end of the stream when it is created (only new
// events); `replay_from` (an entry id) moves it back (XGROUP SETID).
// Handlers must be idempotent on the envelope id: delivery is at least once.
#pragma once
#include "actors/bus/blocking_redis.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace crm::actors {

struct stream_entry {
  std::string id;        // the stream entry id
  std::string envelope;  // the NXP envelope JSON
};

struct consumer_stats {
  std::atomic<uint64_t> handled{0};       // entries acknowledged after their effect
  std::atomic<uint64_t> failed{0};        // handler failures (retried)
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<int64_t> lag{0};            // entries of the stream not yet read by the group (XINFO GROUPS)
  std::atomic<int64_t> pending{0};        // read, not yet acknowledged
};

struct group_consumer_options {
  redis_locate_fn locate;                        // where the Redis primary is
  std::string stream = "nxp:events";
  std::string group;
  std::string consumer;                          // unique per process: "<host>-<pid>"
  size_t batch = 100;
  std::chrono::milliseconds min_idle{30000};     // before another consumer may take an entry over
  std::chrono::milliseconds claim_every{5000};
  size_t max_deliveries = 5;
  std::string replay_from;                       // "" = keep the group's position
};

class group_consumer {
public:
  // Per entry of the batch, "" when done, else the reason it failed.
  using handler = std::function<std::vector<std::string>(const std::vector<stream_entry>&)>;
  using event_fn = std::function<void(std::string_view event, std::string_view detail)>;

  group_consumer(group_consumer_options options, handler handle, event_fn on_event = {});
  ~group_consumer();
  group_consumer(const group_consumer&) = delete;
  group_consumer& operator=(const group_consumer&) = delete;

  void start();
  void stop();
  const consumer_stats& stats() const { return stats_; }
  // Fault injection (NEXTCRM_CHAOS=consumer=...): shuts down the group's
  // Redis socket as a network failure would; the thread reconnects and its
  // pending entries come back to it. Any thread.
  void chaos_drop();

private:
  void run();

  group_consumer_options options_;
  handler handle_;
  event_fn on_event_;
  consumer_stats stats_;
  std::map<std::string, std::string> last_failure_;  // entry id -> reason, for the dead letter
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex fd_mutex_;  // fd_ is the live connection's socket, or -1 (never a closed one)
  int fd_ = -1;
};

} // namespace crm::actors
