// protocols/content.hpp
// The pure rules of the content pipeline (docs/CONTENT.md): what a sniffed
// type is and whether a tenant may keep it, the name a file is recorded
// under, text and CSV made harmless, what a zip's directory admits to,
// WebP metadata chunks. No I/O and no dependency beyond the standard
// library: the sandboxed sanitizer binaries link this alone (the settings
// body and the download tokens are in protocols/content_access.hpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

// What the pipeline does with a sniffed type.
enum class content_kind : uint8_t {
  image,      // JPEG, PNG, WebP, GIF: decoded and re-encoded (libvips)
  pdf,        // active content removed (qpdf), optionally rasterized
  text,       // UTF-8 checked, line endings normalized
  csv,        // as text, and formula cells neutralized
  office,     // converted to PDF by LibreOffice when installed
  archive,    // zip: rejected unless the tenant enables archives
  dangerous,  // executables, scripts, HTML, SVG, XML: always rejected
  unknown,    // everything else: rejected
};

// The kind of a libmagic MIME type ("image/jpeg"); `declared` (the client's
// Content-Type) and `filename` only tell CSV from plain text, never more.
content_kind classify_content(std::string_view sniffed, std::string_view declared = {},
                              std::string_view filename = {});

// The MIME type a pipeline result is served as (text/csv for CSV even when
// libmagic said text/plain).
std::string served_mime(content_kind kind, std::string_view sniffed);

// The per-tenant allowlist's word on `mime` (exact, lower-case).
bool mime_allowed(const std::vector<std::string>& allowed, std::string_view mime);

// The recorded name of an upload: the last path segment, control and
// bidirectional-override characters and invalid UTF-8 replaced by '_',
// leading dots and surrounding spaces removed, at most 255 bytes; "upload"
// when nothing is left. Never used as a path on disk.
std::string clean_filename(std::string_view name);

// The name a safe artifact is downloaded under: the recorded name, with
// the extension of what the file now is appended unless it already ends
// with one of that type's ("invoice.exe" served as a PNG is
// "invoice.exe.png": a saved download never opens as something else).
std::string download_name(std::string_view filename, std::string_view safe_mime);

// The media type without parameters, lower-cased and checked (type/subtype
// of RFC 6838 characters); "application/octet-stream" when absent or bad.
std::string clean_mime(std::string_view content_type);

bool valid_utf8(std::string_view s);

// Text made plain: a UTF-8 BOM dropped, CRLF and CR turned into LF.
std::string normalize_text(std::string_view text);

// CSV (RFC 4180) with every cell that a spreadsheet would run as a formula
// (=, +, -, @, tab, CR first) prefixed with a single quote, except numbers
// and phone numbers ("+33 1 23 45 67 89", "-5", "(555) 010-9999"), which
// stay as they are. Line endings become LF; quoting is kept where needed.
// nullopt when the text is not CSV (an unterminated quote).
std::optional<std::string> neutralize_csv(std::string_view csv);

// A WebP without its EXIF, XMP and ICCP chunks (and their VP8X flags):
// libvips 8.14's WebP saver ignores `strip` and writes an EXIF block of its
// own. nullopt when `webp` is not a well-formed RIFF WebP.
std::optional<std::string> strip_webp_metadata(std::string_view webp);

// What a zip's central directory says (the worker also inflates each entry
// with a running cap: the directory may lie).
struct zip_entry {
  uint64_t local_offset = 0;
  uint64_t data_offset = 0;  // where its (compressed) bytes start, after the local header
  uint64_t compressed = 0;
  uint64_t size = 0;  // uncompressed, as declared
  uint16_t method = 0;
};

struct zip_summary {
  bool ok = false;
  std::string reason;  // when !ok: "archive.malformed", "archive.bomb", "archive.nested", ...
  std::string detail;
  uint64_t entries = 0;
  uint64_t uncompressed = 0;
  std::vector<zip_entry> items;
};

struct zip_limits {
  uint64_t max_entries = 1000;
  uint64_t max_uncompressed = 256ull << 20;  // in all
  uint64_t max_ratio = 100;                  // per entry, past 1 MiB
};

// Reads the end-of-central-directory record, the central directory and
// each entry's local header of the zip `file` (the whole file's bytes).
zip_summary inspect_zip(std::string_view file, const zip_limits& limits = {});

} // namespace crm::protocols
