#include "http/problem_response.hpp"

namespace crm::http {

response problem_response(const protocols::problem& p, std::string_view trace_id) {
  response r;
  r.status = p.kind.status;
  r.content_type = std::string{protocols::problem_content_type};
  r.body = protocols::problem_json(p, trace_id);
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (!p.retry_after.empty()) r.headers.emplace_back("Retry-After", p.retry_after);
  else if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

} // namespace crm::http
