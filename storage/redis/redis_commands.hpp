// storage/redis/redis_commands.hpp
// A Redis reply as a value, and the one call actors make on Redis: a
// command and a callback with its reply (redis_client implements it; the
// deterministic actor tests put a fake behind it). No hiredis, no Asio.
#pragma once
#include <caf/expected.hpp>

#include <functional>
#include <string>
#include <vector>

namespace crm::storage {

struct redis_reply {
  enum class kind : uint8_t { string, array, integer, nil, status, error } type = kind::nil;
  std::string str;
  long long integer = 0;
  std::vector<redis_reply> elements;
};

class redis_commands {
public:
  virtual ~redis_commands() = default;
  // Sends `argv`; `done` runs once, on a thread of the implementation's,
  // with the reply or an error (dependency.unavailable).
  virtual void command(std::vector<std::string> argv, std::function<void(caf::expected<redis_reply>)> done) = 0;
};

} // namespace crm::storage
