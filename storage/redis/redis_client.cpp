#include "storage/redis/redis_client.hpp"

#include "protocols/errc.hpp"
#include "storage/redis/redis_asio.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/socket.h>

#include <tuple>

namespace crm::storage {

using protocols::errc;
using protocols::error_of;
using clock = std::chrono::steady_clock;

struct redis_client::pending {
  redis_client* owner;
  std::function<void(caf::expected<redis_reply>)> done;
  clock::time_point sent;
  std::list<pending*>::iterator pos;
};

redis_reply to_redis_reply(const redisReply* r) {
  redis_reply out;
  if (!r) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = redis_reply::kind::string; break;
    case REDIS_REPLY_STATUS: out.type = redis_reply::kind::status; break;
    case REDIS_REPLY_ERROR: out.type = redis_reply::kind::error; break;
    case REDIS_REPLY_INTEGER: out.type = redis_reply::kind::integer; break;
    case REDIS_REPLY_ARRAY: out.type = redis_reply::kind::array; break;
    default: out.type = redis_reply::kind::nil; break;
  }
  if (r->str) out.str.assign(r->str, r->len);
  out.integer = r->integer;
  for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(to_redis_reply(r->element[i]));
  return out;
}

redis_client::redis_client(asio::io_context& io, redis_options options, redis_event_fn on_event)
    : io_(io), options_(std::move(options)), on_event_(std::move(on_event)), backoff_(io),
      watchdog_(io) {}

redis_client::~redis_client() = default;

void redis_client::start() {
  asio::post(io_, [this] {
    stopped_ = false;
    connect();
    watchdog();
  });
}

void redis_client::stop() {
  asio::post(io_, [this] {
    stopped_ = true;
    backoff_.cancel();
    watchdog_.cancel();
    up_ = false;  // a deliberate stop is no lost connection
    connected_ = false;
    if (ac_) {
      auto* ac = ac_;
      ac_ = nullptr;
      redisAsyncFree(ac);  // pending callbacks get NULL replies
    }
  });
}

void redis_client::connect() {
  if (stopped_ || ac_) return;
  if (options_.locate) std::tie(options_.host, options_.port) = options_.locate();
  redisAsyncContext* ac = redisAsyncConnect(options_.host.c_str(), options_.port);
  if (!ac || ac->err) {
    if (on_event_) on_event_("redis.connect_failed", ac ? ac->errstr : "out of memory");
    if (ac) redisAsyncFree(ac);
    return retry_later();
  }
  ac->data = this;
  attach_redis_asio(io_, ac);  // first attach, then the callbacks
  redisAsyncSetConnectCallback(ac, &redis_client::on_connect);
  redisAsyncSetDisconnectCallback(ac, &redis_client::on_disconnect);
  ac_ = ac;
}

void redis_client::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<redis_client*>(ac->data);
  if (status != REDIS_OK) {  // hiredis frees the context; no disconnect callback follows
    if (self->on_event_) self->on_event_("redis.connect_failed", ac->errstr);
    self->ac_ = nullptr;
    return self->retry_later();
  }
  redisEnableKeepAlive(const_cast<redisContext*>(&ac->c));
  self->connected_ = true;
  self->gate();
}

// After (re)connect: ready only once PING answers PONG (not -LOADING).
void redis_client::gate() {
  if (!connected_ || !ac_) return;
  send({"PING"}, [this](caf::expected<redis_reply> r) {
    if (r && r->type == redis_reply::kind::status && r->str == "PONG") {
      failures_ = 0;
      up_ = true;
      if (on_event_) on_event_("redis.connected", "");
      return;
    }
    if (!connected_) return;  // the connection went away; reconnect handles it
    backoff_.expires_after(std::chrono::milliseconds(100));
    backoff_.async_wait([this](std::error_code ec) {
      if (!ec) gate();
    });
  });
}

void redis_client::on_disconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<redis_client*>(ac->data);
  self->ac_ = nullptr;
  self->lost(status == REDIS_OK ? "closed" : ac->errstr);
}

void redis_client::lost(std::string_view why) {
  bool was_up = up_.exchange(false);
  connected_ = false;
  if (on_event_ && was_up) on_event_("redis.connection_lost", why);
  retry_later();
}

void redis_client::retry_later() {
  if (stopped_) return;
  auto base = std::min<int64_t>(options_.backoff_max.count(),
                                options_.backoff_min.count() << std::min(failures_, 10));
  ++failures_;
  auto jittered = static_cast<int64_t>(base * std::uniform_real_distribution<>(0.5, 1.0)(rng_));
  backoff_.expires_after(std::chrono::milliseconds(std::max<int64_t>(1, jittered)));
  backoff_.async_wait([this](std::error_code ec) {
    if (!ec) connect();
  });
}

void redis_client::on_reply(redisAsyncContext*, void* reply, void* privdata) {
  auto* p = static_cast<pending*>(privdata);
  p->owner->in_flight_.erase(p->pos);
  auto done = std::move(p->done);
  delete p;
  if (!reply) return done(error_of(errc::dependency_unavailable, "redis connection lost"));
  done(to_redis_reply(static_cast<redisReply*>(reply)));
}

void redis_client::send(std::vector<std::string> argv,
                        std::function<void(caf::expected<redis_reply>)> done) {
  if (!ac_ || !connected_) return done(error_of(errc::dependency_unavailable, "redis is unavailable"));
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* p = new pending{this, std::move(done), clock::now(), {}};
  p->pos = in_flight_.insert(in_flight_.end(), p);
  if (redisAsyncCommandArgv(ac_, &redis_client::on_reply, p, static_cast<int>(args.size()),
                            args.data(), lens.data()) != REDIS_OK) {
    in_flight_.erase(p->pos);
    auto d = std::move(p->done);
    delete p;
    d(error_of(errc::dependency_unavailable, "redis is unavailable"));
  }
}

void redis_client::command(std::vector<std::string> argv,
                           std::function<void(caf::expected<redis_reply>)> done) {
  asio::post(io_, [this, argv = std::move(argv), done = std::move(done)]() mutable {
    if (!up_) return done(error_of(errc::dependency_unavailable, "redis is unavailable"));
    send(std::move(argv), std::move(done));
  });
}

void redis_client::pipeline(std::vector<std::vector<std::string>> batch, std::function<void(std::vector<bool>)> done) {
  asio::post(io_, [this, batch = std::move(batch), done = std::move(done)]() mutable {
    struct state {
      std::vector<bool> ok;
      size_t left;
      std::function<void(std::vector<bool>)> done;
    };
    auto st = std::make_shared<state>(state{std::vector<bool>(batch.size(), false), batch.size(), std::move(done)});
    if (batch.empty()) return st->done({});
    for (size_t i = 0; i < batch.size(); ++i) {
      auto answer = [st, i](caf::expected<redis_reply> r) {
        st->ok[i] = r && r->type != redis_reply::kind::error;
        if (--st->left == 0) st->done(std::move(st->ok));
      };
      if (!up_) answer(error_of(errc::dependency_unavailable, "redis is unavailable"));
      else send(std::move(batch[i]), std::move(answer));
    }
  });
}

void redis_client::ping(std::function<void(bool)> done) {
  command({"PING"}, [done = std::move(done)](caf::expected<redis_reply> r) {
    done(r && r->type == redis_reply::kind::status && r->str == "PONG");
  });
}

// Every 100 ms: a command older than the timeout means a hung server or
// network; free the context (every callback gets NULL) and reconnect.
void redis_client::watchdog() {
  if (stopped_) return;
  if (ac_ && !in_flight_.empty() && clock::now() - in_flight_.front()->sent > options_.command_timeout) {
    if (on_event_) on_event_("redis.timeout", "a command got no reply in time; reconnecting");
    auto* ac = ac_;
    ac_ = nullptr;
    redisAsyncFree(ac);  // runs the disconnect callback, which schedules the reconnect
    if (connected_ || up_) lost("timeout");
  }
  watchdog_.expires_after(std::chrono::milliseconds(100));
  watchdog_.async_wait([this](std::error_code ec) {
    if (!ec) watchdog();
  });
}

void redis_client::reconnect() {
  asio::post(io_, [this] {  // on the client's thread: the context cannot be freed meanwhile
    if (ac_ && ac_->c.fd >= 0) ::shutdown(ac_->c.fd, SHUT_RDWR);  // the disconnect path reconnects
  });
}

} // namespace crm::storage
