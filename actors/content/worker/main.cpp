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

#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <cstring>
#include <string>
#include <vector>

using namespace crm::worker;

int main(int argc, char** argv) {
  job j;
  if (!parse_job(argc, argv, j)) return 2;
  if (j.sniffed.empty()) {
    std::string error;
    j.sniffed = sniff_file(j.in, error);
    if (j.sniffed.empty()) {
      std::fprintf(stderr, "nextcrm-worker: %s\n", error.c_str());
      return 2;
    }
  }
  auto sniffed = j.sniffed;
  if (wants_image_worker(j)) exec_sibling(argv, "nextcrm-worker-image", sniffed);
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
