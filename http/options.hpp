// http/options.hpp
// Limits and timeouts of the HTTP edge. Every field has a default; main.cpp
// fills them from NEXTCRM_* variables.
#pragma once
#include "protocols/client_addr.hpp"

#include <chrono>
#include <cstddef>

namespace crm::http {

struct http_options {
  size_t io_threads = 2;                          // Asio threads; connections are pinned to one
  size_t max_header_bytes = 16 * 1024;            // request line + header fields; more -> 431
  size_t unmatched_body_limit = 64 * 1024;        // body limit for paths no route matches
  size_t max_connections = 10000;                 // open client connections; more -> 503 + close
  size_t max_pipeline_depth = 32;                 // unanswered requests per connection before reads pause
  std::chrono::milliseconds request_timeout{15000};  // first byte to complete request; -> 408 + close
  std::chrono::milliseconds idle_timeout{60000};     // keep-alive idle between requests; -> close
  std::chrono::milliseconds handler_timeout{30000};  // request handed over, no answer yet; -> 503
  std::chrono::milliseconds linger_timeout{1000};    // after a final response, drain input this long
  std::chrono::milliseconds shutdown_grace{10000};   // SIGTERM: wait this long for in-flight requests
  // SIGTERM, before the listeners close: keep accepting this long, every
  // answer with Connection: close, so a gateway's pooled connections end
  // after an answer instead of being closed under a request it is sending.
  std::chrono::milliseconds shutdown_drain{0};
  // Peers whose X-Forwarded-For is believed (the gateway); none by default.
  protocols::trusted_proxies trusted_proxies;
};

} // namespace crm::http
