#include "http/server.hpp"

#include "http/connection.hpp"
#include "http/ids.hpp"
#include "http/response_writer.hpp"
#include "http/problem_response.hpp"

#include <pthread.h>

namespace crm::http {
namespace {

// The answer at the connection cap: a complete problem with fresh ids, then close.
std::string over_capacity_response() {
  auto trace = trace_for({});
  auto r = problem_response(
      protocols::make_problem(protocols::errc::dependency_unavailable, "too many open connections; retry later"),
      trace.trace_id);
  std::string out;
  write_response(out, r, {request_id_for({}), protocols::format_traceparent(trace), false, true});
  return out;
}

} // namespace

void dispatch_batcher::add(exchange&& x) {
  pending_.push_back(std::move(x));
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(io_, [this] {  // runs after the completions already queued in this turn
    flush_posted_ = false;
    auto batch = std::move(pending_);
    pending_.clear();
    if (hooks_.dispatch) hooks_.dispatch(index_, std::move(batch));
  });
}

void server_core::connection_closed(const std::shared_ptr<connection>& c) {
  metrics.connection_closed();
  std::function<void()> idle;
  {
    std::lock_guard<std::mutex> guard{mutex};
    live.erase(c);
    if (live.empty() && draining.load()) idle = std::move(on_idle);
  }
  open.fetch_sub(1);
  if (idle) idle();
}

server::server(http_options options, server_hooks hooks, metrics& m)
    : core_(std::make_shared<server_core>(options, std::move(hooks), m)) {
  size_t n = std::max<size_t>(1, options.io_threads);
  for (size_t i = 0; i < n; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    batchers_.push_back(std::make_unique<dispatch_batcher>(*contexts_.back(), core_->hooks, i));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
}

server::~server() { stop(); }

uint16_t server::listen(const std::string& host, uint16_t port, protocols::listener where,
                        std::error_code& ec) {
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return 0;
  asio::ip::tcp::endpoint ep{addr, port};
  auto entry = std::make_unique<acceptor_entry>(
      acceptor_entry{asio::ip::tcp::acceptor{context()}, where});
  auto& acc = entry->acceptor;
  acc.open(ep.protocol(), ec);
  if (ec) return 0;
  acc.set_option(asio::socket_base::reuse_address(true), ec);
  acc.bind(ep, ec);
  if (ec) return 0;
  acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return 0;
  uint16_t bound = acc.local_endpoint(ec).port();
  acceptors_.push_back(std::move(entry));
  return bound;
}

size_t server::next_context() {
  return next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size();
}

void server::accept(acceptor_entry& a) {
  size_t target = next_context();
  a.acceptor.async_accept(*contexts_[target], [this, &a, target](std::error_code ec,
                                                                 asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !a.acceptor.is_open()) return;
    if (!ec) {
      if (core_->draining.load() || core_->open.load() >= core_->options.max_connections) {
        // Over the cap: a short 503 and close, instead of a silent hang in the backlog.
        core_->metrics.connection_rejected();
        auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
        auto text = std::make_shared<std::string>(over_capacity_response());
        asio::async_write(*s, asio::buffer(*text), [s, text](std::error_code, size_t) {
          std::error_code e;
          s->shutdown(asio::ip::tcp::socket::shutdown_both, e);
          s->close(e);
        });
      } else {
        core_->open.fetch_add(1);
        core_->metrics.connection_opened();
        auto c = std::make_shared<connection>(std::move(socket), core_, a.where, *batchers_[target]);
        {
          std::lock_guard<std::mutex> guard{core_->mutex};
          core_->live.insert(c);
        }
        asio::post(c->get_executor_for_start(), [c] { c->start(); });
      }
    }
    accept(a);
  });
}

void server::start() {
  for (auto& a : acceptors_) accept(*a);
  for (size_t i = 0; i < contexts_.size(); ++i)
    threads_.emplace_back([c = contexts_[i].get(), i] {
      // named for per-thread CPU figures (top -H, test/bench): "nx-io-0", ...
      pthread_setname_np(pthread_self(), ("nx-io-" + std::to_string(i)).c_str());
      c->run();
    });
}

void server::shutdown(std::function<void()> done) {
  auto once = std::make_shared<std::function<void()>>(
      [this, done = std::move(done)] {
        if (!done_called_.exchange(true) && done) done();
      });
  auto close_listeners = [this, once] {
    for (auto& a : acceptors_) {
      std::error_code ec;
      a->acceptor.close(ec);
    }
    std::vector<std::shared_ptr<connection>> live;
    {
      std::lock_guard<std::mutex> guard{core_->mutex};
      core_->draining = true;
      core_->on_idle = [once] { (*once)(); };
      for (auto& w : core_->live)
        if (auto c = w.lock()) live.push_back(std::move(c));
      if (core_->live.empty()) core_->on_idle = nullptr;
    }
    if (live.empty()) return (*once)();
    for (auto& c : live) c->drain();
    grace_timer_ = std::make_unique<asio::steady_timer>(context(), core_->options.shutdown_grace);
    grace_timer_->async_wait([this, once](std::error_code ec) {
      if (ec) return;
      std::vector<std::shared_ptr<connection>> left;
      {
        std::lock_guard<std::mutex> guard{core_->mutex};
        for (auto& w : core_->live)
          if (auto c = w.lock()) left.push_back(std::move(c));
      }
      for (auto& c : left) c->force_close();
      (*once)();
    });
  };
  core_->closing_all = true;
  asio::post(context(), [this, close_listeners] {
    if (core_->options.shutdown_drain.count() <= 0) return close_listeners();
    drain_timer_ = std::make_unique<asio::steady_timer>(context(), core_->options.shutdown_drain);
    drain_timer_->async_wait([close_listeners](std::error_code ec) {
      if (!ec) close_listeners();
    });
  });
}

void server::stop() {
  for (auto& g : guards_) g.reset();
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

} // namespace crm::http
