// protocols/uuid.hpp
// UUID text form (RFC 9562): formatting random bytes as a version 4 UUID and
// checking client-supplied ids before they reach SQL. Pure.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace crm::protocols {

// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" from 16 random bytes.
std::string format_uuid_v4(std::array<uint8_t, 16> bytes);

// True for the canonical 36-character hex form (any version, either case).
bool is_uuid(std::string_view text);

} // namespace crm::protocols
