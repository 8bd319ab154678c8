// Tests http/upload_file.cpp through the parser: an upload route's body goes
// to its file, not into memory, whatever the split; its SHA-256 and size
// are right; a multipart body yields only its file part; a body past the
// limit (413), a dropped connection or a refused request leave no file;
// discard mode writes nothing.
#include "http/parser.hpp"
#include "protocols/hex.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace crm::http;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("nextcrm-upload-test-" + std::to_string(::getpid()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() { fs::remove_all(path); }
  size_t files() const { return static_cast<size_t>(std::distance(fs::directory_iterator(path), fs::directory_iterator())); }
};

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

request_parser upload_parser(const temp_dir& dir, size_t limit, bool discard = false) {
  return request_parser{16 * 1024, [&dir, limit, discard](request& req) {
                          auto boundary = crm::protocols::multipart_boundary(req.header_value("content-type"));
                          req.upload = std::make_shared<upload_file>((dir.path / "q1").string(), boundary, discard);
                          return limit;
                        }};
}

std::string post(const std::string& ctype, const std::string& body) {
  return "POST /content/v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

} // namespace

TEST_CASE("a raw upload streams to its file, split anywhere, with its digest", "[http][upload]") {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += "line " + std::to_string(i) + "\n";
  for (size_t piece : {size_t{1}, size_t{13}, size_t{4096}}) {
    temp_dir dir;
    auto p = upload_parser(dir, 1 << 20);
    auto wire = post("text/plain", data);
    std::vector<parsed_request> out;
    for (size_t at = 0; at < wire.size(); at += piece) REQUIRE(p.feed(std::string_view{wire}.substr(at, piece), out) == parse_error::none);
    REQUIRE(out.size() == 1);
    auto& up = *out[0].req.upload;
    CHECK(out[0].req.body.empty());
    CHECK_FALSE(up.failed());
    CHECK(up.size() == data.size());
    CHECK(up.sha256() == crm::protocols::sha256_hex(data));
    CHECK(read_file(up.path()) == data);
    CHECK((fs::status(up.path()).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    up.keep();
    out.clear();
    CHECK(dir.files() == 1);  // kept: the job's now
  }
}

TEST_CASE("a multipart upload keeps only its file part", "[http][upload]") {
  temp_dir dir;
  auto p = upload_parser(dir, 1 << 20);
  std::string body = "--zz\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nskip me\r\n"
                     "--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
                     "Content-Type: text/csv\r\n\r\na,b\r\n1,2\r\n--zz--\r\n";
  std::vector<parsed_request> out;
  REQUIRE(p.feed(post("multipart/form-data; boundary=zz", body), out) == parse_error::none);
  REQUIRE(out.size() == 1);
  auto& up = *out[0].req.upload;
  CHECK_FALSE(up.failed());
  CHECK(up.part_filename() == "a.csv");
  CHECK(up.part_content_type() == "text/csv");
  CHECK(read_file(up.path()) == "a,b\r\n1,2");
  out.clear();  // not kept: the file goes with the request
  CHECK(dir.files() == 0);
}

TEST_CASE("a form without a file part or its closing boundary fails and leaves nothing", "[http][upload]") {
  temp_dir dir;
  for (std::string body : {std::string{"--zz\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n--zz--"},
                           std::string{"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nx"}}) {
    auto p = upload_parser(dir, 1 << 20);
    std::vector<parsed_request> out;
    REQUIRE(p.feed(post("multipart/form-data; boundary=zz", body), out) == parse_error::none);
    REQUIRE(out.size() == 1);
    CHECK(out[0].req.upload->failed());
    CHECK(dir.files() == 0);
  }
}

TEST_CASE("past the limit, cut off or discarded: no file", "[http][upload]") {
  temp_dir dir;
  {
    auto p = upload_parser(dir, 100);
    std::vector<parsed_request> out;
    std::string head = "POST /u HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(p.feed(head + "40\r\n" + std::string(64, 'a') + "\r\n", out) == parse_error::none);
    CHECK(dir.files() == 1);  // streaming
    CHECK(p.feed("40\r\n" + std::string(64, 'a') + "\r\n", out) == parse_error::body_too_large);
    CHECK(dir.files() == 0);  // gone at the 413, not when the connection closes
  }
  {
    auto p = upload_parser(dir, 1 << 20);
    std::vector<parsed_request> out;
    CHECK(p.feed(post("text/plain", std::string(1000, 'b')).substr(0, 300), out) == parse_error::none);
    CHECK(dir.files() == 1);
  }  // the connection (and its parser) went away mid-body
  CHECK(dir.files() == 0);
  {
    auto p = upload_parser(dir, 1 << 20, true);
    std::vector<parsed_request> out;
    REQUIRE(p.feed(post("text/plain", "secret"), out) == parse_error::none);
    CHECK(out.at(0).req.upload->discarded());
    CHECK(out.at(0).req.upload->size() == 6);
    CHECK(dir.files() == 0);
  }
}
