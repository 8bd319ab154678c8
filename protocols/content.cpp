#include "protocols/content.hpp"

#include <algorithm>
#include <cctype>

namespace crm::protocols {
namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && lower(s.substr(s.size() - suffix.size())) == suffix;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The length of the UTF-8 sequence at s[i] (0 if invalid: overlong,
// surrogate, past U+10FFFF or truncated).
size_t utf8_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(k) & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && b(1) < 0xA0) return 0;                 // overlong
  if (c == 0xED && b(1) >= 0xA0) return 0;                // surrogates
  if (c == 0xF0 && b(1) < 0x90) return 0;                 // overlong
  if (c == 0xF4 && b(1) >= 0x90) return 0;                // past U+10FFFF
  return n;
}

// U+202A..U+202E and U+2066..U+2069: text direction overrides that make
// "invoice_fdp.exe" look like "invoice_exe.pdf".
bool is_bidi_control(std::string_view seq) {
  if (seq.size() != 3 || static_cast<unsigned char>(seq[0]) != 0xE2) return false;
  auto b1 = static_cast<unsigned char>(seq[1]), b2 = static_cast<unsigned char>(seq[2]);
  return (b1 == 0x80 && b2 >= 0xAA && b2 <= 0xAE) || (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9);
}

// A number or a phone number: digits with + or - first, spaces, dots,
// parentheses, slashes and dashes between. What a formula never is.
bool is_numberish(std::string_view cell) {
  if (cell.empty()) return false;
  size_t i = 0, digits = 0;
  if (cell[0] == '+' || cell[0] == '-') i = 1;
  for (; i < cell.size(); ++i) {
    char c = cell[i];
    if (std::isdigit(static_cast<unsigned char>(c))) ++digits;
    else if (std::string_view{" .()/-,"}.find(c) == std::string_view::npos) return false;
  }
  return digits > 0;
}

bool is_formula_start(char c) { return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r'; }

// A cell that starts a formula gets a leading quote; so does every fragment
// after a ';' or a tab inside it (spreadsheets whose list separator is ';',
// the locales of de, fr, ..., split the cell there).
void write_cell(std::string& out, std::string cell, bool quoted) {
  for (size_t i = cell.size(); i-- > 0;) {
    if ((cell[i] != ';' && cell[i] != '\t') || i + 1 >= cell.size() || !is_formula_start(cell[i + 1])) continue;
    auto end = cell.find_first_of(";\t", i + 1);
    if (!is_numberish(std::string_view{cell}.substr(i + 1, end == std::string::npos ? std::string::npos : end - i - 1)))
      cell.insert(cell.begin() + static_cast<std::ptrdiff_t>(i) + 1, '\'');
  }
  if (!cell.empty() && is_formula_start(cell.front()) && !is_numberish(cell)) cell.insert(cell.begin(), '\'');
  bool need = quoted || cell.find_first_of(",\"\n\r") != std::string::npos;
  if (!need) {
    out += cell;
    return;
  }
  out.push_back('"');
  for (char c : cell) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

uint32_t le32(std::string_view s, size_t at) {
  uint32_t v = 0;
  for (size_t k = 0; k < 4; ++k) v |= static_cast<uint32_t>(static_cast<unsigned char>(s[at + k])) << (8 * k);
  return v;
}
uint16_t le16(std::string_view s, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(s[at]) | (static_cast<unsigned char>(s[at + 1]) << 8));
}

zip_summary zip_fail(std::string reason, std::string detail) {
  zip_summary z;
  z.reason = std::move(reason);
  z.detail = std::move(detail);
  return z;
}

bool is_archive_name(std::string_view name) {
  for (auto ext : {".zip", ".gz", ".tgz", ".7z", ".rar", ".tar", ".jar", ".bz2", ".xz", ".zst", ".cab", ".iso"})
    if (ends_with(name, ext)) return true;
  return false;
}

} // namespace

content_kind classify_content(std::string_view sniffed, std::string_view declared, std::string_view filename) {
  auto m = lower(sniffed);
  if (m == "image/jpeg" || m == "image/png" || m == "image/webp" || m == "image/gif") return content_kind::image;
  if (m == "application/pdf") return content_kind::pdf;
  if (m == "text/csv") return content_kind::csv;
  if (m == "text/plain") {
    bool csv = lower(declared) == "text/csv" || ends_with(filename, ".csv");
    return csv ? content_kind::csv : content_kind::text;
  }
  if (m == "application/zip") return content_kind::archive;
  if (m == "application/msword" || m == "application/vnd.ms-excel" || m == "application/vnd.ms-powerpoint" ||
      starts_with(m, "application/vnd.openxmlformats-officedocument.") || starts_with(m, "application/vnd.oasis.opendocument."))
    return content_kind::office;
  static constexpr std::string_view dangerous[] = {
      "text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml",
      "application/javascript", "text/javascript", "application/x-executable", "application/x-sharedlib",
      "application/x-pie-executable", "application/x-dosexec", "application/x-mach-binary", "application/x-elf",
      "application/vnd.microsoft.portable-executable", "application/x-msdownload", "application/java-archive",
      "application/x-java-applet", "application/x-shockwave-flash", "application/x-msi", "application/hta"};
  for (auto d : dangerous)
    if (m == d) return content_kind::dangerous;
  if (starts_with(m, "text/x-") || m == "text/x-shellscript" || m == "application/x-shellscript") return content_kind::dangerous;
  static constexpr std::string_view archives[] = {"application/gzip", "application/x-gzip", "application/x-7z-compressed",
                                                  "application/x-rar", "application/vnd.rar", "application/x-tar",
                                                  "application/x-bzip2", "application/x-xz", "application/zstd",
                                                  "application/x-iso9660-image", "application/vnd.ms-cab-compressed"};
  for (auto a : archives)
    if (m == a) return content_kind::archive;
  return content_kind::unknown;
}

std::string served_mime(content_kind kind, std::string_view sniffed) {
  switch (kind) {
    case content_kind::csv: return "text/csv";
    case content_kind::text: return "text/plain";
    case content_kind::office: return "application/pdf";
    default: return lower(sniffed);
  }
}

bool mime_allowed(const std::vector<std::string>& allowed, std::string_view mime) {
  return std::find(allowed.begin(), allowed.end(), mime) != allowed.end();
}

std::string clean_filename(std::string_view name) {
  auto slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::string out;
  for (size_t i = 0; i < name.size();) {
    size_t n = utf8_length(name, i);
    if (n == 0) {
      out.push_back('_');
      ++i;
      continue;
    }
    auto seq = name.substr(i, n);
    auto c = static_cast<unsigned char>(seq[0]);
    if ((n == 1 && (c < 0x20 || c == 0x7f)) || is_bidi_control(seq) ||
        (n == 2 && c == 0xC2 && static_cast<unsigned char>(seq[1]) < 0xA0))  // C1 controls
      out.push_back('_');
    else
      out += seq;
    i += n;
  }
  while (!out.empty() && (out.front() == '.' || out.front() == ' ')) out.erase(out.begin());
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > 255) {
    size_t cut = 255;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out.empty() ? "upload" : out;
}

std::string download_name(std::string_view filename, std::string_view safe_mime) {
  static constexpr std::pair<std::string_view, std::string_view> extensions[] = {
      {"image/jpeg", ".jpg .jpeg"}, {"image/png", ".png"}, {"image/webp", ".webp"}, {"image/gif", ".gif"},
      {"application/pdf", ".pdf"},  {"text/plain", ".txt"}, {"text/csv", ".csv"},  {"application/zip", ".zip"}};
  std::string name{filename};
  for (const auto& [mime, exts] : extensions) {
    if (mime != safe_mime) continue;
    std::string_view rest = exts;
    std::string first;
    while (!rest.empty()) {
      auto space = rest.find(' ');
      auto ext = rest.substr(0, space);
      if (first.empty()) first = ext;
      if (ends_with(name, ext)) return name;
      rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
    }
    return name + first;
  }
  return name;
}

std::string clean_mime(std::string_view content_type) {
  auto semi = content_type.find(';');
  auto m = lower(content_type.substr(0, semi));
  while (!m.empty() && (m.back() == ' ' || m.back() == '\t')) m.pop_back();
  while (!m.empty() && (m.front() == ' ' || m.front() == '\t')) m.erase(m.begin());
  auto slash = m.find('/');
  bool ok = slash != std::string::npos && slash > 0 && slash + 1 < m.size() && m.size() <= 127 &&
            std::all_of(m.begin(), m.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || std::string_view{"/!#$&-^_.+"}.find(c) != std::string_view::npos;
            }) &&
            m.find('/', slash + 1) == std::string::npos;
  return ok ? m : "application/octet-stream";
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string normalize_text(std::string_view text) {
  if (starts_with(text, "\xEF\xBB\xBF")) text.remove_prefix(3);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::optional<std::string> neutralize_csv(std::string_view csv) {
  auto text = normalize_text(csv);  // quoted line breaks become LF too
  std::string out, cell;
  out.reserve(text.size() + text.size() / 16);
  bool quoted = false, in_quotes = false, row_has_cells = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cell.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        cell.push_back(c);
      }
      continue;
    }
    if (c == '"' && cell.empty() && !quoted) {
      in_quotes = quoted = true;
    } else if (c == ',') {
      write_cell(out, std::move(cell), quoted);
      out.push_back(',');
      cell.clear();
      quoted = false;
      row_has_cells = true;
    } else if (c == '\n') {
      if (row_has_cells || !cell.empty() || quoted) write_cell(out, std::move(cell), quoted);
      out.push_back('\n');
      cell.clear();
      quoted = row_has_cells = false;
    } else {
      cell.push_back(c);
    }
  }
  if (in_quotes) return std::nullopt;
  if (row_has_cells || !cell.empty() || quoted) write_cell(out, std::move(cell), quoted);
  return out;
}

std::optional<std::string> strip_webp_metadata(std::string_view w) {
  if (w.size() < 20 || w.substr(0, 4) != "RIFF" || w.substr(8, 4) != "WEBP") return std::nullopt;
  if (static_cast<uint64_t>(le32(w, 4)) + 8 != w.size()) return std::nullopt;
  std::string out{w.substr(0, 12)};
  size_t vp8x = std::string::npos;
  for (size_t at = 12; at < w.size();) {
    if (at + 8 > w.size()) return std::nullopt;
    auto tag = w.substr(at, 4);
    uint64_t len = le32(w, at + 4);
    uint64_t padded = len + (len & 1);
    if (at + 8 + len > w.size()) return std::nullopt;
    bool drop = tag == "EXIF" || tag == "XMP " || tag == "ICCP";
    if (!drop) {
      if (tag == "VP8X") vp8x = out.size();
      out.append(w.substr(at, static_cast<size_t>(std::min<uint64_t>(8 + padded, w.size() - at))));
    }
    at += static_cast<size_t>(8 + padded);
  }
  // VP8X flags: ICC 0x20, EXIF 0x08, XMP 0x04
  if (vp8x != std::string::npos && vp8x + 8 < out.size()) out[vp8x + 8] = static_cast<char>(out[vp8x + 8] & ~0x2C);
  uint32_t size = static_cast<uint32_t>(out.size() - 8);
  for (int k = 0; k < 4; ++k) out[4 + k] = static_cast<char>((size >> (8 * k)) & 0xff);
  return out;
}

zip_summary inspect_zip(std::string_view f, const zip_limits& limits) {
  // End of central directory: 22 bytes + a comment of up to 65535 bytes.
  if (f.size() < 22) return zip_fail("archive.malformed", "the file is too short to be a zip");
  size_t lowest = f.size() > 22 + 65535 ? f.size() - 22 - 65535 : 0;
  size_t eocd = std::string_view::npos;
  for (size_t i = f.size() - 22 + 1; i-- > lowest;)
    if (le32(f, i) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string_view::npos) return zip_fail("archive.malformed", "no end of central directory");
  uint64_t entries = le16(f, eocd + 10);
  uint64_t cd_size = le32(f, eocd + 12), cd_offset = le32(f, eocd + 16);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF)
    return zip_fail("archive.unsupported", "zip64 archives are not accepted");
  if (cd_offset + cd_size > eocd) return zip_fail("archive.malformed", "the central directory lies outside the file");
  if (entries > limits.max_entries)
    return zip_fail("archive.too_many_entries", "the archive has " + std::to_string(entries) + " entries");
  zip_summary z;
  size_t at = cd_offset;
  for (uint64_t k = 0; k < entries; ++k) {
    if (at + 46 > cd_offset + cd_size || le32(f, at) != 0x02014b50)
      return zip_fail("archive.malformed", "a central directory entry is damaged");
    uint16_t flags = le16(f, at + 8);
    uint16_t method = le16(f, at + 10);
    uint64_t compressed = le32(f, at + 20), size = le32(f, at + 24), local = le32(f, at + 42);
    size_t name_len = le16(f, at + 28), extra_len = le16(f, at + 30), comment_len = le16(f, at + 32);
    if (at + 46 + name_len + extra_len > cd_offset + cd_size)
      return zip_fail("archive.malformed", "an entry name is cut off");
    auto name = f.substr(at + 46, name_len);
    // zip64: the 64-bit values are in the extra field (id 1), in this order
    auto extra = f.substr(at + 46 + name_len, extra_len);
    for (size_t e = 0; e + 4 <= extra.size();) {
      uint16_t id = le16(extra, e), len = le16(extra, e + 2);
      if (e + 4 + len > extra.size()) break;
      if (id == 1) {
        size_t k = e + 4;
        auto take = [&](uint64_t& v) {
          if (v != 0xFFFFFFFF || k + 8 > e + 4 + len) return;
          v = static_cast<uint64_t>(le32(extra, k)) | (static_cast<uint64_t>(le32(extra, k + 4)) << 32);
          k += 8;
        };
        take(size);
        take(compressed);
        take(local);
      }
      e += 4 + len;
    }
    if (compressed == 0xFFFFFFFF || size == 0xFFFFFFFF || local == 0xFFFFFFFF)
      return zip_fail("archive.malformed", "a zip64 entry has no zip64 sizes");
    if (local >= cd_offset) return zip_fail("archive.malformed", "an entry lies outside the file");
    if (flags & 1) return zip_fail("archive.encrypted", "encrypted entries cannot be scanned");
    if (name.empty() || name.front() == '/' || name.find("..") != std::string_view::npos ||
        name.find('\\') != std::string_view::npos || name.find(':') != std::string_view::npos)
      return zip_fail("archive.path", "an entry's path leaves the archive");
    if (is_archive_name(name)) return zip_fail("archive.nested", "archives inside archives are not accepted");
    if (size > (1u << 20) && size / std::max<uint64_t>(compressed, 1) > limits.max_ratio)
      return zip_fail("archive.bomb", "an entry expands " + std::to_string(size / std::max<uint64_t>(compressed, 1)) +
                                          " times (more than " + std::to_string(limits.max_ratio) + ")");
    z.uncompressed += size;
    if (local + 30 > f.size() || le32(f, local) != 0x04034b50)
      return zip_fail("archive.malformed", "an entry's local header is missing");
    uint64_t data = local + 30 + le16(f, local + 26) + le16(f, local + 28);
    if (data + compressed > f.size()) return zip_fail("archive.malformed", "an entry is cut off");
    z.items.push_back({local, data, compressed, size, method});
    if (z.uncompressed > limits.max_uncompressed)
      return zip_fail("archive.bomb", "the archive expands past " + std::to_string(limits.max_uncompressed >> 20) + " MiB");
    at += 46 + name_len + extra_len + comment_len;
  }
  z.ok = true;
  z.entries = entries;
  return z;
}

} // namespace crm::protocols
