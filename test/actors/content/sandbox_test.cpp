// Tests actors/content/sandbox.cpp: what a sandboxed process inherits and
// how it ends. Found in the full suite: the server's descriptors (the
// listening socket, PostgreSQL connections) reached the children, so a
// sanitizer compromised by a file could have used them, and a clamd child
// kept the listener open after SIGTERM. A child must see stdin, stdout and
// stderr only.
#include "actors/content/sandbox.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

using namespace crm::actors;

namespace {

// Descriptors the child lists in /proc/self/fd, minus the one ls itself opens.
std::vector<int> child_fds(const std::string& bwrap) {
  sandbox_spec s;
  s.bwrap = bwrap;
  s.argv = {"/bin/sh", "-c", "for f in /proc/self/fd/*; do echo ${f##*/}; done"};
  s.timeout = std::chrono::seconds(10);
  auto r = run_sandboxed_now(s);
  REQUIRE(r.how == sandbox_result::end::exited);
  REQUIRE(r.code == 0);
  std::vector<int> fds;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0]))) fds.push_back(std::stoi(line));
  return fds;
}

} // namespace

TEST_CASE("a sandboxed child inherits no descriptor of the server", "[actors][content][sandbox]") {
  // what the server holds: a file, a socket, both without FD_CLOEXEC (libpq's and asio's are not);
  // above 3, which the child's shell uses to read /proc/self/fd
  int spare = ::open("/dev/null", O_RDONLY);
  int file = ::open("/proc/self/status", O_RDONLY);
  int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(file > 3);
  REQUIRE(sock > 3);
  for (const char* bwrap : {"", "/usr/bin/bwrap"}) {
    if (*bwrap && ::access(bwrap, X_OK) != 0) continue;
    INFO("bwrap: " << (*bwrap ? bwrap : "none"));
    auto fds = child_fds(bwrap);
    // 0, 1, 2 and the one the shell's glob opens to read the directory
    for (int fd : fds) CHECK((fd <= 3));
    CHECK(std::find(fds.begin(), fds.end(), file) == fds.end());
    CHECK(std::find(fds.begin(), fds.end(), sock) == fds.end());
  }
  ::close(file);
  ::close(sock);
  ::close(spare);
}

TEST_CASE("a sandboxed child past its deadline is killed and says so", "[actors][content][sandbox]") {
  sandbox_spec s;
  s.argv = {"/bin/sleep", "30"};
  s.timeout = std::chrono::milliseconds(200);
  auto started = std::chrono::steady_clock::now();
  auto r = run_sandboxed_now(s);
  CHECK(r.how == sandbox_result::end::timed_out);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
}

TEST_CASE("a child that closes its output and sleeps is still killed at its deadline", "[actors][content][sandbox]") {
  sandbox_spec s;
  s.argv = {"/bin/sh", "-c", "exec >&- 2>&-; sleep 30"};
  s.timeout = std::chrono::milliseconds(300);
  auto started = std::chrono::steady_clock::now();
  auto r = run_sandboxed_now(s);
  CHECK(r.how == sandbox_result::end::timed_out);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
}

TEST_CASE("a sandboxed child's limits hold: no core, bounded file size", "[actors][content][sandbox]") {
  sandbox_spec s;
  s.argv = {"/bin/sh", "-c", "ulimit -c; ulimit -n; head -c 2000000 /dev/zero > /dev/null; "
                             "dd if=/dev/zero of=/tmp/nextcrm-sandbox-fsize bs=1024 count=2048 2>/dev/null; echo rc=$?; "
                             "rm -f /tmp/nextcrm-sandbox-fsize"};
  s.max_file = 1 << 20;
  s.timeout = std::chrono::seconds(10);
  auto r = run_sandboxed_now(s);
  REQUIRE(r.how == sandbox_result::end::exited);
  CHECK(r.output.rfind("0\n64\n", 0) == 0);
  CHECK(r.output.find("rc=0") == std::string::npos);  // the 2 MiB write stopped at 1 MiB
}
