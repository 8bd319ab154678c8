// Tests protocols/idempotency.cpp: the Idempotency-Key syntax, the request
// fingerprint and the stored answer's headers.
#include "protocols/idempotency.hpp"

#include <catch2/catch.hpp>

using namespace crm::protocols;

TEST_CASE("an idempotency key is 1 to 255 visible ASCII characters, bare or quoted", "[protocols][idempotency]") {
  CHECK(parse_idempotency_key("8e03978e-40d5-43e8-bc93-6894a57f9324") == "8e03978e-40d5-43e8-bc93-6894a57f9324");
  CHECK(parse_idempotency_key("\"8e03978e\"") == "8e03978e");  // the draft's sf-string
  CHECK(parse_idempotency_key("  k1 ") == "k1");
  CHECK(parse_idempotency_key(std::string(255, 'a')) == std::string(255, 'a'));
  for (std::string_view bad : {"", "\"\"", " ", "a b", "a\tb", "q\"x", "back\\slash", "caf\xc3\xa9"})
    CHECK_FALSE(parse_idempotency_key(bad));
  CHECK_FALSE(parse_idempotency_key(std::string(256, 'a')));
  CHECK_FALSE(parse_idempotency_key("\"" + std::string(256, 'a') + "\""));
}

TEST_CASE("the fingerprint changes with method, target and body", "[protocols][idempotency]") {
  auto base = request_fingerprint("POST", "/api/v1/customers", R"({"name":"A"})");
  CHECK(base.size() == 64);
  CHECK(base == request_fingerprint("POST", "/api/v1/customers", R"({"name":"A"})"));
  CHECK(base != request_fingerprint("PATCH", "/api/v1/customers", R"({"name":"A"})"));
  CHECK(base != request_fingerprint("POST", "/api/v1/products", R"({"name":"A"})"));
  CHECK(base != request_fingerprint("POST", "/api/v1/customers", R"({"name":"B"})"));
  // the separators cannot be moved between the parts
  CHECK(request_fingerprint("POST", "/a", "b") != request_fingerprint("POST", "/a\nb", ""));
}

TEST_CASE("a stored answer keeps Content-Type, ETag and Location only", "[protocols][idempotency]") {
  header_list in{{"Content-Type", "application/json"}, {"ETag", "\"1\""}, {"Location", "/api/v1/customers/x"},
                 {"RateLimit", "\"reads\";r=9;t=60"}, {"X-Guard", "warn"}, {"Location", "evil\nSet-Cookie: a=b"}};
  auto text = encode_headers(in);
  CHECK(text == "Content-Type: application/json\nETag: \"1\"\nLocation: /api/v1/customers/x\n");
  auto out = decode_headers(text);
  REQUIRE(out.size() == 3);
  CHECK(out[2] == std::pair<std::string, std::string>{"Location", "/api/v1/customers/x"});
  CHECK(decode_headers("garbage\nX-Other: 1\nETag: \"2\"").size() == 1);
}
