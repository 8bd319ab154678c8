// protocols/router.hpp
// Route matching for the front actor: method + path against a table of
// patterns such as "/api/v1/{entity}/{id}". Literal segments match exactly,
// "{name}" matches one non-empty segment and is captured. A path that matches
// some pattern but not the method answers 405 with the allowed methods; GET
// routes also answer HEAD. Pure; built once at start-up, read-only after.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm::protocols {

enum class listener : uint8_t { public_api, admin };

struct entity_def;  // protocols/entity.hpp

// Who may call a route: anyone, the platform operator (NEXTCRM_PLATFORM_TOKEN)
// or a user with a live session (and the route's permission).
enum class route_auth : uint8_t { none, platform, session };

// What a route reads from the request body: nothing (any body is ignored),
// a JSON object, a JSON object or JSON merge patch, or JSON text handed to
// the handler unparsed (the query planner parses its own), or a file
// upload streamed to disk as it arrives (raw or multipart/form-data).
enum class body_media : uint8_t { none, json, json_or_merge_patch, json_text, upload };

struct route {
  std::string method;       // "GET", "POST", ...
  std::string pattern;      // "/api/v1/{entity}/{id}"; also the metrics/log label
  int id = 0;               // handler id, chosen by the caller
  size_t body_limit = 0;    // largest request body accepted, in bytes
  listener where = listener::public_api;
  std::string permission{};  // what the caller's role needs ("customers:read"); "" = no RBAC check
  const entity_def* entity = nullptr;  // the entity the route serves, if any
  route_auth auth = route_auth::none;
  body_media media = body_media::none;
};

struct route_match {
  enum class outcome : uint8_t { found, not_found, method_not_allowed } result = outcome::not_found;
  const route* matched = nullptr;
  std::vector<std::pair<std::string, std::string>> params;  // {name} -> segment
  std::string allow;  // for method_not_allowed: "GET, HEAD, POST"

  // The captured segment `name`, or "" if there is none.
  std::string_view param(std::string_view name) const;
};

class router {
public:
  // Requires: no two routes with the same method and pattern on one listener.
  void add(route r);

  // Matches `path` (without the query string) for `method` on `where`.
  route_match match(std::string_view method, std::string_view path, listener where) const;

  // The largest body accepted for `method` + `path`: the matched route's
  // limit, or `fallback` when nothing matches (the request ends in 404/405
  // anyway, so a small fallback keeps unknown paths cheap).
  size_t body_limit(std::string_view method, std::string_view path, listener where,
                    size_t fallback) const;

  const std::vector<route>& routes() const { return routes_; }

private:
  struct compiled {
    route r;
    std::vector<std::string> segments;  // "{x}" kept as-is
  };
  static bool matches(const compiled& c, const std::vector<std::string_view>& segs,
                      std::vector<std::pair<std::string, std::string>>* params);
  std::vector<compiled> compiled_;
  std::vector<route> routes_;
};

// Splits "/a/b/c" into {"a","b","c"}; "/" gives {} and "/a//b" keeps the empty segment.
std::vector<std::string_view> split_path(std::string_view path);

} // namespace crm::protocols
