#include "http/ids.hpp"

#include <random>

namespace crm::http {

template <size_t N>
std::array<uint8_t, N> random_bytes() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::array<uint8_t, N> out;
  for (size_t i = 0; i < N; i += 8) {
    uint64_t v = rng();
    for (size_t k = 0; k < 8 && i + k < N; ++k) out[i + k] = static_cast<uint8_t>(v >> (8 * k));
  }
  return out;
}

template std::array<uint8_t, 16> random_bytes<16>();
template std::array<uint8_t, 24> random_bytes<24>();

protocols::trace_context trace_for(std::string_view traceparent) {
  return protocols::make_trace_context(traceparent, random_bytes<24>());
}

std::string request_id_for(std::string_view incoming) {
  return protocols::is_valid_request_id(incoming) ? std::string{incoming}
                                                  : protocols::make_request_id(random_bytes<16>());
}

} // namespace crm::http
