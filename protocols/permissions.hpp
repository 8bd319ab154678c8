// protocols/permissions.hpp
// Permission names and the baseline roles every tenant starts with, as
// docs/openapi.yaml (GET /api/v1/roles) pins them. Pure data.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

// The CRM entities whose permissions are <entity>:read|write|delete.
inline constexpr std::string_view crm_entities[] = {"customers", "deals", "products", "warehouses",
                                                    "price-lists"};

struct role_definition {
  std::string name;
  std::vector<std::string> permissions;
};

// admin, manager, sales, viewer.
const std::vector<role_definition>& baseline_roles();

// True if `permissions` grants `permission`.
bool has_permission(const std::vector<std::string>& permissions, std::string_view permission);

} // namespace crm::protocols
