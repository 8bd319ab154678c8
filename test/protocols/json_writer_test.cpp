// Tests protocols/json_writer.cpp: escaping, UTF-8 handling, structure.
#include "protocols/json_writer.hpp"

#include <catch2/catch.hpp>

using crm::protocols::append_json_string;
using crm::protocols::is_valid_utf8;
using crm::protocols::json_writer;

namespace {
std::string quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}
} // namespace

TEST_CASE("json strings escape quotes, backslashes and every control character",
          "[protocols][json]") {
  CHECK(quoted("plain") == R"("plain")");
  CHECK(quoted("a\"b\\c") == R"("a\"b\\c")");
  CHECK(quoted("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(quoted(std::string_view{"\x00\x01\x1f", 3}) == R"("\u0000\u0001\u001f")");
  CHECK(quoted("\x7f") == R"("\u007f")");
  CHECK(quoted("</script>") == R"("</script>")");
}

TEST_CASE("json strings keep valid UTF-8 and escape line separators", "[protocols][json]") {
  CHECK(quoted("Zürich €  𝄞") == "\"Zürich €  𝄞\"");
  CHECK(quoted("a\xE2\x80\xA8" "b") == R"("a\u2028b")");
  CHECK(quoted("a\xE2\x80\xA9" "b") == R"("a\u2029b")");
}

TEST_CASE("json strings replace invalid UTF-8 with U+FFFD, never pass it through",
          "[protocols][json]") {
  struct bad_input { std::string_view in; std::string_view expected; };
  const bad_input cases[] = {
    {"\xff", "\"\xEF\xBF\xBD\""},                          // never valid
    {"\xC0\xAF", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},          // overlong '/'
    {"\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},  // UTF-16 surrogate
    {"\xF4\x90\x80\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},  // > U+10FFFF
    {"ok\xE2\x82", "\"ok\xEF\xBF\xBD\xEF\xBF\xBD\""},      // truncated euro sign
    {"\x80x", "\"\xEF\xBF\xBDx\""},                        // lone continuation byte
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    auto out = quoted(c.in);
    CHECK(out == c.expected);
    CHECK(is_valid_utf8(out));
  }
}

TEST_CASE("is_valid_utf8 accepts RFC 3629 and rejects the rest", "[protocols][json]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("ascii"));
  CHECK(is_valid_utf8("\xF0\x9D\x84\x9E"));
  CHECK_FALSE(is_valid_utf8("\xC0\x80"));
  CHECK_FALSE(is_valid_utf8("\xED\xBF\xBF"));
  CHECK_FALSE(is_valid_utf8("\xF8\x88\x80\x80\x80"));
}

TEST_CASE("json_writer places commas and nests containers", "[protocols][json]") {
  json_writer w;
  w.begin_object();
  w.key("name").string("Acme");
  w.key("n").number(int64_t{-5});
  w.key("u").number(uint64_t{18446744073709551615ull});
  w.key("ok").boolean(true);
  w.key("none").null();
  w.key("list").begin_array().number(1).number(2).begin_object().end_object().end_array();
  w.key("raw").raw(R"({"a":1})");
  w.key("nan").number(0.0 / 0.0);
  w.end_object();
  CHECK(w.view() ==
        R"({"name":"Acme","n":-5,"u":18446744073709551615,"ok":true,"none":null,"list":[1,2,{}],"raw":{"a":1},"nan":null})");
}
