// protocols/password.hpp
// Password policy and argon2id hashing (libargon2). Parameters follow the
// OWASP 2023 minimum for argon2id: 19 MiB, 2 iterations, 1 lane; the encoded
// hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash) records them, so raising
// them later keeps old hashes verifiable. Pure: the salt comes in. These
// calls take tens of milliseconds: run them on the hasher pool
// (actors/identity/password_hasher.cpp), never on an actor worker or I/O thread.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace crm::protocols {

struct argon2_params {
  uint32_t memory_kib = 19 * 1024;
  uint32_t iterations = 2;
  uint32_t lanes = 1;
};

inline constexpr size_t password_min_chars = 12;
inline constexpr size_t password_max_bytes = 1024;

// NIST SP 800-63B length rules: at least 12 characters, at most 1024 bytes.
// Returns the reason when the password is not acceptable.
std::optional<std::string> password_policy_violation(std::string_view password);

// The encoded argon2id hash of `password` with `salt` (16 bytes recommended).
std::string hash_password(std::string_view password, std::string_view salt,
                          const argon2_params& params = {});

// True if `password` matches `encoded`; false for a mismatch or a malformed hash.
bool verify_password(std::string_view encoded, std::string_view password);

} // namespace crm::protocols
