// Tests protocols/multipart.cpp: the boundary of a Content-Type, parts read
// whole however the input is split (every split point of a small form, and
// byte by byte), the file part's name and type, and the refusals: no
// boundary at the start, a head too large, too many parts, a folded header.
#include "protocols/multipart.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace crm::protocols;

namespace {

struct collected {
  std::vector<multipart_part> parts;
  std::vector<std::string> bodies;
};

bool read_in_pieces(std::string_view body, size_t piece, collected& out, std::string boundary = "b0und",
                    size_t max_parts = 16) {
  multipart_reader r{std::move(boundary),
                     [&](const multipart_part& p) {
                       out.parts.push_back(p);
                       out.bodies.emplace_back();
                       return true;
                     },
                     [&](std::string_view d) {
                       out.bodies.back().append(d);
                       return true;
                     },
                     max_parts};
  for (size_t at = 0; at < body.size(); at += piece)
    if (!r.feed(body.substr(at, piece))) return false;
  return r.complete();
}

const std::string form =
    "preamble to ignore\r\n"
    "--b0und\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
    "hello\r\n"
    "--b0und\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"r\\\"e;port.pdf\"\r\n"
    "Content-Type: application/pdf\r\n\r\n"
    "%PDF-1.7\r\n--b0un not yet\r\n\r\n--b0unX? no\r\nend\r\n"
    "--b0und--\r\nepilogue";

} // namespace

TEST_CASE("the boundary comes from a multipart/form-data Content-Type only", "[protocols][multipart]") {
  CHECK(multipart_boundary("multipart/form-data; boundary=abc") == "abc");
  CHECK(multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"") == "a b:c");
  CHECK(multipart_boundary("multipart/form-data") == "");
  CHECK(multipart_boundary("multipart/mixed; boundary=abc") == "");
  CHECK(multipart_boundary("application/json; boundary=abc") == "");
  CHECK(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')) == "");
  CHECK(multipart_boundary("multipart/form-data; boundary=a\"b") == "");
}

TEST_CASE("parts are read whole wherever the input is split", "[protocols][multipart]") {
  for (size_t piece : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{16}, form.size()}) {
    collected c;
    INFO("pieces of " << piece);
    REQUIRE(read_in_pieces(form, piece, c));
    REQUIRE(c.parts.size() == 2);
    CHECK(c.parts[0].name == "note");
    CHECK_FALSE(c.parts[0].has_filename);
    CHECK(c.bodies[0] == "hello");
    CHECK(c.parts[1].name == "file");
    CHECK(c.parts[1].has_filename);
    CHECK(c.parts[1].filename == "r\"e;port.pdf");
    CHECK(c.parts[1].content_type == "application/pdf");
    CHECK(c.bodies[1] == "%PDF-1.7\r\n--b0un not yet\r\n\r\n--b0unX? no\r\nend");
  }
}

TEST_CASE("filename* (RFC 8187) wins over filename", "[protocols][multipart]") {
  std::string body =
      "--b0und\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"; "
      "filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\nx\r\n--b0und--";
  collected c;
  REQUIRE(read_in_pieces(body, body.size(), c));
  CHECK(c.parts.at(0).filename == "\xC3\xA9t\xC3\xA9.txt");
}

TEST_CASE("malformed forms are refused with a reason", "[protocols][multipart]") {
  collected c;
  CHECK_FALSE(read_in_pieces(std::string(70 * 1024, 'x'), 4096, c));  // no boundary at all
  collected d;
  CHECK_FALSE(read_in_pieces("--b0und\r\nContent-Disposition: form-data; name=\"a\"\r\n" + std::string(20000, 'h'),
                             1024, d));  // a head that never ends
  collected e;
  CHECK_FALSE(read_in_pieces("--b0und\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0und--", 64, e));  // no disposition
  collected f;
  CHECK_FALSE(read_in_pieces("--b0und\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nx\r\n--b0und--", 64, f));
  std::string many;
  for (int i = 0; i < 3; ++i) many += "--b0und\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nx\r\n";
  many += "--b0und--";
  collected g;
  CHECK_FALSE(read_in_pieces(many, 64, g, "b0und", 2));
  collected h;
  CHECK_FALSE(read_in_pieces("--b0und\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ncut off", 8, h));
}
