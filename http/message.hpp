// http/message.hpp
// The request the HTTP layer hands to the application and the response it
// gets back, plus the reply handle that carries the response to the
// connection from any thread.
#pragma once
#include "http/upload_file.hpp"
#include "protocols/router.hpp"
#include "protocols/trace.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm::http {

using header = std::pair<std::string, std::string>;  // name lower-cased

struct request {
  std::string method;
  std::string target;  // as sent: path + "?" + query
  std::string path;
  std::string query;
  std::vector<header> headers;
  std::string body;
  // Routes that stream their body to disk (uploads): set by the body-limit
  // hook; the body then goes here, not into `body`.
  std::shared_ptr<upload_file> upload;
  protocols::listener where = protocols::listener::public_api;
  protocols::trace_context trace;
  std::string request_id;
  std::string remote_addr;  // the client: the peer, or what a trusted gateway reported
  std::string peer_addr;    // the TCP peer
  std::chrono::steady_clock::time_point received;
  // The route, matched once at the edge when the head was complete (for the
  // body limit) and handed on: `routed` says the match is here.
  protocols::route_match route;
  bool routed = false;

  // The first value of header `name` (lower-case), or "".
  std::string_view header_value(std::string_view name) const;
};

// What the application does on top of the status, for logs, metrics and the
// guard (Block 6): every handler fills what it knows.
struct request_cost {
  uint32_t rows_read = 0;
  uint32_t writes = 0;
  uint32_t deletes = 0;
  uint32_t downloads = 0;
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::shared_ptr<file_body> file;  // instead of `body`: streamed from disk
  std::vector<header> headers;  // extra headers, e.g. Allow, ETag, Retry-After
  std::string route;            // route pattern for logs and metrics; "" = none matched
  std::string tenant_id;        // for the log line, when known
  std::string user_id;
  request_cost cost;
  bool close = false;           // close the connection after this response
};

class connection;

// Carries the response for one request back to its connection. Copyable and
// thread-safe; the first send() wins. If every copy is destroyed without a
// send() (an actor died, a message was dropped), the connection answers 503
// dependency.unavailable, so a request never hangs.
class reply_handle {
public:
  reply_handle() = default;
  void send(response r) const;
  bool valid() const { return state_ != nullptr; }

private:
  friend class connection;
  friend void send_all(std::vector<struct exchange>& items, std::vector<response>& responses);
  struct state;
  explicit reply_handle(std::shared_ptr<state> s) : state_(std::move(s)) {}
  std::shared_ptr<state> state_;
};

// A parsed request and the handle that answers it.
struct exchange {
  request req;
  reply_handle reply;
};

// Answers items[i] with responses[i] (moved from), like items[i].reply.send(),
// but with one hand-off per I/O thread instead of one per response: a batch
// from the dispatcher usually belongs to one thread. Any thread.
// Requires: items.size() == responses.size().
void send_all(std::vector<exchange>& items, std::vector<response>& responses);

} // namespace crm::http
