// protocols/idempotency.hpp
// Idempotency-Key on writes (draft-ietf-httpapi-idempotency-key-header,
// Stripe's convention; docs/IDEMPOTENCY.md): the key's syntax, the request
// fingerprint a reused key is compared by, and the headers kept with a
// stored answer. Pure.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm::protocols {

inline constexpr size_t idempotency_key_max = 255;

// The key of an Idempotency-Key header: an sf-string ("...", as the draft
// writes it) or the bare value (as Stripe's clients send it); 1 to 255
// visible ASCII characters, no quote or backslash inside. nullopt when the
// header is malformed.
std::optional<std::string> parse_idempotency_key(std::string_view header);

// What a retry must repeat exactly: SHA-256 (hex) of method, target (path
// and query as sent) and body.
std::string request_fingerprint(std::string_view method, std::string_view target, std::string_view body);

// The answer's headers a replay repeats: Content-Type, ETag and Location
// (case-insensitive).
bool replayed_header(std::string_view name);

// Header lines "Name: value\n" for the stored answer, and back. Lines that
// are not "Name: value" are skipped.
using header_list = std::vector<std::pair<std::string, std::string>>;
std::string encode_headers(const header_list& headers);
header_list decode_headers(std::string_view text);

} // namespace crm::protocols
