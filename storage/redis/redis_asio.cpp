#include "storage/redis/redis_asio.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <memory>

namespace crm::storage {
namespace {

class redis_asio : public std::enable_shared_from_this<redis_asio> {
public:
  redis_asio(asio::io_context& io, redisAsyncContext* ac) : ac_(ac), sd_(io, ac->c.fd) {}

  static bool attach(asio::io_context& io, redisAsyncContext* ac) {
    if (ac->ev.data) return false;
    auto a = std::make_shared<redis_asio>(io, ac);
    a->self_ = a;  // kept alive until hiredis calls cleanup
    ac->ev.data = a.get();
    ac->ev.addRead = [](void* p) { static_cast<redis_asio*>(p)->want(read_dir, true); };
    ac->ev.delRead = [](void* p) { static_cast<redis_asio*>(p)->want(read_dir, false); };
    ac->ev.addWrite = [](void* p) { static_cast<redis_asio*>(p)->want(write_dir, true); };
    ac->ev.delWrite = [](void* p) { static_cast<redis_asio*>(p)->want(write_dir, false); };
    ac->ev.cleanup = [](void* p) { static_cast<redis_asio*>(p)->cleanup(); };
    return true;
  }

private:
  static constexpr int read_dir = 0, write_dir = 1;

  void want(int dir, bool on) {
    want_[dir] = on;
    if (on) arm(dir);
  }

  void arm(int dir) {
    if (armed_[dir] || !want_[dir] || !ac_) return;
    armed_[dir] = true;
    sd_.async_wait(dir == read_dir ? asio::posix::stream_descriptor::wait_read
                                   : asio::posix::stream_descriptor::wait_write,
                   [self = shared_from_this(), dir](std::error_code ec) {
                     self->armed_[dir] = false;
                     if (ec || !self->ac_ || !self->want_[dir]) return;
                     if (dir == read_dir) redisAsyncHandleRead(self->ac_);  // may free ac_
                     else redisAsyncHandleWrite(self->ac_);
                     self->arm(dir);
                   });
  }

  void cleanup() {  // from redisAsyncFree; hiredis closes the fd itself
    want_[read_dir] = want_[write_dir] = false;
    ac_ = nullptr;
    if (sd_.is_open()) sd_.release();
    self_.reset();  // pending handlers still hold shared_ptrs
  }

  redisAsyncContext* ac_;
  asio::posix::stream_descriptor sd_;
  bool want_[2] = {false, false};
  bool armed_[2] = {false, false};
  std::shared_ptr<redis_asio> self_;
};

} // namespace

bool attach_redis_asio(asio::io_context& io, redisAsyncContext* ac) {
  return redis_asio::attach(io, ac);
}

} // namespace crm::storage
