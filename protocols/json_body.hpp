// protocols/json_body.hpp
// Reading and validating a JSON request body. Syntax errors, invalid UTF-8
// and a top level that is not an object are request.malformed_json (400).
// Field problems are collected, all of them, and become one
// request.validation (422) whose problem lists
// `errors: [{"field","code","detail"}]`. Field paths are dotted
// ("admin.email"), array items by index ("items.0.price"). Pure.
#pragma once
#include <caf/error.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

struct field_error {
  std::string field;   // "admin.email"
  std::string code;    // "required", "type", "too_long", "too_short", "format", "unknown"
  std::string detail;  // for people; never echoes the value
};

struct string_rule {
  bool required = true;
  size_t min_length = 0;    // in characters (code points)
  size_t max_length = 256;  // in characters; strings are also capped at 4x bytes
};

class json_body {
public:
  // Parses `body` (it need not outlive the json_body).
  explicit json_body(std::string_view body);
  ~json_body();
  json_body(const json_body&) = delete;
  json_body& operator=(const json_body&) = delete;

  // False for malformed JSON; then malformed_error() describes it.
  bool ok() const { return ok_; }
  caf::error malformed_error() const;

  // The string at `path`; records "required", "type", "format" (it holds a
  // NUL character: refused everywhere), "too_short" or "too_long". Returns
  // nullopt when absent or invalid.
  std::optional<std::string> string(std::string_view path, string_rule rule = {});

  // The boolean at `path`; records "required" or "type".
  std::optional<bool> boolean(std::string_view path, bool required);
  // The whole number at `path` (JSON integer, no fraction or exponent) in
  // [min, max]; records "required", "type" or "range".
  std::optional<int64_t> integer(std::string_view path, bool required, int64_t min, int64_t max);
  // The length of the array at `path`; records "required", "type" or
  // "too_long" (more than `max_items`). Items are read with index paths:
  // string("items.0.price").
  std::optional<size_t> array(std::string_view path, bool required, size_t max_items);
  // True if `path` is present (null included) / present and JSON null.
  bool has(std::string_view path) const;
  bool is_null(std::string_view path) const;
  bool is_object(std::string_view path) const;
  // The member names of the object at `prefix` ("" = top level).
  std::vector<std::string> keys(std::string_view prefix = {}) const;

  // Records "unknown" for every member of the object at `prefix` ("" for
  // the top level) that is not in `allowed`, and "type" if it is no object.
  void allow_only(std::string_view prefix, std::initializer_list<std::string_view> allowed);

  void add_error(std::string field, std::string code, std::string detail);
  const std::vector<field_error>& errors() const { return errors_; }
  // True when a string read so far held a NUL character.
  bool nul_seen() const { return nul_seen_; }
  // request.validation carrying every recorded error (requires !errors().empty()).
  caf::error validation_error() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  bool ok_ = false;
  bool nul_seen_ = false;
  std::string malformed_detail_;
  std::vector<field_error> errors_;
};

// The name of member `key` under `prefix` ("" = top level) as a field error
// may echo it: "prefix.key" when that is valid UTF-8 without control
// characters and at most `max_bytes` long, else "prefix.(member)".
std::string member_field(std::string_view prefix, std::string_view key, size_t max_bytes = 128);

// request.validation for one field (a check made outside a body's reading,
// e.g. against the database or an actor's state).
caf::error validation_error_of(std::string field, std::string code, std::string detail);

// The JSON array `[{"field","code","detail"},...]` of `errors`.
std::string field_errors_json(const std::vector<field_error>& errors);

// Basic mailbox check: one '@', non-empty local part and a dotted domain,
// no spaces or control characters, at most 254 bytes.
bool is_plausible_email(std::string_view email);

// Lower-cases ASCII letters (emails compare case-insensitively).
std::string ascii_lower(std::string_view s);

} // namespace crm::protocols
