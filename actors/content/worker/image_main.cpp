// actors/content/worker/image_main.cpp: nextcrm-worker-image, the image half
// of the sanitizer (ADR-0052); only this binary links libvips. The job runs
// it first for files declared as images (nextcrm-worker for the rest); each
// sniffs the bytes and, when they are the other one's, replaces itself with
// it (exec, inside the same sandbox, the sniffed type passed on), so a
// file pays for one libvips load at most and usually for one exec. Prints
// the same one JSON line.
#include "actors/content/worker/sanitize.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  crm::worker::job j;
  if (!crm::worker::parse_job(argc, argv, j)) return 2;
  if (j.sniffed.empty()) {  // the job sent a file declared as an image here first: the bytes decide
    std::string error;
    j.sniffed = crm::worker::sniff_file(j.in, error);
    if (j.sniffed.empty()) {
      std::fprintf(stderr, "nextcrm-worker-image: %s\n", error.c_str());
      return 2;
    }
  }
  if (!crm::worker::wants_image_worker(j)) crm::worker::exec_sibling(argv, "nextcrm-worker", j.sniffed);
  crm::worker::verdict v;
  try {
    v = crm::worker::sanitize_image(j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nextcrm-worker-image: %s\n", e.what());
    return 2;
  }
  if (v.internal) {
    std::fprintf(stderr, "nextcrm-worker-image: %s\n", v.detail.c_str());
    return 2;
  }
  crm::worker::print_verdict(v, j.sniffed);
  return 0;
}
