#include "actors/content/scanner.hpp"

#include "actors/content/sandbox.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <optional>
#include <vector>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace crm::actors {
namespace {

namespace fs = std::filesystem;

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

int connect_unix(const std::string& path, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One reply of clamd, up to its NUL (z-prefixed commands).
bool read_reply(int fd, std::string& out) {
  char buf[512];
  while (out.size() < 4096) {
    ssize_t k = ::recv(fd, buf, sizeof buf, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return !out.empty();
    out.append(buf, static_cast<size_t>(k));
    if (auto z = out.find('\0'); z != std::string::npos) {
      out.resize(z);
      return true;
    }
  }
  return true;
}

// clamd's INSTREAM: the bytes in chunks of <u32 big endian length><data>,
// a zero length at the end. nullopt when clamd could not be reached.
std::optional<scan_result> scan_clamd(const std::string& socket, const std::string& path,
                                      std::chrono::milliseconds timeout) {
  fd_guard s{connect_unix(socket, timeout)};
  if (s.fd < 0) return std::nullopt;
  fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) return scan_result{scan_result::verdict::error, "the file cannot be read"};
  if (!send_all(s.fd, "zINSTREAM", 10)) return std::nullopt;
  std::vector<char> buf(4 + (1 << 16));
  for (;;) {
    ssize_t n = ::read(f.fd, buf.data() + 4, buf.size() - 4);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return scan_result{scan_result::verdict::error, "the file cannot be read"};
    uint32_t len = static_cast<uint32_t>(n);
    buf[0] = static_cast<char>(len >> 24);
    buf[1] = static_cast<char>(len >> 16);
    buf[2] = static_cast<char>(len >> 8);
    buf[3] = static_cast<char>(len);
    // clamd may close early (a size limit): its reply says why
    if (!send_all(s.fd, buf.data(), 4 + static_cast<size_t>(n))) break;
    if (n == 0) break;
  }
  std::string reply;
  if (!read_reply(s.fd, reply)) return scan_result{scan_result::verdict::error, "the scanner gave no answer"};
  // "stream: OK", "stream: <signature> FOUND", "<reason> ERROR"
  auto found = reply.rfind(" FOUND");
  if (reply == "stream: OK") return scan_result{scan_result::verdict::clean, {}};
  if (found != std::string::npos && found + 6 == reply.size()) {
    auto colon = reply.find(": ");
    auto name = colon == std::string::npos ? reply.substr(0, found) : reply.substr(colon + 2, found - colon - 2);
    return scan_result{scan_result::verdict::infected, name};
  }
  return scan_result{scan_result::verdict::error, "the scanner failed: " + reply.substr(0, 200)};
}

std::string max_text(const content_options& o) { return std::to_string(std::min<int64_t>(o.max_upload, 4000ll << 20)); }

scan_result scan_clamscan(const content_options& o, const std::string& path) {
  sandbox_spec s;
  s.bwrap = o.bwrap;
  s.mounts = {{path, "/job/in", false}, {o.signatures, "/job/db", false}};
  // Files past a limit are not scanned silently: --alert-exceeds-max flags them.
  s.argv = {o.clamscan, "--no-summary", "--stdout", "-d", "/job/db", "--max-filesize=" + max_text(o),
            "--max-scansize=" + max_text(o), "--alert-exceeds-max=yes", "--alert-encrypted=yes", "/job/in"};
  s.timeout = o.scan_timeout;
  s.memory = o.worker_memory;
  auto r = run_sandboxed_now(s);
  if (r.how == sandbox_result::end::timed_out) return {scan_result::verdict::error, "timeout"};
  if (r.how == sandbox_result::end::exited && r.code == 0) return {scan_result::verdict::clean, {}};
  if (r.how == sandbox_result::end::exited && r.code == 1) {
    auto found = r.output.find(" FOUND");
    auto colon = r.output.rfind(": ", found);
    return {scan_result::verdict::infected, found != std::string::npos && colon != std::string::npos
                                                ? r.output.substr(colon + 2, found - colon - 2)
                                                : "a signature"};
  }
  return {scan_result::verdict::error, "clamscan failed"};
}

} // namespace

scan_result scan_file(const content_options& opts, const std::string& socket, const std::string& path) {
  if (!socket.empty())
    if (auto r = scan_clamd(socket, path, opts.scan_timeout)) return *r;
  return scan_clamscan(opts, path);
}

namespace {

// "<host>-<pid>": this process's clamd among the content nodes sharing the folder.
std::string node_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string{host} + "-" + std::to_string(::getpid());
}

// The folders and configurations of earlier clamds of this host whose
// process is gone (a node killed): the next start of any node removes them.
void remove_stale(const std::string& base) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string prefix = std::string{host} + "-";
  std::error_code ec;
  for (auto it = fs::directory_iterator(base, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    auto rest = name.substr(prefix.size());
    if (auto dot = rest.find('.'); dot != std::string::npos) rest = rest.substr(0, dot);
    if (rest.empty() || rest.find_first_not_of("0123456789") != std::string::npos) continue;
    int pid = std::stoi(rest);
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    fs::remove_all(it->path(), rm);
  }
}

} // namespace

std::string clamd_daemon::socket_for(const std::string& content_dir) {
  return content_dir + "/clamd/" + node_id() + "/clamd.sock";
}

clamd_daemon::clamd_daemon(content_options opts) : opts_(std::move(opts)) {
  // One clamd per node, also where content nodes share the content folder.
  base_ = opts_.dir + "/clamd";
  dir_ = base_ + "/" + node_id();           // clamd's own (read-write in its sandbox): the socket
  socket_ = socket_for(opts_.dir);
  conf_ = dir_ + ".conf";                    // outside it: clamd cannot plant a link where we write
}

clamd_daemon::~clamd_daemon() { stop(); }

bool clamd_daemon::start(std::string& error) {
  std::error_code ec;
  fs::create_directories(base_, ec);
  if (ec) return error = "cannot create " + base_ + ": " + ec.message(), false;
  fs::permissions(base_, fs::perms::owner_all, ec);
  remove_stale(base_);
  fs::create_directories(dir_, ec);
  if (ec) return error = "cannot create " + dir_ + ": " + ec.message(), false;
  fs::permissions(dir_, fs::perms::owner_all, ec);
  auto max = max_text(opts_);
  std::ostringstream c;
  c << "# written by nextcrm at start (NEXTCRM_CONTENT_CLAMD=auto): its own clamd, in the sandbox\n"
    << "LocalSocket " << socket_ << "\nLocalSocketMode 600\nFixStaleSocket yes\nForeground yes\n"
    << "DatabaseDirectory /job/db\nTemporaryDirectory /tmp\nLogTime no\nLogVerbose no\n"
    << "StreamMaxLength " << max << "\nMaxFileSize " << max << "\nMaxScanSize " << max << "\n"
    << "AlertExceedsMax yes\nAlertEncrypted yes\nConcurrentDatabaseReload no\nSelfCheck 0\n"
    << "ScanImageFuzzyHash " << (opts_.image_fuzzy_hash ? "yes" : "no") << "\n"
    << "MaxThreads " << std::max<size_t>(2, opts_.max_jobs) << "\nReadTimeout "
    << std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(opts_.scan_timeout).count()) << "\n";
  ::unlink(conf_.c_str());
  int fd = ::open(conf_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  auto text = c.str();
  bool written = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) ::close(fd);
  if (!written) return error = "cannot write " + conf_, false;
  keeper_ = std::thread([this] { keep(); });
  return true;
}

void clamd_daemon::stop() {
  stopping_ = true;
  if (int pid = pid_.load(); pid > 0) ::kill(pid, SIGTERM);
  if (keeper_.joinable()) {
    keeper_.join();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    fs::remove(conf_, ec);
  }
}

// Runs clamd (bubblewrap: its signatures read-only at /job/db, its own
// folder for the socket, no network), waits for PING/PONG, and starts it
// again whenever it exits, until stop().
void clamd_daemon::keep() {
  while (!stopping_) {
    sandbox_spec box;
    box.bwrap = opts_.bwrap;
    box.mounts = {{opts_.signatures, "/job/db", false}, {conf_, conf_, false}, {dir_, dir_, true}};
    box.argv = {opts_.clamd, "--config-file=" + conf_};
    box.tmp_size = 0;  // clamd spools each stream in /tmp, up to the upload cap
    auto words = sandbox_command(box);
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    char* envp[] = {const_cast<char*>("PATH=/usr/bin"), nullptr};
    spawn_request rq;
    rq.argv = argv.data();
    rq.envp = envp;
    pid_t pid = spawn_child(rq);
    if (pid < 0) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    pid_ = pid;
    if (stopping_) ::kill(pid, SIGTERM);  // stop() ran before pid_ was set
    auto started = std::chrono::steady_clock::now();
    // ready once it answers PING
    while (!stopping_ && !ready_) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      fd_guard s{connect_unix(socket_, std::chrono::milliseconds(500))};
      std::string reply;
      if (s.fd >= 0 && send_all(s.fd, "zPING", 6) && read_reply(s.fd, reply) && reply == "PONG") ready_ = true;
      else std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid > 0) {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    ready_ = false;
    pid_ = 0;
    if (stopping_) break;
    // a clamd that keeps dying is restarted at most once a second
    auto ran = std::chrono::steady_clock::now() - started;
    if (ran < std::chrono::seconds(1)) std::this_thread::sleep_for(std::chrono::seconds(1) - ran);
  }
}

} // namespace crm::actors
