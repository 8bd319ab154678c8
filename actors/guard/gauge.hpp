// actors/guard/gauge.hpp
// Where the request path meets a user's budget actor without a message
// (ADR-0048): the front adds what each call costs to monotonic counters and
// judges the call against the snapshot the actor last published; the actor
// flushes the counters to Redis on its own timer, publishes a new snapshot
// (the window's totals over every node), and acts (incidents, lock) when a
// front raises the alarm. A message is sent only when something happens: a
// line crossed, a honeytoken read, the first call after an idle spell.
//
// Exactness on one node: a snapshot pairs the totals Redis returned with
// the counters' values they include (`included`), swapped atomically, so
// base + (counted now - included) never counts a call twice or misses one.
// The snapshot is immutable once published; readers share it.
#pragma once
#include "protocols/guard.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace crm::actors {

// Record id hash -> "warn" | "block": the tenant's honeytokens.
using honeytoken_map = std::unordered_map<uint64_t, std::string>;

// 64-bit FNV-1a of a record id (distinct_records and honeytokens).
inline uint64_t id_hash(std::string_view id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return h;
}

struct guard_snapshot {
  std::vector<protocols::guard_budget> budgets;  // binding the user
  std::vector<int64_t> base;                     // per budget: the window's total at the last flush
  std::array<int64_t, protocols::guard_metric_count> included{};  // counter values inside `base`
  std::vector<protocols::guard_level> acted;     // per budget: what the actor did in its current window
  std::shared_ptr<const honeytoken_map> honeytokens;
  std::vector<std::string> policies;             // per budget: its RateLimit-Policy
  std::vector<std::string> state_heads;          // per budget: RateLimit up to r= ("requests-60";r=)
  std::vector<std::string> state_tails;          // and after it (;t=60)
  bool wants_ids = false;                        // a distinct_records budget or a honeytoken exists
  bool loaded = false;                           // base came from Redis (or Redis was away)
  int64_t at_ms = 0;                             // when base was read (unix ms)
  int64_t fresh_until_ms = 0;                    // past it a front asks for a fresh snapshot first
};
using snapshot_ptr = std::shared_ptr<const guard_snapshot>;

struct guard_gauge {
  // Monotonic: everything this node counted for the user since the gauge exists.
  std::array<std::atomic<int64_t>, protocols::guard_metric_count> counted{};
  // The published snapshot behind a reader-writer lock: readers only touch
  // the lock word (std::atomic<std::shared_ptr> of libstdc++ 12 spins with
  // sched_yield under contention: every call reads it).
  snapshot_ptr load() const {
    std::shared_lock<std::shared_mutex> lock{snapshot_mutex};
    return snapshot;
  }
  void store(snapshot_ptr s) {
    std::unique_lock<std::shared_mutex> lock{snapshot_mutex};
    snapshot.swap(s);
  }
  std::atomic<bool> armed{false};    // a flush is scheduled
  std::atomic<bool> alarmed{false};  // the actor was told a line was crossed and has not answered yet
  std::atomic<int64_t> touched_ms{0};  // the last time a call past warn was reported to the actor
  std::mutex ids_mutex;              // record id hashes since the last flush (distinct_records)
  std::unordered_set<uint64_t> ids;
  static constexpr size_t max_ids = 100'000;  // while flushes fail, ids past it are counted, not kept

  // The newest call, kept at most every 100 ms (what an incident raised by a
  // flush, e.g. the baseline's, names): under call_mutex.
  std::mutex call_mutex;
  std::string last_traceparent, last_trace_id, last_client, last_user_agent;
  std::atomic<int64_t> call_at_ms{0};

  mutable std::shared_mutex snapshot_mutex;
  snapshot_ptr snapshot;

  int64_t now(protocols::guard_metric m) const { return counted[static_cast<size_t>(m)].load(std::memory_order_relaxed); }
};
using gauge_ptr = std::shared_ptr<guard_gauge>;

// The observed value of each budget of `s` with the gauge's counters now
// (each counter read once).
inline std::vector<int64_t> observed(const guard_snapshot& s, const guard_gauge& g) {
  std::array<int64_t, protocols::guard_metric_count> since{};
  for (size_t m = 0; m < since.size(); ++m) since[m] = g.counted[m].load(std::memory_order_relaxed) - s.included[m];
  std::vector<int64_t> out(s.budgets.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = s.base[i] + since[static_cast<size_t>(s.budgets[i].metric)];
  return out;
}

// The highest level over the budgets, and whether any is past what the
// actor has acted on (then it must be told).
struct guard_judgement {
  protocols::guard_level level = protocols::guard_level::none;
  bool news = false;
};

inline guard_judgement judge_levels(const guard_snapshot& s, const std::vector<int64_t>& obs) {
  guard_judgement j;
  for (size_t i = 0; i < s.budgets.size(); ++i) {
    auto l = protocols::level_of(s.budgets[i], obs[i]);
    if (l > j.level) j.level = l;
    if (l > s.acted[i]) j.news = true;
  }
  return j;
}

} // namespace crm::actors
