#include "http/parser.hpp"

#include <algorithm>
#include <cctype>

namespace crm::http {
namespace {

request_parser& self_of(llhttp_t* p) { return *static_cast<request_parser*>(p->data); }

// RFC 9110 5.6.2: the characters of a token (a field name).
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

// Per header line: ": " and CRLF that llhttp does not hand to callbacks.
constexpr size_t line_overhead = 4;

void lower(std::string& s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
}

} // namespace

std::string_view request::header_value(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

request_parser::request_parser(size_t max_header_bytes, body_limit_fn limit)
    : max_header_bytes_(max_header_bytes), limit_(std::move(limit)) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = on_message_begin;
  settings_.on_url = on_url;
  settings_.on_header_field = on_header_field;
  settings_.on_header_value = on_header_value;
  settings_.on_headers_complete = on_headers_complete;
  settings_.on_body = on_body;
  settings_.on_message_complete = on_message_complete;
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

bool request_parser::take_expect_continue() {
  bool r = expect_continue_;
  expect_continue_ = false;
  return r;
}

parse_error request_parser::fail(parse_error e, const char* detail) {
  current_ = {};  // a partial upload's file goes now, not when the connection closes
  done_ = true;
  in_message_ = false;
  error_detail_ = detail;
  return e;
}

parse_error request_parser::feed(std::string_view data, std::vector<parsed_request>& out) {
  const char* p = data.data();
  const char* end = p + data.size();
  while (!done_ && p < end) {
    message_complete_ = false;
    feed_begin_ = p;
    llhttp_errno_t rc = llhttp_execute(&parser_, p, static_cast<size_t>(end - p));
    if (message_complete_) {  // paused right after a complete request
      bool keep_alive = llhttp_should_keep_alive(&parser_) != 0;
      current_.keep_alive = keep_alive && rc == HPE_PAUSED;
      out.push_back(std::move(current_));
      current_ = {};
      if (!out.back().keep_alive) {
        done_ = true;
        break;
      }
      const char* pos = llhttp_get_error_pos(&parser_);
      llhttp_resume(&parser_);
      p = pos ? pos : end;
      continue;
    }
    if (rc == HPE_OK) {  // all input consumed, request still incomplete
      last_fed_byte_ = end[-1];
      break;
    }
    if (pending_error_ == parse_error::headers_too_large)
      return fail(pending_error_, "the request header block is larger than the limit");
    if (pending_error_ == parse_error::body_too_large)
      return fail(pending_error_, "the request body is larger than this route accepts");
    if (pending_error_ == parse_error::bad_version)
      return fail(pending_error_, "only HTTP/1.0 and HTTP/1.1 are served here");
    if (pending_error_ == parse_error::malformed) return fail(pending_error_, pending_detail_);
    return fail(parse_error::malformed, "the request is not valid HTTP/1.1");
  }
  return parse_error::none;
}

int request_parser::count_header_bytes(size_t len) {
  header_bytes_ += len;
  if (header_bytes_ > max_header_bytes_) {
    pending_error_ = parse_error::headers_too_large;
    return -1;
  }
  return 0;
}

int request_parser::on_message_begin(llhttp_t* p) {
  auto& self = self_of(p);
  self.in_message_ = true;
  self.header_bytes_ = 0;
  self.last_was_value_ = false;
  self.headers_done_ = false;
  self.current_ = {};
  self.body_bytes_ = 0;
  return 0;
}

int request_parser::on_url(llhttp_t* p, const char* at, size_t len) {
  auto& self = self_of(p);
  // the line's overhead once, however the target arrives in pieces (the
  // limit must not depend on how TCP split the input: found by fuzzing)
  size_t overhead = self.current_.req.target.empty() ? line_overhead + 16 : 0;  // method + version
  self.current_.req.target.append(at, len);
  return self.count_header_bytes(len + overhead);
}

// Trailer fields of a chunked body are counted against the header limit and
// dropped: nothing after the header block may pose as a header (an
// `authorization` trailer would otherwise be read as one; found by fuzzing).
int request_parser::on_header_field(llhttp_t* p, const char* at, size_t len) {
  auto& self = self_of(p);
  if (self.headers_done_) return self.count_header_bytes(len);
  auto& hs = self.current_.req.headers;
  bool new_field = hs.empty() || self.last_was_value_;
  if (new_field) hs.emplace_back();
  hs.back().first.append(at, len);
  self.last_was_value_ = false;
  return self.count_header_bytes(len + (new_field ? line_overhead : 0));
}

int request_parser::on_header_value(llhttp_t* p, const char* at, size_t len) {
  auto& self = self_of(p);
  if (self.headers_done_) return self.count_header_bytes(len);
  auto& hs = self.current_.req.headers;
  if (hs.empty()) hs.emplace_back();
  // A value that continues on a new line (after whitespace llhttp may have
  // skipped) is an obs-fold; a value split across reads continues where
  // the previous read ended, which was not a line end.
  if (self.last_was_value_) {
    const char* q = at;
    while (q > self.feed_begin_ && (q[-1] == ' ' || q[-1] == '\t')) --q;
    char before = q > self.feed_begin_ ? q[-1] : self.last_fed_byte_;
    if (before == '\n') {
      self.pending_error_ = parse_error::malformed;
      self.pending_detail_ = "a header field value is folded over several lines (obs-fold)";
      return -1;
    }
  }
  hs.back().second.append(at, len);
  self.last_was_value_ = true;
  return self.count_header_bytes(len);
}

int request_parser::on_headers_complete(llhttp_t* p) {
  auto& self = self_of(p);
  self.headers_done_ = true;
  auto& req = self.current_.req;
  size_t hosts = 0;
  for (auto& h : req.headers) {
    // RFC 9112 5.1 and 5.2: no whitespace between name and colon, no
    // obs-fold (llhttp accepts both; a proxy may read them otherwise)
    if (h.first.empty() || !std::all_of(h.first.begin(), h.first.end(), is_tchar)) {
      self.pending_error_ = parse_error::malformed;
      self.pending_detail_ = "a header field name is not a token (whitespace before the colon?)";
      return -1;
    }
    if (h.second.find_first_of("\r\n") != std::string::npos) {
      self.pending_error_ = parse_error::malformed;
      self.pending_detail_ = "a header field value is folded over several lines (obs-fold)";
      return -1;
    }
    while (!h.second.empty() && (h.second.back() == ' ' || h.second.back() == '\t')) h.second.pop_back();
    lower(h.first);
    hosts += h.first == "host";
  }
  if (p->http_major != 1) {
    self.pending_error_ = parse_error::bad_version;
    return -1;
  }
  // RFC 9112 3.2: an HTTP/1.1 request has exactly one Host; none twice ever.
  if (hosts > 1 || (hosts == 0 && p->http_minor >= 1)) {
    self.pending_error_ = parse_error::malformed;
    self.pending_detail_ = hosts ? "the request has more than one Host header" : "an HTTP/1.1 request needs a Host header";
    return -1;
  }
  req.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  self.body_limit_ = self.limit_ ? self.limit_(req) : 0;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > self.body_limit_) {
    self.pending_error_ = parse_error::body_too_large;
    return -1;
  }
  auto expect = req.header_value("expect");
  bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
  self.expect_continue_ = has_body && expect.size() == 12 &&
                          std::equal(expect.begin(), expect.end(), "100-continue",
                                     [](char a, char b) { return std::tolower(a) == b; });
  return 0;
}

int request_parser::on_body(llhttp_t* p, const char* at, size_t len) {
  auto& self = self_of(p);
  auto& req = self.current_.req;
  self.body_bytes_ += len;
  if (self.body_bytes_ > self.body_limit_) {
    self.pending_error_ = parse_error::body_too_large;
    return -1;  // an upload's file goes with the request (its destructor removes it)
  }
  if (req.upload) req.upload->write(at, len);
  else req.body.append(at, len);
  return 0;
}

int request_parser::on_message_complete(llhttp_t* p) {
  auto& self = self_of(p);
  if (self.current_.req.upload) self.current_.req.upload->finish();
  self.in_message_ = false;
  self.expect_continue_ = false;
  self.message_complete_ = true;
  return HPE_PAUSED;
}

} // namespace crm::http
