#include "http/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace crm::http {
namespace {

// Label values are route patterns and methods of our own table; escape anyway.
void append_label(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
}

void append_double(std::string& out, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  out += buf;
}

} // namespace

void metrics::record(std::string_view route, std::string_view method, int status,
                     std::chrono::nanoseconds latency) {
  double seconds = std::chrono::duration<double>(latency).count();
  if (route.empty()) route = "unmatched";
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = routes_.find(route);
  if (it == routes_.end()) it = routes_.emplace(std::string{route}, route_stats{}).first;
  auto& st = it->second;
  auto c = std::find_if(st.counts.begin(), st.counts.end(),
                        [&](const count& x) { return x.status == status && x.method == method; });
  if (c == st.counts.end()) st.counts.push_back({std::string{method}, status, 1});
  else ++c->n;
  for (size_t i = 0; i < buckets.size(); ++i)
    if (seconds <= buckets[i]) ++st.bucket_counts[i];
  ++st.observations;
  st.sum += seconds;
}

std::string metrics::render(const std::vector<gauge>& extra) const {
  std::string out;
  out.reserve(4096);
  {
    std::lock_guard<std::mutex> guard{mutex_};
    out += "# HELP nextcrm_http_requests_total HTTP requests answered, by route, method and status.\n";
    out += "# TYPE nextcrm_http_requests_total counter\n";
    for (const auto& [route, st] : routes_) {
      for (const auto& c : st.counts) {
        out += "nextcrm_http_requests_total{route=\"";
        append_label(out, route);
        out += "\",method=\"";
        append_label(out, c.method);
        out += "\",status=\"" + std::to_string(c.status) + "\"} " + std::to_string(c.n) + "\n";
      }
    }
    out += "# HELP nextcrm_http_request_duration_seconds Time from a complete request to its response.\n";
    out += "# TYPE nextcrm_http_request_duration_seconds histogram\n";
    const std::string prefix = "nextcrm_http_request_duration_seconds";
    for (const auto& [route, st] : routes_) {
      std::string labels = "route=\"";
      append_label(labels, route);
      labels += "\"";
      for (size_t i = 0; i < buckets.size(); ++i) {
        out += prefix + "_bucket{" + labels + ",le=\"";
        append_double(out, buckets[i]);
        out += "\"} " + std::to_string(st.bucket_counts[i]) + "\n";
      }
      out += prefix + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(st.observations) + "\n";
      out += prefix + "_sum{" + labels + "} ";
      append_double(out, st.sum);
      out += "\n" + prefix + "_count{" + labels + "} " + std::to_string(st.observations) + "\n";
    }
  }
  out += "# HELP nextcrm_http_open_connections Client connections open now.\n";
  out += "# TYPE nextcrm_http_open_connections gauge\n";
  out += "nextcrm_http_open_connections " + std::to_string(open_connections()) + "\n";
  out += "# HELP nextcrm_http_connections_rejected_total Connections refused at the connection cap.\n";
  out += "# TYPE nextcrm_http_connections_rejected_total counter\n";
  out += "nextcrm_http_connections_rejected_total " + std::to_string(rejected_.load()) + "\n";
  std::string last_family;
  for (const auto& g : extra) {
    std::string family = g.name.substr(0, g.name.find('{'));
    if (family != last_family) {
      out += "# HELP " + family + " " + g.help + "\n# TYPE " + family + " gauge\n";
      last_family = family;
    }
    out += g.name + " ";
    append_double(out, g.value);
    out += "\n";
  }
  return out;
}

} // namespace crm::http
