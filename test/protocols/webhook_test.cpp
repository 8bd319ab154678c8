// Tests protocols/webhook.cpp: signatures, secrets, patterns, targets, the
// addresses a target may reach, retry delays and data shaped for a subscriber.
#include "protocols/webhook.hpp"

#include "protocols/base64.hpp"
#include "protocols/entity.hpp"

#include <catch2/catch.hpp>

using namespace crm::protocols;

TEST_CASE("webhook: the Standard Webhooks signature of a known vector", "[protocols][webhook]") {
  // the example of the Standard Webhooks specification
  auto key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  REQUIRE(key);
  auto sig = webhook_signature(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})");
  CHECK(sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST_CASE("webhook: secrets are whsec_ and 16 to 64 bytes", "[protocols][webhook]") {
  CHECK_FALSE(webhook_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
  CHECK_FALSE(webhook_key("whsec_" + base64_encode("short")));
  CHECK_FALSE(webhook_key("whsec_" + base64_encode(std::string(65, 'x'))));
  CHECK_FALSE(webhook_key("whsec_not base64!"));
  CHECK(webhook_key("whsec_" + base64_encode(std::string(32, 'k'))) == std::string(32, 'k'));
}

TEST_CASE("webhook: event patterns and matching", "[protocols][webhook]") {
  CHECK(is_event_pattern("crm.customer.created"));
  CHECK(is_event_pattern("crm.deal.*"));
  for (auto bad : {"crm.*", "crm.*.created", "crm.customer", "customer.created", "crm.Customer.created", "crm.deal.**",
                   "crm.deal.created.x", ""})
    CHECK_FALSE(is_event_pattern(bad));
  CHECK(event_matches("crm.deal.*", "crm.deal.updated"));
  CHECK_FALSE(event_matches("crm.deal.*", "crm.dealer.updated"));
  CHECK_FALSE(event_matches("crm.deal.*", "crm.deal."));
  CHECK(event_matches("crm.customer.created", "crm.customer.created"));
  CHECK_FALSE(event_matches("crm.customer.created", "crm.customer.updated"));
}

TEST_CASE("webhook: target URLs", "[protocols][webhook]") {
  auto t = parse_webhook_url("https://Hooks.Example.com/in?x=1");
  REQUIRE(t);
  CHECK(t->host == "hooks.example.com");
  CHECK(t->port == 443);
  t = parse_webhook_url("http://127.0.0.1:8099/hook");
  REQUIRE(t);
  CHECK((t->host == "127.0.0.1" && t->port == 8099));
  t = parse_webhook_url("http://[::1]:9/x");
  REQUIRE(t);
  CHECK(t->host == "::1");
  for (auto bad : {"ftp://x/", "https://user:pw@x/", "https:///x", "http://x:0/", "http://x:70000/", "javascript:x",
                   "http://a b/", "http://x\r\n/"})
    CHECK_FALSE(parse_webhook_url(bad));
}

TEST_CASE("webhook: internal addresses need to be listed themselves", "[protocols][webhook]") {
  for (auto a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                 "::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "224.0.0.1"})
    CHECK(is_internal_address(a));
  for (auto a : {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "172.32.0.1"}) CHECK_FALSE(is_internal_address(a));
  auto allow = webhook_allowlist::parse("hooks.example.com, 127.0.0.1 ,[::1]");
  CHECK(allow.allows_host("HOOKS.example.com"));
  CHECK_FALSE(allow.allows_host("evil.example.com"));
  CHECK(allow.allows_address("93.184.216.34"));
  CHECK(allow.allows_address("127.0.0.1"));
  CHECK(allow.allows_address("::1"));
  CHECK_FALSE(allow.allows_address("10.0.0.5"));  // a listed name resolving here is refused
  CHECK_FALSE(allow.allows_address("169.254.169.254"));
}

TEST_CASE("webhook: retry delays grow, are capped and jittered", "[protocols][webhook]") {
  using std::chrono::milliseconds;
  CHECK(webhook_retry_delay(2, milliseconds(1000), milliseconds(60000), 0.5) == milliseconds(1000));
  CHECK(webhook_retry_delay(3, milliseconds(1000), milliseconds(60000), 0.5) == milliseconds(2000));
  CHECK(webhook_retry_delay(20, milliseconds(1000), milliseconds(60000), 0.5) == milliseconds(60000));
  CHECK(webhook_retry_delay(3, milliseconds(1000), milliseconds(60000), 0.0) == milliseconds(1000));
  CHECK(webhook_retry_delay(3, milliseconds(1000), milliseconds(60000), 0.999) < milliseconds(3000));
}

TEST_CASE("webhook: a subscriber sees only the fields its owner's profile reads", "[protocols][webhook]") {
  const auto& customers = *entity_by_path("customers");
  access_profile p;
  p.entities[customers.index].read = 0;
  for (auto f : {"name", "version"}) p.entities[customers.index].read |= uint64_t{1} << customers.field_index(f);
  std::string env = R"({"specversion":"1.0","id":"e1","type":"crm.customer.updated","subject":"customers/c1",)"
                    R"("tenantid":"t","data":{"id":"c1","name":"Globex","tax_id":"FR123","version":2}})";
  auto shaped = shape_for_subscriber(env, p);
  REQUIRE(shaped);
  CHECK(*shaped == R"({"specversion":"1.0","id":"e1","type":"crm.customer.updated","subject":"customers/c1",)"
                   R"("tenantid":"t","data":{"id":"c1","name":"Globex","version":2}})");
  // other events pass unchanged
  std::string user = R"({"type":"crm.user.locked","subject":"users/u1","data":{"id":"u1","email":"a@b"}})";
  CHECK(shape_for_subscriber(user, p) == user);
  CHECK_FALSE(shape_for_subscriber("[1]", p));
}

TEST_CASE("webhook: the permission an event needs at delivery", "[protocols][webhook]") {
  CHECK(permission_for_event("crm.customer.updated") == "customers:read");
  CHECK(permission_for_event("crm.price_list.deleted") == "price-lists:read");
  CHECK(permission_for_event("crm.deal.attachment_added") == "deals:read");
  CHECK(permission_for_event("crm.user.locked") == "users:manage");
  CHECK(permission_for_event("crm.session.revoked") == "users:manage");
  CHECK(permission_for_event("crm.tenant.created") == "users:manage");
  CHECK(permission_for_event("crm.access_profile.updated") == "profiles:manage");
  CHECK(permission_for_event("crm.unknown.created").empty());
  CHECK(permission_for_event("customer.created").empty());
}
