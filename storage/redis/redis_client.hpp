// storage/redis/redis_client.hpp
// An async hiredis 0.14 connection on an Asio io_context: argv commands only
// (no format strings), reconnect with exponential backoff and jitter, a PING
// gate after every connect (Redis answers -LOADING while it replays its
// AOF), and a watchdog that frees the context when a command is older than
// the timeout, since hiredis 0.14 has no command timeouts (IO-NOTES.md 3).
// Knows no actor: callbacks run on the io_context's thread.
#pragma once
#include "storage/redis/redis_commands.hpp"

#include <asio.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <random>
#include <string>
#include <vector>

struct redisAsyncContext;
struct redisReply;

namespace crm::storage {

struct redis_options {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  // Where the primary is now (storage/redis/sentinel.hpp), asked before
  // every connect; host/port when unset.
  std::function<std::pair<std::string, uint16_t>()> locate;
  std::chrono::milliseconds command_timeout{1000};
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
};

using redis_event_fn = std::function<void(std::string_view event, std::string_view detail)>;

class redis_client : public redis_commands {
public:
  redis_client(asio::io_context& io, redis_options options, redis_event_fn on_event = {});
  ~redis_client() override;
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  void start();  // any thread
  void stop();   // any thread; pending commands fail

  // Sends `argv`; `done` runs once on the io thread with the reply, or
  // dependency.unavailable when disconnected or timed out. Any thread.
  void command(std::vector<std::string> argv,
               std::function<void(caf::expected<redis_reply>)> done) override;

  // Sends every command of `batch` in one go (pipelined, in order); `done`
  // runs once on the io thread when all have answered, with true per
  // command that got a non-error reply. Any thread.
  void pipeline(std::vector<std::vector<std::string>> batch, std::function<void(std::vector<bool>)> done);

  // PING; `done(true)` on PONG. Any thread.
  void ping(std::function<void(bool)> done);
  // Drops the connection as a network failure would (its socket shut
  // down); it reconnects to where `locate` says: a Sentinel failover moved
  // the primary, or the chaos facility (NEXTCRM_CHAOS=redis). Any thread.
  void reconnect();

  bool up() const { return up_.load(); }

private:
  struct pending;
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  void connect();
  void gate();
  void lost(std::string_view why);
  void retry_later();
  void watchdog();
  void send(std::vector<std::string> argv, std::function<void(caf::expected<redis_reply>)> done);

  asio::io_context& io_;
  redis_options options_;
  redis_event_fn on_event_;
  redisAsyncContext* ac_ = nullptr;
  std::list<pending*> in_flight_;  // oldest first
  asio::steady_timer backoff_;
  asio::steady_timer watchdog_;
  std::mt19937 rng_{std::random_device{}()};
  int failures_ = 0;
  bool connected_ = false;  // TCP up, PING gate may still be pending
  bool stopped_ = true;
  std::atomic<bool> up_{false};
};

// Converts a hiredis reply into a value (recursively for arrays).
redis_reply to_redis_reply(const redisReply* r);

} // namespace crm::storage
