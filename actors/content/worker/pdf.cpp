// PDFs: active content removed with qpdf (document and page actions,
// JavaScript, launch/submit/import actions, embedded files, the document's
// metadata); the text and pages stay as they were. With the tenant's
// `pdf_rasterize`, pages are rendered to pixels by poppler's pdftoppm (a
// process: GPL) and a new PDF is built of those images, so nothing of the
// original's structure survives.
#include "actors/content/worker/sanitize.hpp"

#include <qpdf/QPDF.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>
#include <qpdf/QPDFWriter.hh>
#include <qpdf/QUtil.hh>

#include <algorithm>
#include <dirent.h>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace crm::worker {
namespace {

bool dangerous_action(QPDFObjectHandle h) {
  if (!h.isDictionary() || !h.hasKey("/S")) return false;
  auto s = h.getKey("/S");
  if (!s.isName()) return false;
  static const std::set<std::string> bad{"/JavaScript", "/Launch",  "/SubmitForm", "/ImportData", "/GoToR",
                                         "/GoToE",      "/Rendition", "/RichMediaExecute", "/Sound", "/Movie",
                                         "/ResetForm",  "/Hide"};
  return bad.count(s.getName()) > 0;
}

// Removes active content from `h` and the direct objects inside it
// (indirect ones are visited on their own by the caller).
void scrub(QPDFObjectHandle h, int depth) {
  if (depth > 64) return;
  if (h.isStream()) h = h.getDict();
  if (h.isDictionary()) {
    for (const char* key : {"/AA", "/OpenAction", "/JS", "/JavaScript", "/EmbeddedFiles", "/EF", "/XFA",
                            "/RichMediaContent", "/Metadata"})
      h.removeKey(key);
    if (h.hasKey("/Subtype") && h.getKey("/Subtype").isName() &&
        h.getKey("/Subtype").getName() == "/FileAttachment")
      h.removeKey("/FS");
    for (const auto& key : h.getKeys()) {
      auto v = h.getKey(key);
      if (dangerous_action(v)) {
        h.removeKey(key);
        continue;
      }
      if (!v.isIndirect()) scrub(v, depth + 1);
    }
    if (dangerous_action(h)) {  // an action nobody points at by key (in a /Next array): make it inert
      for (const auto& key : h.getKeys()) h.removeKey(key);
    }
  } else if (h.isArray()) {
    for (int i = h.getArrayNItems(); i-- > 0;) {
      auto v = h.getArrayItem(i);
      if (dangerous_action(v)) h.eraseItem(i);
      else if (!v.isIndirect()) scrub(v, depth + 1);
    }
  }
}

bool read_jpeg_size(const std::string& bytes, int& w, int& h) {
  for (size_t i = 2; i + 9 < bytes.size();) {
    if (static_cast<unsigned char>(bytes[i]) != 0xFF) return false;
    unsigned char m = static_cast<unsigned char>(bytes[i + 1]);
    size_t len = (static_cast<unsigned char>(bytes[i + 2]) << 8) | static_cast<unsigned char>(bytes[i + 3]);
    if (m >= 0xC0 && m <= 0xC3) {
      h = (static_cast<unsigned char>(bytes[i + 5]) << 8) | static_cast<unsigned char>(bytes[i + 6]);
      w = (static_cast<unsigned char>(bytes[i + 7]) << 8) | static_cast<unsigned char>(bytes[i + 8]);
      return w > 0 && h > 0;
    }
    i += 2 + len;
  }
  return false;
}

// At most 500 pages are rendered (into the sandbox's bounded /tmp); a
// longer PDF is refused rather than cut short.
verdict rasterize(const job& j, const std::string& in, int page_count) {
  if (page_count > 500)
    return reject("pdf.too_many_pages", "rasterizing stops at 500 pages; this PDF has " + std::to_string(page_count));
  mkdir("/tmp/pages", 0700);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/usr/bin/pdftoppm", "pdftoppm", "-r", "110", "-l", "500", "-jpeg", "-jpegopt", "quality=85", in.c_str(),
          "/tmp/pages/p", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
    return reject("pdf.rasterize", "rasterizing needs poppler's pdftoppm, which is not installed");
  if (WEXITSTATUS(status) != 0) return reject("pdf.malformed", "the PDF's pages cannot be rendered");
  std::vector<std::string> pages;
  if (DIR* d = opendir("/tmp/pages")) {
    while (auto* e = readdir(d))
      if (e->d_name[0] == 'p') pages.push_back(std::string{"/tmp/pages/"} + e->d_name);
    closedir(d);
  }
  std::sort(pages.begin(), pages.end());  // p-01.jpg, p-02.jpg, ... (zero-padded)
  if (pages.empty()) return reject("pdf.malformed", "the PDF has no page to render");
  QPDF out;
  out.emptyPDF();
  QPDFPageDocumentHelper doc(out);
  for (const auto& path : pages) {
    auto jpeg = read_all(path);
    int w = 0, h = 0;
    if (!read_jpeg_size(jpeg, w, h)) return verdict{false, true, {}, {}, {}, "pdftoppm wrote an unreadable page"};
    auto image = QPDFObjectHandle::newStream(&out, jpeg);
    image.replaceDict(QPDFObjectHandle::parse("<< /Type /XObject /Subtype /Image /ColorSpace /DeviceRGB"
                                              " /BitsPerComponent 8 /Filter /DCTDecode /Width " +
                                              std::to_string(w) + " /Height " + std::to_string(h) + " >>"));
    double pw = w * 72.0 / 110, ph = h * 72.0 / 110;
    auto content = QPDFObjectHandle::newStream(
        &out, "q " + std::to_string(pw) + " 0 0 " + std::to_string(ph) + " 0 0 cm /Im0 Do Q\n");
    auto resources = QPDFObjectHandle::parse("<< /XObject << >> >>");
    resources.getKey("/XObject").replaceKey("/Im0", image);
    auto page = QPDFObjectHandle::parse("<< /Type /Page /MediaBox [0 0 " + std::to_string(pw) + " " +
                                        std::to_string(ph) + "] >>");
    page.replaceKey("/Contents", content);
    page.replaceKey("/Resources", resources);
    doc.addPage(QPDFPageObjectHelper(out.makeIndirectObject(page)), false);
  }
  QPDFWriter w(out, j.out.c_str());
  w.setStaticID(false);
  w.write();
  return accept("application/pdf", "pdf");
}

} // namespace

verdict sanitize_pdf(const job& j, const std::string& in) {
  QPDF pdf;
  pdf.setSuppressWarnings(true);
  try {
    pdf.processFile(in.c_str());
  } catch (const QPDFExc& e) {
    if (e.getErrorCode() == qpdf_e_password) return reject("pdf.encrypted", "the PDF needs a password to open");
    return reject("pdf.malformed", "the PDF cannot be read");
  }
  if (j.rasterize) return rasterize(j, in, static_cast<int>(QPDFPageDocumentHelper(pdf).getAllPages().size()));
  pdf.getTrailer().removeKey("/Info");
  scrub(pdf.getTrailer(), 0);
  for (auto& obj : pdf.getAllObjects()) scrub(obj, 0);
  // each page's own annotations: actions removed above; the page's /AA too
  for (auto& page : QPDFPageDocumentHelper(pdf).getAllPages()) page.getObjectHandle().removeKey("/AA");
  QPDFWriter w(pdf, j.out.c_str());
  w.setStreamDataMode(qpdf_s_preserve);    // content streams as they were: the text stays
  w.setObjectStreamMode(qpdf_o_disable);   // dictionaries in the clear (reviewable, greppable)
  w.setPreserveEncryption(false);
  w.setStaticID(false);
  w.write();
  return accept("application/pdf", "pdf");
}

} // namespace crm::worker
