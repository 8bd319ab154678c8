// actors/content/worker/sanitize.hpp
// The sanitizer's steps, one function per kind of content, for
// nextcrm-worker (main.cpp) only: this code parses untrusted bytes and runs
// nowhere but inside the sandbox.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace crm::worker {

struct job {
  std::string in, out;       // the quarantined file (read-only), the artifact to write
  std::string sniffed;       // libmagic's MIME type
  std::string declared;      // the client's, for CSV vs text only
  std::string filename;      // the client's, for CSV vs text only
  std::vector<std::string> allowed;
  bool archives = false;
  bool rasterize = false;
  uint64_t max_pixels = 100'000'000;
};

struct verdict {
  bool ok = false;
  bool internal = false;   // the worker failed (not the file's fault): exit 2
  std::string mime;        // ok: the artifact's type
  std::string kind;        // ok: image, pdf, text, csv, archive, office
  std::string reason;      // !ok: dotted code (type.not_allowed, image.too_many_pixels, ...)
  std::string detail;      // !ok: one sentence for the user
};

// The job of the command line (--in, --out, --declared, --filename,
// --allow a,b, --archives 0|1, --rasterize 0|1, --max-pixels N, and
// --sniffed for nextcrm-worker-image); false after printing the usage.
bool parse_job(int argc, char** argv, job& j);
// The one JSON line of the verdict on stdout.
void print_verdict(const verdict& v, const std::string& sniffed);
// True when the sniffed type is an image the tenant allows: the image
// worker takes it from here.
bool wants_image_worker(const job& j);
// libmagic's MIME type of `path` ("" and `error` when it cannot tell).
std::string sniff_file(const std::string& path, std::string& error);
// Replaces this process with the sibling binary `name` (same folder, same
// arguments, --sniffed added).
[[noreturn]] void exec_sibling(char** argv, const char* name, const std::string& sniffed);

// The whole run of one sanitizer binary `name`: reads the job, sniffs the
// bytes unless the other binary did, hands a file that is not `mine` to
// `other` (exec), otherwise runs `work` and prints its verdict. Exit 0
// with a verdict, 2 when the worker itself failed.
int worker_main(int argc, char** argv, const char* name, bool (*mine)(const job&), const char* other,
                verdict (*work)(const job&));

verdict sanitize(const job& j);

verdict sanitize_image(const job& j);
verdict sanitize_pdf(const job& j, const std::string& in);
verdict sanitize_text(const job& j, bool csv);
verdict check_zip(const job& j);
verdict convert_office(const job& j);

// The whole of a (size-capped) file; writing one, false on failure.
std::string read_all(const std::string& path);
bool write_all(const std::string& path, std::string_view bytes);

verdict reject(std::string reason, std::string detail);
verdict accept(std::string mime, std::string kind);

} // namespace crm::worker
