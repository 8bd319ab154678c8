// Tests protocols/trace.cpp: W3C traceparent and X-Request-Id rules.
#include "protocols/trace.hpp"

#include <catch2/catch.hpp>

using namespace crm::protocols;

namespace {
trace_entropy entropy(uint8_t fill) {
  trace_entropy e;
  e.fill(fill);
  return e;
}
} // namespace

TEST_CASE("a valid traceparent is continued with a new span", "[protocols][trace]") {
  auto ctx = make_trace_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", entropy(0xab));
  CHECK(ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(ctx.parent_span_id == "00f067aa0ba902b7");
  CHECK(ctx.span_id == "abababababababab");
  CHECK(ctx.flags == 1);
  CHECK(format_traceparent(ctx) == "00-4bf92f3577b34da6a3ce929d0e0e4736-abababababababab-01");
}

TEST_CASE("invalid traceparents start a new trace", "[protocols][trace]") {
  const std::string_view bad[] = {
    "",
    "garbage",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // forbidden version
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // v00 has no suffix
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",   // short trace id
    "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  };
  for (auto h : bad) {
    CAPTURE(h);
    auto ctx = make_trace_context(h, entropy(0x11));
    CHECK(ctx.trace_id == "11111111111111111111111111111111");
    CHECK(ctx.parent_span_id.empty());
    CHECK(ctx.flags == 1);
  }
}

TEST_CASE("future traceparent versions are read by their first fields", "[protocols][trace]") {
  std::string trace, parent;
  uint8_t flags = 0;
  CHECK(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra", trace,
                          parent, flags));
  CHECK(flags == 0);
}

TEST_CASE("generated ids are never all zeros", "[protocols][trace]") {
  auto ctx = make_trace_context("", entropy(0));
  CHECK(ctx.trace_id != std::string(32, '0'));
  CHECK(ctx.span_id != std::string(16, '0'));
}

TEST_CASE("X-Request-Id is echoed only when it is short and plain", "[protocols][trace]") {
  CHECK(is_valid_request_id("req-123_abc.DEF"));
  CHECK(is_valid_request_id(std::string(128, 'a')));
  CHECK_FALSE(is_valid_request_id(""));
  CHECK_FALSE(is_valid_request_id(std::string(129, 'a')));
  CHECK_FALSE(is_valid_request_id("a b"));
  CHECK_FALSE(is_valid_request_id("x\r\nSet-Cookie: a=b"));
  std::array<uint8_t, 16> bytes{};
  bytes[15] = 0xfe;
  CHECK(make_request_id(bytes) == "000000000000000000000000000000fe");
}
