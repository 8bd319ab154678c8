// protocols/multipart.hpp
// A streaming multipart/form-data reader (RFC 7578 on RFC 2046): bytes go in
// as they arrive, split anywhere; each part's head is handed over once
// complete and its body in pieces, so an upload of any size passes through
// a buffer of one input chunk plus the delimiter. Part heads are capped
// (16 KiB) and so is the number of parts. Pure.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace crm::protocols {

// The boundary of a multipart/form-data Content-Type ("" if it is not one
// or names no valid boundary: 1-70 characters of RFC 2046's set).
std::string multipart_boundary(std::string_view content_type);

struct multipart_part {
  std::string name;          // Content-Disposition name
  std::string filename;      // Content-Disposition filename (filename* in UTF-8 wins); "" = a plain field
  bool has_filename = false;
  std::string content_type;  // "" when the part names none
};

class multipart_reader {
public:
  // on_part: a part's head is complete; return false to stop with an error.
  // on_data: a piece of the current part's body; return false to stop.
  using part_fn = std::function<bool(const multipart_part&)>;
  using data_fn = std::function<bool(std::string_view)>;

  multipart_reader(std::string boundary, part_fn on_part, data_fn on_data, size_t max_parts = 16);

  // Reads `bytes`. False once the input is not multipart/form-data with this
  // boundary, or a callback said stop; error() then says why.
  bool feed(std::string_view bytes);
  // True once the closing delimiter was read (the epilogue is ignored).
  bool complete() const { return state_ == state::epilogue; }
  const std::string& error() const { return error_; }

private:
  enum class state { preamble, after_delimiter, head, body, epilogue, failed };
  bool fail(const char* why);
  bool parse_head(std::string_view head);

  std::string delimiter_;  // "\r\n--" + boundary
  part_fn on_part_;
  data_fn on_data_;
  size_t max_parts_;
  size_t parts_ = 0;
  state state_ = state::preamble;
  std::string buf_;
  std::string error_;
};

} // namespace crm::protocols
