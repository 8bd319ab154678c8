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

#include <magic.h>

#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace crm::worker;

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

// Images go to nextcrm-worker-image (beside this binary): only it links
// libvips, whose load alone costs ~30 ms, so other files do not pay it.
[[noreturn]] void exec_image_worker(char** argv, const std::string& sniffed) {
  std::string self = argv[0];
  auto slash = self.rfind('/');
  std::string image = (slash == std::string::npos ? std::string{} : self.substr(0, slash + 1)) + "nextcrm-worker-image";
  std::vector<std::string> words{image};
  for (int i = 1; argv[i]; ++i) words.emplace_back(argv[i]);
  words.emplace_back("--sniffed");
  words.push_back(sniffed);
  std::vector<char*> args;
  for (auto& w : words) args.push_back(w.data());
  args.push_back(nullptr);
  std::fflush(stdout);
  execv(image.c_str(), args.data());
  std::fprintf(stderr, "nextcrm-worker: cannot run %s\n", image.c_str());
  std::_Exit(2);
}

} // namespace

int main(int argc, char** argv) {
  job j;
  if (!parse_job(argc, argv, j)) return 2;
  std::string error;
  auto sniffed = sniff(j.in, error);
  if (sniffed.empty()) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  j.sniffed = sniffed;
  if (wants_image_worker(j)) exec_image_worker(argv, sniffed);
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
  print_verdict(v, sniffed);
  return 0;
}
