#include "protocols/trace.hpp"

#include "protocols/hex.hpp"

#include <algorithm>

namespace crm::protocols {
namespace {

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

uint8_t hex_byte(std::string_view two) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  return static_cast<uint8_t>(nibble(two[0]) * 16 + nibble(two[1]));
}

} // namespace


bool parse_traceparent(std::string_view h, std::string& trace_id, std::string& parent_span_id,
                       uint8_t& flags) {
  // version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55 chars
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return false;
  auto version = h.substr(0, 2), trace = h.substr(3, 32), parent = h.substr(36, 16),
       fl = h.substr(53, 2);
  if (!is_lower_hex(version) || version == "ff") return false;
  if (version == "00" && h.size() != 55) return false;
  if (h.size() > 55 && h[55] != '-') return false;  // future versions append "-..."
  if (!is_lower_hex(trace) || !is_lower_hex(parent) || !is_lower_hex(fl)) return false;
  if (all_zero(trace) || all_zero(parent)) return false;
  trace_id.assign(trace);
  parent_span_id.assign(parent);
  flags = hex_byte(fl);
  return true;
}

trace_context make_trace_context(std::string_view traceparent, const trace_entropy& entropy) {
  trace_context ctx;
  ctx.span_id = to_hex(entropy.data() + 16, 8);
  if (ctx.span_id == "0000000000000000") ctx.span_id.back() = '1';
  if (!traceparent.empty() &&
      parse_traceparent(traceparent, ctx.trace_id, ctx.parent_span_id, ctx.flags))
    return ctx;
  ctx.trace_id = to_hex(entropy.data(), 16);
  if (all_zero(ctx.trace_id)) ctx.trace_id.back() = '1';
  ctx.parent_span_id.clear();
  ctx.flags = 1;
  return ctx;
}

std::string format_traceparent(const trace_context& ctx) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(55);
  out.append("00-").append(ctx.trace_id).append("-").append(ctx.span_id).append("-");
  out += digits[ctx.flags >> 4];
  out += digits[ctx.flags & 0xF];
  return out;
}

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

std::string make_request_id(const std::array<uint8_t, 16>& entropy) {
  return to_hex(entropy.data(), entropy.size());
}

} // namespace crm::protocols
