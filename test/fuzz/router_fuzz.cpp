// test/fuzz/router_fuzz.cpp
// libFuzzer target for route matching (protocols/router.cpp) with the
// server's real table (actors/front/system_routes.cpp), built and run by
// test/fuzz/run_fuzz.sh router. Each input is a method and a path. It must
// never crash; a found route's pattern must match the path segment by
// segment (literals equal, parameters non-empty and without '/'), 405 must
// name an Allow list that does not hold the method, and the body limit must
// be the matched route's (or the fallback).
#include "actors/api/route_table.hpp"
#include "protocols/router.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace crm;
using namespace crm::protocols;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<std::string_view> segments(std::string_view p) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= p.size()) {
    auto j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const router r = actors::build_router(actors::role::all);
  static const char* methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get"};
  if (size < 1) return 0;
  std::string_view method = methods[data[0] % 8];
  std::string_view path{reinterpret_cast<const char*>(data + 1), size - 1};
  for (auto where : {listener::public_api, listener::admin}) {
    auto m = r.match(method, path, where);
    auto limit = r.body_limit(method, path, where, 12345);
    if (m.result == route_match::outcome::found) {
      require(m.matched != nullptr);
      require(limit == m.matched->body_limit);
      auto want = segments(m.matched->pattern);
      auto got = segments(path);
      require(want.size() == got.size());
      for (size_t i = 0; i < want.size(); ++i) {
        if (!want[i].empty() && want[i].front() == '{') require(!got[i].empty());
        else require(want[i] == got[i]);
      }
    } else {
      require(limit == 12345);
      if (m.result == route_match::outcome::method_not_allowed) {
        require(!m.allow.empty());
        require(m.allow.find(std::string{method} + ",") == std::string::npos);
      }
    }
  }
  return 0;
}
