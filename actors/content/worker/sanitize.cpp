#include "actors/content/worker/sanitize.hpp"

#include "protocols/content.hpp"
#include "protocols/json_writer.hpp"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace crm::worker {
namespace {

using protocols::content_kind;

const char* kind_name(content_kind k) {
  switch (k) {
    case content_kind::image: return "image";
    case content_kind::pdf: return "pdf";
    case content_kind::text: return "text";
    case content_kind::csv: return "csv";
    case content_kind::office: return "office";
    case content_kind::archive: return "archive";
    case content_kind::dangerous: return "dangerous";
    case content_kind::unknown: return "unknown";
  }
  return "unknown";
}

// Inflates one deflated entry, counting what comes out; stops past `cap`.
// Returns the bytes produced (cap + 1 when it went past), or -1 on bad data.
int64_t inflated_size(std::string_view data, uint64_t cap) {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return -1;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  static unsigned char sink[65536];
  uint64_t total = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = sink;
    z.avail_out = sizeof sink;
    rc = inflate(&z, Z_NO_FLUSH);
    total += sizeof sink - z.avail_out;
    if (total > cap) break;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  inflateEnd(&z);
  if (total > cap) return static_cast<int64_t>(cap) + 1;
  if (rc != Z_STREAM_END) return -1;
  return static_cast<int64_t>(total);
}

} // namespace

verdict sanitize(const job& j) {
  auto kind = protocols::classify_content(j.sniffed, j.declared, j.filename);
  auto served = protocols::served_mime(kind, j.sniffed);
  switch (kind) {
    case content_kind::dangerous:
      return reject("type.dangerous", "the file is " + j.sniffed + ", which can run code where it is opened");
    case content_kind::unknown:
      return reject("type.unsupported", "the file is " + j.sniffed + ", which the pipeline cannot make safe");
    case content_kind::archive:
      if (!j.archives || j.sniffed != "application/zip")
        return reject("type.archive", "the file is an archive (" + j.sniffed + "); archives are not enabled");
      break;
    default: break;
  }
  if (!protocols::mime_allowed(j.allowed, served))
    return reject("type.not_allowed", "the file is " + served + ", which this tenant does not accept");
  switch (kind) {
    case content_kind::image:  // nextcrm-worker-image's (wants_image_worker)
      return verdict{false, true, {}, {}, {}, "images are the image worker's"};
    case content_kind::pdf: return sanitize_pdf(j, j.in);
    case content_kind::text: return sanitize_text(j, false);
    case content_kind::csv: return sanitize_text(j, true);
    case content_kind::archive: return check_zip(j);
    case content_kind::office: return convert_office(j);
    default: return reject("type.unsupported", "the pipeline cannot make " + j.sniffed + " safe");
  }
  (void)kind_name;
}

verdict sanitize_text(const job& j, bool csv) {
  auto text = read_all(j.in);
  if (!protocols::valid_utf8(text)) return reject("text.encoding", "the text is not valid UTF-8");
  if (text.find('\0') != std::string::npos) return reject("text.encoding", "the text contains NUL characters");
  std::string out;
  if (csv) {
    auto n = protocols::neutralize_csv(text);
    if (!n) return reject("csv.malformed", "the CSV has a quoted field that never ends");
    out = std::move(*n);
  } else {
    out = protocols::normalize_text(text);
  }
  if (!write_all(j.out, out)) return verdict{false, true, {}, {}, {}, "cannot write the artifact"};
  return accept(csv ? "text/csv" : "text/plain", csv ? "csv" : "text");
}

// The central directory must be believable (protocols::inspect_zip), and
// then every entry is inflated against what it declared: a directory that
// lies about sizes is caught here, with memory bounded by a 64 KiB sink.
verdict check_zip(const job& j) {
  auto file = read_all(j.in);
  protocols::zip_limits limits;
  auto z = protocols::inspect_zip(file, limits);
  if (!z.ok) return reject(z.reason, z.detail);
  uint64_t total = 0;
  for (const auto& e : z.items) {
    std::string_view data{file.data() + e.data_offset, static_cast<size_t>(e.compressed)};
    int64_t got;
    if (e.method == 0) got = static_cast<int64_t>(e.compressed);
    else if (e.method == 8) got = inflated_size(data, std::min<uint64_t>(e.size, limits.max_uncompressed - total));
    else return reject("archive.unsupported", "an entry uses a compression method other than deflate");
    if (got < 0) return reject("archive.malformed", "an entry's data is damaged");
    if (static_cast<uint64_t>(got) != e.size)
      return reject("archive.bomb", "an entry expands to more than its directory says");
    total += static_cast<uint64_t>(got);
  }
  if (!write_all(j.out, file)) return verdict{false, true, {}, {}, {}, "cannot write the artifact"};
  return accept("application/zip", "archive");
}

verdict convert_office(const job& j) {
  const char* soffice = "/usr/bin/soffice";
  if (access(soffice, X_OK) != 0)
    return reject("office.unsupported", "office documents are converted to PDF by LibreOffice, which is not installed");
  std::string in = "/tmp/office-in";
  if (!write_all(in, read_all(j.in))) return verdict{false, true, {}, {}, {}, "cannot copy the document"};
  pid_t pid = fork();
  if (pid == 0) {
    execl(soffice, soffice, "--headless", "--norestore", "--nolockcheck", "--convert-to", "pdf", "--outdir",
          "/tmp/office-out", in.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || access("/tmp/office-out/office-in.pdf", R_OK) != 0)
    return reject("office.conversion", "LibreOffice could not convert the document");
  auto v = sanitize_pdf(j, "/tmp/office-out/office-in.pdf");
  if (v.ok) v.kind = "office";
  return v;
}

} // namespace crm::worker
