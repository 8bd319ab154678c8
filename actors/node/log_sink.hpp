// actors/node/log_sink.hpp
// Buffered JSON-lines log on stdout. Any thread appends a line (one mutex,
// no syscall); a background thread writes the buffer every 20 ms or when it
// passes 64 KiB, so per-request logging costs no write() on the request path.
#pragma once
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace crm::actors {

enum class log_level : uint8_t { debug, info, warn, error };

// "debug", "info", "warn", "error"; false for anything else.
bool parse_log_level(std::string_view text, log_level& out);

class log_sink {
public:
  explicit log_sink(int fd = 1, log_level min = log_level::info);
  ~log_sink();  // flushes
  log_sink(const log_sink&) = delete;
  log_sink& operator=(const log_sink&) = delete;

  bool enabled(log_level l) const { return l >= min_; }
  // Appends one line (a JSON object, without newline).
  void write(std::string_view line);
  // A structured event line: {"ts","level","msg", <fields_json members>}.
  // `fields_json` is either empty or a comma-separated list of JSON members.
  void event(log_level l, std::string_view msg, std::string_view fields_json = {});
  void flush();

private:
  void run();
  int fd_;
  log_level min_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string buffer_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace crm::actors
