// actors/content/worker/image_main.cpp: nextcrm-worker-image, the image half
// of the sanitizer (ADR-0052); only this binary links libvips. The job runs
// it first for files declared as images (nextcrm-worker for the rest); each
// sniffs the bytes and, when they are the other one's, replaces itself with
// it (exec, inside the same sandbox, the sniffed type passed on), so a
// file pays for one libvips load at most and usually for one exec. Prints
// the same one JSON line.
#include "actors/content/worker/sanitize.hpp"


int main(int argc, char** argv) {
  using namespace crm::worker;
  return worker_main(argc, argv, "nextcrm-worker-image", wants_image_worker, "nextcrm-worker", sanitize_image);
}
