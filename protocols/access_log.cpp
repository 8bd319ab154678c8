#include "protocols/access_log.hpp"

#include "protocols/json_writer.hpp"

#include <cstdio>
#include <ctime>

namespace crm::protocols {

namespace {

// "YYYY-MM-DDTHH:MM:SS" of the second `secs`, cached per thread: the log
// line is written for every request and gmtime_r is not free.
std::string_view second_prefix(std::time_t secs) {
  thread_local std::time_t cached = -1;
  thread_local char buf[80];
  if (secs != cached) {
    cached = secs;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return {buf, 19};
}

void append_timestamp(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  out.append(second_prefix(static_cast<std::time_t>(ms / 1000)));
  int frac = static_cast<int>(ms % 1000);
  char tail[6] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                  static_cast<char>('0' + frac % 10), 'Z', 0};
  out.append(tail, 5);
}

void append_member(std::string& out, std::string_view key, std::string_view value) {
  out += ',';
  append_json_string(out, key);
  out += ':';
  append_json_string(out, value);
}

} // namespace

std::string format_rfc3339_s(int64_t unix_seconds) {
  return std::string{second_prefix(static_cast<std::time_t>(unix_seconds))} + "Z";
}

std::string format_rfc3339_ms(std::chrono::system_clock::time_point t) {
  std::string out;
  append_timestamp(out, t);
  return out;
}

void append_access_log_line(std::string& out, const access_record& r) {
  out += "{\"ts\":\"";
  append_timestamp(out, r.ts);
  out += r.status >= 500 ? "\",\"level\":\"error\"" : "\",\"level\":\"info\"";
  out += ",\"msg\":\"request\"";
  append_member(out, "trace_id", r.trace_id);
  append_member(out, "request_id", r.request_id);
  if (!r.tenant_id.empty()) append_member(out, "tenant_id", r.tenant_id);
  if (!r.user_id.empty()) append_member(out, "user_id", r.user_id);
  if (!r.client.empty()) append_member(out, "client", r.client);
  append_member(out, "route", r.route.empty() ? std::string_view{"-"} : r.route);
  append_member(out, "method", r.method);
  char num[48];
  int n = std::snprintf(num, sizeof num, ",\"status\":%d,\"dur_ms\":%.3f}", r.status, r.dur_ms);
  out.append(num, static_cast<size_t>(n));
}

std::string access_log_line(const access_record& r) {
  std::string out;
  out.reserve(256);
  append_access_log_line(out, r);
  return out;
}

} // namespace crm::protocols
