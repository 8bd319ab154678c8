// actors/api/attachments_api.cpp: the attachment references of a record
// (POST and GET /api/v1/{entity}/{id}/attachments). The content itself is
// the content pipeline's (Block 7, docs/CONTENT.md): only a `safe` item of
// the same tenant can be attached (the insert says so itself, so nothing
// else can slip in between the check and the write); attaching is audited
// (trigger) and an event.
#include "actors/api/handlers.hpp"
#include "actors/api/idempotency.hpp"
#include "actors/api/records.hpp"
#include "actors/core/random.hpp"
#include "protocols/uuid.hpp"
#include "storage/sql/content_sql.hpp"
#include "storage/sql/entity_sql.hpp"
#include "storage/sql/idempotency_sql.hpp"

namespace crm::actors {

using storage::entity_op;
using storage::entity_statement;
using storage::pg_query;

namespace {

void write_attachment(protocols::json_writer& w, const storage::pg_rows& rows, size_t i) {
  static constexpr const char* names[] = {"id", "entity", "entity_id", "content_id", "created_by", "created_at"};
  w.begin_object();
  for (size_t k = 0; k < std::size(names); ++k) {
    const auto& v = rows.rows.at(i).at(k);
    w.key(names[k]);
    v ? w.string(*v) : w.null();
  }
  w.end_object();
}

void answer_attachment(const route_context& c, const storage::pg_rows& rows) {
  protocols::json_writer w;
  w.begin_object().key("data");
  write_attachment(w, rows, 0);
  w.end_object();
  c.reply_json(201, std::move(w).str());
}

} // namespace

void attach(route_context c) {
  auto& body = *c.body;
  body.allow_only("", {"content_id"});
  auto content = body.string("content_id", {true, 1, 36});
  if (content && !protocols::is_uuid(*content))
    body.add_error("content_id", "format", "content_id must be the UUID of a content item");
  if (!body.errors().empty()) return c.fail_validation();
  auto content_id = protocols::ascii_lower(*content);
  auto id = new_uuid();
  pg_query probe{entity_statement(entity_op::probe, c.entity()), {c.who.tenant_id, c.param}, true};
  pg_query item{storage::stmt_content_get, {c.who.tenant_id, content_id}, true};
  pg_query insert{entity_statement(entity_op::attach, c.entity()), {c.who.tenant_id, id, c.param, content_id, c.who.user_id},
                  true};
  std::vector<pg_query> queries{write_context_of(c, c.idem ? c.entity().path + "/" + c.param + "/attachments/" + id : ""),
                                std::move(probe), std::move(item), std::move(insert)};
  if (c.idem)  // an attach that inserted nothing keeps no key: a retry once the content is safe runs again
    queries.push_back({storage::stmt_idem_unless_attached, {c.who.tenant_id, c.who.user_id, c.idem->key, id}, true});
  run_records(c, std::move(queries), false, [c](std::vector<storage::pg_rows>& sets) {
    if (c.idem && sets.at(3).rows.empty()) c.idem->committed = false;  // nothing written, no key: no stored answer
    if (sets.at(1).rows.empty()) return c.fail(record_not_found(c.entity()));
    if (!sets.at(3).rows.empty()) return answer_attachment(c, sets[3]);  // the insert (safe in its own snapshot) decides
    const auto& item = sets.at(2);
    if (item.rows.empty())
      return c.fail(protocols::validation_error_of("content_id", "not_found", "content_id names no content item of this tenant"));
    auto status = item.cell(0, storage::ci_status);
    if (status == "rejected")
      return c.fail(protocols::error_of(protocols::errc::content_rejected, "the content was rejected and cannot be attached"));
    if (status != "safe")
      return c.fail(protocols::error_of(protocols::errc::content_not_ready, "the content is " + status + "; attach it once it is safe"));
    c.fail(record_not_found(c.entity()));  // deleted between the statements
  });
}

void rebuild_attachment(const route_context& c, const std::string& id) {
  pg_query one{entity_statement(entity_op::attachment, c.entity()), {c.who.tenant_id, c.param, id}, true};
  run_records(c, {std::move(one)}, false, [c](std::vector<storage::pg_rows>& sets) {
    if (sets.at(0).rows.empty())
      return c.fail(protocols::error_of(protocols::errc::resource_not_found, "the attachment this key wrote has been removed since"));
    answer_attachment(c, sets[0]);
  });
}

void list_attachments(route_context c) {
  pg_query probe{entity_statement(entity_op::probe, c.entity()), {c.who.tenant_id, c.param}, true};
  pg_query list{entity_statement(entity_op::attachments, c.entity()), {c.who.tenant_id, c.param}, true};
  run_records(c, {std::move(probe), std::move(list)}, false, [c](std::vector<storage::pg_rows>& sets) {
    if (sets.at(0).rows.empty()) return c.fail(record_not_found(c.entity()));
    protocols::json_writer w;
    w.begin_object().key("data").begin_array();
    for (size_t i = 0; i < sets.at(1).rows.size(); ++i) write_attachment(w, sets[1], i);
    w.end_array().end_object();
    c.reply_json(200, std::move(w).str());
  });
}

} // namespace crm::actors
