// storage/redis/redis_asio.hpp
// hiredis 0.14 ships no Asio adapter; this is the minimal one of IO-NOTES.md
// 3.1. The descriptor is only a readiness notifier: hiredis owns and closes
// the fd, the adapter releases it in cleanup(). Attach before setting the
// connect callback.
#pragma once
#include <asio.hpp>

struct redisAsyncContext;

namespace crm::storage {

// Hooks `ac` into `io`. Returns false if it already has an event adapter.
bool attach_redis_asio(asio::io_context& io, redisAsyncContext* ac);

} // namespace crm::storage
