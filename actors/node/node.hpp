// actors/node/node.hpp
// A running `nextcrm serve` node: the actor system, the storage thread with
// the PostgreSQL pool and the Redis client, the supervisor and the HTTP
// server, wired together. main.cpp builds one; tests build one on port 0.
#pragma once
#include "actors/node/config.hpp"
#include "actors/api/content_edge.hpp"
#include "actors/content/scanner.hpp"
#include "actors/core/front_slot.hpp"
#include "actors/node/log_sink.hpp"
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "actors/bus/relay.hpp"
#include "actors/bus/group_consumer.hpp"
#include "actors/bus/signal_tail.hpp"
#include "actors/bus/webhooks.hpp"
#include "actors/chaos/chaos.hpp"
#include "storage/pg/pg_pool.hpp"
#include "storage/redis/redis_client.hpp"
#include "storage/redis/sentinel.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <memory>
#include <thread>

namespace crm::actors {

class node {
public:
  // Requires: `sys` and `log` outlive the node.
  node(caf::actor_system& sys, const config& cfg, log_sink& log);
  ~node();  // stop() if still running

  // Binds the listeners, starts storage, actors and I/O threads. Returns
  // false (with `error`) when a listener cannot be bound.
  bool start(std::string& error);

  // Graceful: stop accepting, finish in-flight requests, then stop the
  // actors and the storage thread. Blocks; not on an I/O thread.
  void stop();
  // Chaos (NEXTCRM_CHAOS, SIGUSR2): one kill or drop of every planned kind now.
  void chaos_now();

  uint16_t port() const { return port_; }
  uint16_t admin_port() const { return admin_port_; }
  http::server& server() { return *server_; }
  front_slots& slots() { return slots_; }
  caf::actor supervisor() const { return supervisor_; }
  // The consumers' figures, for /metrics (null when this role runs none).
  const consumer_stats* webhook_group_stats() const { return webhook_group_ ? &webhook_group_->stats() : nullptr; }

private:
  bool prepare_content(std::string& error);
  void start_modules();
  std::vector<http::metrics::gauge> node_gauges() const;
  caf::actor_system& sys_;
  config cfg_;
  log_sink& log_;
  http::metrics metrics_;
  front_slots slots_;
  front_slot registry_slot_;
  front_slot storage_slot_;
  front_slot relay_slot_;
  front_slot content_slot_;
  std::unique_ptr<clamd_daemon> clamd_;  // the node's own clamd (NEXTCRM_CONTENT_CLAMD=auto)
  upload_edge upload_edge_;  // set in start(), read by the body-limit hook of upload routes
  bus_counters bus_counters_;
  std::unique_ptr<signal_tail> signals_;            // the stream -> live tenant actors (other nodes' changes)
  std::unique_ptr<webhook_module> webhooks_;        // roles all and runner
  std::unique_ptr<group_consumer> webhook_group_;   // the "webhooks" consumer group
  asio::io_context storage_io_;
  asio::executor_work_guard<asio::io_context::executor_type> storage_guard_;
  std::thread storage_thread_;
  std::unique_ptr<storage::pg_pool> pg_;
  std::unique_ptr<storage::redis_locator> locator_;  // where the Redis primary is (fixed, or Sentinel)
  std::unique_ptr<storage::redis_client> redis_;
  std::shared_ptr<const protocols::router> routes_;
  std::unique_ptr<http::server> server_;
  caf::actor supervisor_;
  caf::actor chaos_;            // NEXTCRM_CHAOS (never in production)
  chaos_counts chaos_counts_{};
  uint16_t port_ = 0, admin_port_ = 0;
  bool running_ = false;
};

} // namespace crm::actors
