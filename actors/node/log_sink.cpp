#include "actors/node/log_sink.hpp"

#include "protocols/access_log.hpp"
#include "protocols/json_writer.hpp"

#include <unistd.h>

namespace crm::actors {
namespace {

constexpr size_t flush_threshold = 64 * 1024;

void write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    auto n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return;  // nowhere to log to: drop rather than block the server
    off += static_cast<size_t>(n);
  }
}

const char* level_name(log_level l) {
  switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "info";
}

} // namespace

bool parse_log_level(std::string_view text, log_level& out) {
  if (text == "debug") out = log_level::debug;
  else if (text == "info") out = log_level::info;
  else if (text == "warn") out = log_level::warn;
  else if (text == "error") out = log_level::error;
  else return false;
  return true;
}

log_sink::log_sink(int fd, log_level min) : fd_(fd), min_(min), thread_([this] { run(); }) {}

log_sink::~log_sink() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void log_sink::write(std::string_view line) {
  bool wake;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    buffer_.append(line).push_back('\n');
    wake = buffer_.size() >= flush_threshold;
  }
  if (wake) wake_.notify_one();
}

void log_sink::event(log_level l, std::string_view msg, std::string_view fields_json) {
  if (!enabled(l)) return;
  std::string line = "{\"ts\":";
  protocols::append_json_string(line, protocols::format_rfc3339_ms(std::chrono::system_clock::now()));
  line += ",\"level\":\"";
  line += level_name(l);
  line += "\",\"msg\":";
  protocols::append_json_string(line, msg);
  if (!fields_json.empty()) line.append(",").append(fields_json);
  line += '}';
  write(line);
}

void log_sink::flush() {
  std::string out;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    out.swap(buffer_);
  }
  write_all(fd_, out);
}

void log_sink::run() {
  std::unique_lock<std::mutex> lock{mutex_};
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(20));
    if (buffer_.empty()) continue;
    std::string out;
    out.swap(buffer_);
    lock.unlock();
    write_all(fd_, out);
    lock.lock();
  }
  std::string rest;
  rest.swap(buffer_);
  lock.unlock();
  write_all(fd_, rest);
}

} // namespace crm::actors
