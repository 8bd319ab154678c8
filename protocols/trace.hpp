// protocols/trace.hpp
// W3C Trace Context (traceparent, version 00) and X-Request-Id handling.
// A valid incoming traceparent is continued (same trace id, our own new span
// id as the child); otherwise a new trace starts. Pure: randomness comes in
// as an argument.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace crm::protocols {

struct trace_context {
  std::string trace_id;        // 32 lowercase hex, never all zeros
  std::string span_id;         // 16 lowercase hex: this server's span
  std::string parent_span_id;  // 16 hex of the caller's span, empty if we started the trace
  uint8_t flags = 0;           // trace-flags; bit 0 = sampled
};

// 24 random bytes: 16 for a trace id, 8 for a span id.
using trace_entropy = std::array<uint8_t, 24>;

// Parses a traceparent header value. Returns false for anything that is not
// a valid version-00 header (wrong length, upper-case or non-hex digits,
// all-zero trace or parent id, version ff); future versions are accepted if
// their first four fields are well-formed, per the spec.
bool parse_traceparent(std::string_view header, std::string& trace_id,
                       std::string& parent_span_id, uint8_t& flags);

// The context for a request carrying `traceparent` (may be empty): continues
// a valid one, or starts a new sampled trace. Span ids come from `entropy`.
trace_context make_trace_context(std::string_view traceparent, const trace_entropy& entropy);

// "00-<trace_id>-<span_id>-<flags>" for the response and outgoing calls.
std::string format_traceparent(const trace_context& ctx);

// True if an incoming X-Request-Id may be echoed: 1-128 chars of
// [A-Za-z0-9._-]. Anything else is replaced by a generated id.
bool is_valid_request_id(std::string_view id);

// A request id from 16 random bytes (32 lowercase hex chars).
std::string make_request_id(const std::array<uint8_t, 16>& entropy);

} // namespace crm::protocols
