#include "actors/node/node.hpp"

#include "storage/sql/identity_sql.hpp"

#include "actors/guard/guard.hpp"
#include "actors/core/random.hpp"
#include "actors/node/supervisor.hpp"
#include "protocols/hex.hpp"
#include "protocols/password.hpp"
#include "protocols/access_log.hpp"
#include "protocols/json_writer.hpp"

#include <caf/all.hpp>

#include <filesystem>
#include <future>
#include <pthread.h>
#include <sys/un.h>
#include <unistd.h>

namespace crm::actors {
namespace {

std::string field(std::string_view key, std::string_view value) {
  std::string out;
  protocols::append_json_string(out, key);
  out += ':';
  protocols::append_json_string(out, value);
  return out;
}

} // namespace

node::node(caf::actor_system& sys, const config& cfg, log_sink& log)
    : sys_(sys),
      cfg_(cfg),
      log_(log),
      slots_(cfg.fronts),
      storage_guard_(asio::make_work_guard(storage_io_)) {
  auto storage_event = [this](std::string_view event, std::string_view detail) {
    // pg.statement_refused (the client's data) is no server problem: info
    bool bad = event.find("failed") != std::string_view::npos || event.find("lost") != std::string_view::npos ||
               event.find("timeout") != std::string_view::npos;
    log_.event(bad ? log_level::warn : log_level::info, event, field("detail", detail));
  };
  pg_ = std::make_unique<storage::pg_pool>(storage_io_, cfg_.pg, storage::all_statements(),
                                           storage_event);
  if (cfg_.redis_sentinels.empty()) {
    locator_ = std::make_unique<storage::redis_locator>(storage::redis_address{cfg_.redis.host, cfg_.redis.port});
  } else {
    std::vector<storage::redis_address> sentinels;
    for (const auto& s : cfg_.redis_sentinels) sentinels.emplace_back(s.host, s.port);
    locator_ = std::make_unique<storage::redis_locator>(std::move(sentinels), cfg_.redis_master, storage_event);
  }
  auto redis_options = cfg_.redis;
  redis_options.locate = [l = locator_.get()] { return l->current(); };
  redis_ = std::make_unique<storage::redis_client>(storage_io_, redis_options, storage_event);
  locator_->on_change([r = redis_.get()] { r->reconnect(); });
  routes_ = std::make_shared<const protocols::router>(build_router(cfg_.node_role));

  http::server_hooks hooks;
  hooks.dispatch = [this](size_t io_index, std::vector<http::exchange>&& batch) {
    // A dead or missing front drops the message; the reply handles then answer 503.
    if (auto front = slots_.for_io(io_index)) caf::anon_send(front, http_batch{std::move(batch)});
  };
  // The one match of a request: here, for the body limit; the front reuses it.
  hooks.body_limit = [this, routes = routes_, fallback = cfg_.http.unmatched_body_limit](http::request& req) {
    req.route = routes->match(req.method, req.path, req.where);
    req.routed = true;
    if (req.route.result != protocols::route_match::outcome::found) return fallback;
    if (req.route.matched->media == protocols::body_media::upload) return prepare_upload(req, upload_edge_);
    return req.route.matched->body_limit;
  };
  hooks.completed = [this](const http::completion& c) {
    metrics_.record(c.resp.route, c.method, c.resp.status, c.latency);
    if (!log_.enabled(c.resp.status >= 500 ? log_level::error : log_level::info)) return;
    protocols::access_record rec;
    rec.ts = std::chrono::system_clock::now();
    rec.trace_id = c.trace_id;
    rec.request_id = c.request_id;
    rec.client = c.client;
    rec.route = c.resp.route;
    rec.method = c.method;
    rec.status = c.resp.status;
    rec.dur_ms = std::chrono::duration<double, std::milli>(c.latency).count();
    rec.tenant_id = c.resp.tenant_id;
    rec.user_id = c.resp.user_id;
    thread_local std::string line;  // reused: no allocation per request
    line.clear();
    protocols::append_access_log_line(line, rec);
    log_.write(line);
  };
  server_ = std::make_unique<http::server>(cfg_.http, std::move(hooks), metrics_);
}

node::~node() {
  stop();
  locator_->stop();  // started even when start() failed later: its callback uses redis_, destroyed before it
}

bool node::start(std::string& error) {
  std::error_code ec;
  port_ = server_->listen(cfg_.listen.host, cfg_.listen.port, protocols::listener::public_api, ec);
  if (ec) {
    error = "cannot listen on " + cfg_.listen.host + ":" + std::to_string(cfg_.listen.port) + ": " +
            ec.message();
    return false;
  }
  admin_port_ = server_->listen(cfg_.admin_listen.host, cfg_.admin_listen.port,
                                protocols::listener::admin, ec);
  if (ec) {
    error = "cannot listen on " + cfg_.admin_listen.host + ":" +
            std::to_string(cfg_.admin_listen.port) + ": " + ec.message();
    return false;
  }
  storage_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "nx-storage");  // per-thread CPU figures (test/bench)
    storage_io_.run();
  });
  pg_->start();
  locator_->start();  // with sentinels: asks them before the first connect
  redis_->start();

  supervisor_deps deps;
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
  };
  auto keys = std::make_shared<protocols::jwt_keyring>();
  if (cfg_.jwt_keys.empty()) {  // dev convenience: tokens die with the process
    keys->keys.push_back({"ephemeral", random_bytes(32)});
    log_.event(log_level::warn, "NEXTCRM_JWT_KEYS is not set: a random key signs tokens until restart");
  } else {
    *keys = *protocols::parse_jwt_keys(cfg_.jwt_keys);  // validated by load_config
  }
  if (cfg_.platform_token.empty())
    log_.event(log_level::warn, "NEXTCRM_PLATFORM_TOKEN is not set: POST /api/v1/tenants is disabled");
  api_deps api;
  api.registry = &registry_slot_;
  api.storage = &storage_slot_;
  api.keys = keys;
  api.platform_token = cfg_.platform_token;
  api.timeout = cfg_.actor_timeout;
  api.now = now;
  api.query_caps = cfg_.query_caps;
  api.query_timeout = cfg_.query_timeout;
  // Cursors are signed with a key derived from the newest JWT key: they
  // stay valid across restarts and die with a key rotation, like tokens.
  api.cursor_key = protocols::derive_key(keys->keys.front().secret, "nextcrm query cursors");
  api.webhook_allow = protocols::webhook_allowlist::parse(cfg_.webhook_allow_hosts);
  bool content_role = cfg_.node_role == role::all || cfg_.node_role == role::content;
  if (content_role && !prepare_content(error)) return false;
  api.content_pool = content_role ? &content_slot_ : nullptr;
  api.content_dir = cfg_.content.dir;
  api.content_token_key = protocols::derive_key(keys->keys.front().secret, "nextcrm content download tokens");
  api.content_max_upload = cfg_.content.max_upload;
  api.content_token_ttl_s = cfg_.content_token_ttl_s;
  upload_edge_ = {quarantine_dir(cfg_.content.dir), keys, now, cfg_.content.max_upload};
  deps.front = {routes_, &metrics_, std::move(api), [this] { return node_gauges(); }};
  deps.pool = pg_.get();
  deps.hasher_threads = cfg_.hasher_threads;
  deps.registry_slot = &registry_slot_;
  deps.storage_slot = &storage_slot_;
  deps.identity.keys = keys;
  deps.identity.token_ttl = std::chrono::seconds(cfg_.jwt_ttl_s);
  deps.identity.timeout = cfg_.actor_timeout;
  deps.identity.now = now;
  // Verified against when a login names no existing user: same cost, same answer.
  deps.identity.dummy_hash = protocols::hash_password(random_bytes(16), random_bytes(16));
  // The CRM Guard counts in Redis, shared by every node (docs/GUARD.md).
  if (cfg_.guard) deps.identity.guard.redis = redis_.get();
  deps.identity.guard.flush = cfg_.guard_flush;
  deps.identity.guard.idle = cfg_.guard_idle;
  deps.identity.guard.baseline = cfg_.guard_baseline;
  deps.identity.guard.now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  deps.relay.storage = &storage_slot_;
  deps.relay.sink = redis_sink(redis_.get(), !cfg_.redis_sentinels.empty(), std::chrono::milliseconds(300));
  deps.relay.counters = &bus_counters_;
  deps.relay.stream = cfg_.bus_stream;
  deps.relay.maxlen = cfg_.bus_maxlen;
  deps.relay.batch = cfg_.bus_batch;
  deps.relay.poll = cfg_.bus_poll;
  deps.relay.timeout = cfg_.actor_timeout;
  deps.relay_slot = &relay_slot_;
  deps.content = cfg_.content;
  deps.content_slot = content_role ? &content_slot_ : nullptr;
  // A transaction that wrote events has committed: this node's relay looks at once.
  pg_->on_events_committed([this] {
    if (auto r = relay_slot_.get()) caf::anon_send(r, bus_wake_atom::value);
  });
  signals_ = std::make_unique<signal_tail>(
      [l = locator_.get()] { return l->current(); }, cfg_.bus_stream,
      [this](protocols::nxp_signal s) {
        if (auto registry = registry_slot_.get())
          caf::anon_send(registry, signal_atom::value, s.tenant, static_cast<uint8_t>(s.what), s.id, s.user_id);
      },
      [this](std::string_view event, std::string_view detail) {
        log_.event(log_level::warn, event, field("detail", detail));
      });
  if (cfg_.node_role == role::all || cfg_.node_role == role::runner) start_modules();
  deps.slot = &slots_;
  deps.health.slot = &slots_;
  deps.health.interval = cfg_.health_interval;
  deps.health.probe_postgres = [pg = pg_.get()](std::function<void(bool)> done) {
    pg->ping(std::move(done));
  };
  deps.health.probe_redis = [redis = redis_.get()](std::function<void(bool)> done) {
    redis->ping(std::move(done));
  };
  supervisor_ = sys_.spawn(crm::actors::supervisor, std::move(deps));
  if (!cfg_.chaos.empty()) {  // load_config refused it in the production profile
    chaos_deps cd;
    cd.supervisor = supervisor_;
    cd.plan = cfg_.chaos;
    cd.seed = cfg_.chaos_seed;
    cd.counts = &chaos_counts_;
    cd.drop = [this](chaos_kind kind, uint64_t pick) {
      if (kind == chaos_kind::pg) pg_->chaos_drop(pick);
      else if (kind == chaos_kind::redis) redis_->reconnect();
      else if (kind == chaos_kind::consumer && webhook_group_) webhook_group_->chaos_drop();
    };
    chaos_ = sys_.spawn(crm::actors::chaos, std::move(cd));
    log_.event(log_level::warn, "chaos.enabled", field("detail", "NEXTCRM_CHAOS: actors are killed on purpose"));
  }
  // every node that caches sessions follows the bus (a download token dies with its session)
  if (cfg_.node_role != role::runner) signals_->start();
  running_ = true;
  server_->start();
  for (auto [name, port] : {std::pair{"http", port_}, std::pair{"admin", admin_port_}}) {
    auto& hp = std::string_view{name} == "http" ? cfg_.listen : cfg_.admin_listen;
    log_.event(log_level::info, "listening",
               field("listener", name) + "," + field("addr", hp.host + ":" + std::to_string(port)));
  }
  return true;
}

// The content role's folders (0700; the quarantine and the store are never
// served by anything but the download route) and the tools it runs.
bool node::prepare_content(std::string& error) {
  namespace fs = std::filesystem;
  auto& c = cfg_.content;
  for (const char* sub : {"quarantine", "store", "work", "retained"}) {
    std::error_code ec;
    auto dir = fs::path{c.dir} / sub;
    fs::create_directories(dir, ec);
    if (ec) return error = "cannot create " + dir.string() + ": " + ec.message(), false;
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  std::error_code perm_ec;
  fs::permissions(c.dir, fs::perms::owner_all, perm_ec);
  for (auto [what, path] : {std::pair{"the sanitizer (NEXTCRM_CONTENT_WORKER)", c.worker},
                            std::pair{"the image sanitizer", c.worker + "-image"},
                            std::pair{"bubblewrap (NEXTCRM_CONTENT_BWRAP)", c.bwrap},
                            std::pair{"clamscan", c.clamscan}})
    if (::access(path.c_str(), X_OK) != 0) return error = std::string{what} + " is not at " + path, false;
  if (!fs::is_directory(c.signatures)) return error = "no ClamAV signature folder at " + c.signatures, false;
  if (c.clamd_mode == "auto" && clamd_daemon::socket_for(c.dir).size() + 1 > sizeof(sockaddr_un{}.sun_path)) {
    log_.event(log_level::warn, "content.clamd_path_too_long",
               field("detail", "the content folder's path is too long for clamd's socket: clamscan scans each file"));
  } else if (c.clamd_mode == "auto") {
    if (::access(c.clamd.c_str(), X_OK) != 0) return error = "clamd is not at " + c.clamd + " (or NEXTCRM_CONTENT_CLAMD=off)", false;
    clamd_ = std::make_unique<clamd_daemon>(c);
    if (!clamd_->start(error)) return false;
    c.clamd_socket = clamd_->socket();
  } else if (c.clamd_mode != "off") {
    c.clamd_socket = c.clamd_mode;
  }
  char host[128] = {};
  gethostname(host, sizeof host - 1);
  auto r = random_bytes(4);
  c.node_id = std::string{host} + "-" + std::to_string(getpid()) + "-" +
              protocols::to_hex(reinterpret_cast<const uint8_t*>(r.data()), r.size());
  return true;
}

// The node's own figures for /metrics beside the HTTP ones: the chaos
// facility's kills and drops, the relay's, and the consumers' of this node
// (lag: entries of the stream the group has not read yet).
std::vector<http::metrics::gauge> node::node_gauges() const {
  std::vector<http::metrics::gauge> out;
  if (chaos_)
    for (size_t k = 0; k < chaos_kind_count; ++k)
      out.push_back({"nextcrm_chaos_events_total{kind=\"" + std::string{chaos_kind_names[k]} + "\"}",
                     "Actors killed and connections dropped by the chaos facility (NEXTCRM_CHAOS).",
                     static_cast<double>(chaos_counts_[k].load())});
  std::vector<http::metrics::gauge> bus{
      {"nextcrm_bus_published_total", "Envelopes the relay moved from the outbox to the stream.",
       static_cast<double>(bus_counters_.published.load())},
      {"nextcrm_bus_publish_failures_total", "XADDs of the relay that failed (retried).",
       static_cast<double>(bus_counters_.publish_failed.load())},
      {"nextcrm_bus_relay_lag_ms", "Commit to XADD of the newest envelope published.",
       static_cast<double>(bus_counters_.last_lag_ms.load())},
  };
  out.insert(out.end(), bus.begin(), bus.end());
  if (webhook_group_) {
    const auto& s = webhook_group_->stats();
    const std::string g = "{group=\"webhooks\"}";
    out.push_back({"nextcrm_bus_consumer_handled_total" + g, "Entries a consumer group applied and acknowledged.",
                   static_cast<double>(s.handled.load())});
    out.push_back({"nextcrm_bus_consumer_failures_total" + g, "Handler failures of a consumer group (retried).",
                   static_cast<double>(s.failed.load())});
    out.push_back({"nextcrm_bus_consumer_dead_letters_total" + g, "Entries moved to <stream>:dead.",
                   static_cast<double>(s.dead_lettered.load())});
    out.push_back({"nextcrm_bus_consumer_lag" + g, "Entries of the stream the group has not read yet.",
                   static_cast<double>(s.lag.load())});
    out.push_back({"nextcrm_bus_consumer_pending" + g, "Entries read by the group, not yet acknowledged.",
                   static_cast<double>(s.pending.load())});
  }
  if (webhooks_) {
    const auto& w = webhooks_->stats();
    out.push_back({"nextcrm_webhook_delivered_total", "Webhook deliveries answered 2xx.",
                   static_cast<double>(w.delivered.load())});
    out.push_back({"nextcrm_webhook_failed_attempts_total", "Webhook attempts that failed.",
                   static_cast<double>(w.failed_attempts.load())});
    out.push_back({"nextcrm_webhook_given_up_total", "Webhook deliveries given up after the last attempt.",
                   static_cast<double>(w.given_up.load())});
  }
  return out;
}

// The consumers and modules of the runner role (also in role all).
void node::start_modules() {
  auto event = [this](std::string_view event, std::string_view detail) {
    log_.event(log_level::warn, event, field("detail", detail));
  };
  // one transaction through the storage actor, from a module's own thread
  auto run_db = [this](db_request rq) -> caf::expected<db_result> {
    auto storage = storage_slot_.get();
    if (!storage) return caf::make_error(protocols::errc::dependency_unavailable, "the storage actor restarts");
    caf::scoped_actor self{sys_};
    caf::expected<db_result> out = caf::make_error(protocols::errc::dependency_unavailable, "no answer");
    self->request(storage, cfg_.actor_timeout, db_atom::value, std::move(rq))
        .receive([&](db_result& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  };
  webhook_options wo;
  wo.allow = protocols::webhook_allowlist::parse(cfg_.webhook_allow_hosts);
  wo.workers = cfg_.webhook_workers;
  wo.max_attempts = cfg_.webhook_max_attempts;
  wo.disable_after = cfg_.webhook_disable_after;
  wo.retry_base = cfg_.webhook_retry_base;
  wo.retry_cap = cfg_.webhook_retry_cap;
  wo.timeout = cfg_.webhook_timeout;
  webhooks_ = std::make_unique<webhook_module>(std::move(wo), run_db, event);
  group_consumer_options go;
  go.locate = [l = locator_.get()] { return l->current(); };
  go.stream = cfg_.bus_stream;
  go.group = "webhooks";
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  go.consumer = std::string{host} + "-" + std::to_string(getpid());
  go.max_deliveries = cfg_.bus_max_deliveries;
  go.replay_from = cfg_.bus_replay_from;
  go.min_idle = cfg_.bus_claim_idle;
  go.claim_every = std::min<std::chrono::milliseconds>(cfg_.bus_claim_idle, std::chrono::milliseconds(5000));
  webhook_group_ = std::make_unique<group_consumer>(
      go, [w = webhooks_.get()](const std::vector<stream_entry>& batch) { return w->fan_out(batch); }, event);
  webhooks_->start();
  webhook_group_->start();
}

void node::chaos_now() {
  if (chaos_) caf::anon_send(chaos_, chaos_atom::value);
}

void node::stop() {
  if (!running_) return;
  running_ = false;
  if (chaos_) caf::anon_send_exit(chaos_, caf::exit_reason::kill);
  std::promise<void> drained;
  server_->shutdown([&drained] { drained.set_value(); });
  drained.get_future().wait();
  server_->stop();
  if (signals_) signals_->stop();
  if (webhook_group_) webhook_group_->stop();
  if (webhooks_) webhooks_->stop();
  {  // wait until no actor can touch the storage clients any more
    caf::scoped_actor self{sys_};
    self->monitor(supervisor_);
    self->send_exit(supervisor_, caf::exit_reason::user_shutdown);
    self->receive([](const caf::down_msg&) {},
                  caf::after(std::chrono::seconds(5)) >> [this] {
                    log_.event(log_level::warn, "supervisor did not stop within 5 s");
                  });
  }
  supervisor_ = nullptr;
  if (clamd_) clamd_->stop();
  pg_->stop();
  redis_->stop();
  locator_->stop();
  storage_guard_.reset();
  // Give stop() handlers a moment to run, then end the storage thread.
  asio::post(storage_io_, [this] { storage_io_.stop(); });
  if (storage_thread_.joinable()) storage_thread_.join();
}

} // namespace crm::actors
