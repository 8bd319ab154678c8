#include "protocols/webhook.hpp"

#include "protocols/base64.hpp"
#include "protocols/entity.hpp"
#include "protocols/json_body.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/jwt.hpp"

#include <arpa/inet.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace crm::protocols {

std::optional<std::string> webhook_key(std::string_view secret) {
  constexpr std::string_view prefix = "whsec_";
  if (secret.substr(0, prefix.size()) != prefix) return std::nullopt;
  auto key = base64_decode(secret.substr(prefix.size()));
  if (!key || key->size() < 16 || key->size() > 64) return std::nullopt;
  return key;
}

std::string webhook_signature(std::string_view key, std::string_view id, int64_t timestamp, std::string_view body) {
  std::string signed_text;
  signed_text.reserve(id.size() + body.size() + 24);
  signed_text.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  return "v1," + base64_encode(hmac_sha256(key, signed_text));
}

namespace {

bool is_word(std::string_view s) {
  return !s.empty() && s.size() <= 40 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

} // namespace

bool is_event_pattern(std::string_view p) {
  // the areas of NXP event types: crm.* (records, identity, guard), content.* (the pipeline)
  if (p.substr(0, 4) == "crm.") p.remove_prefix(4);
  else if (p.substr(0, 8) == "content.") p.remove_prefix(8);
  else return false;
  auto dot = p.find('.');
  if (dot == std::string_view::npos) return false;
  auto entity = p.substr(0, dot), action = p.substr(dot + 1);
  return is_word(entity) && (action == "*" || is_word(action));
}

bool event_matches(std::string_view pattern, std::string_view type) {
  if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == ".*")
    return type.size() > pattern.size() - 1 && type.substr(0, pattern.size() - 1) == pattern.substr(0, pattern.size() - 1);
  return pattern == type;
}

std::optional<webhook_target> parse_webhook_url(std::string_view url) {
  webhook_target t;
  if (url.size() > 2048) return std::nullopt;
  for (char c : url)
    if (static_cast<unsigned char>(c) <= ' ' || c == 127) return std::nullopt;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  t.scheme = ascii_lower(url.substr(0, sep));
  if (t.scheme != "http" && t.scheme != "https") return std::nullopt;
  auto rest = url.substr(sep + 3);
  auto authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;  // no credentials
  std::string_view host = authority, port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host.size() > 253) return std::nullopt;
  t.host = ascii_lower(host);
  t.port = t.scheme == "https" ? 443 : 80;
  if (!port.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535) return std::nullopt;
    t.port = static_cast<uint16_t>(p);
  }
  return t;
}

webhook_allowlist webhook_allowlist::parse(std::string_view text) {
  webhook_allowlist out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.size() > 2 && item.front() == '[' && item.back() == ']') item = item.substr(1, item.size() - 2);
    if (!item.empty()) out.hosts.push_back(ascii_lower(item));
  }
  return out;
}

bool webhook_allowlist::allows_host(std::string_view host) const {
  return std::find(hosts.begin(), hosts.end(), ascii_lower(host)) != hosts.end();
}

bool webhook_allowlist::allows_address(std::string_view address) const {
  return !is_internal_address(address) || allows_host(address);
}

bool is_internal_address(std::string_view address) {
  std::string text{address};
  in_addr v4{};
  in6_addr v6{};
  auto internal_v4 = [](uint32_t a) {
    uint8_t b0 = a >> 24, b1 = (a >> 16) & 0xff;
    return b0 == 0 || b0 == 10 || b0 == 127 || (b0 == 169 && b1 == 254) || (b0 == 172 && (b1 & 0xf0) == 16) ||
           (b0 == 192 && b1 == 168) || (b0 == 100 && (b1 & 0xc0) == 64) || b0 >= 224 ||
           (b0 == 192 && b1 == 0 && ((a >> 8) & 0xff) == 0) || (b0 == 198 && (b1 & 0xfe) == 18);
  };
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return internal_v4(ntohl(v4.s_addr));
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return true;  // not an address: never "public"
  const uint8_t* b = v6.s6_addr;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, mapped, 12) == 0)
    return internal_v4(uint32_t{b[12]} << 24 | uint32_t{b[13]} << 16 | uint32_t{b[14]} << 8 | b[15]);
  bool zero_prefix = std::all_of(b, b + 15, [](uint8_t x) { return x == 0; });
  if (zero_prefix && (b[15] == 0 || b[15] == 1)) return true;  // :: and ::1
  if ((b[0] & 0xfe) == 0xfc) return true;                      // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;      // fe80::/10 link-local
  if (b[0] == 0xff) return true;                               // multicast
  return false;
}

std::chrono::milliseconds webhook_retry_delay(int attempt, std::chrono::milliseconds base,
                                              std::chrono::milliseconds cap, double jitter) {
  double exp = std::pow(2.0, std::max(0, attempt - 2));
  double ms = std::min(static_cast<double>(base.count()) * exp, static_cast<double>(cap.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(ms * (0.5 + std::clamp(jitter, 0.0, 0.999999))));
}

std::string permission_for_event(std::string_view type) {
  if (type.substr(0, 13) == "content.item.") return "content:upload";
  if (type.substr(0, 17) == "content.settings.") return "content:manage";
  if (type.substr(0, 4) != "crm.") return {};
  auto rest = type.substr(4);
  auto singular = rest.substr(0, rest.find('.'));
  for (const auto& e : entity_registry())
    if (e.table.size() == singular.size() + 1 && e.table.compare(0, singular.size(), singular) == 0)
      return e.path + ":read";
  if (singular == "user" || singular == "session" || singular == "tenant") return "users:manage";
  if (singular == "access_profile") return "profiles:manage";
  return {};
}

std::optional<std::string> shape_for_subscriber(std::string_view envelope, const access_profile& profile) {
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(envelope.data(), envelope.size()).get(root)) return std::nullopt;
  std::string_view subject, type;
  if (root["subject"].get(subject)) subject = {};
  if (root["type"].get(type)) type = {};
  // a record's own events carry the record: shaped; others (attachments,
  // users, sessions, profiles) pass as they are
  auto action = type.substr(type.rfind('.') + 1);
  const entity_def* e = entity_by_path(subject.substr(0, subject.find('/')));
  if (action != "created" && action != "updated" && action != "deleted") e = nullptr;
  json_writer w;
  w.begin_object();
  for (auto [key, value] : root) {
    w.key(key);
    simdjson::dom::object data;
    if (key != "data" || !e || value.get(data)) {
      w.raw(simdjson::minify(value));
      continue;
    }
    w.begin_object();
    for (auto [name, v] : data) {
      int index = e->field_index(name);
      if (name != "id" && (index < 0 || !profile.can_read(*e, static_cast<size_t>(index)))) continue;
      w.key(name).raw(simdjson::minify(v));
    }
    w.end_object();
  }
  w.end_object();
  return std::move(w).str();
}

} // namespace crm::protocols
