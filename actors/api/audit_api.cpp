// actors/api/audit_api.cpp: GET /api/v1/audit-logs (audit:read), the newest
// entries first, filtered by entity and record; each entry's `changes`
// keep only the fields the reader's profile may read. The audit query
// (POST /api/v1/audit-logs/query) is the query DSL's: query_api.cpp.
#include "actors/api/handlers.hpp"
#include "actors/api/records.hpp"
#include "protocols/hex.hpp"
#include "protocols/uuid.hpp"
#include "storage/sql/entity_sql.hpp"

#include <charconv>

namespace crm::actors {

namespace {

// The decoded value of `name` in a query string ("a=1&b=x%20y"), or nullopt.
std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    auto raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') out += ' ';
      else if (raw[i] == '%' && i + 2 < raw.size() && protocols::hex_digit(raw[i + 1]) >= 0 &&
               protocols::hex_digit(raw[i + 2]) >= 0) {
        out += static_cast<char>(protocols::hex_digit(raw[i + 1]) * 16 + protocols::hex_digit(raw[i + 2]));
        i += 2;
      } else out += raw[i];
    }
    return out;
  }
  return std::nullopt;
}

} // namespace

void list_audit(route_context c) {
  protocols::json_body errors{"{}"};
  const auto& query = c.req().query;
  std::optional<std::string> entity, entity_id;
  std::string limit = "50";
  if (auto v = query_param(query, "entity")) {
    if (!protocols::entity_by_path(*v)) errors.add_error("entity", "choice", "entity must name a CRM entity");
    entity = std::move(*v);
  }
  if (auto v = query_param(query, "entity_id")) {
    if (!protocols::is_uuid(*v)) errors.add_error("entity_id", "format", "entity_id must be a UUID");
    entity_id = protocols::ascii_lower(*v);
  }
  if (auto v = query_param(query, "limit")) {
    int n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || end != v->data() + v->size() || n < 1 || n > 200)
      errors.add_error("limit", "range", "limit must be an integer from 1 to 200");
    limit = *v;
  }
  if (!errors.errors().empty()) return c.fail(errors.validation_error());
  // The reader's profile decides which fields' from/to values it may see.
  auto readable = protocols::pg_array_literal(profile_of(c.who).readable_paths());
  storage::pg_query list{storage::stmt_audit_list, {c.who.tenant_id, readable, entity, entity_id, limit}, true};
  c.ask(
      c.storage(), c.timeout(),
      [c](db_result& res) {
        static constexpr const char* names[] = {"id",        "at",     "actor_user_id", "entity",
                                                "entity_id", "action", "changes",       "trace_id"};
        protocols::json_writer w;
        w.begin_object().key("data").begin_array();
        for (const auto& row : res.sets.at(0).rows) {
          w.begin_object();
          for (size_t k = 0; k < std::size(names); ++k) {
            w.key(names[k]);
            if (!row.at(k)) w.null();
            else if (k == 6) w.raw(*row[k]);
            else w.string(*row[k]);
          }
          w.end_object();
        }
        w.end_array().end_object();
        c.reply_json(200, std::move(w).str());
      },
      db_atom::value, db_request{c.who.tenant_id, {std::move(list)}});
}

} // namespace crm::actors
