#include "protocols/idempotency.hpp"

#include "protocols/hex.hpp"
#include "protocols/json_body.hpp"

namespace crm::protocols {

std::optional<std::string> parse_idempotency_key(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  if (h.size() >= 2 && h.front() == '"' && h.back() == '"') h = h.substr(1, h.size() - 2);
  if (h.empty() || h.size() > idempotency_key_max) return std::nullopt;
  for (char ch : h) {
    auto u = static_cast<unsigned char>(ch);
    if (u < 0x21 || u > 0x7e || ch == '"' || ch == '\\') return std::nullopt;
  }
  return std::string{h};
}

std::string request_fingerprint(std::string_view method, std::string_view target, std::string_view body) {
  std::string text;
  text.reserve(method.size() + target.size() + body.size() + 2);
  text.append(method).push_back(' ');
  text.append(target).push_back('\n');
  text.append(body);
  return sha256_hex(text);
}

bool replayed_header(std::string_view name) {
  auto n = ascii_lower(name);
  return n == "content-type" || n == "etag" || n == "location";
}

std::string encode_headers(const header_list& headers) {
  std::string out;
  for (const auto& [name, value] : headers) {
    if (!replayed_header(name) || value.find('\n') != std::string::npos) continue;
    out.append(name).append(": ").append(value).push_back('\n');
  }
  return out;
}

header_list decode_headers(std::string_view text) {
  header_list out;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    auto colon = line.find(": ");
    if (colon == std::string_view::npos || colon == 0 || !replayed_header(line.substr(0, colon))) continue;
    out.emplace_back(std::string{line.substr(0, colon)}, std::string{line.substr(colon + 2)});
  }
  return out;
}

} // namespace crm::protocols
