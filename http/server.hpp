// http/server.hpp
// The Asio side of the HTTP edge: acceptors (public and admin listener), a
// pool of I/O threads with one io_context each (a connection lives on one
// thread, so it needs no strand), the connection cap and graceful shutdown.
// It knows no actor: parsed requests go to `hooks.dispatch` with a reply
// handle; every finished exchange is reported to `hooks.completed`.
#pragma once
#include "http/message.hpp"
#include "http/metrics.hpp"
#include "http/options.hpp"

#include <asio.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace crm::http {

// One answered (or abandoned) request, for logs and metrics.
struct completion {
  std::string_view method;
  std::string_view trace_id;
  std::string_view request_id;
  std::string_view client;  // the peer for problems the connection answered itself
  std::chrono::steady_clock::duration latency;
  const response& resp;
};

struct server_hooks {
  // Runs on an I/O thread with every request that thread parsed in one turn
  // of its event loop (one hand-off per batch, not per request); must not
  // block: hand the batch to an actor.
  // `io_index` is the I/O thread's (0 .. io_threads-1).
  std::function<void(size_t io_index, std::vector<exchange>&&)> dispatch;
  // Routes a request whose head is complete (method, path, listener set;
  // it may store the match in req.route / req.routed) and returns its body
  // limit; runs on an I/O thread.
  std::function<size_t(request& req)> body_limit;
  // Runs on an I/O thread after a response was queued for writing.
  std::function<void(const completion&)> completed;
};

class connection;

// Collects the requests one I/O thread parses during one turn of its event
// loop and dispatches them together at the end of the turn. Used only on
// its own I/O thread.
class dispatch_batcher {
public:
  dispatch_batcher(asio::io_context& io, const server_hooks& hooks, size_t index)
      : io_(io), hooks_(hooks), index_(index) {}
  void add(exchange&& x);

private:
  asio::io_context& io_;
  const server_hooks& hooks_;
  size_t index_;
  std::vector<exchange> pending_;
  bool flush_posted_ = false;
};

// State shared by the server and its connections.
struct server_core {
  http_options options;
  server_hooks hooks;
  http::metrics& metrics;
  std::atomic<size_t> open{0};
  std::atomic<bool> draining{false};
  std::atomic<bool> closing_all{false};             // shutdown_drain: every answer closes its connection
  std::mutex mutex;                                 // guards `live`
  std::set<std::weak_ptr<connection>, std::owner_less<std::weak_ptr<connection>>> live;
  std::function<void()> on_idle;                    // set by shutdown(): last connection gone

  server_core(http_options o, server_hooks h, http::metrics& m)
      : options(o), hooks(std::move(h)), metrics(m) {}
  void connection_closed(const std::shared_ptr<connection>& c);
};

class server {
public:
  server(http_options options, server_hooks hooks, metrics& m);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds host:port (port 0 = any free port) for `where`; returns the bound port.
  uint16_t listen(const std::string& host, uint16_t port, protocols::listener where,
                  std::error_code& ec);

  // Starts accepting and the I/O threads.
  void start();

  // Graceful shutdown: for options.shutdown_drain every answer carries
  // "Connection: close" while new connections are still accepted; then stop
  // accepting, let connections finish their in-flight requests (answers
  // carry "Connection: close"), close idle ones.
  // Calls `done` (on an I/O thread) once all are closed or the grace period
  // ran out, whichever comes first.
  void shutdown(std::function<void()> done);

  // Stops the I/O threads and joins them. Requires: not called on an I/O thread.
  void stop();

  // The first I/O context (signals and timers of main.cpp may use it).
  asio::io_context& context() { return *contexts_.front(); }

private:
  struct acceptor_entry {
    asio::ip::tcp::acceptor acceptor;
    protocols::listener where;
  };
  void accept(acceptor_entry& a);
  size_t next_context();

  std::shared_ptr<server_core> core_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::unique_ptr<dispatch_batcher>> batchers_;  // one per context
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::unique_ptr<acceptor_entry>> acceptors_;
  std::vector<std::thread> threads_;
  std::unique_ptr<asio::steady_timer> grace_timer_;
  std::unique_ptr<asio::steady_timer> drain_timer_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> done_called_{false};
};

} // namespace crm::http
