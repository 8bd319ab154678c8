// protocols/hex.hpp
// Lowercase hex and the SHA-256 digest in hex: the one copy used by trace
// ids, UUIDs, query fingerprints and migration checksums. Pure.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace crm::protocols {

// Lowercase hex of `n` bytes.
std::string to_hex(const uint8_t* bytes, size_t n);

// The value of one hex digit (either case), or -1.
int hex_digit(char c);

// Lowercase hex of the SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

// The same over data that arrives in pieces (an upload, a file read in
// chunks): add() each piece, then hex() once.
class sha256_stream {
public:
  sha256_stream();
  ~sha256_stream();
  sha256_stream(const sha256_stream&) = delete;
  sha256_stream& operator=(const sha256_stream&) = delete;
  void add(std::string_view piece);
  std::string hex();

private:
  struct state;
  std::unique_ptr<state> state_;
};

} // namespace crm::protocols
