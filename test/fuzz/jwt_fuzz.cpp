// test/fuzz/jwt_fuzz.cpp
// libFuzzer target for token checks and base64 (protocols/jwt.cpp,
// protocols/base64.cpp), built and run by test/fuzz/run_fuzz.sh jwt. Each
// input is used as a token to verify, as a key configuration, and as bytes
// to encode and decode. It must never crash; a token the fuzzer did not sign
// must never verify (the key is secret to it); base64 must round-trip; a
// token this process signs over input-derived claims must verify and give
// them back.
#include "protocols/base64.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/jwt.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace crm::protocols;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

const jwt_keyring& ring() {
  static const jwt_keyring r{{{"k1", std::string(32, 'a')}, {"k2", std::string(48, 'b')}}};
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  constexpr int64_t now = 1'800'000'000;
  // 1. a token nobody here signed never verifies
  require(!verify_jwt(text, ring(), now));
  // 2. key configurations parse or fail, never crash
  (void)parse_jwt_keys(text);
  // 3. base64 round trips, and decoding never crashes
  require(base64url_decode(base64url_encode(text)) == std::string{text});
  require(base64_decode(base64_encode(text)) == std::string{text});
  if (auto d = base64url_decode(text)) require(base64url_encode(*d) == text);
  (void)base64_decode(text);
  // 4. signing over input-derived claims verifies and round-trips
  jwt_claims c;
  c.sub = std::string{text.substr(0, 40)};
  c.tid = std::string{text.substr(size / 3, 36)};
  c.sid = std::string{text.substr(size / 2, 36)};
  c.iat = c.nbf = now - static_cast<int64_t>(size);
  c.exp = now + 60 + static_cast<int64_t>(size);
  auto token = sign_jwt(c, ring().keys[1]);
  auto back = verify_jwt(token, ring(), now);
  require(static_cast<bool>(back));
  // claims come back as written when they are text (the writer replaces invalid UTF-8)
  if (is_valid_utf8(c.sub) && is_valid_utf8(c.tid) && is_valid_utf8(c.sid))
    require(back->sub == c.sub && back->tid == c.tid && back->sid == c.sid && back->exp == c.exp);
  // a changed signature never verifies
  if (!token.empty()) {
    auto forged = token;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    require(!verify_jwt(forged, ring(), now));
  }
  return 0;
}
