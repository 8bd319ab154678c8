// protocols/content_access.hpp
// What the content API decides about access (docs/CONTENT.md): a tenant's
// settings body and the short-lived download tokens. Pure.
#pragma once
#include "protocols/json_body.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

// A tenant's content settings (GET/PUT /content/v1/settings).
struct content_settings {
  int64_t max_upload_bytes = 64ll << 20;
  std::vector<std::string> allowed_types{"image/jpeg", "image/png", "image/webp", "image/gif",
                                         "application/pdf", "text/plain", "text/csv"};
  bool archives = false;
  bool pdf_rasterize = false;
  int64_t retain_original_s = 0;
};

// The body of PUT /content/v1/settings (every field required); errors are
// added to `body` (422 naming each field). `cap` is the node's upload cap.
std::optional<content_settings> read_content_settings(json_body& body, int64_t cap);

// The types a tenant may allow (the pipeline knows how to make them safe).
const std::vector<std::string>& supported_mimes();

// A download token (docs/CONTENT.md): who may fetch what until when.
struct content_token {
  std::string tenant;   // uuid
  std::string content;  // uuid
  std::string user;     // uuid
  std::string session;  // uuid: the token dies with the session (logout, lock)
  std::string nonce;    // 24 hex characters
  int64_t expires = 0;  // unix seconds
  bool once = false;    // redeemed at most once
};

// base64url(payload) "." base64url(HMAC-SHA256(key, payload)).
std::string sign_content_token(const content_token& t, std::string_view key);

// The token if its MAC is right (404 resource.not_found otherwise: a forged
// or foreign token names nothing) and it has not expired at `now` (410
// content.token_expired).
caf::expected<content_token> verify_content_token(std::string_view text, std::string_view key, int64_t now);

} // namespace crm::protocols
