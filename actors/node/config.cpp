#include "actors/node/config.hpp"

#include "actors/core/build_info.hpp"
#include "protocols/jwt.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <thread>

namespace crm::actors {
namespace {

template <class T>
bool parse_number(std::string_view s, T& out, T min, T max) {
  T v{};
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size() || v < min || v > max) return false;
  out = v;
  return true;
}

bool parse_ms(std::string_view s, std::chrono::milliseconds& out) {
  int64_t v = 0;
  if (!parse_number<int64_t>(s, v, 1, 86'400'000)) return false;
  out = std::chrono::milliseconds(v);
  return true;
}

// "kind=ms,kind=ms" (kinds of actors/core/chaos_kinds.hpp, or all) -> the plan.
bool parse_chaos(std::string_view v, std::vector<chaos_step>& out) {
  out.clear();
  while (!v.empty()) {
    auto comma = v.find(',');
    auto item = v.substr(0, comma);
    v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) return false;
    int64_t ms = 0;
    if (!parse_number<int64_t>(item.substr(eq + 1), ms, 0, 3'600'000)) return false;
    auto name = item.substr(0, eq);
    if (name == "all") {
      for (size_t k = 0; k < chaos_kind_count; ++k) out.push_back({static_cast<chaos_kind>(k), std::chrono::milliseconds(ms)});
      continue;
    }
    auto kind = chaos_kind_of(name);
    if (!kind) return false;
    out.push_back({*kind, std::chrono::milliseconds(ms)});
  }
  return true;
}

struct option {
  const char* flag;  // without "--"
  const char* env;
  const char* fallback;
  const char* help;
  std::function<bool(config&, std::string_view)> apply;
};

const std::vector<option>& options() {
  static const std::vector<option> table = {
    {"role", "NEXTCRM_ROLE", "all", "node role: all, core, content, runner",
     [](config& c, std::string_view v) { return parse_role(v, c.node_role); }},
    {"listen", "NEXTCRM_LISTEN", "127.0.0.1:8081", "public HTTP listener host:port (port 0 = any)",
     [](config& c, std::string_view v) { return parse_host_port(v, c.listen); }},
    {"admin-listen", "NEXTCRM_ADMIN_LISTEN", "127.0.0.1:9091", "admin listener (GET /metrics, /health)",
     [](config& c, std::string_view v) { return parse_host_port(v, c.admin_listen); }},
    {"pg-url", "NEXTCRM_PG_URL", "host=127.0.0.1 port=5432 dbname=nextcrm user=nextcrm_app",
     "libpq conninfo of the application role (not owner, no BYPASSRLS)",
     [](config& c, std::string_view v) { c.pg.conninfo = v; return !v.empty(); }},
    {"pg-migrate-url", "NEXTCRM_PG_MIGRATE_URL", "", "conninfo of the owner role for `migrate` (default: pg-url)",
     [](config& c, std::string_view v) { c.pg_migrate_url = v; return true; }},
    {"pg-connections", "NEXTCRM_PG_CONNECTIONS", "8",
     "pipelined PostgreSQL connections (writes want several: a commit waits for its WAL flush)",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.pg.connections, 1, 64); }},
    {"pg-statement-cache", "NEXTCRM_PG_STATEMENT_CACHE", "256",
     "query shapes prepared per PostgreSQL connection (the query DSL's); 0 = plan every query anew",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.pg.statement_cache, 0, 100'000); }},
    {"migrations-dir", "NEXTCRM_MIGRATIONS_DIR", build_migrations_dir, "folder of NNNN_name.sql files",
     [](config& c, std::string_view v) { c.migrations_dir = v; return !v.empty(); }},
    {"redis-addr", "NEXTCRM_REDIS_ADDR", "127.0.0.1:6379", "Redis host:port",
     [](config& c, std::string_view v) {
       host_port hp;
       if (!parse_host_port(v, hp)) return false;
       c.redis.host = hp.host;
       c.redis.port = hp.port;
       return true;
     }},
    {"redis-sentinels", "NEXTCRM_REDIS_SENTINELS", "",
     "Redis Sentinel host:port,... (docs/CLUSTER.md): the primary is asked of them and followed through a failover "
     "(NEXTCRM_REDIS_ADDR is then unused); empty = NEXTCRM_REDIS_ADDR",
     [](config& c, std::string_view v) {
       c.redis_sentinels.clear();
       while (!v.empty()) {
         auto comma = v.find(',');
         host_port hp;
         if (!parse_host_port(v.substr(0, comma), hp)) return false;
         c.redis_sentinels.push_back(hp);
         v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
       }
       return true;
     }},
    {"redis-master", "NEXTCRM_REDIS_MASTER", "nextcrm", "the primary's name at the sentinels",
     [](config& c, std::string_view v) {
       c.redis_master = std::string{v};
       return !v.empty();
     }},
    {"platform-token", "NEXTCRM_PLATFORM_TOKEN", "", "platform operator bearer token (secret, never logged)",
     [](config& c, std::string_view v) { c.platform_token = v; return true; }},
    {"jwt-keys", "NEXTCRM_JWT_KEYS", "",
     "JWT HS256 keys 'kid:base64secret,...' (secret; first signs, all verify; unset = a random key per start)",
     [](config& c, std::string_view v) {
       c.jwt_keys = v;
       return v.empty() || static_cast<bool>(protocols::parse_jwt_keys(v));
     }},
    {"hasher-threads", "NEXTCRM_HASHER_THREADS", "0", "argon2id password hashing threads; 0 = one per core",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.hasher_threads, 0, 64); }},
    {"actor-timeout-ms", "NEXTCRM_ACTOR_TIMEOUT_MS", "5000", "deadline of each request between actors",
     [](config& c, std::string_view v) { return parse_ms(v, c.actor_timeout); }},
    {"jwt-ttl-s", "NEXTCRM_JWT_TTL_S", "3600", "access token lifetime in seconds",
     [](config& c, std::string_view v) { return parse_number<int>(v, c.jwt_ttl_s, 60, 86400 * 30); }},
    {"query-default-page", "NEXTCRM_QUERY_DEFAULT_PAGE", "50", "query DSL: page size when none is asked",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.query_caps.default_page, 1, 10'000); }},
    {"query-max-page", "NEXTCRM_QUERY_MAX_PAGE", "500", "query DSL: largest page size (query.page_too_large)",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.query_caps.max_page, 1, 10'000); }},
    {"query-max-predicates", "NEXTCRM_QUERY_MAX_PREDICATES", "20", "query DSL: predicates per filter (query.too_complex)",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.query_caps.max_predicates, 1, 1000); }},
    {"query-max-depth", "NEXTCRM_QUERY_MAX_DEPTH", "5", "query DSL: filter nesting depth (query.too_complex)",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.query_caps.max_depth, 1, 64); }},
    {"query-max-in", "NEXTCRM_QUERY_MAX_IN", "100", "query DSL: values in one in/nin (query.too_complex)",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.query_caps.max_in, 1, 10'000); }},
    {"query-max-sort", "NEXTCRM_QUERY_MAX_SORT", "3", "query DSL: sort keys (query.too_complex)",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.query_caps.max_sort, 1, 16); }},
    {"query-timeout-ms", "NEXTCRM_QUERY_TIMEOUT_MS", "2000", "PostgreSQL statement_timeout of one query",
     [](config& c, std::string_view v) { return parse_ms(v, c.query_timeout); }},
    {"io-threads", "NEXTCRM_IO_THREADS", "0", "Asio I/O threads; 0 = one per core",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.http.io_threads, 0, 64); }},
    {"workers", "NEXTCRM_WORKERS", "0", "CAF scheduler threads; 0 = half the cores, at least 1",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.workers, 0, 256); }},
    {"fronts", "NEXTCRM_FRONTS", "0",
     "front actors sharing the stateless API work; 0 = one per CAF worker (I/O thread i feeds front i mod n)",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.fronts, 0, 256); }},
    {"scheduler", "NEXTCRM_SCHEDULER", "sharing", "CAF scheduler policy: sharing or stealing",
     [](config& c, std::string_view v) {
       c.scheduler = v;
       return v == "sharing" || v == "stealing";
     }},
    {"trusted-proxies", "NEXTCRM_TRUSTED_PROXIES", "",
     "addresses/CIDR blocks of the gateway whose X-Forwarded-For names the client (e.g. 127.0.0.1/32,::1/128); "
     "empty = trust no forwarded header",
     [](config& c, std::string_view v) {
       auto parsed = protocols::trusted_proxies::parse(v);
       if (parsed) c.http.trusted_proxies = std::move(*parsed);
       return static_cast<bool>(parsed);
     }},
    {"max-connections", "NEXTCRM_MAX_CONNECTIONS", "10000", "open client connections; more get 503",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.http.max_connections, 1, 1'000'000); }},
    {"request-timeout-ms", "NEXTCRM_REQUEST_TIMEOUT_MS", "15000", "first byte to complete request; slower -> 408",
     [](config& c, std::string_view v) { return parse_ms(v, c.http.request_timeout); }},
    {"idle-timeout-ms", "NEXTCRM_IDLE_TIMEOUT_MS", "60000", "keep-alive idle time before close",
     [](config& c, std::string_view v) { return parse_ms(v, c.http.idle_timeout); }},
    {"handler-timeout-ms", "NEXTCRM_HANDLER_TIMEOUT_MS", "30000", "deadline for an answer; then 503",
     [](config& c, std::string_view v) { return parse_ms(v, c.http.handler_timeout); }},
    {"shutdown-grace-s", "NEXTCRM_SHUTDOWN_GRACE_S", "10", "SIGTERM: time allowed for in-flight requests",
     [](config& c, std::string_view v) {
       int s = 0;
       if (!parse_number<int>(v, s, 0, 3600)) return false;
       c.http.shutdown_grace = std::chrono::seconds(s);
       return true;
     }},
    {"shutdown-drain-ms", "NEXTCRM_SHUTDOWN_DRAIN_MS", "1000",
     "SIGTERM: keep accepting this long, every answer with Connection: close (a gateway's pooled connections end "
     "cleanly), then close the listeners and finish in-flight requests",
     [](config& c, std::string_view v) {
       int64_t ms = 0;
       if (!parse_number<int64_t>(v, ms, 0, 600'000)) return false;  // 0: close the listeners at once
       c.http.shutdown_drain = std::chrono::milliseconds(ms);
       return true;
     }},
    {"health-interval-ms", "NEXTCRM_HEALTH_INTERVAL_MS", "500", "dependency probe interval",
     [](config& c, std::string_view v) { return parse_ms(v, c.health_interval); }},
    {"bus-stream", "NEXTCRM_BUS_STREAM", "nxp:events", "Redis stream the event relay writes (Block 8)",
     [](config& c, std::string_view v) {
       c.bus_stream = v;
       return !v.empty() && v.size() <= 200;
     }},
    {"bus-maxlen", "NEXTCRM_BUS_MAXLEN", "1000000",
     "events kept in the stream (XADD MAXLEN ~, approximate): the retention for consumers and replay",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.bus_maxlen, 1000, 1'000'000'000); }},
    {"bus-batch", "NEXTCRM_BUS_BATCH", "500", "outbox rows the relay moves per batch",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.bus_batch, 1, 10000); }},
    {"bus-poll-ms", "NEXTCRM_BUS_POLL_MS", "1000",
     "the relay looks at the outbox this often even without a NOTIFY (lost notifications, restarts)",
     [](config& c, std::string_view v) { return parse_ms(v, c.bus_poll); }},
    {"bus-max-deliveries", "NEXTCRM_BUS_MAX_DELIVERIES", "5",
     "tries of one stream entry by a consumer group before it goes to <stream>:dead with the reason",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.bus_max_deliveries, 1, 1000); }},
    {"bus-claim-idle-ms", "NEXTCRM_BUS_CLAIM_IDLE_MS", "30000",
     "a consumer group entry unacknowledged this long is taken over (a failed try, or a dead consumer's)",
     [](config& c, std::string_view v) { return parse_ms(v, c.bus_claim_idle); }},
    {"bus-replay-from", "NEXTCRM_BUS_REPLAY_FROM", "",
     "a stream entry id (e.g. 0 or 1764760000000-0): at start, the consumer groups of this node read again from "
     "there (XGROUP SETID); their effects are idempotent on the envelope id",
     [](config& c, std::string_view v) {
       c.bus_replay_from = v;
       return v.size() <= 64;
     }},
    {"webhook-allow-hosts", "NEXTCRM_WEBHOOK_ALLOW_HOSTS", "",
     "hosts webhooks may target (comma-separated names or addresses); a name resolving to a loopback or private "
     "address is refused unless that address is listed too; empty = no webhook can be created",
     [](config& c, std::string_view v) {
       c.webhook_allow_hosts = v;
       return true;
     }},
    {"webhook-workers", "NEXTCRM_WEBHOOK_WORKERS", "2", "threads delivering webhooks (libcurl), roles all and runner",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.webhook_workers, 0, 64); }},
    {"webhook-max-attempts", "NEXTCRM_WEBHOOK_MAX_ATTEMPTS", "8", "attempts of one delivery before it is given up",
     [](config& c, std::string_view v) { return parse_number<int>(v, c.webhook_max_attempts, 1, 100); }},
    {"webhook-disable-after", "NEXTCRM_WEBHOOK_DISABLE_AFTER", "10",
     "failed attempts in a row that disable a subscription (PATCH enabled=true re-enables it)",
     [](config& c, std::string_view v) { return parse_number<int>(v, c.webhook_disable_after, 1, 10000); }},
    {"webhook-retry-base-ms", "NEXTCRM_WEBHOOK_RETRY_BASE_MS", "1000",
     "the first retry's delay; doubled per attempt, with jitter, up to the cap",
     [](config& c, std::string_view v) { return parse_ms(v, c.webhook_retry_base); }},
    {"webhook-retry-cap-ms", "NEXTCRM_WEBHOOK_RETRY_CAP_MS", "3600000", "the longest delay between attempts",
     [](config& c, std::string_view v) { return parse_ms(v, c.webhook_retry_cap); }},
    {"webhook-timeout-ms", "NEXTCRM_WEBHOOK_TIMEOUT_MS", "10000", "one delivery's total time (connect: a third of it)",
     [](config& c, std::string_view v) { return parse_ms(v, c.webhook_timeout); }},
    {"content-dir", "NEXTCRM_CONTENT_DIR", "nextcrm-content",
     "content role: folder of the quarantine, the safe store and the jobs' work (on one filesystem, never served)",
     [](config& c, std::string_view v) { c.content.dir = v; return !v.empty(); }},
    {"content-worker", "NEXTCRM_CONTENT_WORKER", "",
     "the sanitizer binary (its image half is <path>-image beside it); empty = nextcrm-worker beside nextcrm",
     [](config& c, std::string_view v) { c.content.worker = v; return true; }},
    {"content-signatures", "NEXTCRM_CONTENT_SIGNATURES", "",
     "ClamAV database folder (ours has the EICAR test signature; add main.cvd/daily.cvd there); "
     "empty = deploy/clamav of the source tree",
     [](config& c, std::string_view v) { c.content.signatures = v; return true; }},
    {"content-clamd", "NEXTCRM_CONTENT_CLAMD", "auto",
     "virus scans: auto (the node runs its own clamd in the sandbox), off (clamscan per file: loads the "
     "signatures every time), or the Unix socket of an operator's clamd",
     [](config& c, std::string_view v) {
       c.content.clamd_mode = v;
       return v == "auto" || v == "off" || (!v.empty() && v.front() == '/');
     }},
    {"content-image-fuzzy-hash", "NEXTCRM_CONTENT_IMAGE_FUZZY_HASH", "off",
     "on: ClamAV computes image fuzzy hashes (decodes every image: ~40 ms per 2 MP JPEG) for image signatures",
     [](config& c, std::string_view v) {
       c.content.image_fuzzy_hash = v == "on";
       return v == "on" || v == "off";
     }},
    {"content-bwrap", "NEXTCRM_CONTENT_BWRAP", "/usr/bin/bwrap", "bubblewrap, the sandbox of the scanner and the sanitizer",
     [](config& c, std::string_view v) { c.content.bwrap = v; return !v.empty(); }},
    {"content-max-upload-bytes", "NEXTCRM_CONTENT_MAX_UPLOAD_BYTES", "268435456",
     "the node's upload cap (413 past it, checked while the body streams); a tenant's cap is at most this",
     [](config& c, std::string_view v) { return parse_number<int64_t>(v, c.content.max_upload, 1, 4000ll << 20); }},
    {"content-jobs", "NEXTCRM_CONTENT_JOBS", "0", "uploads processed at once by this node; 0 = one per core",
     [](config& c, std::string_view v) { return parse_number<size_t>(v, c.content.max_jobs, 0, 256); }},
    {"content-lease-s", "NEXTCRM_CONTENT_LEASE_S", "30",
     "a content job's claim; a crashed node's jobs are resumed by any node after it",
     [](config& c, std::string_view v) {
       int64_t s = 0;
       if (!parse_number<int64_t>(v, s, 1, 3600)) return false;
       c.content.lease = std::chrono::seconds(s);
       return true;
     }},
    {"content-scan-timeout-ms", "NEXTCRM_CONTENT_SCAN_TIMEOUT_MS", "60000", "ClamAV's time per file; past it: rejected",
     [](config& c, std::string_view v) { return parse_ms(v, c.content.scan_timeout); }},
    {"content-sanitize-timeout-ms", "NEXTCRM_CONTENT_SANITIZE_TIMEOUT_MS", "120000",
     "the sanitizer's time per file; past it: rejected",
     [](config& c, std::string_view v) { return parse_ms(v, c.content.sanitize_timeout); }},
    {"content-max-pixels", "NEXTCRM_CONTENT_MAX_PIXELS", "100000000",
     "images with more pixels are rejected before decoding (decompression bombs)",
     [](config& c, std::string_view v) { return parse_number<uint64_t>(v, c.content.max_pixels, 1, 10'000'000'000ull); }},
    {"content-worker-memory-mb", "NEXTCRM_CONTENT_WORKER_MEMORY_MB", "2048",
     "address space of one sandboxed scanner or sanitizer process",
     [](config& c, std::string_view v) {
       uint64_t mb = 0;
       if (!parse_number<uint64_t>(v, mb, 64, 65536)) return false;
       c.content.worker_memory = mb << 20;
       return true;
     }},
    {"content-token-ttl-s", "NEXTCRM_CONTENT_TOKEN_TTL_S", "120", "download tokens' default lifetime (a request may ask up to 3600)",
     [](config& c, std::string_view v) { return parse_number<int64_t>(v, c.content_token_ttl_s, 1, 3600); }},
    {"content-hold-ms", "NEXTCRM_CONTENT_HOLD_MS", "0",
     "tests and demos: each content job waits this long in `processing` before its scan (0 in production)",
     [](config& c, std::string_view v) {
       int64_t ms = 0;
       if (!parse_number<int64_t>(v, ms, 0, 3'600'000)) return false;
       c.content.hold = std::chrono::milliseconds(ms);
       return true;
     }},
    {"guard", "NEXTCRM_GUARD", "on", "the CRM Guard: on, or off (no budgets, no incidents; for benchmarks)",
     [](config& c, std::string_view v) {
       c.guard = v == "on";
       return v == "on" || v == "off";
     }},
    {"profile", "NEXTCRM_PROFILE", "production",
     "production, development or test; fault injection (NEXTCRM_CHAOS) is refused in production",
     [](config& c, std::string_view v) {
       c.profile = std::string{v};
       return v == "production" || v == "development" || v == "test";
     }},
    {"chaos", "NEXTCRM_CHAOS", "",
     "fault injection (docs/CLUSTER.md): kind=ms,... kills one actor of the kind (front, tenant, session, budget, "
     "storage, relay, pool, job) or drops one connection (pg, redis, consumer) every ms milliseconds (0: only on "
     "SIGUSR2, which fires every listed kind once; all=ms: every kind); off when empty, refused in production",
     [](config& c, std::string_view v) { return parse_chaos(v, c.chaos); }},
    {"chaos-seed", "NEXTCRM_CHAOS_SEED", "1", "the chaos facility's random seed (which actor of a kind dies)",
     [](config& c, std::string_view v) { return parse_number<uint64_t>(v, c.chaos_seed, 0, UINT64_MAX); }},
    {"guard-flush-ms", "NEXTCRM_GUARD_FLUSH_MS", "50",
     "how often a budget actor adds its counts to Redis (bounds the overshoot past block across nodes)",
     [](config& c, std::string_view v) { return parse_ms(v, c.guard_flush); }},
    {"guard-idle-s", "NEXTCRM_GUARD_IDLE_S", "120", "a user's budget actor ends after this long without traffic",
     [](config& c, std::string_view v) {
       int64_t s = 0;
       if (!parse_number<int64_t>(v, s, 1, 86400)) return false;
       c.guard_idle = std::chrono::seconds(s);
       return true;
     }},
    {"guard-baseline-period-s", "NEXTCRM_GUARD_BASELINE_PERIOD_S", "3600",
     "the baseline's period: rows read per period, averaged (EWMA) over the earlier ones",
     [](config& c, std::string_view v) { return parse_number<int64_t>(v, c.guard_baseline.period_s, 1, 86400); }},
    {"guard-baseline-min-periods", "NEXTCRM_GUARD_BASELINE_MIN_PERIODS", "24",
     "periods of history before the baseline may raise an incident",
     [](config& c, std::string_view v) { return parse_number<int64_t>(v, c.guard_baseline.min_periods, 1, 100000); }},
    {"guard-baseline-factor", "NEXTCRM_GUARD_BASELINE_FACTOR", "10",
     "a period past this many times the user's mean raises a warn incident",
     [](config& c, std::string_view v) {
       int64_t f = 0;
       if (!parse_number<int64_t>(v, f, 2, 1000)) return false;
       c.guard_baseline.factor = static_cast<double>(f);
       return true;
     }},
    {"guard-baseline-floor", "NEXTCRM_GUARD_BASELINE_FLOOR", "1000",
     "rows read in a period below which the baseline never fires",
     [](config& c, std::string_view v) { return parse_number<int64_t>(v, c.guard_baseline.floor, 0, 1'000'000'000); }},
    {"log-level", "NEXTCRM_LOG_LEVEL", "info", "debug, info, warn, error",
     [](config& c, std::string_view v) { return parse_log_level(v, c.level); }},
  };
  return table;
}

} // namespace

bool parse_host_port(std::string_view text, host_port& out) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  auto host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint16_t port = 0;
  if (!parse_number<uint16_t>(text.substr(colon + 1), port, 0, 65535)) return false;
  out = {std::string{host}, port};
  return true;
}

std::string help_text() {
  std::string out =
      "usage: nextcrm [serve|migrate|version|admin] [--flag=value ...]\n\n"
      "commands:\n"
      "  serve     run the server (default)\n"
      "  migrate   apply storage/migrations/*.sql (as the owner role), then exit\n"
      "  version   print {\"service\",\"version\",\"commit\"} and exit\n"
      "  admin create-tenant --slug=S --name=N --admin-email=E\n"
      "            create a tenant, its roles and its admin (as POST /api/v1/tenants); the\n"
      "            admin password is read from NEXTCRM_ADMIN_PASSWORD or the first line of stdin\n\n"
      "configuration (environment variable, --flag override, default):\n"
      "  The defaults suit a plain install (PostgreSQL on 5432, Redis on 6379). The dev\n"
      "  stack (deploy/dev.sh up) runs its own on 15432 and 16379 and passes every\n"
      "  NEXTCRM_* variable of its environment through to the server; `nextcrm admin`\n"
      "  run inside the clone reads the stack's settings from .run/nextcrm.env.\n\n";
  for (const auto& o : options()) {
    out += "  " + std::string{o.env} + "  --" + o.flag + "\n      " + o.help;
    if (*o.fallback) out += " [default: " + std::string{o.fallback} + "]";
    out += "\n";
  }
  return out;
}

bool load_config(int argc, char** argv, const getenv_fn& getenv, config& out, std::string& error) {
  config c;
  for (const auto& o : options()) {  // defaults, then the environment
    if (*o.fallback) o.apply(c, o.fallback);
    if (const char* v = getenv(o.env); v && *v && !o.apply(c, v)) {
      error = std::string{"invalid value for "} + o.env;
      return false;
    }
  }
  bool have_command = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      c.help = true;
      continue;
    }
    if (c.command == "admin" && have_command) {  // the admin subcommand reads its own flags
      c.args.emplace_back(arg);
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      if (!have_command) {
        c.command = arg;
        have_command = true;
      } else {
        c.args.emplace_back(arg);
      }
      continue;
    }
    auto body = arg.substr(2);
    auto eq = body.find('=');
    auto name = body.substr(0, eq);
    std::string value;
    if (eq != std::string_view::npos) value = body.substr(eq + 1);
    else if (i + 1 < argc) value = argv[++i];
    const option* match = nullptr;
    for (const auto& o : options())
      if (name == o.flag) match = &o;
    if (!match) {
      error = "unknown option --" + std::string{name} + " (see --help)";
      return false;
    }
    if (!match->apply(c, value)) {
      error = "invalid value for --" + std::string{name};
      return false;
    }
  }
  if (c.command != "serve" && c.command != "migrate" && c.command != "version" && c.command != "admin") {
    error = "unknown command '" + c.command + "' (see --help)";
    return false;
  }
  if (c.pg_migrate_url.empty()) c.pg_migrate_url = c.pg.conninfo;
  if (c.query_caps.default_page > c.query_caps.max_page) {
    error = "NEXTCRM_QUERY_DEFAULT_PAGE is larger than NEXTCRM_QUERY_MAX_PAGE";
    return false;
  }
  if (!c.chaos.empty() && c.profile == "production") {
    error = "NEXTCRM_CHAOS is refused in the production profile (NEXTCRM_PROFILE=test or development)";
    return false;
  }
  if (c.query_timeout >= c.actor_timeout) {  // else the actor deadline answers before the database does
    error = "NEXTCRM_QUERY_TIMEOUT_MS must be below NEXTCRM_ACTOR_TIMEOUT_MS";
    return false;
  }
  // ADR-0022: on 2 cores, 2 I/O threads and 1 worker measured best for the
  // request path; heavy actor work goes to pools, not to more workers.
  size_t cores = std::max(1u, std::thread::hardware_concurrency());
  if (c.http.io_threads == 0) c.http.io_threads = cores;
  if (c.workers == 0) c.workers = std::max<size_t>(1, cores / 2);
  if (c.fronts == 0) c.fronts = c.workers;
  if (c.hasher_threads == 0) c.hasher_threads = cores;
  if (c.content.max_jobs == 0) c.content.max_jobs = cores;
  {  // the content pipeline's files: absolute, so the sandbox can mount them
    namespace fs = std::filesystem;
    std::error_code ec;
    c.content.dir = fs::absolute(c.content.dir, ec).lexically_normal().string();
    if (c.content.worker.empty()) {
      auto self = fs::read_symlink("/proc/self/exe", ec);
      c.content.worker = (ec ? fs::path{"nextcrm-worker"} : self.parent_path() / "nextcrm-worker").string();
    }
    if (c.content.signatures.empty())
      c.content.signatures = (fs::path{build_migrations_dir}.parent_path().parent_path() / "deploy" / "clamav").string();
    c.content.worker = fs::absolute(c.content.worker, ec).string();
    c.content.signatures = fs::absolute(c.content.signatures, ec).string();
  }
  out = std::move(c);
  return true;
}

std::map<std::string, std::string> read_env_file(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    auto value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    out[line.substr(0, eq)] = value;
  }
  return out;
}

std::string find_dev_env(std::string dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto p = fs::absolute(dir, ec); !ec && !p.empty(); p = p.parent_path()) {
    auto candidate = p / ".run" / "nextcrm.env";
    std::error_code missing;  // a path that does not exist sets it: not an error here
    if (fs::is_regular_file(candidate, missing)) return candidate.string();
    if (p == p.root_path()) break;
  }
  return {};
}

} // namespace crm::actors
