// test/fuzz/http_fuzz.cpp
// libFuzzer target for the HTTP edge's request framing (http/parser.cpp on
// llhttp), built and run by test/fuzz/run_fuzz.sh http. Each input is fed
//  1. whole, and
//  2. cut into pieces at points taken from its first bytes (as TCP may
//     deliver it),
// to a parser with a small header limit and body limit. It must never
// crash, and both feedings must agree: the same requests (method, target,
// headers, body, keep-alive) and the same error. Limits must hold: no body
// over its limit, no header block over the header limit. A disagreement is
// a __builtin_trap() (a crash to libFuzzer).
#include "http/parser.hpp"
#include "protocols/multipart.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace crm::http;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr size_t header_limit = 2048;
constexpr size_t body_limit = 512;

struct outcome {
  std::vector<parsed_request> requests;
  parse_error error = parse_error::none;
};

outcome run(std::string_view data, const std::vector<size_t>& cuts) {
  request_parser p{header_limit, [](request& req) {
                     // paths under /u are uploads: the body streams through an upload_file
                     // (discard mode: counted and parsed, nothing written)
                     if (req.path.rfind("/u", 0) == 0)
                       req.upload = std::make_shared<upload_file>(
                           "/nonexistent", crm::protocols::multipart_boundary(req.header_value("content-type")), true);
                     return req.path.size() % 2 ? body_limit : size_t{16};
                   }};
  outcome out;
  size_t at = 0;
  for (size_t cut : cuts) {
    if (cut <= at || cut >= data.size()) continue;
    auto e = p.feed(data.substr(at, cut - at), out.requests);
    at = cut;
    if (e != parse_error::none) {
      out.error = e;
      return out;
    }
  }
  out.error = p.feed(data.substr(at), out.requests);
  return out;
}

bool same(const request& a, const request& b) {
  bool uploads = !a.upload == !b.upload;
  if (uploads && a.upload)
    uploads = a.upload->size() == b.upload->size() && a.upload->failed() == b.upload->failed() &&
              a.upload->part_filename() == b.upload->part_filename() &&
              a.upload->part_content_type() == b.upload->part_content_type();
  return uploads && a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query &&
         a.headers == b.headers && a.body == b.body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // the first byte chooses up to 8 cut points from the next ones
  size_t ncuts = data[0] % 8;
  if (size < 1 + ncuts) return 0;
  std::vector<size_t> cuts;
  std::string_view input{reinterpret_cast<const char*>(data + 1 + ncuts), size - 1 - ncuts};
  size_t pos = 0;
  for (size_t i = 0; i < ncuts; ++i) {
    pos += data[1 + i];
    cuts.push_back(pos);
  }
  auto whole = run(input, {});
  auto split = run(input, cuts);
  require(whole.error == split.error);
  require(whole.requests.size() == split.requests.size());
  for (size_t i = 0; i < whole.requests.size(); ++i) {
    const auto& a = whole.requests[i];
    require(same(a.req, split.requests[i].req));
    require(a.keep_alive == split.requests[i].keep_alive);
    require(a.req.body.size() <= body_limit);
    if (a.req.upload) require(a.req.body.empty() && a.req.upload->size() <= body_limit);
    size_t header_bytes = a.req.target.size();
    for (const auto& [k, v] : a.req.headers) header_bytes += k.size() + v.size();
    require(header_bytes <= header_limit);
    for (const auto& [k, v] : a.req.headers)
      for (char c : k) require(!(c >= 'A' && c <= 'Z'));  // names are lower-cased
  }
  return 0;
}
