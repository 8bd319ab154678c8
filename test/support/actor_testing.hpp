// test/support/actor_testing.hpp
// What the deterministic actor tests share: an actor system on CAF's test
// coordinator (nothing runs until the test says so; timers fire only when
// the test triggers them) and a kill that lands ahead of everything in a
// victim's mailbox, as a crash would.
#pragma once
#include "actors/data/storage_messages.hpp"
#include "storage/pg/pg_pool.hpp"

#include <caf/all.hpp>

#include <functional>
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

// The answers a fake storage actor holds back (statements in flight): each
// is computed when released, as a transaction commits then, or fails as
// when its connection dropped under it (a promise of a killed requester
// answers nobody).
struct held_answers {
  struct held_answer {
    caf::response_promise rp;
    std::function<actors::db_result()> answer;
  };
  std::vector<held_answer> all;

  // In the fake's db_atom handler: `return hold(self, answer);`
  template <class Self>
  caf::result<actors::db_result> hold(Self* self, std::function<actors::db_result()> answer) {
    all.push_back({self->make_response_promise(), std::move(answer)});
    return caf::delegated<actors::db_result>{};
  }
  void release(bool commit) {
    auto now = std::move(all);
    all.clear();
    for (auto& h : now) {
      if (commit) h.rp.deliver(h.answer());
      else h.rp.deliver(caf::make_error(caf::sec::request_receiver_down));
    }
  }
  size_t size() const { return all.size(); }
  void clear() { all.clear(); }  // never answered: the storage actor died with them
};

} // namespace crm::testing
