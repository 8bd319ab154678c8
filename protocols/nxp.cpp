#include "protocols/nxp.hpp"

#include "protocols/json_body.hpp"
#include "protocols/uuid.hpp"

namespace crm::protocols {

std::optional<nxp_signal> signal_of(std::string_view envelope) {
  json_body body{envelope};
  if (!body.ok()) return std::nullopt;
  constexpr string_rule any_id{false, 1, 64};
  auto type = body.string("type", {false, 1, 200});
  auto tenant = body.string("tenantid", any_id);
  if (!type || !tenant || !is_uuid(*tenant)) return std::nullopt;
  nxp_signal out;
  out.tenant = *tenant;
  if (*type == "crm.session.revoked") {
    auto id = body.string("data.id", any_id);
    auto user = body.string("data.user_id", any_id);
    if (!id || !user || !is_uuid(*id) || !is_uuid(*user)) return std::nullopt;
    out.what = nxp_signal::kind::session_revoked;
    out.id = *id;
    out.user_id = *user;
    return out;
  }
  if (*type == "crm.user.locked" || *type == "crm.user.unlocked" || *type == "crm.user.updated") {
    auto id = body.string("data.id", any_id);
    if (!id || !is_uuid(*id)) return std::nullopt;
    out.what = nxp_signal::kind::user_changed;
    out.id = *id;
    return out;
  }
  if (*type == "crm.access_profile.created" || *type == "crm.access_profile.updated") {
    out.what = nxp_signal::kind::profiles_changed;
    return out;
  }
  if (type->rfind("crm.guard_budget.", 0) == 0 || type->rfind("crm.guard_honeytoken.", 0) == 0) {
    out.what = nxp_signal::kind::guard_changed;
    return out;
  }
  return std::nullopt;
}

} // namespace crm::protocols
