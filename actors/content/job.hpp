// actors/content/job.hpp
// One content job actor per upload being processed (docs/CONTENT.md). It
// claims the item (a lease in PostgreSQL, renewed while it works), then
// walks the pipeline one step at a time: scan (ClamAV, a process), sanitize
// (nextcrm-worker in the sandbox), store (hash the artifact and move it
// into the content-addressed store), and records `safe` or `rejected` with
// its event. Every outcome it cannot vouch for rejects; a crash leaves the
// lease to expire and the item to the next claim (attempts counted). A job
// ends with its pool (it monitors the pool's address, never links: a job
// killed must not take the pool with it), so no job works outside a pool's
// bounds after the supervisor restarted the pool.
#pragma once
#include "actors/content/content.hpp"

#include <string>
#include <vector>

namespace crm::actors {


struct content_job_state {
  content_options opts;
  front_slot* storage = nullptr;
  job_ref ref;
  std::string quarantine_name;  // from the claimed row
  std::string declared, filename;
  int64_t size = 0;
  // the tenant's settings
  std::vector<std::string> allowed;
  bool archives = false, rasterize = false;
  int64_t retain_s = 0;
  std::string sniffed;          // what the worker said the bytes are
  std::string safe_mime;
  int attempts = 0;             // of the claim this job holds (0: not claimed)
  bool done = false;
  static inline const char* name = "content_job";
};

caf::behavior content_job(caf::stateful_actor<content_job_state>* self, caf::actor_addr pool,
                          content_options opts, front_slot* storage, job_ref ref);

} // namespace crm::actors
