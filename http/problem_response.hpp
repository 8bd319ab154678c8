// http/problem_response.hpp
// The one place a problem (RFC 9457, protocols/problem.hpp) becomes an HTTP
// response, for every door: the connection's own edge answers, the
// connection cap, the router's 404/405 and every handler's failure. Header
// rules live here: 401 carries `WWW-Authenticate: Bearer`, 503 carries
// `Retry-After: 1`, and a problem with its own retry time (429) carries that.
#pragma once
#include "http/message.hpp"
#include "protocols/problem.hpp"

#include <string_view>

namespace crm::http {

response problem_response(const protocols::problem& p, std::string_view trace_id);

} // namespace crm::http
