// protocols/problem.hpp
// RFC 9457 problem details exactly as docs/protocols/ERROR-CONTRACT.md pins them:
//   {"type":"https://nextcrm.dev/errors/<code>","title","status","detail",
//    "code","trace_id"} with Content-Type application/problem+json.
// This is the only code that maps errc to HTTP statuses. Pure.
#pragma once
#include "protocols/errc.hpp"
#include <string>
#include <string_view>

namespace caf { class error; }

namespace crm::protocols {

struct problem_kind {
  int status;
  std::string_view code;   // "resource.not_found"
  std::string_view title;  // "Not found"
};

// Status, code and title of `code`.
problem_kind kind_of(errc code);

// A problem ready to render: the kind plus the client-facing detail.
struct problem {
  problem_kind kind;
  std::string detail;
  std::string errors_json;  // request.validation: [{"field","code","detail"}], else empty
  std::string retry_after;  // rate.limited: seconds for the Retry-After header, else empty
};

// Maps any CAF error to a problem: our errc category keeps its code, the
// detail carried as the first string of the context and, for validation
// errors, the errors array carried as the second (for rate.limited: the
// Retry-After seconds); sec::request_timeout and
// sec::request_receiver_down (a slow or restarted actor) become
// dependency.unavailable; anything else becomes internal with a generic detail.
problem to_problem(const caf::error& err);

// The problem for `code` with `detail`.
problem make_problem(errc code, std::string detail);

// The JSON body of `p` for the trace `trace_id` (32 hex chars, may be empty).
std::string problem_json(const problem& p, std::string_view trace_id);

inline constexpr std::string_view problem_content_type = "application/problem+json";

} // namespace crm::protocols
