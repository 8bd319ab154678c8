#include "protocols/json_body.hpp"

#include "protocols/errc.hpp"
#include "protocols/json_writer.hpp"

#include <simdjson.h>

#include <algorithm>

namespace crm::protocols {

struct json_body::impl {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
};

namespace {

size_t utf8_length(std::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// An array index step ("items.3"): digits only, no leading zero.
bool index_of(std::string_view key, size_t& index) {
  if (key.empty() || key.size() > 9 || (key.size() > 1 && key[0] == '0')) return false;
  index = 0;
  for (char c : key) {
    if (c < '0' || c > '9') return false;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return true;
}

// Walks "a.b.c" (or "a.3.c" into arrays) from `root`; false when a step is missing.
bool lookup(simdjson::dom::element root, std::string_view path, simdjson::dom::element& out) {
  out = root;
  while (!path.empty()) {
    auto dot = path.find('.');
    auto key = path.substr(0, dot);
    simdjson::dom::array arr;
    size_t index = 0;
    if (!out.get_array().get(arr)) {
      if (!index_of(key, index) || arr.at(index).get(out)) return false;
      path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
      continue;
    }
    simdjson::dom::object obj;
    if (out.get_object().get(obj)) return false;
    if (obj[key].get(out)) return false;
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  }
  return true;
}

} // namespace

json_body::json_body(std::string_view body) : impl_(std::make_unique<impl>()) {
  auto err = impl_->parser.parse(body.data(), body.size()).get(impl_->root);
  if (err) {
    malformed_detail_ = err == simdjson::UTF8_ERROR ? "the body is not valid UTF-8"
                                                    : "the body is not valid JSON";
    return;
  }
  if (!impl_->root.is_object()) {
    malformed_detail_ = "the body must be a JSON object";
    return;
  }
  ok_ = true;
}

json_body::~json_body() = default;

caf::error json_body::malformed_error() const {
  return error_of(errc::request_malformed_json, malformed_detail_);
}

void json_body::add_error(std::string field, std::string code, std::string detail) {
  errors_.push_back({std::move(field), std::move(code), std::move(detail)});
}

std::optional<std::string> json_body::string(std::string_view path, string_rule rule) {
  std::string field{path};
  simdjson::dom::element el;
  if (!ok_ || !lookup(impl_->root, path, el) || el.is_null()) {
    if (rule.required) add_error(field, "required", field + " is required");
    return std::nullopt;
  }
  std::string_view v;
  if (el.get_string().get(v)) {
    add_error(field, "type", field + " must be a string");
    return std::nullopt;
  }
  // "\u0000" is valid JSON, but no stored text may hold it: PostgreSQL
  // refuses it and C strings end at it (issue 9: what was validated must be
  // what is stored).
  if (v.find('\0') != std::string_view::npos) {
    add_error(field, "format", field + " must not contain a NUL character");
    nul_seen_ = true;
    return std::nullopt;
  }
  size_t length = utf8_length(v);
  if (length > rule.max_length || v.size() > 4 * rule.max_length) {
    add_error(field, "too_long", field + " is longer than " + std::to_string(rule.max_length) + " characters");
    return std::nullopt;
  }
  if (length < rule.min_length) {
    add_error(field, "too_short", field + " is shorter than " + std::to_string(rule.min_length) + " characters");
    return std::nullopt;
  }
  return std::string{v};
}

std::optional<bool> json_body::boolean(std::string_view path, bool required) {
  std::string field{path};
  simdjson::dom::element el;
  if (!ok_ || !lookup(impl_->root, path, el) || el.is_null()) {
    if (required) add_error(field, "required", field + " is required");
    return std::nullopt;
  }
  bool v = false;
  if (el.get_bool().get(v)) {
    add_error(field, "type", field + " must be true or false");
    return std::nullopt;
  }
  return v;
}

std::optional<int64_t> json_body::integer(std::string_view path, bool required, int64_t min, int64_t max) {
  std::string field{path};
  simdjson::dom::element el;
  if (!ok_ || !lookup(impl_->root, path, el) || el.is_null()) {
    if (required) add_error(field, "required", field + " is required");
    return std::nullopt;
  }
  int64_t v = 0;
  if (!el.is_int64() || el.get_int64().get(v)) {
    add_error(field, "type", field + " must be a whole number");
    return std::nullopt;
  }
  if (v < min || v > max) {
    add_error(field, "range", field + " must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<size_t> json_body::array(std::string_view path, bool required, size_t max_items) {
  std::string field{path};
  simdjson::dom::element el;
  if (!ok_ || !lookup(impl_->root, path, el) || el.is_null()) {
    if (required) add_error(field, "required", field + " is required");
    return std::nullopt;
  }
  simdjson::dom::array arr;
  if (el.get_array().get(arr)) {
    add_error(field, "type", field + " must be an array");
    return std::nullopt;
  }
  if (arr.size() > max_items) {
    add_error(field, "too_long", field + " has more than " + std::to_string(max_items) + " items");
    return std::nullopt;
  }
  return arr.size();
}

bool json_body::has(std::string_view path) const {
  simdjson::dom::element el;
  return ok_ && lookup(impl_->root, path, el);
}

bool json_body::is_null(std::string_view path) const {
  simdjson::dom::element el;
  return ok_ && lookup(impl_->root, path, el) && el.is_null();
}

bool json_body::is_object(std::string_view path) const {
  simdjson::dom::element el;
  return ok_ && lookup(impl_->root, path, el) && el.is_object();
}

std::vector<std::string> json_body::keys(std::string_view prefix) const {
  std::vector<std::string> out;
  simdjson::dom::element el;
  simdjson::dom::object obj;
  if (!ok_ || !lookup(impl_->root, prefix, el) || el.get_object().get(obj)) return out;
  for (auto member : obj) out.emplace_back(member.key);
  return out;
}

void json_body::allow_only(std::string_view prefix, std::initializer_list<std::string_view> allowed) {
  if (!ok_) return;
  simdjson::dom::element el;
  if (!lookup(impl_->root, prefix, el)) return;  // absent: "required" is reported by the reader
  simdjson::dom::object obj;
  if (el.get_object().get(obj)) {
    add_error(std::string{prefix}, "type", std::string{prefix} + " must be an object");
    return;
  }
  for (auto member : obj) {
    if (std::find(allowed.begin(), allowed.end(), member.key) != allowed.end()) continue;
    add_error(member_field(prefix, member.key), "unknown", "unknown field");
  }
}

std::string member_field(std::string_view prefix, std::string_view key, size_t max_bytes) {
  std::string field = prefix.empty() ? std::string{key} : std::string{prefix} + "." + std::string{key};
  bool printable = std::none_of(field.begin(), field.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  if (printable && field.size() <= max_bytes && is_valid_utf8(field)) return field;
  return prefix.empty() ? std::string{"(member)"} : std::string{prefix} + ".(member)";
}

caf::error json_body::validation_error() const {
  std::string detail = errors_.size() == 1 ? errors_.front().detail
                                           : std::to_string(errors_.size()) + " fields are invalid";
  return caf::make_error(errc::request_validation, std::move(detail), field_errors_json(errors_));
}

caf::error validation_error_of(std::string field, std::string code, std::string detail) {
  return caf::make_error(errc::request_validation, detail,
                         field_errors_json({{std::move(field), std::move(code), detail}}));
}

std::string field_errors_json(const std::vector<field_error>& errors) {
  json_writer w;
  w.begin_array();
  for (const auto& e : errors)
    w.begin_object().key("field").string(e.field).key("code").string(e.code).key("detail").string(e.detail).end_object();
  w.end_array();
  return std::move(w).str();
}

bool is_plausible_email(std::string_view email) {
  if (email.empty() || email.size() > 254) return false;
  auto at = email.find('@');
  if (at == 0 || at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos)
    return false;
  auto domain = email.substr(at + 1);
  if (domain.empty() || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
      domain.back() == '.')
    return false;
  return std::none_of(email.begin(), email.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; });
}

std::string ascii_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

} // namespace crm::protocols
