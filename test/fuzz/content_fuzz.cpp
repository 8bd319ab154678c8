// test/fuzz/content_fuzz.cpp
// libFuzzer target for the content pipeline's parsers of untrusted bytes
// (protocols/multipart.cpp, protocols/content.cpp), built and run by
// test/fuzz/run_fuzz.sh content. Each input is read as a multipart body (in
// pieces, split where the first byte says: the result must not depend on
// the split), as a zip, a WebP, CSV, a file name and a download token. It
// must never crash; a stripped WebP must be a well-formed one without
// metadata chunks; a recorded file name is valid UTF-8 without controls;
// a token nobody here signed never verifies.
#include "protocols/content.hpp"
#include "protocols/content_access.hpp"
#include "protocols/multipart.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace crm::protocols;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

std::string read_form(std::string_view text, size_t piece, bool& complete) {
  std::string out;
  multipart_reader r{"fz",
                     [&](const multipart_part& p) {
                       out += "|" + p.name + "|" + p.filename + "|" + p.content_type + "|";
                       return true;
                     },
                     [&](std::string_view d) {
                       out.append(d);
                       return true;
                     }};
  bool ok = true;
  for (size_t at = 0; ok && at < text.size(); at += piece) ok = r.feed(text.substr(at, piece));
  complete = ok && r.complete();
  return ok ? out : std::string{"failed"};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  // 1. multipart: the same parts whatever the split
  bool c1 = false, c2 = false;
  auto whole = read_form(text, text.size() + 1, c1);
  auto split = read_form(text, 1 + (size ? data[0] % 7 : 0), c2);
  if (c1 && c2) require(whole == split);
  // 2. zip directories, WebP chunks, CSV
  auto z = inspect_zip(text);
  if (z.ok) require(z.items.size() == z.entries);
  if (auto w = strip_webp_metadata(text)) {
    auto again = strip_webp_metadata(*w);
    require(again && *again == *w);  // well-formed, and nothing left to strip
  }
  if (auto csv = neutralize_csv(text)) require(neutralize_csv(*csv).has_value());
  // 3. names and types as recorded
  auto name = clean_filename(text);
  require(!name.empty() && name.size() <= 255 && valid_utf8(name));
  for (char ch : name) require(static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f && ch != '/' && ch != '\\');
  auto mime = clean_mime(text);
  require(mime.find_first_of("\r\n;") == std::string::npos);
  // 4. tokens
  require(!verify_content_token(text, "fuzz key nobody knows", 1'800'000'000));
  return 0;
}
