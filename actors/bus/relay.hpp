// actors/bus/relay.hpp
// The bus relay (Block 8, ADR-0046): moves committed outbox rows to the Redis
// stream in `seq` order. Woken after every commit of this node that wrote
// events (storage/pg/pg_pool's on_events_committed sends bus_wake), and by
// its own timer for what other nodes left (a crash between commit and
// publish). One batch at a time: read up to `batch` rows, XADD
// each (pipelined on the command connection, MAXLEN ~ `maxlen`), delete the
// rows whose XADD succeeded; a failure keeps the rest for the next try after
// `retry`, so nothing committed is lost. A connection lost mid-batch fails
// its tail, so the order holds; an XADD refused alone (Redis out of
// memory) lands after its successors. At least once: a crash between XADD and the delete publishes
// the same envelope (same id) again; consumers dedupe by id. Under Sentinel
// (`wait_replica`) a batch counts as published once a replica has it.
#pragma once
#include "actors/core/front_slot.hpp"

#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace crm::storage {
class redis_client;
}

namespace crm::actors {

using bus_wake_atom = caf::atom_constant<caf::atom("bus_wake")>;  // look for outbox rows
using bus_xadd_atom = caf::atom_constant<caf::atom("bus_xadd")>;  // (batch, ok per row) the XADDs answered
using bus_tick_atom = caf::atom_constant<caf::atom("bus_tick")>;  // the fallback poll

// Counters the node shows in /metrics (written by the relay, read anywhere).
struct bus_counters {
  std::atomic<uint64_t> published{0};      // envelopes XADDed and deleted from the outbox
  std::atomic<uint64_t> publish_failed{0};  // XADDs that failed (retried)
  std::atomic<int64_t> last_lag_ms{0};      // commit-to-XADD of the newest envelope published
};

// Where the relay publishes: the stream's XADDs of one batch, answered once
// with 1 per entry that is safely on the stream (0: publish again later).
// The server's is redis_sink; the deterministic tests hand their own
// (test/actors/bus/relay_test.cpp). `publish`'s answer may come from any
// thread.
using xadd_batch = std::vector<std::vector<std::string>>;
struct relay_sink {
  std::function<bool()> up;  // false: nothing is sent, the relay tries again later
  std::function<void(xadd_batch, std::function<void(std::vector<int8_t>)>)> publish;
  explicit operator bool() const { return up && publish; }
};

// The Redis command connection as a sink, pipelined. Under Sentinel
// (`wait_replica`) a batch counts as published once a replica has it
// (WAIT 1, at most `wait_ms`, below the client's command timeout), so a
// failover cannot lose a published event whose outbox row is gone.
relay_sink redis_sink(storage::redis_client* redis, bool wait_replica, std::chrono::milliseconds wait_ms);

struct relay_deps {
  front_slot* storage = nullptr;             // the storage actor
  relay_sink sink;                           // the stream (empty: no relay on this node)
  bus_counters* counters = nullptr;
  std::string stream = "nxp:events";
  size_t maxlen = 1000000;                   // XADD MAXLEN ~ (approximate trimming)
  size_t batch = 500;
  std::chrono::milliseconds poll{1000};      // fallback wake-up when no NOTIFY came
  std::chrono::milliseconds retry{500};      // after a failed batch
  std::chrono::milliseconds timeout{5000};   // of each storage request
};

struct relay_state {
  static inline const char* name = "bus-relay";
  relay_deps deps;
  bool busy = false;    // a batch is in flight
  bool again = false;   // woken while busy: look again right after
  uint64_t batch_no = 0;
  std::vector<std::string> seqs;  // of the batch in flight
  std::vector<int8_t> done;       // per row: -1 pending, 0 failed, 1 published
  int64_t newest_time_ms = 0;     // commit time of the batch's last row
};

caf::behavior relay(caf::stateful_actor<relay_state>* self, relay_deps deps);

} // namespace crm::actors
