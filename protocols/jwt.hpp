// protocols/jwt.hpp
// JSON Web Tokens (RFC 7519) as Next_CRM uses them: HS256 only (RFC 7518
// 3.2, HMAC-SHA256 via OpenSSL), compared in constant time. The header
// carries `kid`: the first key of the ring signs, every key verifies, so a
// key can rotate out once the tokens it signed have expired. Anything else
// (alg none, HS512, RS256, a missing or unknown kid, a bad signature, an
// `iss` other than "nextcrm",
// exp/nbf/iat outside the allowed skew, missing claims, over-long tokens)
// is rejected with errc::auth_invalid_token. Pure: the clock comes in.
#pragma once
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

struct jwt_key {
  std::string kid;
  std::string secret;  // raw bytes; at least 32
};

struct jwt_keyring {
  std::vector<jwt_key> keys;  // keys[0] signs; all verify
  const jwt_key* find(std::string_view kid) const;
};

// Parses NEXTCRM_JWT_KEYS: "kid:base64secret[,kid:base64secret...]". Kids
// are 1-64 chars of [A-Za-z0-9._-], secrets standard base64 of >= 32 bytes,
// kids unique. Errors name the bad entry, never the secret.
caf::expected<jwt_keyring> parse_jwt_keys(std::string_view config);

struct jwt_claims {
  std::string sub;  // user id
  std::string tid;  // tenant id
  std::string sid;  // session id
  int64_t iat = 0;
  int64_t nbf = 0;
  int64_t exp = 0;
};

// Largest token accepted (bytes); longer ones are rejected before any work.
inline constexpr size_t max_jwt_size = 4096;

// "<header>.<payload>.<signature>" signed with `key`.
std::string sign_jwt(const jwt_claims& claims, const jwt_key& key);

// HMAC-SHA256 of `data` under `key`: 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

// HMAC-SHA256(secret, purpose): a key for another use of a JWT secret
// (query cursors), independent of the signing key itself.
std::string derive_key(std::string_view secret, std::string_view purpose);

// Verifies `token` at unix time `now` with `skew_s` seconds of tolerance for
// exp, nbf and iat.
caf::expected<jwt_claims> verify_jwt(std::string_view token, const jwt_keyring& keys, int64_t now,
                                     int64_t skew_s = 30);

} // namespace crm::protocols
