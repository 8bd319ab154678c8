#include "storage/redis/guard_scripts.hpp"

#include <charconv>
#include <cstdio>

namespace crm::storage {

namespace {

// ARGV: now_ms, n, then per series: key, bucket_ms, buckets, increment,
// kind ('c' counter | 'd' distinct), id count, ids...; then the baseline:
// key ('' = none), period_s, alpha, increment.
// Returns the window totals per series, then (with a baseline) its mean as
// a string, its finished periods and the current period's count.
constexpr const char* flush_script = R"lua(
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local i = 3
local out = {}
for s = 1, n do
  local key, bms, nb = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local inc, kind, nids = tonumber(ARGV[i + 3]), ARGV[i + 4], tonumber(ARGV[i + 5])
  i = i + 6
  local b = math.floor(now / bms)
  local ttl = bms * (nb + 1)
  if kind == 'c' then
    if inc > 0 then
      redis.call('HINCRBY', key, b, inc)
      redis.call('PEXPIRE', key, ttl)
    end
    local all = redis.call('HGETALL', key)
    local sum = 0
    for j = 1, #all, 2 do
      if tonumber(all[j]) <= b - nb then redis.call('HDEL', key, all[j]) else sum = sum + tonumber(all[j + 1]) end
    end
    out[#out + 1] = sum
  else
    local bk = key .. ':' .. b
    local j = 0
    while j < nids do
      local last = math.min(j + 500, nids)
      redis.call('PFADD', bk, unpack(ARGV, i + j, i + last - 1))
      j = last
    end
    if nids > 0 then redis.call('PEXPIRE', bk, ttl) end
    local keys = {}
    for k = b - nb + 1, b do keys[#keys + 1] = key .. ':' .. k end
    out[#out + 1] = redis.call('PFCOUNT', unpack(keys))
  end
  i = i + nids
end
local bkey = ARGV[i]
if bkey ~= '' then
  local period, alpha, inc = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local p = math.floor(now / 1000 / period)
  local h = redis.call('HMGET', bkey, 'p', 'cur', 'mean', 'n')
  local cp, cur, mean, cnt = tonumber(h[1]) or p, tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0
  if cp < p then
    if cnt == 0 then mean = cur else mean = alpha * cur + (1 - alpha) * mean end
    cnt = cnt + 1
    for k = 2, math.min(p - cp, 1000) do
      mean = (1 - alpha) * mean
      cnt = cnt + 1
    end
    cur = 0
    cp = p
  end
  cur = cur + inc
  redis.call('HSET', bkey, 'p', cp, 'cur', cur, 'mean', string.format('%.6f', mean), 'n', cnt)
  redis.call('EXPIRE', bkey, period * 1000)
  out[#out + 1] = string.format('%.6f', mean)
  out[#out + 1] = cnt
  out[#out + 1] = cur
end
return out
)lua";

constexpr const char* forget_script = R"lua(
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do redis.call('DEL', k) end
until cursor == '0'
return 1
)lua";

constexpr const char* login_state_script = R"lua(
local out = {}
for _, k in ipairs(ARGV) do
  local h = redis.call('HMGET', k, 'f', 'l')
  out[#out + 1] = tonumber(h[1]) or 0
  out[#out + 1] = tonumber(h[2]) or 0
end
return out
)lua";

constexpr const char* login_failed_script = R"lua(
local now, forget = ARGV[1], tonumber(ARGV[2])
for i = 3, #ARGV do
  redis.call('HINCRBY', ARGV[i], 'f', 1)
  redis.call('HSET', ARGV[i], 'l', now)
  redis.call('EXPIRE', ARGV[i], forget)
end
return 1
)lua";

bool read_int(const redis_reply& r, int64_t& out) {
  if (r.type == redis_reply::kind::integer) {
    out = r.integer;
    return true;
  }
  if (r.type != redis_reply::kind::string) return false;
  auto [p, ec] = std::from_chars(r.str.data(), r.str.data() + r.str.size(), out);
  return ec == std::errc{} && p == r.str.data() + r.str.size();
}

std::vector<std::string> eval(const char* script, size_t reserve) {
  std::vector<std::string> argv{"EVAL", script, "0"};
  argv.reserve(reserve + 3);
  return argv;
}

} // namespace

std::string guard_user_prefix(const std::string& prefix, const std::string& tenant, const std::string& user) {
  return prefix + ':' + tenant + ':' + user + ':';
}

std::string guard_series_key(const std::string& prefix, const std::string& tenant, const std::string& user,
                             std::string_view metric, int64_t bucket_ms) {
  return guard_user_prefix(prefix, tenant, user) + std::string{metric} + ':' + std::to_string(bucket_ms);
}

std::string guard_baseline_key(const std::string& prefix, const std::string& tenant, const std::string& user,
                               std::string_view metric) {
  return guard_user_prefix(prefix, tenant, user) + "baseline:" + std::string{metric};
}

std::string guard_login_key(const std::string& prefix, std::string_view kind, std::string_view who) {
  return prefix + ":login:" + std::string{kind} + ':' + std::string{who};
}

std::vector<std::string> guard_flush_command(int64_t now_ms, const std::vector<guard_series_add>& series,
                                             const guard_baseline_add& baseline) {
  auto argv = eval(flush_script, 6 + series.size() * 6);
  argv.push_back(std::to_string(now_ms));
  argv.push_back(std::to_string(series.size()));
  for (const auto& s : series) {
    argv.push_back(s.key);
    argv.push_back(std::to_string(s.bucket_ms));
    argv.push_back(std::to_string(s.buckets));
    argv.push_back(std::to_string(s.distinct ? 0 : s.increment));
    argv.push_back(s.distinct ? "d" : "c");
    argv.push_back(std::to_string(s.distinct ? s.ids.size() : 0));
    if (s.distinct) argv.insert(argv.end(), s.ids.begin(), s.ids.end());
  }
  argv.push_back(baseline.key);
  char alpha[32];
  std::snprintf(alpha, sizeof alpha, "%.6f", baseline.alpha);
  argv.push_back(std::to_string(baseline.period_s));
  argv.push_back(alpha);
  argv.push_back(std::to_string(baseline.increment));
  return argv;
}

std::optional<guard_flush_reply> read_guard_flush(const redis_reply& r, size_t series, bool baseline) {
  if (r.type != redis_reply::kind::array || r.elements.size() != series + (baseline ? 3 : 0)) return std::nullopt;
  guard_flush_reply out;
  for (size_t i = 0; i < series; ++i) {
    int64_t v = 0;
    if (!read_int(r.elements[i], v)) return std::nullopt;
    out.totals.push_back(v);
  }
  if (baseline) {
    const auto& mean = r.elements[series];
    if (mean.type != redis_reply::kind::string) return std::nullopt;
    try {
      out.mean = std::stod(mean.str);
    } catch (...) {
      return std::nullopt;
    }
    if (!read_int(r.elements[series + 1], out.periods) || !read_int(r.elements[series + 2], out.current))
      return std::nullopt;
  }
  return out;
}

std::vector<std::string> guard_forget_command(const std::string& user_prefix) {
  auto argv = eval(forget_script, 1);
  argv.push_back(user_prefix);
  return argv;
}

std::vector<std::string> login_state_command(const std::vector<std::string>& keys) {
  auto argv = eval(login_state_script, keys.size());
  argv.insert(argv.end(), keys.begin(), keys.end());
  return argv;
}

std::vector<std::string> login_failed_command(const std::vector<std::string>& keys, int64_t now, int64_t forget_s) {
  auto argv = eval(login_failed_script, keys.size() + 2);
  argv.push_back(std::to_string(now));
  argv.push_back(std::to_string(forget_s));
  argv.insert(argv.end(), keys.begin(), keys.end());
  return argv;
}

std::optional<std::vector<std::pair<int64_t, int64_t>>> read_login_state(const redis_reply& r, size_t keys) {
  if (r.type != redis_reply::kind::array || r.elements.size() != keys * 2) return std::nullopt;
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i < keys; ++i) {
    int64_t f = 0, l = 0;
    if (!read_int(r.elements[2 * i], f) || !read_int(r.elements[2 * i + 1], l)) return std::nullopt;
    out.emplace_back(f, l);
  }
  return out;
}

} // namespace crm::storage
