// protocols/webhook.hpp
// The pure parts of the webhook connector (Block 8, ADR-0047): the Standard
// Webhooks signature, secrets, event patterns, target URLs and which
// addresses they may reach, retry delays, and the event data a subscriber
// may see (its owner's access profile). Pure.
#pragma once
#include "protocols/access_profile.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

// "whsec_<base64>" -> the key bytes (at least 16, at most 64); nullopt else.
std::optional<std::string> webhook_key(std::string_view secret);

// "v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>" (Standard Webhooks).
std::string webhook_signature(std::string_view key, std::string_view id, int64_t timestamp, std::string_view body);

// An event pattern a subscription may name: a type "crm.customer.created" or
// a trailing wildcard on the action "crm.deal.*".
bool is_event_pattern(std::string_view pattern);
bool event_matches(std::string_view pattern, std::string_view type);

struct webhook_target {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case; an IPv6 literal without brackets
  uint16_t port = 0;
};

// The target of an http(s) URL without credentials; nullopt for anything else.
std::optional<webhook_target> parse_webhook_url(std::string_view url);

// NEXTCRM_WEBHOOK_ALLOW_HOSTS: comma-separated host names and addresses.
struct webhook_allowlist {
  std::vector<std::string> hosts;  // lower case
  static webhook_allowlist parse(std::string_view text);
  bool allows_host(std::string_view host) const;
  // An address the target resolved to: public ones are fine for an allowed
  // host; loopback, private, link-local, unspecified and multicast ones only
  // when the address itself is listed (so a listed name cannot be pointed at
  // an internal service).
  bool allows_address(std::string_view address) const;
};

// True for loopback, RFC 1918 / ULA private, link-local, CGNAT, unspecified,
// multicast and reserved addresses (IPv4 and IPv6, IPv4-mapped included).
bool is_internal_address(std::string_view address);

// The pause before attempt `attempt` (2 = the first retry): base * 2^(n-2),
// capped at `cap`, times a jitter factor in [0.5, 1.5) from `jitter` in [0, 1).
std::chrono::milliseconds webhook_retry_delay(int attempt, std::chrono::milliseconds base,
                                              std::chrono::milliseconds cap, double jitter);

// The permission a subscriber's owner needs for events of `type` (role-based,
// checked at delivery): "<entity path>:read" for a CRM entity's events,
// "users:manage" for users, sessions and tenants, "profiles:manage" for
// access profiles; "" for a type nobody may receive.
std::string permission_for_event(std::string_view type);

// The envelope `envelope` as subscriber whose profile is `profile` may see it:
// for events of a CRM entity (subject "<entity path>/<id>"), `data` keeps only
// the fields the profile can read (the id always); other events pass
// unchanged. nullopt when the envelope is not a JSON object.
std::optional<std::string> shape_for_subscriber(std::string_view envelope, const access_profile& profile);

} // namespace crm::protocols
