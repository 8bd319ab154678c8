#include "protocols/permissions.hpp"

#include <algorithm>

namespace crm::protocols {
namespace {

std::vector<std::string> entity_permissions(std::initializer_list<std::string_view> actions) {
  std::vector<std::string> out;
  for (auto e : crm_entities)
    for (auto a : actions) out.push_back(std::string{e} + ":" + std::string{a});
  return out;
}

std::vector<role_definition> make_baseline() {
  auto admin = entity_permissions({"read", "write", "delete"});
  for (auto p : {"users:manage", "profiles:manage", "audit:read", "guard:manage", "content:upload", "content:manage"})
    admin.emplace_back(p);
  auto manager = entity_permissions({"read", "write", "delete"});
  manager.emplace_back("audit:read");
  manager.emplace_back("content:upload");
  std::vector<std::string> sales = {"customers:read", "customers:write", "deals:read", "deals:write",
                                    "products:read",  "warehouses:read", "price-lists:read",
                                    "content:upload"};
  return {{"admin", admin}, {"manager", manager}, {"sales", sales},
          {"viewer", entity_permissions({"read"})}};
}

} // namespace

const std::vector<role_definition>& baseline_roles() {
  static const auto roles = make_baseline();
  return roles;
}

bool has_permission(const std::vector<std::string>& permissions, std::string_view permission) {
  return std::find(permissions.begin(), permissions.end(), permission) != permissions.end();
}

} // namespace crm::protocols
