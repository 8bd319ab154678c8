// actors/content/job.cpp: one upload through the pipeline (docs/CONTENT.md).
//   claim (lease, content.item.processing) -> [hold] -> scan (clamd) -> sanitize ->
//   store -> safe (content.item.safe) | rejected (content.item.rejected)
// The actor decides and persists; processes and hashing run on threads of
// their own (sandbox.hpp) and report back with cstep. Every step has a
// deadline (the sandbox kills at it); a lost lease or a failed write ends
// the actor and leaves the item to the next claim.
#include "actors/content/job.hpp"

#include "actors/content/sandbox.hpp"
#include "actors/content/scanner.hpp"
#include "actors/core/monitor_parent.hpp"
#include "actors/data/storage_messages.hpp"
#include "protocols/content.hpp"
#include "protocols/content_access.hpp"
#include "protocols/hex.hpp"
#include "protocols/json_body.hpp"
#include "protocols/values.hpp"
#include "storage/sql/content_sql.hpp"
#include "storage/sql/event_sql.hpp"

#include <filesystem>
#include <fstream>
#include <thread>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace crm::actors {

namespace fs = std::filesystem;
using storage::pg_query;


namespace {

using job_actor = caf::stateful_actor<content_job_state>;

enum step : int { step_scan = 1, step_sanitize = 2, step_store = 3 };

// One folder per claim (a job that lost its claim never touches another's).
std::string work_dir(const content_job_state& st) {
  return st.opts.dir + "/work/" + st.ref.id + "-" + st.opts.node_id + "-" + std::to_string(st.attempts);
}
std::string quarantine_file(const content_job_state& st) { return quarantine_dir(st.opts.dir) + "/" + st.quarantine_name; }

caf::actor storage_of(job_actor* self) { return self->state.storage->get(); }

// The next lease renewal: every third of the lease, or sooner (a sixth)
// after a renewal that failed, so that one slow answer does not lose it.
void renew_later(job_actor* self, bool retry = false) {
  auto every = std::max<std::chrono::milliseconds>(self->state.opts.lease / 3, std::chrono::milliseconds(200));
  self->delayed_send(self, retry ? every / 2 : every, clease_atom::value);
}

// The quarantined original: deleted, or kept `retain_s` for forensics under
// retained/<until>-<name> (never served; the pool's sweep removes it).
void dispose_original(const content_job_state& st) {
  std::error_code ec;
  if (st.quarantine_name.empty()) return;
  if (st.retain_s > 0) {
    auto until = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
                 st.retain_s;
    fs::create_directories(st.opts.dir + "/retained", ec);
    fs::rename(quarantine_file(st), st.opts.dir + "/retained/" + std::to_string(until) + "-" + st.quarantine_name, ec);
    if (!ec) return;
  }
  fs::remove(quarantine_file(st), ec);
}

void finish(job_actor* self) {
  std::error_code ec;
  if (self->state.attempts > 0) fs::remove_all(work_dir(self->state), ec);  // only a claimed job has one
  self->state.done = true;
  self->quit();
}

void run_db(job_actor* self, std::vector<pg_query> queries, std::function<void(db_result&)> then) {
  auto storage = storage_of(self);
  if (!storage) return finish(self);  // the lease runs out; the next claim resumes
  std::vector<pg_query> all{storage::event_context(self->state.ref.traceparent)};
  for (auto& q : queries) all.push_back(std::move(q));
  self->request(storage, std::chrono::seconds(10), db_atom::value, db_request{self->state.ref.tenant, std::move(all)})
      .then([then = std::move(then)](db_result& r) { then(r); }, [self](caf::error&) { finish(self); });
}

void reject(job_actor* self, std::string reason, std::string detail) {
  auto& st = self->state;
  std::optional<std::string> sniffed;
  if (!st.sniffed.empty()) sniffed = st.sniffed;
  run_db(self,
         {{storage::stmt_content_reject,
           {st.ref.tenant, st.ref.id, st.opts.node_id, std::move(reason), std::move(detail), sniffed, std::nullopt},
           true}},
         [self](db_result& r) {
           if (!r.sets.back().rows.empty()) dispose_original(self->state);
           finish(self);
         });
}

// `output`'s last line that is a JSON object (the worker's verdict).
std::string last_json_line(const std::string& output) {
  size_t end = output.size();
  while (end > 0) {
    auto start = output.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    auto line = output.substr(start, end - start);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (!line.empty() && line.front() == '{') return line;
    if (start == 0) break;
    end = start - 1;
  }
  return {};
}

sandbox_spec sanitize_spec(const content_job_state& st) {
  sandbox_spec s;
  s.bwrap = st.opts.bwrap;
  s.mounts = {{quarantine_file(st), "/job/in", false}, {work_dir(st), "/job/work", true},
              {st.opts.worker, "/job/nextcrm-worker", false}, {st.opts.worker + "-image", "/job/nextcrm-worker-image", false}};
  std::string allow;
  for (const auto& t : st.allowed) allow += (allow.empty() ? "" : ",") + t;
  // declared images start in the image worker (one exec for the common
  // case); the bytes decide, either worker hands the file over (ADR-0052)
  bool image = st.declared.rfind("image/", 0) == 0;
  s.argv = {image ? "/job/nextcrm-worker-image" : "/job/nextcrm-worker", "--in", "/job/in", "--out", "/job/work/out", "--declared", st.declared,
            "--filename", st.filename, "--allow", allow, "--archives", st.archives ? "1" : "0",
            "--rasterize", st.rasterize ? "1" : "0", "--max-pixels", std::to_string(st.opts.max_pixels)};
  s.timeout = st.opts.sanitize_timeout;
  s.memory = st.opts.worker_memory;
  s.max_file = static_cast<uint64_t>(std::max<int64_t>(st.opts.max_upload * 4, 256ll << 20));
  return s;
}

// Runs `spec` off the actor; the outcome comes back as cstep.
void run_step(job_actor* self, int which, sandbox_spec spec) {
  auto me = caf::actor_cast<caf::actor>(self);
  run_sandboxed(std::move(spec), [me, which](sandbox_result r) {
    caf::anon_send(me, cstep_atom::value, which, static_cast<int>(r.how), r.code, std::move(r.output));
  });
}

// The artifact's SHA-256 and size, then its place in the store (a file of
// that name is the same bytes: content addressing dedupes). Off the actor.
// The sandbox could write anything at `out` (a symlink, a FIFO, a device):
// it is opened without following links and must be a plain file of one
// link within the size limit; hashed and fchmod'ed through that descriptor.
void store_artifact(job_actor* self) {
  auto me = caf::actor_cast<caf::actor>(self);
  auto out = work_dir(self->state) + "/out";
  auto dir = self->state.opts.dir;
  auto tenant = self->state.ref.tenant;
  auto max_size = static_cast<uint64_t>(std::max<int64_t>(self->state.opts.max_upload * 4, 256ll << 20));
  std::thread([me, out, dir, tenant, max_size] {
    int fd = ::open(out.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat sb {};
    bool plain = fd >= 0 && ::fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_nlink == 1 &&
                 static_cast<uint64_t>(sb.st_size) <= max_size;
    protocols::sha256_stream sha256;
    std::vector<char> buf(1 << 16);
    uint64_t size = 0;
    bool read_ok = plain;
    while (read_ok) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || size + static_cast<uint64_t>(n) > max_size) read_ok = false;
      if (n <= 0 || !read_ok) break;
      sha256.add({buf.data(), static_cast<size_t>(n)});
      size += static_cast<uint64_t>(n);
    }
    auto sha = sha256.hex();
    std::error_code ec;
    auto target = store_path(dir, tenant, sha);
    if (read_ok && size > 0) {
      fs::create_directories(fs::path(target).parent_path(), ec);
      if (!fs::exists(target, ec)) {
        ::fchmod(fd, 0640);
        fs::rename(out, target, ec);
      }
    }
    if (fd >= 0) ::close(fd);
    bool ok = read_ok && size > 0 && !ec && fs::exists(target);
    caf::anon_send(me, cstep_atom::value, static_cast<int>(step_store), ok ? 0 : 1, 0,
                   ok ? sha + " " + std::to_string(size) : std::string{"the artifact cannot be stored"});
  }).detach();
}

// The scan, off the actor (clamd, or clamscan when clamd is away).
void scan(job_actor* self) {
  auto me = caf::actor_cast<caf::actor>(self);
  auto opts = self->state.opts;
  auto file = quarantine_file(self->state);
  std::thread([me, opts, file] {
    auto r = scan_file(opts, opts.clamd_socket, file);
    caf::anon_send(me, cstep_atom::value, static_cast<int>(step_scan), static_cast<int>(r.what), 0, std::move(r.detail));
  }).detach();
}

void on_scanned(job_actor* self, scan_result::verdict what, const std::string& detail) {
  if (what == scan_result::verdict::clean) {
    std::error_code ec;
    fs::create_directories(work_dir(self->state), ec);
    return run_step(self, step_sanitize, sanitize_spec(self->state));
  }
  if (what == scan_result::verdict::infected) return reject(self, "scan.infected", "the virus scanner found " + detail);
  if (detail == "timeout") return reject(self, "scan.timeout", "the virus scan did not finish in time");
  reject(self, "scan.error", "the virus scanner failed; a file is never passed unscanned");
}

void on_sanitized(job_actor* self, sandbox_result::end how, const std::string& output) {
  if (how == sandbox_result::end::timed_out)
    return reject(self, "sanitize.timeout", "the file took too long to rebuild (a decompression bomb?)");
  auto line = last_json_line(output);
  if (how != sandbox_result::end::exited || line.empty())
    return reject(self, "sanitize.failed", "the file could not be rebuilt safely");
  protocols::json_body v{line};
  auto ok = v.boolean("ok", true);
  auto sniffed = v.string("sniffed", {true, 1, 200});
  if (!v.ok() || !ok || !sniffed) return reject(self, "sanitize.failed", "the file could not be rebuilt safely");
  self->state.sniffed = *sniffed;
  if (!*ok) {
    auto reason = v.string("reason", {true, 1, 64});
    auto detail = v.string("detail", {true, 0, 1000});
    return reject(self, reason.value_or("sanitize.failed"), detail.value_or("the file could not be rebuilt safely"));
  }
  auto mime = v.string("mime", {true, 1, 200});
  // what the artifact is served as: only a type the pipeline produces and the tenant allows
  static const std::vector<std::string> produced{"image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf",
                                                 "text/plain", "text/csv", "application/zip"};
  if (!mime || !protocols::mime_allowed(produced, *mime) || !protocols::mime_allowed(self->state.allowed, *mime))
    return reject(self, "sanitize.failed", "the file could not be rebuilt safely");
  self->state.safe_mime = *mime;
  store_artifact(self);
}

void on_stored(job_actor* self, int failed, const std::string& output) {
  if (failed) return reject(self, "store.failed", output);
  auto space = output.find(' ');
  auto sha = output.substr(0, space), size = output.substr(space + 1);
  auto& st = self->state;
  run_db(self,
         {{storage::stmt_content_safe,
           {st.ref.tenant, st.ref.id, st.opts.node_id, st.sniffed, st.safe_mime, size, sha, std::nullopt},
           true}},
         [self](db_result& r) {
           if (!r.sets.back().rows.empty()) dispose_original(self->state);
           finish(self);
         });
}

void start(job_actor* self) {
  auto& st = self->state;
  if (st.opts.hold.count() > 0) return self->delayed_send(self, st.opts.hold, chold_atom::value), void();
  scan(self);
}

void claimed(job_actor* self, db_result& r) {
  auto& st = self->state;
  const auto& item = r.sets.at(1);
  if (item.rows.empty()) return finish(self);  // done already, or another node's lease
  st.quarantine_name = item.cell(0, storage::ci_quarantine_name);
  st.declared = item.cell(0, storage::ci_declared);
  st.filename = item.cell(0, storage::ci_filename);
  st.size = std::stoll(item.cell(0, storage::ci_size));
  int attempts = std::stoi(item.cell(0, storage::ci_attempts));
  st.attempts = attempts;
  const auto& settings = r.sets.at(2);
  protocols::content_settings defaults;
  st.allowed = defaults.allowed_types;
  if (!settings.rows.empty()) {
    st.allowed = protocols::parse_pg_text_array(settings.cell(0, 1));
    st.archives = settings.cell(0, 2) == "t";
    st.rasterize = settings.cell(0, 3) == "t";
    st.retain_s = std::stoll(settings.cell(0, 4));
  }
  renew_later(self);
  // every step has its own deadline (the sandbox kills at it); this one
  // catches a step that never reports: the job ends, its lease runs out,
  // and the item is claimed again (rejected after max_attempts)
  self->delayed_send(self, st.opts.hold + st.opts.scan_timeout + st.opts.sanitize_timeout + std::chrono::seconds(60),
                     cdead_atom::value);
  if (attempts > st.opts.max_attempts)
    return reject(self, "processing.failed", "processing stopped " + std::to_string(attempts - 1) + " times");
  struct stat sb {};
  if (st.quarantine_name.empty() || ::stat(quarantine_file(st).c_str(), &sb) != 0 || sb.st_size != st.size)
    return reject(self, "quarantine.missing", "the uploaded file is no longer in the quarantine");
  start(self);
}

} // namespace

caf::behavior content_job(caf::stateful_actor<content_job_state>* self, caf::actor_addr pool, content_options opts,
                          front_slot* storage, job_ref ref) {
  auto& st = self->state;
  // the pool's down message (the only actor it monitors): the job ends, its
  // lease runs out and the restarted pool's scan resumes the item
  self->set_down_handler([self](caf::down_msg&) { finish(self); });
  if (!caf::actor_cast<caf::actor>(pool)) {  // the pool died while spawning it: no claim (it would hold a lease nobody works)
    self->quit(caf::exit_reason::unknown);
    return {};
  }
  monitor_parent(self, pool);
  st.opts = std::move(opts);
  st.storage = storage;
  st.ref = std::move(ref);
  auto lease_s = std::to_string(std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(st.opts.lease).count()));
  run_db(self,
         {{storage::stmt_content_claim, {st.ref.tenant, st.ref.id, st.opts.node_id, lease_s}, true},
          {storage::stmt_content_settings, {st.ref.tenant}, true}},
         [self](db_result& r) { claimed(self, r); });
  return {
      [self](cstep_atom, int which, int how, int, std::string& output) {
        auto end = static_cast<sandbox_result::end>(how);
        switch (which) {
          case step_scan: return on_scanned(self, static_cast<scan_result::verdict>(how), output);
          case step_sanitize: return on_sanitized(self, end, output);
          case step_store: return on_stored(self, how, output);
          default: break;
        }
      },
      [self](chold_atom) { scan(self); },
      [self](cdead_atom) {
        if (!self->state.done) finish(self);
      },
      [self, lease_s](clease_atom) {
        auto& st = self->state;
        if (st.done) return;
        auto storage = storage_of(self);
        if (!storage) return renew_later(self, true);  // the storage actor restarts
        db_request rq{st.ref.tenant, {{storage::stmt_content_renew, {st.ref.tenant, st.ref.id, st.opts.node_id, lease_s}, true}}};
        self->request(storage, std::chrono::seconds(10), db_atom::value, std::move(rq))
            .then(
                [self](db_result& r) {
                  if (r.sets.at(0).rows.empty()) return finish(self);  // another node holds it now
                  renew_later(self);
                },
                [self](caf::error&) { renew_later(self, true); });  // a slow database: the lease is not lost yet
      },
  };
}

} // namespace crm::actors
