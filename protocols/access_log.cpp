#include "protocols/access_log.hpp"

#include "protocols/json_writer.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace crm::protocols {

std::string format_rfc3339_ms(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::string access_log_line(const access_record& r) {
  json_writer w;
  w.begin_object();
  w.key("ts").string(format_rfc3339_ms(r.ts));
  w.key("level").string(r.status >= 500 ? "error" : "info");
  w.key("msg").string("request");
  w.key("trace_id").string(r.trace_id);
  w.key("request_id").string(r.request_id);
  if (!r.tenant_id.empty()) w.key("tenant_id").string(r.tenant_id);
  if (!r.user_id.empty()) w.key("user_id").string(r.user_id);
  w.key("route").string(r.route.empty() ? std::string_view{"-"} : r.route);
  w.key("method").string(r.method);
  w.key("status").number(r.status);
  w.key("dur_ms").number(std::round(r.dur_ms * 1000.0) / 1000.0);
  w.end_object();
  return std::move(w).str();
}

} // namespace crm::protocols
