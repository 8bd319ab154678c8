#include "actors/bus/group_consumer.hpp"

#include "actors/bus/blocking_redis.hpp"

#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

namespace crm::actors {

namespace {

constexpr int block_ms = 500;  // how soon stop() is seen

bool is_error(const reply_ptr& r, std::string_view prefix = {}) {
  return r && r->type == REDIS_REPLY_ERROR && std::string_view{r->str, r->len}.substr(0, prefix.size()) == prefix;
}

// [[id, [field, value, ...]], ...] -> entries (an entry trimmed away has a nil body: skipped).
std::vector<stream_entry> entries_of(const redisReply* list) {
  std::vector<stream_entry> out;
  if (!list || list->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i < list->elements; ++i) {
    auto* e = list->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
    stream_entry entry{str(e->element[0]), {}};
    auto* fields = e->element[1];
    if (fields && fields->type == REDIS_REPLY_ARRAY)
      for (size_t f = 0; f + 1 < fields->elements; f += 2)
        if (str(fields->element[f]) == "envelope") entry.envelope = str(fields->element[f + 1]);
    out.push_back(std::move(entry));
  }
  return out;
}

// An XREADGROUP reply ([[stream, entries]]) -> its entries.
std::vector<stream_entry> read_batch(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1 || r->element[0]->elements < 2) return {};
  return entries_of(r->element[0]->element[1]);
}

} // namespace

group_consumer::group_consumer(group_consumer_options options, handler handle, event_fn on_event)
    : options_(std::move(options)), handle_(std::move(handle)), on_event_(std::move(on_event)) {}

group_consumer::~group_consumer() { stop(); }

void group_consumer::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread{[this] {
    pthread_setname_np(pthread_self(), "nx-bus-group");
    run();
  }};
}

void group_consumer::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void group_consumer::chaos_drop() {
  std::lock_guard<std::mutex> lock{fd_mutex_};
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void group_consumer::run() {
  const auto& o = options_;
  const std::string dead_stream = o.stream + ":dead";
  bool replayed = o.replay_from.empty();
  while (!stopping_) {
    auto conn = connect_blocking(o.locate, block_ms / 1000 + 5, stopping_, on_event_, "bus.group_connect_failed");
    if (!conn) break;
    redisContext* c = conn.get();
    struct published_fd {  // chaos_drop may shut this socket down until the connection is freed
      group_consumer& g;
      published_fd(group_consumer& owner, int fd) : g(owner) {
        std::lock_guard<std::mutex> lock{g.fd_mutex_};
        g.fd_ = fd;
      }
      ~published_fd() {
        std::lock_guard<std::mutex> lock{g.fd_mutex_};
        g.fd_ = -1;
      }
    } published{*this, c->fd};
    // BUSYGROUP: it exists already, which is what we want
    command(c, {"XGROUP", "CREATE", o.stream, o.group, "$", "MKSTREAM"});
    if (!replayed) {
      command(c, {"XGROUP", "SETID", o.stream, o.group, o.replay_from});
      replayed = true;
    }
    // process one batch: the effects, then XACK or remember the failure
    auto process = [&](std::vector<stream_entry> batch) {
      if (batch.empty()) return;
      auto results = handle_(batch);
      std::vector<std::string> ack{"XACK", o.stream, o.group};
      for (size_t i = 0; i < batch.size(); ++i) {
        const auto& reason = i < results.size() ? results[i] : std::string{"no answer"};
        if (reason.empty()) {
          ack.push_back(batch[i].id);
          last_failure_.erase(batch[i].id);
          ++stats_.handled;
        } else {
          last_failure_[batch[i].id] = reason;
          ++stats_.failed;
        }
      }
      if (ack.size() > 3) command(c, ack);
    };
    // Entries taken back (our own failures, or a dead consumer's): each one
    // delivered more than max_deliveries times goes to the dead letter
    // stream, the others are tried again. Every retry reads the entry again,
    // which counts it in its deliveries.
    auto settle = [&](std::vector<stream_entry> taken) {
      std::vector<stream_entry> retry;
      for (auto& e : taken) {
        auto info = command(c, {"XPENDING", o.stream, o.group, e.id, e.id, "1"});
        long long deliveries = 0;
        if (info && info->type == REDIS_REPLY_ARRAY && info->elements == 1 && info->element[0]->elements >= 4)
          deliveries = info->element[0]->element[3]->integer;
        if (deliveries > static_cast<long long>(o.max_deliveries)) {
          auto it = last_failure_.find(e.id);
          auto reason = it != last_failure_.end() ? it->second : "failed " + std::to_string(deliveries - 1) + " deliveries";
          command(c, {"XADD", dead_stream, "MAXLEN", "~", "100000", "*", "entry", e.id, "group", o.group, "reason",
                      reason, "deliveries", std::to_string(deliveries - 1), "envelope", e.envelope});
          command(c, {"XACK", o.stream, o.group, e.id});
          last_failure_.erase(e.id);
          ++stats_.dead_lettered;
          if (on_event_) on_event_("bus.dead_lettered", e.id + " " + reason);
        } else {
          retry.push_back(std::move(e));
        }
      }
      process(std::move(retry));
    };
    // Our own failures (a database away for a moment: a node starting, an
    // outage), and after a reconnect whatever we had read when the connection
    // broke, are read again from our pending list after a backoff that
    // doubles up to claim_every; a dead consumer's entries are taken over
    // with XAUTOCLAIM once idle longer than min_idle.
    bool check_own = true;
    const auto backoff_cap = std::max<std::chrono::milliseconds>(o.claim_every, std::chrono::milliseconds(500));
    auto backoff = std::chrono::milliseconds(250);
    auto next_retry = std::chrono::steady_clock::now();
    auto next_claim = std::chrono::steady_clock::now();
    while (!stopping_) {
      auto r = command(c, {"XREADGROUP", "GROUP", o.group, o.consumer, "COUNT", std::to_string(o.batch), "BLOCK",
                           std::to_string(last_failure_.empty() && !check_own ? block_ms : std::min<int>(block_ms, 100)),
                           "STREAMS", o.stream, ">"});
      if (!r) break;  // connection lost
      if (is_error(r, "READONLY")) break;  // a primary demoted by a failover: to the new one
      if (is_error(r, "NOGROUP")) {  // Redis lost the group (no persistence): recreate, say so
        if (on_event_) on_event_("bus.group_lost", o.group);
        command(c, {"XGROUP", "CREATE", o.stream, o.group, "0", "MKSTREAM"});
        continue;
      }
      process(read_batch(r.get()));
      auto now = std::chrono::steady_clock::now();
      if ((check_own || !last_failure_.empty()) && now >= next_retry) {
        check_own = false;
        auto failed_before = stats_.failed.load();
        auto own = command(c, {"XREADGROUP", "GROUP", o.group, o.consumer, "COUNT", std::to_string(o.batch),
                               "STREAMS", o.stream, "0"});
        if (!own) break;
        auto mine = read_batch(own.get());
        // an entry of ours no longer pending (acknowledged, claimed away) has no failure to remember
        std::map<std::string, std::string> still;
        for (const auto& e : mine)
          if (auto it = last_failure_.find(e.id); it != last_failure_.end()) still.insert(*it);
        if (mine.size() < o.batch) last_failure_.swap(still);
        settle(std::move(mine));
        backoff = stats_.failed.load() == failed_before ? std::chrono::milliseconds(250)
                                                        : std::min(backoff * 2, backoff_cap);
        next_retry = std::chrono::steady_clock::now() + backoff;
      }
      if (now < next_claim) continue;
      next_claim = now + o.claim_every;
      // take over what idled too long (a dead consumer's, or ours)
      auto claimed = command(c, {"XAUTOCLAIM", o.stream, o.group, o.consumer, std::to_string(o.min_idle.count()),
                                 "0-0", "COUNT", std::to_string(o.batch)});
      if (claimed && claimed->type == REDIS_REPLY_ARRAY && claimed->elements >= 2)
        settle(entries_of(claimed->element[1]));
      // figures for /metrics
      auto groups = command(c, {"XINFO", "GROUPS", o.stream});
      if (groups && groups->type == REDIS_REPLY_ARRAY)
        for (size_t g = 0; g < groups->elements; ++g) {
          auto* kv = groups->element[g];
          bool ours = false;
          int64_t lag = -1, pending = 0;
          for (size_t k = 0; k + 1 < kv->elements; k += 2) {
            auto key = str(kv->element[k]);
            auto* v = kv->element[k + 1];
            if (key == "name") ours = str(v) == o.group;
            else if (key == "lag" && v->type == REDIS_REPLY_INTEGER) lag = v->integer;
            else if (key == "pending" && v->type == REDIS_REPLY_INTEGER) pending = v->integer;
          }
          if (ours) {
            stats_.lag = lag;
            stats_.pending = pending;
          }
        }
    }
    if (!stopping_ && on_event_) on_event_("bus.group_lost_connection", c->errstr);
  }
}

} // namespace crm::actors
