#include "protocols/content_access.hpp"

#include "protocols/base64.hpp"
#include "protocols/content.hpp"
#include "protocols/errc.hpp"
#include "protocols/hex.hpp"
#include "protocols/jwt.hpp"
#include "protocols/uuid.hpp"

#include <openssl/crypto.h>

namespace crm::protocols {
namespace {

// token payload: 4 uuids (16 bytes each), nonce (12), expiry (8, big endian), flags (1)
constexpr size_t token_payload_size = 16 * 4 + 12 + 8 + 1;

// Raw bytes of hex text (either case); nullopt for an odd length or a non-hex digit.
std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string hex_of(std::string_view bytes) { return to_hex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()); }

bool append_uuid_bytes(std::string& out, std::string_view id) {
  if (!is_uuid(id)) return false;
  std::string hex;
  for (char c : id)
    if (c != '-') hex.push_back(c);
  auto bytes = from_hex(hex);
  if (!bytes || bytes->size() != 16) return false;
  out += *bytes;
  return true;
}

std::string uuid_of_bytes(std::string_view b) {
  auto h = hex_of(b.substr(0, 16));
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

} // namespace

const std::vector<std::string>& supported_mimes() {
  static const std::vector<std::string> all{"image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf",
                                            "text/plain", "text/csv", "application/zip",
                                            "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                                            "application/vnd.oasis.opendocument.text"};
  return all;
}

std::optional<content_settings> read_content_settings(json_body& body, int64_t cap) {
  body.allow_only("", {"max_upload_bytes", "allowed_types", "archives", "pdf_rasterize", "retain_original_s"});
  content_settings s;
  auto max = body.integer("max_upload_bytes", true, 1, cap);
  auto n = body.array("allowed_types", true, supported_mimes().size());
  std::vector<std::string> types;
  if (n)
    for (size_t i = 0; i < *n; ++i) {
      auto path = "allowed_types." + std::to_string(i);
      auto t = body.string(path, {true, 3, 127});
      if (t && !mime_allowed(supported_mimes(), *t))
        body.add_error(path, "choice", *t + " is not a type the pipeline can make safe");
      else if (t && !mime_allowed(types, *t))
        types.push_back(*t);
    }
  auto archives = body.boolean("archives", true);
  auto raster = body.boolean("pdf_rasterize", true);
  auto retain = body.integer("retain_original_s", true, 0, 31536000);
  if (!body.errors().empty()) return std::nullopt;
  s.max_upload_bytes = *max;
  s.allowed_types = std::move(types);
  s.archives = *archives;
  s.pdf_rasterize = *raster;
  s.retain_original_s = *retain;
  return s;
}

std::string sign_content_token(const content_token& t, std::string_view key) {
  std::string payload;
  payload.reserve(token_payload_size);
  for (const auto* id : {&t.tenant, &t.content, &t.user, &t.session})
    if (!append_uuid_bytes(payload, *id)) return {};
  auto nonce = from_hex(t.nonce);
  if (!nonce || nonce->size() != 12) return {};
  payload += *nonce;
  for (int k = 7; k >= 0; --k) payload.push_back(static_cast<char>((static_cast<uint64_t>(t.expires) >> (8 * k)) & 0xff));
  payload.push_back(t.once ? 1 : 0);
  return base64url_encode(payload) + "." + base64url_encode(hmac_sha256(key, payload));
}

caf::expected<content_token> verify_content_token(std::string_view text, std::string_view key, int64_t now) {
  auto unknown = [] { return error_of(errc::resource_not_found, "no such download"); };
  if (text.size() > 256) return unknown();
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return unknown();
  auto payload = base64url_decode(text.substr(0, dot));
  auto mac = base64url_decode(text.substr(dot + 1));
  if (!payload || !mac || payload->size() != token_payload_size || mac->size() != 32) return unknown();
  auto expected = hmac_sha256(key, *payload);
  if (CRYPTO_memcmp(expected.data(), mac->data(), 32) != 0) return unknown();
  std::string_view p{*payload};
  content_token t;
  t.tenant = uuid_of_bytes(p.substr(0, 16));
  t.content = uuid_of_bytes(p.substr(16, 16));
  t.user = uuid_of_bytes(p.substr(32, 16));
  t.session = uuid_of_bytes(p.substr(48, 16));
  t.nonce = hex_of(p.substr(64, 12));
  uint64_t exp = 0;
  for (size_t k = 0; k < 8; ++k) exp = (exp << 8) | static_cast<unsigned char>(p[76 + k]);
  t.expires = static_cast<int64_t>(exp);
  t.once = p[84] != 0;
  if (now >= t.expires) return error_of(errc::content_token_expired, "the download token has expired");
  return t;
}

} // namespace crm::protocols
