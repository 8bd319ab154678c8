// actors/content/sandbox.hpp
// Untrusted bytes are only ever parsed in a child process (ADR-0052): run
// under bubblewrap with every namespace unshared (no network, no view of
// the host's files beyond /usr read-only, the one input file read-only and
// one output folder), none of the server's descriptors (closed before
// exec), resource limits (address space, CPU, file size, open files, no
// core dumps), its own process group, killed at its deadline.
// The call runs on a thread of its own and reports through `done`: an
// actor's thread never waits for a process.
#pragma once
#include <chrono>
#include <sys/types.h>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace crm::actors {

struct sandbox_mount {
  std::string host;    // path on the host
  std::string inside;  // where the child sees it
  bool writable = false;
};

struct sandbox_spec {
  std::string bwrap;                 // "" = no sandbox (only for the bare-tools benchmark)
  std::vector<sandbox_mount> mounts;
  std::vector<std::string> argv;     // the program (a path inside) and its arguments
  std::chrono::milliseconds timeout{60000};
  uint64_t memory = 2048ull << 20;   // RLIMIT_AS
  uint64_t max_file = 1024ull << 20; // RLIMIT_FSIZE
  uint64_t tmp_size = 1024ull << 20; // the private /tmp (RAM); 0 = unbounded (clamd spools streams there)
};

// The command line that runs `spec` (bubblewrap's, or the bare argv when
// `spec.bwrap` is empty).
std::vector<std::string> sandbox_command(const sandbox_spec& spec);

struct sandbox_result {
  enum class end : uint8_t { exited, signaled, timed_out, failed_to_start } how = end::failed_to_start;
  int code = -1;        // exit code, or the signal
  std::string output;   // stdout and stderr, the first 64 KiB
};

// Runs `spec` on a new thread; `done` is called there once it ended.
void run_sandboxed(sandbox_spec spec, std::function<void(sandbox_result)> done);

// The same, on the calling thread (the scanner's fallback, tests).
sandbox_result run_sandboxed_now(const sandbox_spec& spec);

} // namespace crm::actors

namespace crm::actors {

// In a child between fork and exec: closes every descriptor from 3 up (the
// server's sockets must not reach a sandboxed process). Async-signal-safe.
void close_inherited_descriptors();

// A child process: `argv[0]` executed with `envp`, its own process group,
// stdin /dev/null, stdout and stderr to `out_fd` (or /dev/null), none of
// the parent's other descriptors, the server's signal handlers gone, no
// core dumps, and with `limits` the address space, CPU seconds, file size
// and 64 open files. The arrays must outlive the call (it returns once the
// child has exec'd). -1 when it could not start.
struct spawn_request {
  char** argv = nullptr;
  char** envp = nullptr;
  int out_fd = -1;
  bool limits = false;
  uint64_t memory = 0, cpu_s = 0, max_file = 0;
};
pid_t spawn_child(const spawn_request& rq);

} // namespace crm::actors
