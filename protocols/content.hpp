// protocols/content.hpp
// The pure rules of the content pipeline (docs/CONTENT.md): what a sniffed
// type is and whether a tenant may keep it, the name a file is recorded
// under, text and CSV made harmless, what a zip's central directory admits
// to, the settings body, and the short-lived download tokens. No I/O: the
// sandboxed worker (actors/content/worker) and the content API call these.
#pragma once
#include "protocols/json_body.hpp"

#include <caf/expected.hpp>

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

// A tenant's content settings (GET/PUT /content/v1/settings).
struct content_settings {
  int64_t max_upload_bytes = 64ll << 20;
  std::vector<std::string> allowed_types{"image/jpeg", "image/png", "image/webp", "image/gif",
                                         "application/pdf", "text/plain", "text/csv"};
  bool archives = false;
  bool pdf_rasterize = false;
  int64_t retain_original_s = 0;
};

// The body of PUT /content/v1/settings (every field required); errors are
// added to `body` (422 naming each field). `cap` is the node's upload cap.
std::optional<content_settings> read_content_settings(json_body& body, int64_t cap);

// The types a tenant may allow (the pipeline knows how to make them safe).
const std::vector<std::string>& supported_mimes();

// A download token (docs/CONTENT.md): who may fetch what until when.
struct content_token {
  std::string tenant;   // uuid
  std::string content;  // uuid
  std::string user;     // uuid
  std::string session;  // uuid: the token dies with the session (logout, lock)
  std::string nonce;    // 24 hex characters
  int64_t expires = 0;  // unix seconds
  bool once = false;    // redeemed at most once
};

// base64url(payload) "." base64url(HMAC-SHA256(key, payload)).
std::string sign_content_token(const content_token& t, std::string_view key);

// The token if its MAC is right (404 resource.not_found otherwise: a forged
// or foreign token names nothing) and it has not expired at `now` (410
// content.token_expired).
caf::expected<content_token> verify_content_token(std::string_view text, std::string_view key, int64_t now);

} // namespace crm::protocols
