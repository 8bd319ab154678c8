#include "actors/content/sandbox.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace crm::actors {
namespace {

using clock = std::chrono::steady_clock;
constexpr size_t max_output = 64 * 1024;

std::vector<std::string> command_of(const sandbox_spec& s) {
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
                             "--tmpfs", "/tmp",
                             "--clearenv",
                             "--setenv", "PATH", "/usr/bin",
                             "--setenv", "HOME", "/tmp",
                             "--setenv", "LANG", "C.UTF-8",
                             "--setenv", "VIPS_CONCURRENCY", "1",
                             "--setenv", "VIPS_WARNING", "0",
                             "--chdir", "/tmp"};
  for (const auto& m : s.mounts) {
    a.push_back(m.writable ? "--bind" : "--ro-bind");
    a.push_back(m.host);
    a.push_back(m.inside);
  }
  a.push_back("--");
  a.insert(a.end(), s.argv.begin(), s.argv.end());
  return a;
}

void limit(int resource, uint64_t value) {
  rlimit r{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
  setrlimit(resource, &r);
}

} // namespace

// Neither libpq nor asio marks its sockets close-on-exec: without this a
// child would hold the listener and the database connections.
void close_inherited_descriptors() {
  if (::close_range(3, ~0U, 0) == 0) return;
  for (int fd = 3; fd < 65536; ++fd) ::close(fd);
}

sandbox_result run_sandboxed_now(const sandbox_spec& spec) {
  sandbox_result out;
  auto words = command_of(spec);
  if (words.empty()) return out;
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  char* envp[] = {const_cast<char*>("PATH=/usr/bin"), const_cast<char*>("LANG=C.UTF-8"), nullptr};
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return out;
  auto cpu_s = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(spec.timeout).count()) + 1;
  pid_t pid = fork();
  if (pid < 0) {
    close(pipefd[0]);
    close(pipefd[1]);
    return out;
  }
  if (pid == 0) {  // the child: async-signal-safe calls only, then exec
    setpgid(0, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    close_inherited_descriptors();
    limit(RLIMIT_AS, spec.memory);
    limit(RLIMIT_CPU, cpu_s);
    limit(RLIMIT_FSIZE, spec.max_file);
    limit(RLIMIT_NOFILE, 64);
    limit(RLIMIT_CORE, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(argv[0], argv.data(), envp);
    _exit(127);
  }
  close(pipefd[1]);
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
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
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
