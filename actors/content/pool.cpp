// actors/content/pool.cpp: the content pool of a node (docs/CONTENT.md).
// Bounded work: at most `max_jobs` job actors at once, a queue of item
// references beyond that (capped: what does not fit waits in PostgreSQL
// for the next scan), and a scan every half lease for open items of every
// tenant: new uploads another node took in, jobs a crashed node left.
// It also sweeps the quarantine of files no item holds (an upload cut off
// between its file and its row), retained originals past their time and
// used one-time token nonces past their token's expiry.
#include "actors/content/content.hpp"
#include "actors/content/job.hpp"

#include "actors/core/chaos_kinds.hpp"
#include "actors/data/storage_messages.hpp"
#include "protocols/values.hpp"
#include "storage/sql/content_sql.hpp"

#include <algorithm>
#include <charconv>
#include <deque>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

namespace crm::actors {

namespace fs = std::filesystem;

std::string quarantine_dir(const std::string& dir) { return dir + "/quarantine"; }

std::string store_path(const std::string& dir, const std::string& tenant, const std::string& sha256) {
  return dir + "/store/" + tenant + "/" + sha256.substr(0, 2) + "/" + sha256;
}


namespace {

using pool_actor = caf::stateful_actor<content_pool_state>;

void pump(pool_actor* self) {
  auto& st = self->state;
  while (st.running.size() < st.opts.max_jobs && !st.queue.empty()) {
    auto ref = std::move(st.queue.front());
    st.queue.pop_front();
    auto id = ref.id;
    auto job = self->spawn<caf::monitored>(content_job, self->address(), st.opts, st.storage, std::move(ref));
    st.running.emplace(job.address(), std::move(id));
    st.jobs.push_back(job);
  }
}

void enqueue(pool_actor* self, job_ref ref) {
  auto& st = self->state;
  if (st.known.count(ref.id) || st.queue.size() >= st.opts.max_queue) return;
  st.known.insert(ref.id);
  st.queue.push_back(std::move(ref));
}

// Files older than an hour in the quarantine that no item names: an upload
// whose row never committed. Retained originals past their expiry (the
// name's prefix).
void sweep(pool_actor* self) {
  auto& st = self->state;
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  std::vector<std::string> old;
  for (const auto& e : fs::directory_iterator(quarantine_dir(st.opts.dir), ec)) {
    if (old.size() >= 1000) break;
    std::error_code e2;
    auto t = e.last_write_time(e2);
    if (!e2 && now - t > std::chrono::hours(1)) old.push_back(e.path().filename().string());
  }
  auto unix_now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& e : fs::directory_iterator(st.opts.dir + "/retained", ec)) {
    auto name = e.path().filename().string();
    auto dash = name.find('-');
    int64_t until = 0;
    auto r = std::from_chars(name.data(), name.data() + (dash == std::string::npos ? 0 : dash), until);
    if (dash != std::string::npos && r.ec == std::errc{} && until < unix_now)
      fs::remove(e.path(), ec);
  }
  auto storage = st.storage->get();
  if (!storage) return;
  db_request expire{{}, {{storage::stmt_content_pool_context, {}, true}, {storage::stmt_content_tokens_expire, {}, true}}};
  self->request(storage, std::chrono::seconds(10), db_atom::value, std::move(expire)).then([](db_result&) {}, [](caf::error&) {});
  if (old.empty()) return;
  db_request rq{{},
                {{storage::stmt_content_pool_context, {}, true},
                 {storage::stmt_content_quarantine_held, {protocols::pg_array_literal(old)}, true}}};
  self->request(storage, std::chrono::seconds(10), db_atom::value, std::move(rq))
      .then(
          [self, old](db_result& r) {
            std::unordered_set<std::string> held;
            for (const auto& row : r.sets.at(1).rows)
              if (row.at(0)) held.insert(*row.at(0));
            std::error_code ec;
            for (const auto& name : old)
              if (!held.count(name)) fs::remove(quarantine_dir(self->state.opts.dir) + "/" + name, ec);
          },
          [](caf::error&) {});
}

void scan(pool_actor* self) {
  auto& st = self->state;
  auto storage = st.storage->get();
  size_t room = st.opts.max_queue > st.queue.size() ? st.opts.max_queue - st.queue.size() : 0;
  if (!storage || st.scanning || room == 0) return;
  st.scanning = true;
  db_request rq{{},
                {{storage::stmt_content_pool_context, {}, true},
                 {storage::stmt_content_open, {std::to_string(std::min<size_t>(room, 1000))}, true}}};
  self->request(storage, std::chrono::seconds(10), db_atom::value, std::move(rq))
      .then(
          [self](db_result& r) {
            self->state.scanning = false;
            for (const auto& row : r.sets.at(1).rows) enqueue(self, {row.at(0).value_or(""), row.at(1).value_or(""),
                                                                     row.at(2).value_or("")});
            pump(self);
          },
          [self](caf::error&) { self->state.scanning = false; });
  sweep(self);
}

} // namespace

caf::behavior content_pool(caf::stateful_actor<content_pool_state>* self, content_options opts, front_slot* storage) {
  self->state.opts = std::move(opts);
  self->state.storage = storage;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    auto it = st.running.find(dm.source);
    if (it == st.running.end()) return;
    st.known.erase(it->second);
    st.running.erase(it);
    st.jobs.erase(std::remove_if(st.jobs.begin(), st.jobs.end(), [&](const caf::actor& a) { return a.address() == dm.source; }),
                  st.jobs.end());
    pump(self);
  });
  // Jobs end with the pool (a node's shutdown must not wait for them: their
  // leases expire and another claim resumes them).
  self->set_exit_handler([self](caf::exit_msg& em) {
    for (auto& j : self->state.jobs) self->send_exit(j, em.reason);
    self->quit(em.reason);
  });
  self->send(self, cscan_atom::value);
  return {
      [self](cnew_atom, std::string& tenant, std::string& id, std::string& traceparent) {
        enqueue(self, {std::move(tenant), std::move(id), std::move(traceparent)});
        pump(self);
      },
      [self](chaos_atom, uint8_t, uint64_t pick) {  // chaos: one running job (its lease resumes it)
        auto& jobs = self->state.jobs;
        if (!jobs.empty()) self->send_exit(jobs[pick % jobs.size()], caf::exit_reason::kill);
      },
      [self](cscan_atom) {
        scan(self);
        self->delayed_send(self, std::max<std::chrono::milliseconds>(self->state.opts.lease / 2, std::chrono::milliseconds(500)),
                           cscan_atom::value);
      },
  };
}

} // namespace crm::actors
