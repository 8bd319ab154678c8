#include "actors/core/random.hpp"

#include "protocols/uuid.hpp"

#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>

namespace crm::actors {

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) std::abort();
  return out;
}

std::string new_uuid() {
  std::array<uint8_t, 16> b;
  auto bytes = random_bytes(16);
  std::memcpy(b.data(), bytes.data(), 16);
  return protocols::format_uuid_v4(b);
}

} // namespace crm::actors
