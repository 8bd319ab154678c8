// storage/pg/pg_listener.hpp
// LISTEN on one channel over a connection of its own, on a thread of its
// own (a blocking wait must never sit on an Asio thread): `on_notify` runs
// on that thread for every NOTIFY, and once after each (re)connect, since
// notifications sent while the connection was down are lost and the caller
// must look for itself. Reconnects with exponential backoff; `stop()` (or
// the destructor) ends the thread within one wait period.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace crm::storage {

class pg_listener {
public:
  using notify_fn = std::function<void()>;
  using event_fn = std::function<void(std::string_view event, std::string_view detail)>;

  pg_listener(std::string conninfo, std::string channel, notify_fn on_notify, event_fn on_event = {});
  ~pg_listener();
  pg_listener(const pg_listener&) = delete;
  pg_listener& operator=(const pg_listener&) = delete;

  void start();
  void stop();
  bool connected() const { return connected_.load(); }

private:
  void run();

  std::string conninfo_;
  std::string channel_;
  notify_fn on_notify_;
  event_fn on_event_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

} // namespace crm::storage
