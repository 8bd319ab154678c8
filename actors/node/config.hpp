// actors/node/config.hpp
// The only place that reads configuration: NEXTCRM_* environment variables,
// each overridable by a --flag (--listen=... for NEXTCRM_LISTEN). Values are
// validated here and handed down as plain option structs. `nextcrm --help`
// prints help_text(). Secrets (the platform token) are never printed.
#pragma once
#include "actors/node/log_sink.hpp"
#include "actors/api/route_table.hpp"
#include "actors/content/content.hpp"
#include "actors/core/chaos_kinds.hpp"
#include "http/options.hpp"
#include "protocols/guard.hpp"
#include "protocols/query.hpp"
#include "storage/pg/pg_pool.hpp"
#include "storage/redis/redis_client.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace crm::actors {

struct host_port {
  std::string host;
  uint16_t port = 0;
};

struct config {
  std::string command = "serve";   // serve | migrate | version | help
  std::vector<std::string> args;   // positional arguments after the command
  role node_role = role::all;
  host_port listen{"127.0.0.1", 8081};
  host_port admin_listen{"127.0.0.1", 9091};
  std::string pg_migrate_url;
  std::string migrations_dir;
  std::string platform_token;      // secret: never logged
  std::string jwt_keys;            // secret: NEXTCRM_JWT_KEYS, validated by parse_jwt_keys
  size_t hasher_threads = 0;       // argon2id threads; 0 = one per core
  int jwt_ttl_s = 3600;
  std::chrono::milliseconds actor_timeout{5000};  // deadline of requests between actors
  protocols::query_caps query_caps;               // the query DSL's caps (defaults pinned in docs/protocols/QUERY-DSL.md)
  std::chrono::milliseconds query_timeout{2000};  // PostgreSQL statement_timeout of a query
  // The event bus (Block 8): the stream the relay writes, its approximate
  // length bound, rows per relay batch, the fallback poll.
  std::string bus_stream = "nxp:events";
  size_t bus_maxlen = 1000000;
  size_t bus_batch = 500;
  std::chrono::milliseconds bus_poll{1000};
  size_t bus_max_deliveries = 5;  // a consumer's tries of one entry before its dead-letter stream
  std::chrono::milliseconds bus_claim_idle{30000};  // a pending entry idle this long is taken over (XAUTOCLAIM)
  std::string bus_replay_from;  // a stream entry id: the consumer groups start again from there
  // The webhook connector (ADR-0047).
  std::string webhook_allow_hosts;
  size_t webhook_workers = 2;
  int webhook_max_attempts = 8;
  int webhook_disable_after = 10;
  std::chrono::milliseconds webhook_retry_base{1000};
  std::chrono::milliseconds webhook_retry_cap{3600000};
  std::chrono::milliseconds webhook_timeout{10000};
  // The CRM Guard (Block 6, docs/GUARD.md).
  bool guard = true;
  // Fault injection (actors/chaos, docs/CLUSTER.md): off when empty; refused
  // in the production profile.
  std::string profile = "production";
  std::vector<host_port> redis_sentinels;  // NEXTCRM_REDIS_SENTINELS: follow the primary through failovers
  std::string redis_master = "nextcrm";
  std::vector<chaos_step> chaos;
  uint64_t chaos_seed = 1;
  std::chrono::milliseconds guard_flush{50};
  std::chrono::seconds guard_idle{120};
  protocols::baseline_rule guard_baseline;
  // The content pipeline (Block 7, docs/CONTENT.md).
  content_options content;
  int64_t content_token_ttl_s = 120;
  size_t workers = 1;              // CAF scheduler threads (0 in the config = auto)
  size_t fronts = 1;               // front actors (0 in the config = one per worker)
  std::string scheduler = "sharing";  // CAF scheduler policy: sharing | stealing
  log_level level = log_level::info;
  std::chrono::milliseconds health_interval{500};
  http::http_options http;
  storage::pg_options pg;
  storage::redis_options redis;
  bool help = false;
};

using getenv_fn = std::function<const char*(const char*)>;

// Parses `argv` over the environment. On error returns a message for stderr.
bool load_config(int argc, char** argv, const getenv_fn& getenv, config& out, std::string& error);

// The --help text: commands, then every variable with its flag and default.
std::string help_text();

// The settings of a dev stack's env file (`.run/nextcrm.env`, written by
// deploy/dev.sh up): KEY='value' or KEY=value lines, '#' comments.
std::map<std::string, std::string> read_env_file(const std::string& path);

// The nearest `.run/nextcrm.env` from `dir` up to the root, or "".
std::string find_dev_env(std::string dir);

// "host:port" -> {host, port}; false on a malformed value.
bool parse_host_port(std::string_view text, host_port& out);

} // namespace crm::actors
