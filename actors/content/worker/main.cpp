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
  return worker_main(argc, argv, "nextcrm-worker", [](const job& j) { return !wants_image_worker(j); },
                     "nextcrm-worker-image", sanitize);
}
