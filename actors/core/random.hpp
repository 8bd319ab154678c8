// actors/core/random.hpp
// Cryptographic randomness (OpenSSL RAND_bytes) for ids, salts and tokens.
#pragma once
#include <string>

namespace crm::actors {

// `n` random bytes; aborts the process if the system has no entropy source.
std::string random_bytes(size_t n);

// A random version 4 UUID.
std::string new_uuid();

} // namespace crm::actors
