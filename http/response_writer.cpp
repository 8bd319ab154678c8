#include "http/response_writer.hpp"

#include <chrono>
#include <charconv>
#include <ctime>

namespace crm::http {
namespace {

// "Date" per RFC 9110, formatted once per second per thread.
std::string_view http_date() {
  thread_local std::time_t cached_second = 0;
  thread_local char buf[40];
  thread_local size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    cached_second = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  }
  return {buf, len};
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ");
  if (value.find_first_of("\r\n") == std::string_view::npos) {
    out.append(value);  // the common case: one copy
  } else {
    for (char c : value)
      if (c != '\r' && c != '\n') out += c;
  }
  out.append("\r\n");
}

void append_number(std::string& out, size_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

} // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

void write_response(std::string& out, const response& r, const response_meta& meta) {
  bool no_body = meta.head || r.status < 200 || r.status == 204 || r.status == 304;
  out.reserve(out.size() + 256 + r.body.size());
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<size_t>(r.status));
  out += ' ';
  out.append(reason_phrase(r.status)).append("\r\n");
  append_header(out, "Date", http_date());
  if (!r.body.empty() || !no_body) {
    if (!r.content_type.empty()) append_header(out, "Content-Type", r.content_type);
  }
  if (r.status != 204 && r.status >= 200) {
    out.append("Content-Length: ");
    append_number(out, r.file ? static_cast<size_t>(r.file->size) : r.body.size());
    out.append("\r\n");
  }
  if (!meta.request_id.empty()) append_header(out, "X-Request-Id", meta.request_id);
  if (!meta.traceparent.empty()) append_header(out, "traceparent", meta.traceparent);
  for (const auto& [name, value] : r.headers) append_header(out, name, value);
  if (meta.close) out.append("Connection: close\r\n");
  out.append("\r\n");
  if (!no_body && !r.file) out.append(r.body);
}

} // namespace crm::http
