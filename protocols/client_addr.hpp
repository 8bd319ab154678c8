// protocols/client_addr.hpp
// The client's address behind trusted proxies. Behind nginx every TCP peer
// is the gateway; the client is what the gateway reports in
// X-Forwarded-For, and only a trusted peer's report counts
// (NEXTCRM_TRUSTED_PROXIES: addresses or CIDR blocks). The list is read right
// to left, skipping trusted proxies: the first address that is not one is
// the client (an address a client forged sits further left and is never
// reached). X-Real-IP and Forwarded are not read. Pure.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

// An IPv4 address is kept as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so
// one comparison serves both families.
using ip_bytes = std::array<uint8_t, 16>;

// "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" (surrounding blanks and
// brackets around IPv6 allowed); nullopt for anything else.
std::optional<ip_bytes> parse_ip(std::string_view text);
// Canonical text: dotted quad for IPv4 (also when mapped), RFC 5952 for IPv6.
std::string format_ip(const ip_bytes& ip);

class trusted_proxies {
public:
  // "127.0.0.1/32,::1/128,10.0.0.0/8" (commas and/or blanks; a bare address
  // is a /32 or /128); "" trusts no one. nullopt and `why` on a bad entry.
  static std::optional<trusted_proxies> parse(std::string_view list, std::string* why = nullptr);
  bool contains(const ip_bytes& ip) const;
  bool empty() const { return nets_.empty(); }

private:
  struct net {
    ip_bytes base{};
    int prefix = 0;  // in bits of the 16-byte form
  };
  std::vector<net> nets_;
};

// The client of a request from `peer` (the TCP peer's address text) with the
// X-Forwarded-For value `forwarded` (several header lines joined by ','):
// `peer` itself unless it is trusted; else the right-most entry that is not
// a trusted proxy (an unparsable entry ends the walk at the last good one).
std::string client_address(std::string_view peer, std::string_view forwarded, const trusted_proxies& trusted);

} // namespace crm::protocols
