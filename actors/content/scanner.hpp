// actors/content/scanner.hpp
// The virus scan of the content pipeline (ADR-0053). ClamAV is GPL and runs
// as a process of its own, never linked: by default the node starts its
// own clamd inside the sandbox (its signatures read-only, no network, a
// Unix socket in the content folder) and keeps it running; each scan
// streams the file to it (INSTREAM), so the signatures are loaded once,
// not per file. When clamd cannot be reached, the file is scanned by a
// sandboxed clamscan instead: a scan never silently passes a file.
#pragma once
#include "actors/content/content.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace crm::actors {

struct scan_result {
  enum class verdict : uint8_t { clean, infected, error } what = verdict::error;
  std::string detail;  // infected: the signature; error: what failed
};

// Scans `path`: clamd at `socket` (when not empty), else clamscan.
// Blocking: run it on a thread of its own.
scan_result scan_file(const content_options& opts, const std::string& socket, const std::string& path);

// The node's own clamd (NEXTCRM_CONTENT_CLAMD=auto): started in the sandbox,
// restarted when it dies (1 s apart at most once per second), stopped with
// the node.
class clamd_daemon {
public:
  explicit clamd_daemon(content_options opts);
  ~clamd_daemon();
  clamd_daemon(const clamd_daemon&) = delete;
  clamd_daemon& operator=(const clamd_daemon&) = delete;

  // Writes the configuration and starts the keeper thread; false (with
  // `error`) when the configuration cannot be written.
  bool start(std::string& error);
  void stop();
  // The socket scans connect to.
  const std::string& socket() const { return socket_; }
  // This process's clamd socket under `content_dir` (content/clamd/<host>-<pid>/).
  static std::string socket_for(const std::string& content_dir);
  // True once clamd answered PING since it last started.
  bool ready() const { return ready_.load(); }

private:
  void keep();
  content_options opts_;
  std::string base_, dir_, socket_, conf_;
  std::thread keeper_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> ready_{false};
  std::atomic<int> pid_{0};
};

} // namespace crm::actors
