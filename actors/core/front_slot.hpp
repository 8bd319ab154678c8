// actors/core/front_slot.hpp
// The handle of the current front actor, read by the I/O threads for every
// request and replaced by the supervisor when it restarts the front. A
// request sent to a dead front is dropped with its reply handle, which
// answers 503, so a stale read is harmless.
#pragma once
#include <caf/actor.hpp>

#include <algorithm>
#include <mutex>
#include <vector>

namespace crm::actors {

class front_slot {
public:
  caf::actor get() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return front_;
  }
  void set(caf::actor a) {
    std::lock_guard<std::mutex> guard{mutex_};
    front_ = std::move(a);
  }

private:
  mutable std::mutex mutex_;
  caf::actor front_;
};

// The front actors of a node, one slot each (ADR-0041): the stateless work of
// the API (token checks, bodies, planning, serializing) runs on as many CAF
// workers as there are fronts. I/O thread i hands its batches to front
// i % size(), so one front's mailbox is fed by a fixed set of threads and the
// slot's mutex is never contended across them.
class front_slots {
public:
  explicit front_slots(size_t n = 1) : slots_(std::max<size_t>(1, n)) {}
  size_t size() const { return slots_.size(); }
  front_slot& operator[](size_t i) { return slots_[i]; }
  caf::actor for_io(size_t io_index) const { return slots_[io_index % slots_.size()].get(); }
  void clear() {
    for (auto& s : slots_) s.set(caf::actor{});
  }

private:
  std::vector<front_slot> slots_;
};

} // namespace crm::actors
