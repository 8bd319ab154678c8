#include "protocols/router.hpp"

#include <algorithm>

namespace crm::protocols {
namespace {

bool is_param(std::string_view seg) {
  return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
}

void add_allowed(std::string& allow, std::string_view method) {
  auto has = [&](std::string_view m) {
    size_t pos = 0;
    while ((pos = allow.find(m, pos)) != std::string::npos) {
      bool start = pos == 0 || allow[pos - 1] == ' ';
      bool end = pos + m.size() == allow.size() || allow[pos + m.size()] == ',';
      if (start && end) return true;
      pos += m.size();
    }
    return false;
  };
  if (has(method)) return;
  if (!allow.empty()) allow += ", ";
  allow += method;
}

} // namespace

std::string_view route_match::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segs;
  if (path.empty() || path == "/") return segs;
  if (path.front() == '/') path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    segs.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return segs;
}

void router::add(route r) {
  compiled c;
  for (auto seg : split_path(r.pattern)) c.segments.emplace_back(seg);
  c.r = r;
  compiled_.push_back(std::move(c));
  routes_.push_back(std::move(r));
}

bool router::matches(const compiled& c, const std::vector<std::string_view>& segs,
                     std::vector<std::pair<std::string, std::string>>* params) {
  if (c.segments.size() != segs.size()) return false;
  for (size_t i = 0; i < segs.size(); ++i) {
    const auto& pat = c.segments[i];
    if (is_param(pat)) {
      if (segs[i].empty()) return false;
    } else if (pat != segs[i]) {
      return false;
    }
  }
  if (params) {
    params->clear();
    for (size_t i = 0; i < segs.size(); ++i)
      if (is_param(c.segments[i]))
        params->emplace_back(c.segments[i].substr(1, c.segments[i].size() - 2), segs[i]);
  }
  return true;
}

route_match router::match(std::string_view method, std::string_view path, listener where) const {
  route_match m;
  // origin-form only: "api/v1/x" or an absolute URI is no path of ours
  if (path.empty() || path.front() != '/') return m;
  auto segs = split_path(path);
  // Literal segments beat parameters: prefer the candidate with the most literals.
  const compiled* best = nullptr;
  size_t best_literals = 0;
  for (const auto& c : compiled_) {
    if (c.r.where != where || !matches(c, segs, nullptr)) continue;
    bool method_ok = c.r.method == method || (method == "HEAD" && c.r.method == "GET");
    if (!method_ok) {
      add_allowed(m.allow, c.r.method);
      if (c.r.method == "GET") add_allowed(m.allow, "HEAD");
      continue;
    }
    size_t literals = static_cast<size_t>(std::count_if(
        c.segments.begin(), c.segments.end(), [](const std::string& s) { return !is_param(s); }));
    if (!best || literals > best_literals) {
      best = &c;
      best_literals = literals;
    }
  }
  if (best) {
    m.result = route_match::outcome::found;
    m.matched = &best->r;
    matches(*best, segs, &m.params);
    m.allow.clear();
  } else if (!m.allow.empty()) {
    m.result = route_match::outcome::method_not_allowed;
  }
  return m;
}

size_t router::body_limit(std::string_view method, std::string_view path, listener where,
                          size_t fallback) const {
  auto m = match(method, path, where);
  return m.result == route_match::outcome::found ? m.matched->body_limit : fallback;
}

} // namespace crm::protocols
