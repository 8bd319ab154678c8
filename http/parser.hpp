// http/parser.hpp
// Incremental HTTP/1.1 request parser on llhttp. Feed it bytes as they arrive
// (split anywhere); it yields complete requests in order (pipelining) and at
// most one terminal error after them. Enforces the header block limit (431),
// the per-route body limit (413, checked against Content-Length up front and
// while a chunked body streams) and rejects malformed input (400). Decodes
// chunked bodies. No I/O: http/connection.cpp drives it.
#pragma once
#include "http/message.hpp"

#include <llhttp.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::http {

enum class parse_error : uint8_t {
  none,
  malformed,          // 400
  headers_too_large,  // 431
  body_too_large,     // 413
  bad_version,        // 505: a request line of another major version than 1
};

struct parsed_request {
  request req;
  bool keep_alive = true;
};

class request_parser {
public:
  // Returns the body limit for a request line; called once headers are complete.
  // Called once the head is complete (method, path, headers set); may note
  // what it learned in the request (the route).
  using body_limit_fn = std::function<size_t(request& req)>;

  request_parser(size_t max_header_bytes, body_limit_fn limit);
  request_parser(const request_parser&) = delete;
  request_parser& operator=(const request_parser&) = delete;

  // Parses `data`. Complete requests are appended to `out`. Returns the error
  // that ends the connection, or none. After a request without keep-alive or
  // after an error, further input is ignored (done() is true).
  parse_error feed(std::string_view data, std::vector<parsed_request>& out);

  // True while a request has started but is not complete (for timeouts).
  bool in_message() const { return in_message_; }
  // True once the parser accepts no more input.
  bool done() const { return done_; }
  // Accept no more input (the connection gave up on this client).
  void stop() {
    done_ = true;
    in_message_ = false;
  }
  // True once per request that sent "Expect: 100-continue" and whose body is
  // still to come; the connection then writes "100 Continue".
  bool take_expect_continue();
  // Detail of the last error, for the problem body (never echoes input).
  std::string_view error_detail() const { return error_detail_; }

private:
  static int on_message_begin(llhttp_t* p);
  static int on_url(llhttp_t* p, const char* at, size_t len);
  static int on_header_field(llhttp_t* p, const char* at, size_t len);
  static int on_header_value(llhttp_t* p, const char* at, size_t len);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, size_t len);
  static int on_message_complete(llhttp_t* p);
  int count_header_bytes(size_t len);
  parse_error fail(parse_error e, const char* detail);

  llhttp_t parser_;
  llhttp_settings_t settings_;
  size_t max_header_bytes_;
  body_limit_fn limit_;
  parsed_request current_;
  size_t header_bytes_ = 0;
  size_t body_limit_ = 0;
  size_t body_bytes_ = 0;  // of the current request (an upload's are not kept in memory)
  bool in_message_ = false;
  bool last_was_value_ = false;
  const char* feed_begin_ = nullptr;  // start of the input llhttp runs on (obs-fold detection)
  char last_fed_byte_ = 0;            // the last byte of the previous input
  bool headers_done_ = false;  // later header callbacks are a chunked body's trailers
  bool expect_continue_ = false;
  bool done_ = false;
  bool message_complete_ = false;
  parse_error pending_error_ = parse_error::none;
  const char* pending_detail_ = "";  // for a malformed request found in a callback
  std::string error_detail_;
};

} // namespace crm::http
