// actors/api/identity_bodies.hpp
// The request bodies of the identity resources, validated field by field:
// every error is recorded in the body (one 422 lists them all). The tenant
// draft is declared in actors/api/api.hpp (the admin CLI reads it too).
#pragma once
#include "actors/identity/identity_messages.hpp"
#include "protocols/json_body.hpp"

#include <optional>

namespace crm::actors {

// A user body: every field for create, any subset (at least one) for PATCH.
std::optional<user_draft> read_user(protocols::json_body& body, bool create);

} // namespace crm::actors
