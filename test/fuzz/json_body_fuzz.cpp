// test/fuzz/json_body_fuzz.cpp
// libFuzzer target for the JSON body reader and what reads bodies through it
// (protocols/json_body.cpp, the entity registry's read_record, access
// profiles), built and run by test/fuzz/run_fuzz.sh json_body. Each input is
// a request body. It must never crash, and what is accepted must be safe to
// store: no accepted string holds a NUL or invalid UTF-8, every field error
// names a printable, bounded field, and a problem can always be rendered.
#include "protocols/access_profile.hpp"
#include "protocols/entity.hpp"
#include "protocols/json_body.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/problem.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace crm::protocols;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

void check_errors(const json_body& body) {
  for (const auto& e : body.errors()) {
    require(is_valid_utf8(e.field) && e.field.size() <= 256);
    require(e.field.find('\0') == std::string::npos);
    require(!e.code.empty());
  }
  if (!body.errors().empty()) {
    auto p = to_problem(body.validation_error());
    require(p.kind.status == 422);
    require(is_valid_utf8(problem_json(p, "0123456789abcdef0123456789abcdef")));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  for (const auto& e : entity_registry()) {
    for (bool create : {true, false}) {
      json_body body{text};
      if (!body.ok()) {
        require(to_problem(body.malformed_error()).kind.status == 400);
        return 0;
      }
      auto values = read_record(body, e, create);
      check_errors(body);
      if (body.errors().empty())
        for (const auto& v : values)
          if (v.value) {
            require(v.value->find('\0') == std::string::npos);
            require(is_valid_utf8(*v.value));
          }
    }
  }
  {
    json_body body{text};
    for (auto path : {"name", "email", "password", "admin.email", "entities", "items.0.price"}) {
      auto s = body.string(path, {false, 0, 64});
      if (s) require(s->find('\0') == std::string::npos && is_valid_utf8(*s));
    }
    for (const auto& k : body.keys()) (void)k;
    check_errors(body);
  }
  {
    json_body body{text};
    auto p = read_access_entities(body, "entities", true);
    check_errors(body);
    for (const auto& a : p.entities) require((a.write & ~a.read) == 0);  // write implies read
  }
  return 0;
}
