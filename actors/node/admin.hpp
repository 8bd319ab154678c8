// actors/node/admin.hpp
// `nextcrm admin ...`: operator commands that run against PostgreSQL with
// the same actors and validation as the HTTP API, then exit.
#pragma once
#include "actors/node/config.hpp"

namespace crm::actors {

// `admin create-tenant --slug=S --name=N --admin-email=E`; the password
// comes from NEXTCRM_ADMIN_PASSWORD or the first line of stdin. Prints the
// created tenant as JSON ({"data":{...}}, as the API) on stdout and returns
// 0; prints a problem on stderr and returns 1 (bad input) or 2 (usage).
int run_admin(const config& cfg, log_sink& log);

} // namespace crm::actors
