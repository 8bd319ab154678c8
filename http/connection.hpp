// http/connection.hpp
// One client connection, living on one I/O thread: reads and parses
// requests, dispatches each with a reply handle, writes the responses in
// request order (pipelining), enforces the request, idle and handler
// timeouts, and closes gracefully.
#pragma once
#include "http/parser.hpp"
#include "http/server.hpp"
#include "protocols/errc.hpp"

#include <asio.hpp>

#include <array>
#include <deque>
#include <memory>
#include <string>

namespace crm::http {

class connection : public std::enable_shared_from_this<connection> {
public:
  // Requires: `batcher` belongs to the socket's I/O thread.
  connection(asio::ip::tcp::socket socket, std::shared_ptr<server_core> core,
             protocols::listener where, dispatch_batcher& batcher);

  // Starts reading. Runs on the connection's I/O thread.
  void start();
  // The executor of the connection's I/O thread.
  asio::any_io_executor get_executor_for_start() { return socket_.get_executor(); }

  // Any thread: queue `r` as the answer to request `seq`.
  void deliver(uint64_t seq, response r);
  // Any thread: queue several answers (seq, response) for this thread's
  // connections, `conns[i]` answering `seqs[i]`, in one hand-off.
  static void deliver_batch(std::vector<std::shared_ptr<connection>> conns,
                            std::vector<uint64_t> seqs, std::vector<response> responses);
  // Any thread: nobody will answer request `seq` (the handler was dropped).
  void abandon(uint64_t seq);
  // Identifies the connection's I/O thread (its dispatch batcher).
  const dispatch_batcher* thread_key() const { return &batcher_; }
  // Any thread: finish in-flight requests, then close (graceful shutdown).
  void drain();
  // Any thread: close now.
  void force_close();

private:
  struct slot {
    uint64_t seq = 0;
    std::string method;
    std::string trace_id;
    std::string traceparent;
    std::string request_id;
    std::string client;  // the client's address (behind a trusted gateway: the one it reported)
    std::chrono::steady_clock::time_point received;
    bool keep_alive = true;
    bool ready = false;
    response resp;
  };

  void read();
  void on_read(std::error_code ec, size_t n);
  void begin_request(parsed_request&& p);
  std::string client_of(const request& req) const;
  void push_problem(protocols::errc code, std::string detail, bool close);
  void on_response(uint64_t seq, response r);
  void flush_ready();
  void serialize_ready();
  bool next_file_chunk();
  void write();
  void on_written(std::error_code ec);
  void arm_watchdog();
  void check_deadlines();
  void linger_close();
  void close();
  slot* find(uint64_t seq);
  response problem_response(const slot& s, protocols::errc code, std::string detail) const;

  asio::ip::tcp::socket socket_;
  std::shared_ptr<server_core> core_;
  protocols::listener where_;
  dispatch_batcher& batcher_;
  request_parser parser_;
  std::array<char, 16384> buffer_;
  std::string remote_;
  std::deque<slot> pending_;
  std::vector<parsed_request> parsed_;
  uint64_t next_seq_ = 0;
  std::string out_;      // being written
  std::string queued_;   // serialized while a write is in flight
  std::shared_ptr<file_body> file_;  // a response body streaming from disk
  uint64_t file_offset_ = 0;
  asio::steady_timer watchdog_;      // request, idle and handler deadlines
  asio::steady_timer linger_timer_;  // final drain before close
  std::chrono::steady_clock::time_point message_started_;
  std::chrono::steady_clock::time_point last_activity_;
  std::chrono::steady_clock::time_point write_progress_;  // the current write started or last completed
  bool watchdog_armed_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool close_after_write_ = false;
  bool draining_ = false;
  bool closed_ = false;
  bool lingering_ = false;
};

} // namespace crm::http
