// http/ids.hpp
// Trace and request ids for requests that arrive without them. They need
// uniqueness, not secrecy: a per-thread PRNG feeds protocols/trace.hpp.
#pragma once
#include "protocols/trace.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace crm::http {

// N bytes from this thread's PRNG.
template <size_t N>
std::array<uint8_t, N> random_bytes();

// A fresh trace for `traceparent` (continued when valid, new otherwise).
protocols::trace_context trace_for(std::string_view traceparent);

// `incoming` when it is a valid X-Request-Id, else a generated one.
std::string request_id_for(std::string_view incoming);

} // namespace crm::http
