// protocols/access_log.hpp
// One JSON log line per request: ts, level, msg, trace_id, request_id,
// route, method, status, dur_ms, client (the client's address, as the
// trusted gateway reported it), tenant_id and user_id when known.
// Only these fields are written: headers, bodies and tokens never reach the
// log. Pure: the timestamp comes in.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace crm::protocols {

struct access_record {
  std::chrono::system_clock::time_point ts;
  std::string_view trace_id;
  std::string_view request_id;
  std::string_view route;   // the route pattern, "-" when nothing matched
  std::string_view method;
  int status = 0;
  double dur_ms = 0;
  std::string_view tenant_id;  // empty: omitted
  std::string_view user_id;    // empty: omitted
  std::string_view client;     // empty: omitted
};

// RFC 3339 UTC with milliseconds: "2026-11-24T10:00:00.123Z".
std::string format_rfc3339_ms(std::chrono::system_clock::time_point t);

// RFC 3339 UTC without fractions for unix seconds: "2026-11-24T10:00:00Z".
std::string format_rfc3339_s(int64_t unix_seconds);

// The log line (no trailing newline). level is "info" below 500, else "error".
std::string access_log_line(const access_record& r);

// Appends the log line to `out` (the allocation-free form for the hot path).
void append_access_log_line(std::string& out, const access_record& r);

} // namespace crm::protocols
