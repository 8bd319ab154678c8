// actors/content/content.hpp
// The content pipeline's actors (docs/CONTENT.md, ADR-0051..0053): one
// content pool per node of the content role, and one content job actor per
// upload it works on. The pool claims open jobs from PostgreSQL (new
// uploads, jobs a crashed node left), runs at most `max_jobs` at once and
// queues the rest; a job walks quarantined -> processing -> safe | rejected,
// persisting each step with its event, and hands the bulk work (the
// scanner, the sandboxed sanitizer, hashing) to processes on threads of
// their own, never to an actor's thread.
#pragma once
#include "actors/core/front_slot.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <cstdint>
#include <string>

namespace crm::actors {

struct content_options {
  std::string dir;                 // quarantine/, store/, work/, retained/ below it
  std::string worker;              // the sanitizer binary (nextcrm-worker)
  std::string bwrap = "/usr/bin/bwrap";
  std::string clamscan = "/usr/bin/clamscan";
  std::string clamd = "/usr/sbin/clamd";
  std::string clamd_mode = "auto";  // auto: the node's own clamd; off: clamscan per file; else a socket path
  std::string clamd_socket;        // where scans connect ("" = clamscan per file); set by the node
  bool image_fuzzy_hash = false;   // ClamAV's ScanImageFuzzyHash (decodes every image)
  std::string signatures;          // ClamAV database folder (ours: deploy/clamav; add the official one)
  int64_t max_upload = 256ll << 20;  // the node's cap; a tenant's is at most this
  size_t max_jobs = 2;             // jobs processing at once on this node
  size_t max_queue = 10000;        // queued beyond that wait in PostgreSQL for the next scan
  int max_attempts = 3;            // a job that crashed its worker this often is rejected
  std::chrono::seconds lease{30};  // a job's claim; renewed every third of it
  std::chrono::milliseconds scan_timeout{60000};
  std::chrono::milliseconds sanitize_timeout{120000};
  std::chrono::milliseconds hold{0};  // tests and demos: each job waits this long in `processing`
  uint64_t max_pixels = 100'000'000;  // images above are rejected before decoding
  uint64_t worker_memory = 2048ull << 20;  // RLIMIT_AS of a sandboxed process
  std::string node_id;             // the lease owner's name (host-pid-random)
};

// pool <- api: a new upload to process (tenant, id, traceparent of the upload)
using cnew_atom = caf::atom_constant<caf::atom("cnew")>;
// pool <- itself: look for open jobs in PostgreSQL
using cscan_atom = caf::atom_constant<caf::atom("cscan")>;
// job <- process thread: a step's outcome; job <- itself: lease renewal, hold over
using cstep_atom = caf::atom_constant<caf::atom("cstep")>;
using clease_atom = caf::atom_constant<caf::atom("clease")>;
using chold_atom = caf::atom_constant<caf::atom("chold")>;
// job <- itself: the whole job's deadline (a step that never reported)
using cdead_atom = caf::atom_constant<caf::atom("cdead")>;

// One item for a job: its tenant, its id, the traceparent of its upload.
struct job_ref {
  std::string tenant;
  std::string id;
  std::string traceparent;
};

struct content_pool_state {
  content_options opts;
  front_slot* storage = nullptr;
  std::deque<job_ref> queue;
  std::unordered_set<std::string> known;                    // ids queued or running
  std::unordered_map<caf::actor_addr, std::string> running;  // job -> id
  std::vector<caf::actor> jobs;
  bool scanning = false;
  static inline const char* name = "content_pool";
};

// The pool of one node (supervised; restarts rebuild its queue from PostgreSQL).
caf::behavior content_pool(caf::stateful_actor<content_pool_state>* self, content_options opts,
                           front_slot* storage);

// The file names of the pipeline below `dir`.
std::string quarantine_dir(const std::string& dir);
std::string store_path(const std::string& dir, const std::string& tenant, const std::string& sha256);

} // namespace crm::actors
