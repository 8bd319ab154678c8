// storage/redis/guard_scripts.hpp
// The CRM Guard's counts in Redis (ADR-0049): one EVAL per budget actor
// flush adds what the actor counted since the last one and reads back what
// every node counted, atomically. Counters are hashes of buckets
// (field = bucket number), pruned as they leave the window; distinct record
// ids go into one HyperLogLog per bucket and are counted as the union of
// the window's buckets (PFCOUNT of several keys). The baseline is a hash
// with the current period's count and the mean of the earlier ones. The
// failed-login counts are hashes {f: failures, l: last failure}. Builds
// commands and reads replies; knows no connection. Pure.
#pragma once
#include "storage/redis/redis_commands.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace crm::storage {

struct guard_series_add {
  std::string key;        // guard_series_key()
  int64_t bucket_ms = 1000;
  int64_t buckets = 1;    // how many of the newest buckets make the window
  int64_t increment = 0;  // counters
  bool distinct = false;  // a HyperLogLog series: `ids` instead of `increment`
  std::vector<std::string> ids;
};

struct guard_baseline_add {
  std::string key;  // "" = no baseline in this flush
  int64_t period_s = 3600;
  double alpha = 0.2;
  int64_t increment = 0;
};

struct guard_flush_reply {
  std::vector<int64_t> totals;  // per series, in order: the window's count over every node
  double mean = 0;              // the baseline's mean per period
  int64_t periods = 0;          // finished periods behind it
  int64_t current = 0;          // this period's count so far
};

std::string guard_series_key(const std::string& prefix, const std::string& tenant, const std::string& user,
                             std::string_view metric, int64_t bucket_ms);
std::string guard_baseline_key(const std::string& prefix, const std::string& tenant, const std::string& user,
                               std::string_view metric);
// Every key of one user's counts start with this (an unlock clears them).
std::string guard_user_prefix(const std::string& prefix, const std::string& tenant, const std::string& user);

// EVAL of the flush script.
std::vector<std::string> guard_flush_command(int64_t now_ms, const std::vector<guard_series_add>& series,
                                             const guard_baseline_add& baseline);
std::optional<guard_flush_reply> read_guard_flush(const redis_reply& r, size_t series, bool baseline);

// EVAL that deletes every key under guard_user_prefix() (SCAN, not KEYS).
std::vector<std::string> guard_forget_command(const std::string& user_prefix);

// Failed logins, cluster-wide: keys are guard_login_key()s.
std::string guard_login_key(const std::string& prefix, std::string_view kind, std::string_view who);
// EVAL: -> per key {failures, last failure (unix s)}
std::vector<std::string> login_state_command(const std::vector<std::string>& keys);
// EVAL: one more failure at `now` for every key; each is forgotten `forget_s` after its last
std::vector<std::string> login_failed_command(const std::vector<std::string>& keys, int64_t now, int64_t forget_s);
// -> failures and last per key, or nullopt on a malformed reply
std::optional<std::vector<std::pair<int64_t, int64_t>>> read_login_state(const redis_reply& r, size_t keys);

} // namespace crm::storage
