#include "actors/api/identity_bodies.hpp"

#include "actors/api/api.hpp"
#include "protocols/access_profile.hpp"
#include "protocols/password.hpp"
#include "protocols/uuid.hpp"

#include <regex>

namespace crm::actors {

namespace {

const std::regex slug_pattern{"^[a-z0-9][a-z0-9-]{1,62}$"};

// An email field (3-254 characters, plausible form); records the errors.
std::optional<std::string> read_email(protocols::json_body& body, std::string_view path, bool required) {
  auto v = body.string(path, {required, 3, 254});
  if (v && !protocols::is_plausible_email(*v))
    body.add_error(std::string{path}, "format", std::string{path} + " is not an email address");
  return v;
}

// A password being set: the policy (12 characters to 1024 bytes) applies.
std::optional<std::string> read_new_password(protocols::json_body& body, std::string_view path, bool required) {
  auto v = body.string(path, {required, 1, protocols::password_max_bytes});
  if (v)
    if (auto why = protocols::password_policy_violation(*v)) body.add_error(std::string{path}, "policy", *why);
  return v;
}

} // namespace

std::optional<tenant_draft> read_tenant_draft(protocols::json_body& body) {
  body.allow_only("", {"slug", "name", "admin"});
  body.allow_only("admin", {"email", "password"});
  auto slug = body.string("slug", {true, 2, 63});
  if (slug && !std::regex_match(*slug, slug_pattern))
    body.add_error("slug", "format", "slug must be lower-case letters, digits and '-'");
  auto name = body.string("name", {true, 1, 200});
  auto email = read_email(body, "admin.email", true);
  auto password = read_new_password(body, "admin.password", true);
  if (!body.errors().empty()) return std::nullopt;
  return tenant_draft{*slug, *name, *email, *password, {}};
}

std::optional<user_draft> read_user(protocols::json_body& body, bool create) {
  body.allow_only("", {"email", "password", "role", "access_profile"});
  user_draft d;
  if (auto v = read_email(body, "email", create)) {
    d.email = *v;
    d.has_email = true;
  }
  if (auto v = read_new_password(body, "password", create)) {
    d.password = *v;
    d.has_password = true;
  }
  if (auto v = body.string("role", {create, 1, 40})) {
    d.role = *v;
    d.has_role = true;
  }
  if (auto v = body.string("access_profile", {false, 1, 40})) {
    d.access_profile = *v;
    d.has_profile = true;
  } else if (create && body.errors().empty()) {
    d.access_profile = protocols::default_profile_for_role(d.role);
    d.has_profile = true;
  }
  if (!create && !d.has_email && !d.has_password && !d.has_role && !d.has_profile && body.errors().empty())
    body.add_error("", "required", "send at least one of email, password, role, access_profile");
  if (!body.errors().empty()) return std::nullopt;
  return d;
}

} // namespace crm::actors
