// test/support/actor_testing.hpp
// What the deterministic actor tests share: an actor system on CAF's test
// coordinator (nothing runs until the test says so; timers fire only when
// the test triggers them) and a kill that lands ahead of everything in a
// victim's mailbox, as a crash would.
#pragma once
#include "storage/pg/pg_pool.hpp"

#include <caf/all.hpp>

#include <string>
#include <vector>

namespace crm::testing {

inline caf::actor_system_config& deterministic(caf::actor_system_config& c) {
  c.set("scheduler.policy", caf::atom("testing"));
  c.set("logger.console", caf::atom("none"));
  return c;
}

inline caf::scheduler::test_coordinator& coordinator(caf::actor_system& sys) {
  return dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
}

// Enqueues a kill ahead of everything in `a`'s mailbox.
inline void kill_now(const caf::actor& a) {
  a->enqueue(nullptr, caf::make_message_id(caf::message_priority::high),
             caf::make_message(caf::exit_msg{a.address(), caf::exit_reason::kill}), nullptr);
}

// A fake storage actor's answer to one query: rows of text cells.
inline storage::pg_rows rows(const std::vector<std::vector<std::string>>& values) {
  storage::pg_rows r;
  for (const auto& row : values) {
    auto& out = r.rows.emplace_back();
    for (const auto& v : row) out.emplace_back(v);
  }
  return r;
}

} // namespace crm::testing
