// actors/api/content_edge.hpp
// The upload route's part at the HTTP edge (I/O thread, once the request's
// head is complete): the body goes straight to a new file in the
// quarantine, not into memory. Only a caller whose bearer token verifies
// gets a file; anyone else's bytes are counted and dropped (the handler
// then answers 401), so strangers cannot fill the disk.
#pragma once
#include "http/message.hpp"
#include "protocols/jwt.hpp"

#include <functional>
#include <memory>
#include <string>

namespace crm::actors {

struct upload_edge {
  std::string quarantine;  // folder of quarantined uploads
  std::shared_ptr<const protocols::jwt_keyring> keys;
  std::function<int64_t()> now;  // unix seconds
  int64_t max_upload = 256ll << 20;
};

// Sets req.upload and returns the body limit (the node's cap plus room for
// a multipart envelope).
size_t prepare_upload(http::request& req, const upload_edge& edge);

} // namespace crm::actors
