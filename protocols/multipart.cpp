#include "protocols/multipart.hpp"

#include <algorithm>
#include <cctype>

namespace crm::protocols {
namespace {

constexpr size_t max_head = 16 * 1024;
constexpr size_t max_preamble = 64 * 1024;

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 2046 5.1.1: bchars
bool is_bchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view{"'()+_,-./:=? "}.find(c) != std::string_view::npos;
}

// Parameters of a header value: `; key=value` or `; key="quoted \" value"`.
// Calls f(lower-cased key, value) for each.
template <class F>
void for_each_param(std::string_view v, F f) {
  auto semi = v.find(';');
  if (semi == std::string_view::npos) return;
  v.remove_prefix(semi + 1);
  while (!v.empty()) {
    v = trim(v);
    auto eq = v.find('=');
    auto sc = v.find(';');
    if (eq == std::string_view::npos || (sc != std::string_view::npos && sc < eq)) {
      if (sc == std::string_view::npos) return;
      v.remove_prefix(sc + 1);
      continue;
    }
    auto key = lower(trim(v.substr(0, eq)));
    v.remove_prefix(eq + 1);
    v = trim(v);
    std::string value;
    if (!v.empty() && v.front() == '"') {
      size_t i = 1;
      for (; i < v.size() && v[i] != '"'; ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        value.push_back(v[i]);
      }
      v.remove_prefix(std::min(v.size(), i + 1));
      auto next = v.find(';');
      v.remove_prefix(next == std::string_view::npos ? v.size() : next + 1);
    } else {
      auto end = v.find(';');
      value = std::string{trim(v.substr(0, end))};
      v.remove_prefix(end == std::string_view::npos ? v.size() : end + 1);
    }
    f(key, std::move(value));
  }
}

// RFC 8187 ext-value: UTF-8''percent%20encoded ("" if malformed or not UTF-8).
std::string decode_ext_value(std::string_view v) {
  auto q = v.find("''");
  if (q == std::string_view::npos || lower(v.substr(0, q)) != "utf-8") return {};
  v.remove_prefix(q + 2);
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '%') {
      out.push_back(v[i]);
      continue;
    }
    if (i + 2 >= v.size() || !std::isxdigit(static_cast<unsigned char>(v[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(v[i + 2])))
      return {};
    out.push_back(static_cast<char>(std::stoi(std::string{v.substr(i + 1, 2)}, nullptr, 16)));
    i += 2;
  }
  return out;
}

} // namespace

std::string multipart_boundary(std::string_view content_type) {
  auto semi = content_type.find(';');
  if (lower(trim(content_type.substr(0, semi))) != "multipart/form-data") return {};
  std::string boundary;
  for_each_param(content_type, [&](const std::string& k, std::string v) {
    if (k == "boundary") boundary = std::move(v);
  });
  if (boundary.empty() || boundary.size() > 70 || boundary.back() == ' ' ||
      !std::all_of(boundary.begin(), boundary.end(), is_bchar))
    return {};
  return boundary;
}

multipart_reader::multipart_reader(std::string boundary, part_fn on_part, data_fn on_data, size_t max_parts)
    : delimiter_("\r\n--" + boundary), on_part_(std::move(on_part)), on_data_(std::move(on_data)),
      max_parts_(max_parts) {}

bool multipart_reader::fail(const char* why) {
  state_ = state::failed;
  error_ = why;
  buf_.clear();
  return false;
}

bool multipart_reader::parse_head(std::string_view head) {
  multipart_part part;
  bool disposition = false;
  while (!head.empty()) {
    auto eol = head.find("\r\n");
    auto line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') return fail("a part header is folded over several lines");
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail("a part header line has no name");
    auto name = lower(trim(line.substr(0, colon)));
    auto value = trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      if (disposition) return fail("a part has two Content-Disposition headers");
      disposition = true;
      auto semi = value.find(';');
      if (lower(trim(value.substr(0, semi))) != "form-data") return fail("a part is not form-data");
      std::string ext;
      for_each_param(value, [&](const std::string& k, std::string v) {
        if (k == "name") part.name = std::move(v);
        else if (k == "filename") {
          part.filename = std::move(v);
          part.has_filename = true;
        } else if (k == "filename*") {
          ext = decode_ext_value(v);
          part.has_filename = true;
        }
      });
      if (!ext.empty()) part.filename = std::move(ext);
    } else if (name == "content-type") {
      part.content_type = std::string{value};
    }
  }
  if (!disposition) return fail("a part has no Content-Disposition");
  if (++parts_ > max_parts_) return fail("the form has too many parts");
  if (!on_part_(part)) return fail("the form's parts were refused");
  return true;
}

bool multipart_reader::feed(std::string_view bytes) {
  if (state_ == state::failed) return false;
  if (state_ == state::epilogue) return true;
  buf_.append(bytes);
  for (;;) {
    switch (state_) {
      case state::preamble: {
        // the first delimiter may open the body without the CRLF before it
        std::string_view first{delimiter_};
        first.remove_prefix(2);
        auto at = std::string_view{buf_}.find(first);
        if (at == std::string_view::npos) {
          if (buf_.size() > max_preamble) return fail("no multipart boundary at the start of the body");
          return true;
        }
        buf_.erase(0, at + first.size());
        state_ = state::after_delimiter;
        break;
      }
      case state::after_delimiter: {
        size_t i = 0;
        if (buf_.size() >= 2 && buf_.compare(0, 2, "--") == 0) {
          state_ = state::epilogue;
          buf_.clear();
          return true;
        }
        while (i < buf_.size() && (buf_[i] == ' ' || buf_[i] == '\t')) ++i;  // transport padding
        if (i + 2 > buf_.size()) {
          if (buf_.size() > 256) return fail("a multipart delimiter is not followed by a line end");
          return true;
        }
        if (buf_.compare(i, 2, "\r\n") != 0) return fail("a multipart delimiter is not followed by a line end");
        buf_.erase(0, i + 2);
        state_ = state::head;
        break;
      }
      case state::head: {
        auto end = buf_.find("\r\n\r\n");
        if (end == std::string::npos && buf_.compare(0, 2, "\r\n") != 0) {
          if (buf_.size() > max_head) return fail("a part's header block is too large");
          return true;
        }
        size_t head_len = end == std::string::npos ? 0 : end;
        size_t skip = end == std::string::npos ? 2 : end + 4;
        if (buf_.compare(0, 2, "\r\n") == 0) head_len = 0, skip = 2;  // a part without headers
        if (head_len > max_head) return fail("a part's header block is too large");
        if (!parse_head(std::string_view{buf_}.substr(0, head_len))) return false;
        buf_.erase(0, skip);
        state_ = state::body;
        break;
      }
      case state::body: {
        auto at = std::string_view{buf_}.find(delimiter_);
        if (at == std::string_view::npos) {
          // keep what could be the start of a delimiter split by the input
          size_t keep = std::min(buf_.size(), delimiter_.size() - 1);
          size_t emit = buf_.size() - keep;
          if (emit > 0) {
            if (!on_data_(std::string_view{buf_}.substr(0, emit))) return fail("the part's data was refused");
            buf_.erase(0, emit);
          }
          return true;
        }
        if (at > 0 && !on_data_(std::string_view{buf_}.substr(0, at))) return fail("the part's data was refused");
        buf_.erase(0, at + delimiter_.size());
        state_ = state::after_delimiter;
        break;
      }
      case state::epilogue: buf_.clear(); return true;
      case state::failed: return false;
    }
  }
}

} // namespace crm::protocols
