// http/response_writer.hpp
// Serializes a response as HTTP/1.1 bytes: status line, Date, Content-Type,
// Content-Length, X-Request-Id, traceparent, the extra headers and the body
// (omitted for HEAD, 1xx, 204 and 304). Header values lose any CR/LF so a
// handler can never split a response.
#pragma once
#include "http/message.hpp"

#include <string>
#include <string_view>

namespace crm::http {

struct response_meta {
  std::string_view request_id;
  std::string_view traceparent;
  bool head = false;        // answer to a HEAD request: no body
  bool close = false;       // adds "Connection: close"
};

// Appends the serialized response to `out`. With `r.file`, only the head
// (its Content-Length the file's size): the connection streams the file.
void write_response(std::string& out, const response& r, const response_meta& meta);

// The reason phrase of `status` ("Not Found"), "Unknown" for unlisted codes.
std::string_view reason_phrase(int status);

} // namespace crm::http
