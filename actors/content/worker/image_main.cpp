// actors/content/worker/image_main.cpp: nextcrm-worker-image, the image half
// of the sanitizer (ADR-0052). nextcrm-worker sniffs the file and, for an
// image the tenant allows, replaces itself with this binary (exec, inside
// the same sandbox) with the sniffed type added: only this one links
// libvips. Prints the same one JSON line.
#include "actors/content/worker/sanitize.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  crm::worker::job j;
  if (!crm::worker::parse_job(argc, argv, j) || j.sniffed.empty()) return 2;
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
