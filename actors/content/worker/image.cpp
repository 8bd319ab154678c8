// Images: decoded and re-encoded by libvips, nothing of the original file
// kept but its pixels. The header is read first (libvips loads lazily): an
// image whose pixel count passes the limit is rejected before any pixel is
// decoded (decompression bombs). Every metadata field is removed by name
// before saving with strip: libvips 8.14's WebP saver ignores `strip` and
// would write the EXIF and XMP it still holds.
#include "actors/content/worker/sanitize.hpp"

#include "protocols/content.hpp"

#include <vips/vips.h>


#include <cstring>
#include <memory>

namespace crm::worker {
namespace {

struct unref {
  void operator()(VipsImage* i) const {
    if (i) g_object_unref(i);
  }
};
using image_ptr = std::unique_ptr<VipsImage, unref>;

std::string vips_failure() {
  std::string e = vips_error_buffer();
  vips_error_clear();
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e.substr(0, 300);
}

// The loader libvips would pick must be the one for the sniffed type: a
// file that is a JPEG to libmagic but something else to libvips is refused.
const char* expected_loader(const std::string& mime) {
  // class names: VipsForeignLoadJpegFile, VipsForeignLoadPngFile (or Spng),
  // VipsForeignLoadWebpFile, VipsForeignLoadNsgifFile
  if (mime == "image/jpeg") return "Jpeg";
  if (mime == "image/png") return "ngFile";
  if (mime == "image/webp") return "Webp";
  if (mime == "image/gif") return "gifFile";
  return nullptr;
}

// Removes every field that is not one of the image's own properties:
// exif-*, xmp-data, iptc-data, icc-profile-data, png comments, gif
// comments, orientation and whatever a loader attached.
void remove_metadata(VipsImage* img) {
  gchar** fields = vips_image_get_fields(img);
  for (gchar** f = fields; f && *f; ++f) {
    static constexpr const char* keep[] = {"width", "height", "bands", "format", "coding", "interpretation",
                                           "xoffset", "yoffset", "xres", "yres", "filename", "mode"};
    bool own = false;
    for (const char* k : keep) own = own || std::strcmp(*f, k) == 0;
    if (!own) vips_image_remove(img, *f);
  }
  g_strfreev(fields);
}

// libvips 8.14 writes an EXIF chunk into WebP whatever `strip` says (built
// from the orientation and resolution it still holds): the chunks go here.
bool strip_webp_file(const std::string& path) {
  auto stripped = protocols::strip_webp_metadata(read_all(path));
  return stripped && write_all(path, *stripped);
}

} // namespace

verdict sanitize_image(const job& j) {
  if (VIPS_INIT("nextcrm-worker")) return verdict{false, true, {}, {}, {}, "libvips cannot start"};
  vips_block_untrusted_set(TRUE);  // no loader libvips itself marks as unsafe for untrusted input
  vips_concurrency_set(1);
  vips_cache_set_max(0);
  const char* want = expected_loader(j.sniffed);
  const char* loader = vips_foreign_find_load(j.in.c_str());
  if (!want || !loader || std::strncmp(loader, "VipsForeignLoad", 15) != 0 || std::strstr(loader, want) == nullptr)
    return reject("image.malformed", "the image cannot be read as " + j.sniffed);
  // header only: no pixel is decoded by this call
  image_ptr in{vips_image_new_from_file(j.in.c_str(), "fail_on", VIPS_FAIL_ON_ERROR, nullptr)};
  if (!in) return reject("image.malformed", "the image cannot be read: " + vips_failure());
  uint64_t w = static_cast<uint64_t>(vips_image_get_width(in.get()));
  uint64_t h = static_cast<uint64_t>(vips_image_get_height(in.get()));
  if (w == 0 || h == 0 || w * h > j.max_pixels)
    return reject("image.too_many_pixels", "the image is " + std::to_string(w) + "x" + std::to_string(h) +
                                               " pixels, more than the limit of " + std::to_string(j.max_pixels));
  VipsImage* rotated = nullptr;
  if (vips_autorot(in.get(), &rotated, nullptr)) return reject("image.malformed", "the image cannot be decoded: " + vips_failure());
  image_ptr rot{rotated};
  VipsImage* copied = nullptr;
  if (vips_copy(rot.get(), &copied, nullptr)) return verdict{false, true, {}, {}, {}, vips_failure()};
  image_ptr out{copied};
  remove_metadata(out.get());
  int rc;
  if (j.sniffed == "image/jpeg")
    rc = vips_jpegsave(out.get(), j.out.c_str(), "Q", 90, "strip", TRUE, nullptr);
  else if (j.sniffed == "image/png")
    rc = vips_pngsave(out.get(), j.out.c_str(), "strip", TRUE, nullptr);
  else if (j.sniffed == "image/webp")
    rc = vips_webpsave(out.get(), j.out.c_str(), "Q", 90, "strip", TRUE, nullptr);
  else
    rc = vips_gifsave(out.get(), j.out.c_str(), "strip", TRUE, nullptr);
  if (rc) return reject("image.malformed", "the image cannot be decoded: " + vips_failure());
  if (j.sniffed == "image/webp" && !strip_webp_file(j.out))
    return verdict{false, true, {}, {}, {}, "the re-encoded WebP cannot be stripped"};
  return accept(j.sniffed, "image");
}

} // namespace crm::worker
