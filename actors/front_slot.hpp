// actors/front_slot.hpp
// The handle of the current front actor, read by the I/O threads for every
// request and replaced by the supervisor when it restarts the front. A
// request sent to a dead front is dropped with its reply handle, which
// answers 503, so a stale read is harmless.
#pragma once
#include <caf/actor.hpp>

#include <mutex>

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

} // namespace crm::actors
