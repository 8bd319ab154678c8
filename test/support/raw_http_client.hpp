// test/support/raw_http_client.hpp
// A blocking HTTP/1.1 client for tests: writes raw bytes, reads whole
// responses (status, headers, Content-Length body). Test threads only.
#pragma once
#include <asio.hpp>

#include <chrono>
#include <map>
#include <string>

namespace crm::test {

struct raw_response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class raw_http_client {
public:
  explicit raw_http_client(uint16_t port) : socket_(io_) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }

  void send(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // Reads one response; status 0 if the connection closed first.
  raw_response read() {
    raw_response r;
    std::error_code ec;
    auto head_end = asio::read_until(socket_, buffer_, "\r\n\r\n", ec);
    if (ec) return r;
    std::string head(asio::buffers_begin(buffer_.data()),
                     asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(head_end));
    buffer_.consume(head_end);
    r.status = std::stoi(head.substr(9, 3));
    size_t pos = head.find("\r\n") + 2;
    while (pos < head.size() - 2) {
      auto eol = head.find("\r\n", pos);
      auto line = head.substr(pos, eol - pos);
      auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = line.substr(colon + 2);
      pos = eol + 2;
    }
    size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    if (buffer_.size() < length) asio::read(socket_, buffer_, asio::transfer_exactly(length - buffer_.size()), ec);
    r.body.assign(asio::buffers_begin(buffer_.data()),
                  asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(length));
    buffer_.consume(length);
    return r;
  }

private:
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  asio::streambuf buffer_;
};

} // namespace crm::test
