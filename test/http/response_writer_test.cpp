// Tests http/response_writer.cpp: wire format of responses.
#include "http/response_writer.hpp"

#include <catch2/catch.hpp>

using namespace crm::http;

TEST_CASE("responses carry length, ids and extra headers", "[http][writer]") {
  response r;
  r.status = 405;
  r.content_type = "application/problem+json";
  r.body = "{}";
  r.headers.emplace_back("Allow", "GET, HEAD");
  std::string out;
  write_response(out, r, {"rid", "00-a-b-01", false, true});
  CHECK(out.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
  CHECK(out.find("\r\nContent-Type: application/problem+json\r\n") != std::string::npos);
  CHECK(out.find("\r\nContent-Length: 2\r\n") != std::string::npos);
  CHECK(out.find("\r\nX-Request-Id: rid\r\n") != std::string::npos);
  CHECK(out.find("\r\ntraceparent: 00-a-b-01\r\n") != std::string::npos);
  CHECK(out.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
  CHECK(out.find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(out.substr(out.size() - 6) == "\r\n\r\n{}");
}

TEST_CASE("HEAD and 204 responses have no body", "[http][writer]") {
  response r;
  r.body = "hello";
  std::string out;
  write_response(out, r, {"rid", "tp", true, false});
  CHECK(out.find("Content-Length: 5") != std::string::npos);
  CHECK(out.substr(out.size() - 4) == "\r\n\r\n");
  r.status = 204;
  r.body.clear();
  out.clear();
  write_response(out, r, {"rid", "tp", false, false});
  CHECK(out.find("Content-Length") == std::string::npos);
}

TEST_CASE("header values cannot split the response", "[http][writer]") {
  response r;
  r.headers.emplace_back("ETag", "\"1\"\r\nSet-Cookie: evil=1");
  std::string out;
  write_response(out, r, {"rid", "tp", false, false});
  CHECK(out.find("\r\nSet-Cookie") == std::string::npos);
}
