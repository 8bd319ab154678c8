#include "protocols/password.hpp"

#include <argon2.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace crm::protocols {

std::optional<std::string> password_policy_violation(std::string_view password) {
  auto chars = std::count_if(password.begin(), password.end(),
                             [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
  if (static_cast<size_t>(chars) < password_min_chars)
    return "the password must have at least " + std::to_string(password_min_chars) + " characters";
  if (password.size() > password_max_bytes)
    return "the password must have at most " + std::to_string(password_max_bytes) + " bytes";
  return std::nullopt;
}

std::string hash_password(std::string_view password, std::string_view salt,
                          const argon2_params& params) {
  constexpr uint32_t hash_len = 32;
  std::vector<char> encoded(argon2_encodedlen(params.iterations, params.memory_kib, params.lanes,
                                              static_cast<uint32_t>(salt.size()), hash_len,
                                              Argon2_id));
  int rc = argon2id_hash_encoded(params.iterations, params.memory_kib, params.lanes, password.data(),
                                 password.size(), salt.data(), salt.size(), hash_len, encoded.data(),
                                 encoded.size());
  if (rc != ARGON2_OK) throw std::runtime_error(argon2_error_message(rc));
  return encoded.data();
}

bool verify_password(std::string_view encoded, std::string_view password) {
  std::string z{encoded};  // argon2 wants a NUL-terminated string
  return argon2id_verify(z.c_str(), password.data(), password.size()) == ARGON2_OK;
}

} // namespace crm::protocols
