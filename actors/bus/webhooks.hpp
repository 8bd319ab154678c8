// actors/bus/webhooks.hpp
// The webhook connector (Block 8, ADR-0047), a module of the runner role:
// - fan_out(): the handler of the "webhooks" consumer group: per event, one
//   job per enabled subscription of its tenant whose patterns match, and the
//   event marked processed, in one transaction (idempotent on the
//   subscription and the event id);
// - the delivery workers (threads of their own, blocking libcurl): claim a
//   due job, shape the envelope by the subscription owner's access profile
//   as it is now (deliveries wait while the owner is locked), sign it
//   (Standard Webhooks), POST it to an allowed host at an allowed address
//   (the address checked is the one connected to: no DNS rebinding), follow
//   no redirect, cap time and response size, log the attempt, and retry with
//   exponential backoff and jitter; failures in a row disable the
//   subscription.
#pragma once
#include "actors/bus/group_consumer.hpp"
#include "actors/data/storage_messages.hpp"
#include "protocols/webhook.hpp"

#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace crm::actors {

// One transaction through the storage actor, from a thread that may block.
using run_db_fn = std::function<caf::expected<db_result>(db_request)>;

struct webhook_options {
  protocols::webhook_allowlist allow;
  size_t workers = 2;
  int max_attempts = 8;
  int disable_after = 10;
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_cap{3600000};
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds idle_poll{250};        // a worker with nothing due looks again after this
  std::chrono::milliseconds locked_owner_pause{5000};
  size_t response_cap = 64 * 1024;                 // bytes of a receiver's answer read at most
};

struct webhook_stats {
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed_attempts{0};
  std::atomic<uint64_t> given_up{0};
};

class webhook_module {
public:
  using event_fn = std::function<void(std::string_view event, std::string_view detail)>;

  webhook_module(webhook_options options, run_db_fn run_db, event_fn on_event = {});
  ~webhook_module();
  webhook_module(const webhook_module&) = delete;
  webhook_module& operator=(const webhook_module&) = delete;

  // The "webhooks" group's handler (group_consumer::handler).
  std::vector<std::string> fan_out(const std::vector<stream_entry>& batch);

  void start();  // the delivery workers
  void stop();
  const webhook_stats& stats() const { return stats_; }

private:
  struct attempt_result {
    int status = 0;  // 0: no HTTP answer
    std::string error;
    int64_t latency_ms = 0;
  };
  void work();
  bool deliver_one();  // false when nothing was due
  // the event's subject and traceparent: an incident when it names a honeytoken
  void honeytoken_delivered(const std::string& tenant, const std::string& owner, const std::string& subject,
                            const std::string& traceparent);
  attempt_result post(const std::string& url, const std::string& body, const std::string& key,
                      const std::string& event_id, const std::string& traceparent);

  webhook_options options_;
  run_db_fn run_db_;
  event_fn on_event_;
  webhook_stats stats_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
};

} // namespace crm::actors
