#include "storage/pg/pg_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>

#include <algorithm>

namespace crm::storage {

namespace {

constexpr auto wait_period = std::chrono::milliseconds(250);  // how soon stop() is seen
constexpr auto backoff_min = std::chrono::milliseconds(50);
constexpr auto backoff_max = std::chrono::milliseconds(2000);

} // namespace

pg_listener::pg_listener(std::string conninfo, std::string channel, notify_fn on_notify, event_fn on_event)
    : conninfo_(std::move(conninfo)), channel_(std::move(channel)), on_notify_(std::move(on_notify)),
      on_event_(std::move(on_event)) {}

pg_listener::~pg_listener() { stop(); }

void pg_listener::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread{[this] {
    pthread_setname_np(pthread_self(), "nx-pg-listen");
    run();
  }};
}

void pg_listener::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void pg_listener::run() {
  auto backoff = backoff_min;
  auto sleep = [&](std::chrono::milliseconds d) {
    for (auto left = d; left.count() > 0 && !stopping_; left -= wait_period)
      std::this_thread::sleep_for(std::min(left, wait_period));
  };
  while (!stopping_) {
    PGconn* conn = PQconnectdb(conninfo_.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
      if (on_event_) on_event_("pg.listen_connect_failed", PQerrorMessage(conn));
      PQfinish(conn);
      sleep(backoff);
      backoff = std::min(backoff * 2, backoff_max);
      continue;
    }
    // the channel is ours (a fixed identifier), never client text
    PGresult* res = PQexec(conn, ("LISTEN " + channel_).c_str());
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
      if (on_event_) on_event_("pg.listen_failed", PQerrorMessage(conn));
      PQfinish(conn);
      sleep(backoff);
      backoff = std::min(backoff * 2, backoff_max);
      continue;
    }
    backoff = backoff_min;
    connected_ = true;
    if (on_event_) on_event_("pg.listening", channel_);
    if (on_notify_) on_notify_();  // what was sent while we were away
    while (!stopping_) {
      pollfd p{PQsocket(conn), POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(wait_period.count()));
      if (n < 0) continue;
      if (n == 0) continue;
      if (PQconsumeInput(conn) == 0) break;  // the connection is gone
      bool any = false;
      while (PGnotify* note = PQnotifies(conn)) {
        any = true;
        PQfreemem(note);
      }
      if (any && on_notify_) on_notify_();
    }
    connected_ = false;
    if (!stopping_ && on_event_) on_event_("pg.listen_lost", PQerrorMessage(conn));
    PQfinish(conn);
  }
}

} // namespace crm::storage
