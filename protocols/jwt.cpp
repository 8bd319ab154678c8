#include "protocols/jwt.hpp"

#include "protocols/base64.hpp"
#include "protocols/errc.hpp"
#include "protocols/json_writer.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>

namespace crm::protocols {
namespace {

caf::error invalid(std::string detail) { return error_of(errc::auth_invalid_token, std::move(detail)); }

bool valid_kid(std::string_view kid) {
  return !kid.empty() && kid.size() <= 64 && std::all_of(kid.begin(), kid.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// Reads a string member; false when absent or not a string.
bool read_string(simdjson::dom::object& obj, std::string_view key, std::string& out) {
  std::string_view v;
  if (obj[key].get_string().get(v)) return false;
  out.assign(v);
  return true;
}

bool read_int(simdjson::dom::object& obj, std::string_view key, int64_t& out) {
  return !obj[key].get_int64().get(out);
}

} // namespace

const jwt_key* jwt_keyring::find(std::string_view kid) const {
  for (const auto& k : keys)
    if (k.kid == kid) return &k;
  return nullptr;
}

caf::expected<jwt_keyring> parse_jwt_keys(std::string_view config) {
  jwt_keyring ring;
  size_t index = 0;
  while (!config.empty()) {
    auto comma = config.find(',');
    auto entry = config.substr(0, comma);
    config = comma == std::string_view::npos ? std::string_view{} : config.substr(comma + 1);
    ++index;
    auto colon = entry.find(':');
    std::string where = "NEXTCRM_JWT_KEYS entry " + std::to_string(index);
    if (colon == std::string_view::npos) return error_of(errc::internal, where + ": expected kid:base64secret");
    auto kid = entry.substr(0, colon);
    if (!valid_kid(kid)) return error_of(errc::internal, where + ": bad kid");
    if (ring.find(kid)) return error_of(errc::internal, where + ": duplicate kid");
    auto secret = base64_decode(entry.substr(colon + 1));
    if (!secret) return error_of(errc::internal, where + ": secret is not base64");
    if (secret->size() < 32) return error_of(errc::internal, where + ": secret shorter than 32 bytes");
    ring.keys.push_back({std::string{kid}, std::move(*secret)});
  }
  if (ring.keys.empty()) return error_of(errc::internal, "NEXTCRM_JWT_KEYS holds no key");
  return ring;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return {reinterpret_cast<char*>(out), len};
}

std::string derive_key(std::string_view secret, std::string_view purpose) { return hmac_sha256(secret, purpose); }

std::string sign_jwt(const jwt_claims& c, const jwt_key& key) {
  json_writer header;
  header.begin_object().key("alg").string("HS256").key("typ").string("JWT").key("kid").string(key.kid);
  header.end_object();
  json_writer payload;
  payload.begin_object();
  payload.key("iss").string("nextcrm");
  payload.key("sub").string(c.sub).key("tid").string(c.tid).key("sid").string(c.sid);
  payload.key("iat").number(c.iat).key("nbf").number(c.nbf).key("exp").number(c.exp);
  payload.end_object();
  std::string token = base64url_encode(header.view()) + "." + base64url_encode(payload.view());
  return token + "." + base64url_encode(hmac_sha256(key.secret, token));
}

caf::expected<jwt_claims> verify_jwt(std::string_view token, const jwt_keyring& keys, int64_t now,
                                     int64_t skew_s) {
  if (token.empty() || token.size() > max_jwt_size) return invalid("the token has a wrong size");
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return invalid("the token is not a JWS compact serialization");
  auto header_json = base64url_decode(token.substr(0, dot1));
  auto payload_json = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_json || !payload_json || !signature) return invalid("the token is not base64url");

  // A parser allocates its buffers on first use; every authenticated request
  // verifies a token, so each thread keeps one (not shared, no state kept).
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object header;
  if (parser.parse(*header_json).get_object().get(header)) return invalid("the token header is not JSON");
  std::string alg, kid, typ;
  if (!read_string(header, "alg", alg) || alg != "HS256") return invalid("only HS256 tokens are accepted");
  if (read_string(header, "typ", typ) && typ != "JWT") return invalid("the token type is not JWT");
  if (!read_string(header, "kid", kid)) return invalid("the token names no key");
  const jwt_key* key = keys.find(kid);
  if (!key) return invalid("the token's key is unknown");

  auto expected_sig = hmac_sha256(key->secret, token.substr(0, dot2));
  if (signature->size() != expected_sig.size() ||
      CRYPTO_memcmp(signature->data(), expected_sig.data(), expected_sig.size()) != 0)
    return invalid("the token signature does not verify");

  simdjson::dom::object payload;
  if (parser.parse(*payload_json).get_object().get(payload)) return invalid("the token claims are not JSON");
  jwt_claims c;
  std::string iss;
  if (!read_string(payload, "iss", iss) || iss != "nextcrm") return invalid("the token was not issued here");
  if (!read_string(payload, "sub", c.sub) || !read_string(payload, "tid", c.tid) ||
      !read_string(payload, "sid", c.sid) || !read_int(payload, "exp", c.exp) ||
      !read_int(payload, "iat", c.iat))
    return invalid("the token lacks required claims");
  if (!read_int(payload, "nbf", c.nbf)) c.nbf = c.iat;
  if (c.exp + skew_s <= now) return invalid("the token has expired");
  if (c.nbf - skew_s > now || c.iat - skew_s > now) return invalid("the token is not valid yet");
  return c;
}

} // namespace crm::protocols
