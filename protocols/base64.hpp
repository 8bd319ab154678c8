// protocols/base64.hpp
// Base64 (RFC 4648 section 4) and base64url without padding (section 5, as
// JWT uses it). Decoders are strict: a character outside the alphabet,
// misplaced padding or non-zero trailing bits fail. Pure.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace crm::protocols {

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // padding required

} // namespace crm::protocols
