// Tests protocols/jwt.cpp and protocols/base64.cpp: every way a token can be
// forged, expired or malformed is auth.invalid_token.
#include "protocols/base64.hpp"
#include "protocols/errc.hpp"
#include "protocols/jwt.hpp"

#include <catch2/catch.hpp>
#include <openssl/hmac.h>

using namespace crm::protocols;

namespace {

const int64_t now = 1'800'000'000;

jwt_keyring ring() {
  auto r = parse_jwt_keys("k2:" + base64_encode(std::string(32, 'b')) + ",k1:" +
                          base64_encode(std::string(40, 'a')));
  REQUIRE(r);
  return *r;
}

jwt_claims claims() {
  return {"11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222",
          "33333333-3333-3333-3333-333333333333", now - 10, now - 10, now + 3600};
}

// A token with a hand-made header and payload, signed with `secret` (HS256).
std::string forge(const std::string& header, const std::string& payload, const std::string& secret) {
  std::string signing = base64url_encode(header) + "." + base64url_encode(payload);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &len);
  return signing + "." + base64url_encode({reinterpret_cast<char*>(mac), len});
}

const std::string good_payload =
    R"({"iss":"nextcrm","sub":"u","tid":"t","sid":"s","iat":1799999990,"nbf":1799999990,"exp":1800003600})";

} // namespace

TEST_CASE("a signed token verifies with every key of the ring", "[protocols][jwt]") {
  auto keys = ring();
  auto token = sign_jwt(claims(), keys.keys[0]);
  auto c = verify_jwt(token, keys, now);
  REQUIRE(c);
  CHECK(c->sub == claims().sub);
  CHECK(c->tid == claims().tid);
  CHECK(c->sid == claims().sid);
  CHECK(c->exp == now + 3600);
  // rotation: a token signed by the older key still verifies while it is listed
  auto old = sign_jwt(claims(), keys.keys[1]);
  CHECK(verify_jwt(old, keys, now));
  jwt_keyring rotated{{keys.keys[0]}};
  CHECK_FALSE(verify_jwt(old, rotated, now));
}

TEST_CASE("tampered, foreign and malformed tokens are invalid", "[protocols][jwt]") {
  auto keys = ring();
  auto token = sign_jwt(claims(), keys.keys[0]);
  auto dot = token.rfind('.');
  std::string flipped_sig = token;
  flipped_sig[dot + 3] = flipped_sig[dot + 3] == 'A' ? 'B' : 'A';
  const std::string k2 = keys.keys[0].secret;
  const std::string cases[] = {
    "",
    "garbage",
    "a.b",
    "a.b.c.d",
    token + "x",
    flipped_sig,
    token.substr(0, token.find('.') + 1) +
        base64url_encode(R"({"iss":"nextcrm","sub":"admin","tid":"t","sid":"s","iat":1799999990,"exp":1800003600})") +
        token.substr(dot),  // changed payload, old signature
    forge(R"({"alg":"none","typ":"JWT","kid":"k2"})", good_payload, k2),
    base64url_encode(R"({"alg":"none","typ":"JWT","kid":"k2"})") + "." + base64url_encode(good_payload) + ".",
    forge(R"({"alg":"HS512","typ":"JWT","kid":"k2"})", good_payload, k2),
    forge(R"({"alg":"RS256","typ":"JWT","kid":"k2"})", good_payload, k2),
    forge(R"({"alg":"HS256","typ":"JWT","kid":"nope"})", good_payload, k2),
    forge(R"({"alg":"HS256","typ":"JWT"})", good_payload, k2),
    forge(R"({"alg":"HS256","typ":"JWT","kid":"k2"})", good_payload, std::string(32, 'z')),
    forge(R"({"alg":"HS256","typ":"JWT","kid":"k2"})", R"({"iss":"nextcrm","sub":"u","tid":"t","iat":1,"exp":1800003600})", k2),
    forge(R"({"alg":"HS256","typ":"JWT","kid":"k2"})", "not json", k2),
    forge(R"({"alg":"HS256","typ":"JWT","kid":"k2"})",
          R"({"iss":"someone-else","sub":"u","tid":"t","sid":"s","iat":1799999990,"exp":1800003600})", k2),
    forge(R"({"alg":"HS256","typ":"JWT","kid":"k2"})",
          R"({"sub":"u","tid":"t","sid":"s","iat":1799999990,"exp":1800003600})", k2),
    forge(R"(["alg"])", good_payload, k2),
    forge(R"({"alg":"HS256","typ":"JWT","kid":"k2"})",
          R"({"iss":"nextcrm","sub":"u","tid":"t","sid":"s","iat":1799999990,"exp":"1800003600"})", k2),
    std::string(max_jwt_size + 1, 'a'),
    std::string(100'000, 'a') + "." + "b.c",
  };
  for (const auto& t : cases) {
    CAPTURE(t.substr(0, 120));
    auto c = verify_jwt(t, keys, now);
    REQUIRE_FALSE(c);
    CHECK(c.error() == errc::auth_invalid_token);
  }
}

TEST_CASE("time claims are checked with a small skew", "[protocols][jwt]") {
  auto keys = ring();
  auto c = claims();
  c.exp = now - 31;
  CHECK_FALSE(verify_jwt(sign_jwt(c, keys.keys[0]), keys, now));  // expired
  c.exp = now - 29;
  CHECK(verify_jwt(sign_jwt(c, keys.keys[0]), keys, now));        // within skew
  c = claims();
  c.nbf = now + 300;
  CHECK_FALSE(verify_jwt(sign_jwt(c, keys.keys[0]), keys, now));  // not yet valid
  c = claims();
  c.iat = now + 300;
  CHECK_FALSE(verify_jwt(sign_jwt(c, keys.keys[0]), keys, now));  // issued in the future
}

TEST_CASE("the key configuration is validated without echoing secrets", "[protocols][jwt]") {
  auto secret = base64_encode(std::string(32, 's'));
  CHECK(parse_jwt_keys("a:" + secret));
  const std::string bads[] = {"", "nocolon", "a:" + base64_encode("short"), "a:%%%%",
                              "a:" + secret + ",a:" + secret, "bad kid:" + secret};
  for (const auto& bad : bads) {
    CAPTURE(bad);
    auto r = parse_jwt_keys(bad);
    REQUIRE_FALSE(r);
    CHECK(to_string(static_cast<errc>(r.error().code())).size() > 0);
  }
}

TEST_CASE("base64url round-trips and rejects foreign characters", "[protocols][base64]") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    CHECK(base64url_decode(base64url_encode(s)) == s);
    CHECK(base64_decode(base64_encode(s)) == s);
  }
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK(base64_encode("\xfb\xff") == "+/8=");
  CHECK_FALSE(base64url_decode("ab+c"));
  CHECK_FALSE(base64url_decode("a"));
  CHECK_FALSE(base64url_decode("ab="));
  CHECK_FALSE(base64url_decode("-_9"));  // non-zero trailing bits
  CHECK_FALSE(base64_decode("abc"));
}
