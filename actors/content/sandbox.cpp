#include "actors/content/sandbox.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace crm::actors {
namespace {

using clock = std::chrono::steady_clock;
constexpr size_t max_output = 64 * 1024;

} // namespace

std::vector<std::string> sandbox_command(const sandbox_spec& s) {
  if (s.bwrap.empty()) return s.argv;
  std::vector<std::string> a{s.bwrap,
                             "--unshare-all",      // no network, IPC, PID, UTS, user, cgroup sharing
                             "--die-with-parent",  // the server's death ends it
                             "--new-session",      // no TIOCSTI into a terminal
                             "--cap-drop", "ALL",
                             "--ro-bind", "/usr", "/usr",
                             "--symlink", "usr/lib", "/lib",
                             "--symlink", "usr/lib64", "/lib64",
                             "--symlink", "usr/bin", "/bin",
                             "--symlink", "usr/sbin", "/sbin",
                             "--proc", "/proc",
                             "--dev", "/dev",
                             "--clearenv",
                             "--setenv", "PATH", "/usr/bin",
                             "--setenv", "HOME", "/tmp",
                             "--setenv", "LANG", "C.UTF-8",
                             "--setenv", "VIPS_CONCURRENCY", "1",
                             "--setenv", "VIPS_WARNING", "0",
                             "--chdir", "/tmp"};
  if (s.tmp_size > 0) {  // RAM: bounded
    a.push_back("--size");
    a.push_back(std::to_string(s.tmp_size));
  }
  a.push_back("--tmpfs");
  a.push_back("/tmp");
  for (const auto& m : s.mounts) {
    a.push_back(m.writable ? "--bind" : "--ro-bind");
    a.push_back(m.host);
    a.push_back(m.inside);
  }
  a.push_back("--");
  a.insert(a.end(), s.argv.begin(), s.argv.end());
  return a;
}

namespace {

void limit(int resource, uint64_t value) {
  rlimit r{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
  setrlimit(resource, &r);
}

// The child's side, on its own small stack in the parent's memory
// (CLONE_VM | CLONE_VFORK: the parent waits until the exec). System calls
// only: no allocation, no lock, no C++ beyond reading `c`.
int child_main(void* arg) {
  const auto& c = *static_cast<const spawn_request*>(arg);
  // signal handlers are the child's own copy (no CLONE_SIGHAND): back to
  // the defaults before signals are unblocked, so none of the server's
  // runs here
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s)
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
  setpgid(0, 0);
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) dup2(devnull, 0);
  dup2(c.out_fd >= 0 ? c.out_fd : devnull, 1);
  dup2(c.out_fd >= 0 ? c.out_fd : devnull, 2);
  close_inherited_descriptors();
  if (c.limits) {
    limit(RLIMIT_AS, c.memory);
    limit(RLIMIT_CPU, c.cpu_s);
    limit(RLIMIT_FSIZE, c.max_file);
    limit(RLIMIT_NOFILE, 64);
  }
  limit(RLIMIT_CORE, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(c.argv[0], c.argv, c.envp);
  _exit(127);
}

} // namespace

// Neither libpq nor asio marks its sockets close-on-exec: without this a
// child would hold the listener and the database connections.
void close_inherited_descriptors() {
  if (::close_range(3, ~0U, 0) == 0) return;
  for (int fd = 3; fd < 65536; ++fd) ::close(fd);
}

// Like posix_spawn (which cannot set resource limits): the child shares the
// parent's memory until its exec instead of copying its page tables, which
// for a server of many threads and mappings is most of a fork's cost.
pid_t spawn_child(const spawn_request& rq) {
  constexpr size_t stack_size = 64 * 1024;
  auto stack = std::make_unique<char[]>(stack_size);  // the child's, until its exec
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);  // no handler may run on the child's stack
  pid_t pid = clone(child_main, stack.get() + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD,
                    const_cast<spawn_request*>(&rq));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

sandbox_result run_sandboxed_now(const sandbox_spec& spec) {
  sandbox_result out;
  auto words = sandbox_command(spec);
  if (words.empty()) return out;
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  char* envp[] = {const_cast<char*>("PATH=/usr/bin"), const_cast<char*>("LANG=C.UTF-8"), nullptr};
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return out;
  spawn_request rq;
  rq.argv = argv.data();
  rq.envp = envp;
  rq.out_fd = pipefd[1];
  rq.limits = true;
  rq.memory = spec.memory;
  rq.cpu_s = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(spec.timeout).count()) + 1;
  rq.max_file = spec.max_file;
  pid_t pid = spawn_child(rq);
  close(pipefd[1]);
  if (pid < 0) {
    close(pipefd[0]);
    return out;
  }
  auto deadline = clock::now() + spec.timeout;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: every writer closed
    if (out.output.size() < max_output)
      out.output.append(buf, std::min<size_t>(static_cast<size_t>(n), max_output - out.output.size()));
  }
  close(pipefd[0]);
  // the output closed: the process still has until the deadline to end (a
  // child that closed its output and sleeps is killed like any other)
  int status = 0;
  while (!timed_out) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (clock::now() >= deadline) timed_out = true;
    else std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (timed_out) {
    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (timed_out) {
    out.how = sandbox_result::end::timed_out;
  } else if (WIFEXITED(status)) {
    out.code = WEXITSTATUS(status);
    out.how = out.code == 127 ? sandbox_result::end::failed_to_start : sandbox_result::end::exited;
  } else if (WIFSIGNALED(status)) {
    out.how = sandbox_result::end::signaled;
    out.code = WTERMSIG(status);
  }
  return out;
}

void run_sandboxed(sandbox_spec spec, std::function<void(sandbox_result)> done) {
  std::thread([spec = std::move(spec), done = std::move(done)] { done(run_sandboxed_now(spec)); }).detach();
}

} // namespace crm::actors
