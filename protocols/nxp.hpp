// protocols/nxp.hpp
// What a node must apply of an NXP envelope (docs/protocols/NXP-ENVELOPE.md)
// to its own live state: a revoked session, a locked or changed user, a
// changed access profile. Every node tails the stream for these (the
// cross-node signals of Block 8). Pure.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace crm::protocols {

struct nxp_signal {
  enum class kind : uint8_t { session_revoked, user_changed, profiles_changed, guard_changed } what = kind::user_changed;
  std::string tenant;   // tenantid
  std::string id;       // session id (session_revoked) or user id (user_changed)
  std::string user_id;  // session_revoked: the session's user
};

// The signal an envelope carries, or nullopt for every other type (and for
// anything that is not a well-formed envelope of those types).
std::optional<nxp_signal> signal_of(std::string_view envelope);

} // namespace crm::protocols
