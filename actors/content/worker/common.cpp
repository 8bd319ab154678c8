// actors/content/worker/common.cpp: what both sanitizer binaries share
// (nextcrm-worker and nextcrm-worker-image): the command line, the verdict
// line, and where a job goes.
#include "actors/content/worker/sanitize.hpp"

#include "protocols/content.hpp"
#include "protocols/json_writer.hpp"

#include <magic.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <exception>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace crm::worker {

using protocols::content_kind;

bool parse_job(int argc, char** argv, job& j) {
  auto split = [](const std::string& text) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at <= text.size()) {
      auto c = text.find(',', at);
      auto part = text.substr(at, c == std::string::npos ? std::string::npos : c - at);
      if (!part.empty()) out.push_back(part);
      if (c == std::string::npos) break;
      at = c + 1;
    }
    return out;
  };
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--in") j.in = v;
    else if (k == "--out") j.out = v;
    else if (k == "--declared") j.declared = v;
    else if (k == "--filename") j.filename = v;
    else if (k == "--allow") j.allowed = split(v);
    else if (k == "--archives") j.archives = v == "1";
    else if (k == "--rasterize") j.rasterize = v == "1";
    else if (k == "--max-pixels") j.max_pixels = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--sniffed") j.sniffed = v;
    else {
      std::fprintf(stderr, "nextcrm-worker: unknown argument %s\n", k.c_str());
      return false;
    }
  }
  if (j.in.empty() || j.out.empty()) {
    std::fprintf(stderr, "usage: nextcrm-worker --in FILE --out FILE [--declared MIME] [--filename NAME]\n"
                         "  [--allow a,b] [--archives 0|1] [--rasterize 0|1] [--max-pixels N]\n");
    return false;
  }
  return true;
}

void print_verdict(const verdict& v, const std::string& sniffed) {
  protocols::json_writer w;
  w.begin_object();
  w.key("ok").boolean(v.ok);
  w.key("sniffed").string(sniffed);
  if (v.ok) {
    w.key("mime").string(v.mime);
    w.key("kind").string(v.kind);
  } else {
    w.key("reason").string(v.reason);
    w.key("detail").string(v.detail);
  }
  w.end_object();
  std::printf("%s\n", std::move(w).str().c_str());
}

bool wants_image_worker(const job& j) {
  auto kind = protocols::classify_content(j.sniffed, j.declared, j.filename);
  return kind == content_kind::image && protocols::mime_allowed(j.allowed, protocols::served_mime(kind, j.sniffed));
}

std::string sniff_file(const std::string& path, std::string& error) {
  magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
  if (!m) return error = "libmagic cannot start", "";
  std::string out;
  if (magic_load(m, "/usr/share/misc/magic.mgc") != 0) {
    error = std::string{"libmagic: "} + magic_error(m);
  } else if (const char* t = magic_file(m, path.c_str())) {
    out = t;
  } else {
    error = std::string{"libmagic: "} + magic_error(m);
  }
  magic_close(m);
  return out;
}

void exec_sibling(char** argv, const char* name, const std::string& sniffed) {
  std::string self = argv[0];
  auto slash = self.rfind('/');
  std::string path = (slash == std::string::npos ? std::string{} : self.substr(0, slash + 1)) + name;
  std::vector<std::string> words{path};
  for (int i = 1; argv[i] && argv[i + 1]; i += 2) {  // key value pairs (a value may look like a key)
    if (std::string_view{argv[i]} == "--sniffed") continue;  // replaced below
    words.emplace_back(argv[i]);
    words.emplace_back(argv[i + 1]);
  }
  words.emplace_back("--sniffed");
  words.push_back(sniffed);
  std::vector<char*> args;
  for (auto& w : words) args.push_back(w.data());
  args.push_back(nullptr);
  std::fflush(stdout);
  execv(path.c_str(), args.data());
  std::fprintf(stderr, "nextcrm-worker: cannot run %s\n", path.c_str());
  std::_Exit(2);
}

int worker_main(int argc, char** argv, const char* name, bool (*mine)(const job&), const char* other,
                verdict (*work)(const job&)) {
  job j;
  if (!parse_job(argc, argv, j)) return 2;
  if (j.sniffed.empty()) {
    std::string error;
    j.sniffed = sniff_file(j.in, error);
    if (j.sniffed.empty()) {
      std::fprintf(stderr, "%s: %s\n", name, error.c_str());
      return 2;
    }
  }
  if (!mine(j)) exec_sibling(argv, other, j.sniffed);
  verdict v;
  try {
    v = work(j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 2;
  }
  if (v.internal) {
    std::fprintf(stderr, "%s: %s\n", name, v.detail.c_str());
    return 2;
  }
  print_verdict(v, j.sniffed);
  return 0;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

bool write_all(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

verdict reject(std::string reason, std::string detail) {
  verdict v;
  v.reason = std::move(reason);
  v.detail = std::move(detail);
  return v;
}

verdict accept(std::string mime, std::string kind) {
  verdict v;
  v.ok = true;
  v.mime = std::move(mime);
  v.kind = std::move(kind);
  return v;
}

} // namespace crm::worker
