#include "protocols/client_addr.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace crm::protocols {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_v4_mapped(const ip_bytes& ip) {
  static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(ip.data(), prefix, 12) == 0;
}

}  // namespace

std::optional<ip_bytes> parse_ip(std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos) return std::nullopt;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  ip_bytes out{};
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

std::string format_ip(const ip_bytes& ip) {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4_mapped(ip)) {
    inet_ntop(AF_INET, ip.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
  }
  return buf;
}

std::optional<trusted_proxies> trusted_proxies::parse(std::string_view list, std::string* why) {
  trusted_proxies out;
  auto fail = [&](std::string_view entry, const char* reason) -> std::optional<trusted_proxies> {
    if (why) *why = "'" + std::string{entry.substr(0, 64)} + "': " + reason;
    return std::nullopt;
  };
  size_t i = 0;
  while (i < list.size()) {
    size_t end = list.find_first_of(", \t", i);
    if (end == std::string_view::npos) end = list.size();
    auto entry = list.substr(i, end - i);
    i = end + 1;
    if (entry.empty()) continue;
    auto slash = entry.find('/');
    auto ip = parse_ip(entry.substr(0, slash));
    if (!ip) return fail(entry, "not an IP address");
    bool v4 = is_v4_mapped(*ip);
    int prefix = v4 ? 32 : 128;
    if (slash != std::string_view::npos) {
      auto bits = entry.substr(slash + 1);
      if (bits.empty() || bits.size() > 3) return fail(entry, "bad prefix length");
      int n = 0;
      for (char c : bits) {
        if (c < '0' || c > '9') return fail(entry, "bad prefix length");
        n = n * 10 + (c - '0');
      }
      if (n > prefix) return fail(entry, "prefix length too long for the address");
      prefix = n;
    }
    net nt;
    nt.base = *ip;
    nt.prefix = v4 ? 96 + prefix : prefix;
    out.nets_.push_back(nt);
  }
  return out;
}

bool trusted_proxies::contains(const ip_bytes& ip) const {
  for (const auto& n : nets_) {
    int full = n.prefix / 8, rest = n.prefix % 8;
    if (std::memcmp(ip.data(), n.base.data(), static_cast<size_t>(full)) != 0) continue;
    if (rest) {
      auto mask = static_cast<uint8_t>(0xff << (8 - rest));
      if ((ip[static_cast<size_t>(full)] & mask) != (n.base[static_cast<size_t>(full)] & mask)) continue;
    }
    return true;
  }
  return false;
}

std::string client_address(std::string_view peer, std::string_view forwarded, const trusted_proxies& trusted) {
  auto current = parse_ip(peer);
  if (!current) return std::string{peer};
  while (trusted.contains(*current)) {
    forwarded = trim(forwarded);
    if (forwarded.empty()) break;
    auto comma = forwarded.rfind(',');
    auto entry = comma == std::string_view::npos ? forwarded : forwarded.substr(comma + 1);
    forwarded = comma == std::string_view::npos ? std::string_view{} : forwarded.substr(0, comma);
    auto next = parse_ip(entry);
    if (!next) break;  // garbage: the last proxy we trust is all we know
    current = next;
  }
  return format_ip(*current);
}

}  // namespace crm::protocols
