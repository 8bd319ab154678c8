#include "actors/data/storage_actor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

namespace crm::actors {
namespace {
// The pool's outcome on its way back into the mailbox (local only).
struct db_outcome {
  caf::expected<std::vector<storage::pg_rows>> result{caf::error{}};
};
} // namespace
} // namespace crm::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(crm::actors::db_outcome)

namespace crm::actors {

caf::behavior storage_actor(caf::stateful_actor<storage_state>* self, storage::pg_pool* pool) {
  self->state.pool = pool;
  return {
    [=](db_atom, db_request& rq) -> caf::response_promise {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      auto key = ++st.next;
      st.pending.emplace(key, rp);
      st.pool->run(std::move(rq.tenant), std::move(rq.queries),
                   [me = caf::actor_cast<caf::actor>(self), key](auto result) {
                     caf::anon_send(me, db_done_atom::value, key, db_outcome{std::move(result)});
                   });
      return rp;
    },
    [=](db_done_atom, uint64_t key, db_outcome& out) {
      auto it = self->state.pending.find(key);
      if (it == self->state.pending.end()) return;
      if (out.result) it->second.deliver(db_result{std::move(*out.result)});
      else it->second.deliver(std::move(out.result.error()));
      self->state.pending.erase(it);
    },
  };
}

} // namespace crm::actors
