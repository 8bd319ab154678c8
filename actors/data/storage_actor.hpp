// actors/data/storage_actor.hpp
// The storage pool actor: runs a db_request as one tenant-scoped
// transaction on the pg_pool and answers with a db_result or the mapped
// error. The pool calls back on the storage thread; the result comes back
// into this actor's mailbox before the promise is delivered (promises are
// only touched on the actor's own thread). The pool's request deadline
// guarantees every promise is delivered.
#pragma once
#include "actors/data/storage_messages.hpp"

#include <caf/fwd.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include <unordered_map>

namespace crm::actors {

struct storage_state {
  static inline const char* name = "storage";
  storage::pg_pool* pool = nullptr;
  uint64_t next = 0;
  std::unordered_map<uint64_t, caf::response_promise> pending;
};

caf::behavior storage_actor(caf::stateful_actor<storage_state>* self, storage::pg_pool* pool);

} // namespace crm::actors
