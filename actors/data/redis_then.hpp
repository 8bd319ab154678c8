// actors/data/redis_then.hpp
// One Redis command from inside an actor: the reply comes back as a task in
// the actor's own turn (run_atom, actors/core/messages.hpp), never on the
// Redis client's thread. The actor needs a (run_atom, actor_task) handler.
#pragma once
#include "actors/core/messages.hpp"
#include "storage/redis/redis_commands.hpp"

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <functional>
#include <string>
#include <vector>

namespace crm::actors {

template <class Self>
void redis_then(Self* self, storage::redis_commands& redis, std::vector<std::string> argv,
                std::function<void(caf::expected<storage::redis_reply>)> then) {
  auto me = caf::actor_cast<caf::actor>(self);
  redis.command(std::move(argv), [me, then = std::move(then)](caf::expected<storage::redis_reply> r) mutable {
    caf::anon_send(me, run_atom::value, actor_task{[then = std::move(then), r = std::move(r)]() mutable { then(std::move(r)); }});
  });
}

} // namespace crm::actors
