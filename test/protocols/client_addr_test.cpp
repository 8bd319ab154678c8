// Tests protocols/client_addr.cpp: parsing trusted proxy lists and finding
// the client behind them in X-Forwarded-For (issue 9: throttles behind the
// gateway), including forged entries and garbage.
#include "protocols/client_addr.hpp"

#include <catch2/catch.hpp>

using namespace crm::protocols;

namespace {
trusted_proxies trust(std::string_view list) {
  auto t = trusted_proxies::parse(list);
  REQUIRE(t);
  return *t;
}
}  // namespace

TEST_CASE("client_addr: addresses parse and print canonically", "[protocols][client_addr]") {
  CHECK(format_ip(*parse_ip("192.0.2.7")) == "192.0.2.7");
  CHECK(format_ip(*parse_ip(" ::ffff:192.0.2.7 ")) == "192.0.2.7");
  CHECK(format_ip(*parse_ip("[2001:DB8:0:0::1]")) == "2001:db8::1");
  for (auto bad : {"", "unknown", "1.2.3.4:80", "1.2.3", "300.1.1.1", "::g"}) CHECK_FALSE(parse_ip(bad));
  CHECK_FALSE(parse_ip(std::string_view{"1.2.3.4\0x", 9}));  // never cut short at a NUL
}

TEST_CASE("client_addr: trusted proxy lists", "[protocols][client_addr]") {
  auto t = trust("127.0.0.1/32, ::1/128 10.0.0.0/8,192.168.1.5");
  CHECK(t.contains(*parse_ip("127.0.0.1")));
  CHECK_FALSE(t.contains(*parse_ip("127.0.0.2")));
  CHECK(t.contains(*parse_ip("::1")));
  CHECK(t.contains(*parse_ip("10.255.1.2")));
  CHECK_FALSE(t.contains(*parse_ip("11.0.0.1")));
  CHECK(t.contains(*parse_ip("192.168.1.5")));
  CHECK_FALSE(t.contains(*parse_ip("192.168.1.6")));
  CHECK(trust("").empty());
  CHECK(trust("10.1.2.3/12").contains(*parse_ip("10.15.0.1")));
  CHECK_FALSE(trust("10.1.2.3/12").contains(*parse_ip("10.16.0.1")));
  std::string why;
  for (auto bad : {"10.0.0.0/33", "::1/129", "nope", "10.0.0.0/", "10.0.0.0/x"}) {
    CHECK_FALSE(trusted_proxies::parse(bad, &why));
    CHECK_FALSE(why.empty());
  }
}

TEST_CASE("client_addr: the right-most untrusted hop is the client", "[protocols][client_addr]") {
  auto gw = trust("127.0.0.1/32");
  // nginx appends the peer it saw: the client's own claim sits further left
  CHECK(client_address("127.0.0.1", "198.51.100.7", gw) == "198.51.100.7");
  CHECK(client_address("127.0.0.1", "6.6.6.6, 198.51.100.7", gw) == "198.51.100.7");
  CHECK(client_address("127.0.0.1", "198.51.100.7, 127.0.0.1", gw) == "198.51.100.7");
  // no header, or only trusted hops: the last trusted one
  CHECK(client_address("127.0.0.1", "", gw) == "127.0.0.1");
  CHECK(client_address("127.0.0.1", "127.0.0.1", gw) == "127.0.0.1");
  // garbage ends the walk at the last address we could trust
  CHECK(client_address("127.0.0.1", "198.51.100.7, junk", gw) == "127.0.0.1");
  CHECK(client_address("127.0.0.1", "junk, 198.51.100.7", gw) == "198.51.100.7");
  // an untrusted peer's header is never read
  CHECK(client_address("203.0.113.9", "198.51.100.7", gw) == "203.0.113.9");
  CHECK(client_address("203.0.113.9", "198.51.100.7", trust("")) == "203.0.113.9");
  // IPv6 and mapped forms come out canonical
  CHECK(client_address("::ffff:127.0.0.1", "2001:DB8::5", gw) == "2001:db8::5");
}
