// actors/content/worker/main.cpp: nextcrm-worker, the sanitizer (ADR-0052).
// Runs inside the sandbox (actors/content/sandbox.hpp), one file per run:
// sniffs what the bytes are (libmagic), checks the tenant's rules, and
// rebuilds the file from what it means (content disarm and reconstruction):
// images decoded and re-encoded without metadata (libvips), PDFs stripped
// of active content (qpdf) or rasterized (pdftoppm), text and CSV checked
// and neutralized, zips inspected and inflated against a cap, office files
// converted to PDF when LibreOffice is installed. Prints one JSON line:
//   {"ok":true,"sniffed":"image/jpeg","mime":"image/jpeg","kind":"image"}
//   {"ok":false,"sniffed":"text/html","reason":"type.dangerous","detail":"..."}
// Exit 0 when it decided, 2 when it could not (the job rejects the file).
#include "actors/content/worker/sanitize.hpp"
#include "protocols/json_writer.hpp"

#include <magic.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace crm::worker;

void print(const verdict& v, const std::string& sniffed) {
  crm::protocols::json_writer w;
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

std::string sniff(const std::string& path, std::string& error) {
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

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    auto c = s.find(',', at);
    auto part = s.substr(at, c == std::string::npos ? std::string::npos : c - at);
    if (!part.empty()) out.push_back(part);
    if (c == std::string::npos) break;
    at = c + 1;
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  job j;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--in") j.in = v;
    else if (k == "--out") j.out = v;
    else if (k == "--declared") j.declared = v;
    else if (k == "--filename") j.filename = v;
    else if (k == "--allow") j.allowed = split(v);
    else if (k == "--archives") j.archives = v == "1";
    else if (k == "--rasterize") j.rasterize = v == "1";
    else if (k == "--max-pixels") j.max_pixels = std::stoull(v);
    else {
      std::fprintf(stderr, "nextcrm-worker: unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  if (j.in.empty() || j.out.empty()) {
    std::fprintf(stderr, "usage: nextcrm-worker --in FILE --out FILE [--declared MIME] [--filename NAME]\n"
                         "  [--allow a,b] [--archives 0|1] [--rasterize 0|1] [--max-pixels N]\n");
    return 2;
  }
  std::string error;
  auto sniffed = sniff(j.in, error);
  if (sniffed.empty()) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  j.sniffed = sniffed;
  verdict v;
  try {
    v = sanitize(j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nextcrm-worker: %s\n", e.what());
    return 2;
  }
  if (v.internal) {
    std::fprintf(stderr, "nextcrm-worker: %s\n", v.detail.c_str());
    return 2;
  }
  print(v, sniffed);
  return 0;
}
