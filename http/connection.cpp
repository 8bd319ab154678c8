#include "http/connection.hpp"

#include "http/ids.hpp"
#include "http/response_writer.hpp"
#include "http/problem_response.hpp"

#include <algorithm>

#include <unistd.h>

namespace crm::http {
namespace {
using clock = std::chrono::steady_clock;
} // namespace

// -- reply handle ------------------------------------------------------------

struct reply_handle::state {
  std::weak_ptr<connection> conn;
  uint64_t seq;
  std::atomic<bool> sent{false};
  state(std::weak_ptr<connection> c, uint64_t s) : conn(std::move(c)), seq(s) {}
  ~state() {
    if (!sent.load())
      if (auto c = conn.lock()) c->abandon(seq);
  }
};

void reply_handle::send(response r) const {
  if (!state_ || state_->sent.exchange(true)) return;
  if (auto c = state_->conn.lock()) c->deliver(state_->seq, std::move(r));
}

void send_all(std::vector<exchange>& items, std::vector<response>& responses) {
  std::vector<std::shared_ptr<connection>> conns;
  std::vector<uint64_t> seqs;
  std::vector<response> answers;
  const void* thread = nullptr;
  auto flush = [&] {
    if (conns.empty()) return;
    connection::deliver_batch(std::move(conns), std::move(seqs), std::move(answers));
    conns.clear();
    seqs.clear();
    answers.clear();
  };
  for (size_t i = 0; i < items.size(); ++i) {
    auto& st = items[i].reply.state_;
    if (!st || st->sent.exchange(true)) continue;
    auto c = st->conn.lock();
    if (!c) continue;
    if (c->thread_key() != thread) {  // another I/O thread: hand off what we have
      flush();
      thread = c->thread_key();
    }
    conns.push_back(std::move(c));
    seqs.push_back(st->seq);
    answers.push_back(std::move(responses[i]));
  }
  flush();
}

// -- connection --------------------------------------------------------------

void connection::deliver_batch(std::vector<std::shared_ptr<connection>> conns,
                               std::vector<uint64_t> seqs, std::vector<response> responses) {
  auto executor = conns.front()->socket_.get_executor();
  asio::post(executor, [conns = std::move(conns), seqs = std::move(seqs),
                        responses = std::move(responses)]() mutable {
    for (size_t i = 0; i < conns.size(); ++i) conns[i]->on_response(seqs[i], std::move(responses[i]));
  });
}


connection::connection(asio::ip::tcp::socket socket, std::shared_ptr<server_core> core,
                       protocols::listener where, dispatch_batcher& batcher)
    : socket_(std::move(socket)),
      core_(std::move(core)),
      where_(where),
      batcher_(batcher),
      parser_(core_->options.max_header_bytes,
              [this](request& req) {
                req.where = where_;
                return core_->hooks.body_limit ? core_->hooks.body_limit(req) : core_->options.unmatched_body_limit;
              }),
      watchdog_(socket_.get_executor()),
      linger_timer_(socket_.get_executor()) {
  std::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) remote_ = ep.address().to_string();
  socket_.set_option(asio::ip::tcp::no_delay{true}, ec);
}

void connection::start() {
  last_activity_ = clock::now();
  arm_watchdog();
  read();
}

void connection::read() {
  if (reading_ || closed_ || parser_.done()) return;
  if (pending_.size() >= core_->options.max_pipeline_depth) return;  // resumes after writes
  if (draining_ && !parser_.in_message()) return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](
                                                     std::error_code ec, size_t n) {
    self->reading_ = false;
    self->on_read(ec, n);
  });
}

void connection::on_read(std::error_code ec, size_t n) {
  if (closed_) return;
  if (lingering_) {  // discarding input after the final response
    if (ec) return close();
    reading_ = true;
    socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](
                                                       std::error_code e, size_t m) {
      self->reading_ = false;
      self->on_read(e, m);
    });
    return;
  }
  if (ec) {  // EOF or reset: answers to a half-closed client are still written
    if (pending_.empty() && !writing_) close();
    else draining_ = true;
    return;
  }
  bool was_in_message = parser_.in_message();
  parsed_.clear();
  auto err = parser_.feed({buffer_.data(), n}, parsed_);
  if (parser_.in_message() && (!was_in_message || !parsed_.empty())) message_started_ = clock::now();
  for (auto& p : parsed_) begin_request(std::move(p));
  if (parser_.take_expect_continue() && pending_.empty() && !writing_) {
    queued_ += "HTTP/1.1 100 Continue\r\n\r\n";
    write();
  }
  switch (err) {
    case parse_error::none: break;
    case parse_error::malformed:
      push_problem(protocols::errc::request_malformed, std::string{parser_.error_detail()}, true);
      break;
    case parse_error::headers_too_large:
      push_problem(protocols::errc::request_headers_too_large, std::string{parser_.error_detail()},
                   true);
      break;
    case parse_error::body_too_large:
      push_problem(protocols::errc::request_too_large, std::string{parser_.error_detail()}, true);
      break;
    case parse_error::bad_version:
      push_problem(protocols::errc::request_version_not_supported, std::string{parser_.error_detail()}, true);
      break;
  }
  last_activity_ = clock::now();
  read();
}

// X-Forwarded-For of a trusted peer (every header line, in order) decides;
// anyone else's is ignored (protocols/client_addr.hpp).
std::string connection::client_of(const request& req) const {
  const auto& trusted = core_->options.trusted_proxies;
  if (trusted.empty()) return remote_;
  std::string forwarded;
  for (const auto& [name, value] : req.headers)
    if (name == "x-forwarded-for") {
      if (!forwarded.empty()) forwarded += ',';
      forwarded += value;
    }
  return protocols::client_address(remote_, forwarded, trusted);
}

void connection::begin_request(parsed_request&& p) {
  auto& req = p.req;
  req.where = where_;
  req.peer_addr = remote_;
  req.remote_addr = client_of(req);
  req.received = clock::now();
  req.trace = trace_for(req.header_value("traceparent"));
  req.request_id = request_id_for(req.header_value("x-request-id"));
  slot s;
  s.seq = next_seq_++;
  s.method = req.method;
  s.trace_id = req.trace.trace_id;
  s.traceparent = protocols::format_traceparent(req.trace);
  s.request_id = req.request_id;
  s.client = req.remote_addr;
  s.received = req.received;
  s.keep_alive = p.keep_alive;
  pending_.push_back(std::move(s));
  auto st = std::make_shared<reply_handle::state>(weak_from_this(), pending_.back().seq);
  batcher_.add({std::move(req), reply_handle{std::move(st)}});
}

response connection::problem_response(const slot& s, protocols::errc code,
                                       std::string detail) const {
  return http::problem_response(protocols::make_problem(code, std::move(detail)), s.trace_id);
}

// A problem answered by the connection itself (parse errors, timeouts). It
// takes its place in the pipeline after the requests already read.
void connection::push_problem(protocols::errc code, std::string detail, bool close_after) {
  slot s;
  s.seq = next_seq_++;
  s.method = "-";
  auto trace = trace_for({});
  s.trace_id = trace.trace_id;
  s.traceparent = protocols::format_traceparent(trace);
  s.request_id = request_id_for({});
  s.client = remote_;  // no request to read a forwarded address from: the peer
  s.received = clock::now();
  s.keep_alive = !close_after;
  s.resp = problem_response(s, code, std::move(detail));
  s.resp.close = close_after;
  s.ready = true;
  pending_.push_back(std::move(s));
  flush_ready();
}

connection::slot* connection::find(uint64_t seq) {
  for (auto& s : pending_)
    if (s.seq == seq) return &s;
  return nullptr;
}

void connection::deliver(uint64_t seq, response r) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), seq, r = std::move(r)]() mutable {
    self->on_response(seq, std::move(r));
  });
}

void connection::abandon(uint64_t seq) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), seq] {
    if (auto* s = self->find(seq); s && !s->ready)
      self->on_response(seq, self->problem_response(*s, protocols::errc::dependency_unavailable,
                                                    "the request was dropped before an answer"));
  });
}

void connection::drain() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->draining_ = true;
    if (self->pending_.empty() && !self->writing_ && !self->parser_.in_message()) self->close();
  });
}

void connection::force_close() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close(); });
}

void connection::on_response(uint64_t seq, response r) {
  if (closed_ || lingering_) return;
  auto* s = find(seq);
  if (!s || s->ready) return;  // late answer after a timeout: the first one won
  s->resp = std::move(r);
  s->ready = true;
  flush_ready();
}

void connection::flush_ready() {
  serialize_ready();
  write();
}

// Serializes the answers ready at the head of the pipeline into queued_,
// stopping after one whose body streams from a file (the next waits).
void connection::serialize_ready() {
  while (!file_ && !pending_.empty() && pending_.front().ready && !close_after_write_) {
    auto& s = pending_.front();
    bool last = pending_.size() == 1 && !parser_.in_message();
    bool close_after = s.resp.close || !s.keep_alive || (draining_ && last) || core_->closing_all.load();
    response_meta meta{s.request_id, s.traceparent, s.method == "HEAD", close_after};
    write_response(queued_, s.resp, meta);
    bool bodiless = meta.head || s.resp.status < 200 || s.resp.status == 204 || s.resp.status == 304;
    if (s.resp.file && !bodiless) {
      file_ = s.resp.file;
      file_offset_ = 0;
    }
    if (core_->hooks.completed)
      core_->hooks.completed({s.method, s.trace_id, s.request_id, s.client, clock::now() - s.received, s.resp});
    pending_.pop_front();
    if (close_after) {
      close_after_write_ = true;
      pending_.clear();  // answers still to come for later requests are dropped
    }
  }
}

// The next piece of the file being sent, into queued_ (64 KiB at a time,
// so a large artifact never sits whole in memory). False on a read error:
// the response cannot be completed, the connection must close.
bool connection::next_file_chunk() {
  constexpr uint64_t chunk = 64 * 1024;
  auto n = static_cast<size_t>(std::min(chunk, file_->size - file_offset_));
  size_t at = queued_.size();
  queued_.resize(at + n);
  ssize_t got = ::pread(file_->fd, queued_.data() + at, n, static_cast<off_t>(file_offset_));
  if (got != static_cast<ssize_t>(n)) return false;
  file_offset_ += n;
  return true;
}

void connection::write() {
  if (writing_ || queued_.empty() || closed_) return;
  out_.swap(queued_);
  queued_.clear();
  writing_ = true;
  write_progress_ = clock::now();
  asio::async_write(socket_, asio::buffer(out_),
                    [self = shared_from_this()](std::error_code ec, size_t) { self->on_written(ec); });
}

void connection::on_written(std::error_code ec) {
  writing_ = false;
  out_.clear();
  if (closed_) return;
  if (ec) return close();
  if (file_ && file_offset_ >= file_->size) {  // the file is out: the answers behind it may go
    file_.reset();
    serialize_ready();
  }
  if (file_ && queued_.empty() && !next_file_chunk()) return close();
  if (!queued_.empty()) return write();
  if (close_after_write_) return linger_close();
  if (draining_ && pending_.empty() && !parser_.in_message()) return close();
  last_activity_ = clock::now();
  read();
}

// One lazy timer per connection enforces every deadline: it is armed at most
// `shortest timeout` ahead, so a new deadline (always at least that far out)
// never needs a re-arm, and the request path touches no timer at all. When it
// fires it checks the exact deadlines and arms itself again.
void connection::arm_watchdog() {
  if (watchdog_armed_ || closed_ || lingering_) return;
  const auto& o = core_->options;
  auto shortest = std::min({o.request_timeout, o.idle_timeout, o.handler_timeout});
  auto now = clock::now();
  auto next = now + shortest;
  if (parser_.in_message()) next = std::min(next, message_started_ + o.request_timeout);
  else if (pending_.empty() && !writing_) next = std::min(next, last_activity_ + o.idle_timeout);
  if (writing_) next = std::min(next, write_progress_ + o.idle_timeout);
  auto unready = std::find_if(pending_.begin(), pending_.end(), [](const slot& s) { return !s.ready; });
  if (unready != pending_.end()) next = std::min(next, unready->received + o.handler_timeout);
  watchdog_armed_ = true;
  watchdog_.expires_at(std::max(next, now + std::chrono::milliseconds(1)));
  watchdog_.async_wait([self = shared_from_this()](std::error_code ec) {
    self->watchdog_armed_ = false;
    if (!ec) self->check_deadlines();
  });
}

void connection::check_deadlines() {
  if (closed_ || lingering_) return;
  const auto& o = core_->options;
  auto now = clock::now();
  // a client that stopped reading (a download it never takes) holds no
  // connection, descriptor or buffer past the idle timeout
  if (writing_ && now >= write_progress_ + o.idle_timeout) return close();
  if (parser_.in_message() && now >= message_started_ + o.request_timeout) {
    // Slow client (slowloris) or stalled body: 408 after what is pending, stop reading.
    parser_.stop();
    push_problem(protocols::errc::request_timeout, "the request was not received completely in time",
                 true);
  } else if (!parser_.in_message() && pending_.empty() && !writing_ &&
             now >= last_activity_ + o.idle_timeout) {
    return close();
  }
  for (auto& s : pending_) {  // the first requests nobody answered within the deadline
    if (s.ready || now < s.received + o.handler_timeout) continue;
    on_response(s.seq, problem_response(s, protocols::errc::dependency_unavailable,
                                        "no answer within the handler deadline"));
    if (closed_) return;
    break;  // on_response may have changed pending_; the next round handles the rest
  }
  arm_watchdog();
}

// After the final response: stop sending, read and discard what the client
// still sends (so the kernel does not reset the connection before the client
// read our answer), then close on EOF or after the linger timeout.
void connection::linger_close() {
  if (closed_) return;
  lingering_ = true;
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) return close();
  watchdog_.cancel();
  linger_timer_.expires_after(core_->options.linger_timeout);
  linger_timer_.async_wait([self = shared_from_this()](std::error_code e) {
    if (!e) self->close();
  });
  if (!reading_) {
    reading_ = true;
    socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](
                                                       std::error_code e, size_t n) {
      self->reading_ = false;
      self->on_read(e, n);
    });
  }
}

void connection::close() {
  if (closed_) return;
  closed_ = true;
  watchdog_.cancel();
  linger_timer_.cancel();
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  pending_.clear();
  core_->connection_closed(shared_from_this());
}

} // namespace crm::http
