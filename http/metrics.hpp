// http/metrics.hpp
// Request metrics shared by every I/O thread: counts by route, method and
// status, a latency histogram per route, open and rejected connections.
// Thread-safe (one mutex; recording costs one map lookup). Rendered as
// Prometheus text exposition format 0.0.4 for GET /metrics.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace crm::http {

class metrics {
public:
  // Upper bounds of the latency histogram buckets, in seconds.
  static constexpr std::array<double, 12> buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1.0,  5.0};

  void record(std::string_view route, std::string_view method, int status,
              std::chrono::nanoseconds latency);
  void connection_opened() { open_.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() { open_.fetch_sub(1, std::memory_order_relaxed); }
  void connection_rejected() { rejected_.fetch_add(1, std::memory_order_relaxed); }
  int64_t open_connections() const { return open_.load(std::memory_order_relaxed); }

  // Extra gauges (actor counts, dependency state) appended by the caller.
  struct gauge {
    std::string name;  // with labels, e.g. nextcrm_dependency_up{dependency="redis"}
    std::string help;
    double value;
  };

  // The exposition text, with `extra` gauges appended.
  std::string render(const std::vector<gauge>& extra) const;

private:
  struct count {
    std::string method;
    int status;
    uint64_t n;
  };
  struct route_stats {
    std::vector<count> counts;  // few (method, status) pairs per route: linear search
    std::array<uint64_t, buckets.size()> bucket_counts{};
    uint64_t observations = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, route_stats, std::less<>> routes_;  // find() by string_view: no allocation
  std::atomic<int64_t> open_{0};
  std::atomic<uint64_t> rejected_{0};
};

} // namespace crm::http
