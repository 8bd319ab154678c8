// protocols/json_writer.hpp
// A small streaming JSON writer. Strings are escaped per RFC 8259: quote,
// backslash and every control character (U+0000-U+001F, plus U+007F and the
// line/paragraph separators U+2028/U+2029 for safe embedding) are escaped;
// invalid UTF-8 (bad bytes, overlongs, surrogates, > U+10FFFF, truncated
// sequences) is replaced with U+FFFD, never passed through. Commas between
// members and elements are inserted automatically. Pure.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

class json_writer {
public:
  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  // Writes an object key; the next call writes its value.
  json_writer& key(std::string_view k);
  json_writer& string(std::string_view s);
  json_writer& number(int64_t v);
  json_writer& number(uint64_t v);
  json_writer& number(int v) { return number(static_cast<int64_t>(v)); }
  json_writer& number(double v);  // non-finite values are written as null
  json_writer& boolean(bool v);
  json_writer& null();
  // Appends `json` verbatim as a value; the caller guarantees it is valid JSON.
  json_writer& raw(std::string_view json);

  const std::string& view() const& { return out_; }
  std::string str() && { return std::move(out_); }

private:
  void separate();
  template <class Integer>
  json_writer& integer(Integer v);
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

// Appends `s` to `out` as a quoted, escaped JSON string (rules above).
void append_json_string(std::string& out, std::string_view s);

// True if `s` is well-formed UTF-8 (RFC 3629).
bool is_valid_utf8(std::string_view s);

} // namespace crm::protocols
