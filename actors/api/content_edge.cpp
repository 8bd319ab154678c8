#include "actors/api/content_edge.hpp"

#include "actors/api/api.hpp"
#include "actors/core/random.hpp"
#include "protocols/hex.hpp"
#include "protocols/multipart.hpp"

namespace crm::actors {

size_t prepare_upload(http::request& req, const upload_edge& edge) {
  constexpr size_t envelope = 64 * 1024;  // multipart delimiters and part heads
  auto token = bearer_token(req.header_value("authorization"));
  bool caller = !token.empty() && static_cast<bool>(protocols::verify_jwt(token, *edge.keys, edge.now()));
  auto type = req.header_value("content-type");
  auto boundary = protocols::multipart_boundary(type);
  bool multipart = protocols::ascii_lower(type.substr(0, 10)) == "multipart/";
  bool usable = caller && (!multipart || !boundary.empty());
  auto bytes = random_bytes(16);
  auto name = protocols::to_hex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  req.upload = std::make_shared<http::upload_file>(edge.quarantine + "/" + name, std::move(boundary), !usable);
  return static_cast<size_t>(edge.max_upload) + envelope;
}

} // namespace crm::actors
