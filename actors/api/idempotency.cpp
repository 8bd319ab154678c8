#include "actors/api/idempotency.hpp"

#include "actors/api/handlers.hpp"
#include "actors/api/records.hpp"
#include "actors/api/route_table.hpp"
#include "protocols/idempotency.hpp"
#include "storage/sql/entity_sql.hpp"
#include "storage/sql/idempotency_sql.hpp"

#include <caf/all.hpp>

#include <atomic>

namespace crm::actors {

using protocols::errc;
using protocols::error_of;
using storage::pg_query;

namespace {

using next_fn = void (*)(route_context&&);

// Columns of stmt_idem_lookup.
enum : size_t { k_fingerprint, k_route, k_resource, k_status, k_headers, k_body, k_age_ms };

// How long a key may have no answer before its write is taken as orphaned
// (its node died between commit and answer): longer than any request lives.
std::chrono::milliseconds orphan_after(const route_context& c) {
  return std::max<std::chrono::milliseconds>(2 * c.timeout(), std::chrono::seconds(10));
}

// Expired keys go in batches, from whichever node records a key when ten
// minutes have passed since this node's last sweep.
void maybe_sweep(const route_context& c) {
  static std::atomic<int64_t> next_ms{0};
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now().time_since_epoch()).count();
  auto due = next_ms.load();
  if (now < due || !next_ms.compare_exchange_strong(due, now + 600'000)) return;
  auto storage = c.storage();
  if (!storage) return;
  c.self->request(storage, c.timeout(), db_atom::value,
                  db_request{{}, {pg_query{storage::stmt_idem_sweep_context, {}, true},
                                  pg_query{storage::stmt_idem_sweep, {}, true}}})
      .then([](db_result&) {}, [](caf::error&) {});
}

void replay(const route_context& c, const storage::pg_rows& rows) {
  http::response r;
  r.status = std::stoi(rows.cell(0, k_status));
  r.content_type.clear();
  for (auto& [name, value] : protocols::decode_headers(rows.cell(0, k_headers))) {
    if (protocols::ascii_lower(name) == "content-type") r.content_type = std::move(value);
    else r.headers.emplace_back(std::move(name), std::move(value));
  }
  r.body = rows.cell(0, k_body);
  r.headers.emplace_back("Idempotent-Replayed", "true");
  c.idem->stored = true;
  c.reply(std::move(r));
}

// The key's write committed and its answer is lost: the answer a GET gives
// now, with the write's status (201, 200, 204); stored like a first answer.
void rebuild(const route_context& c, const std::string& resource) {
  c.idem->committed = true;
  auto id = resource.substr(resource.rfind('/') + 1);  // every resource ends with the id of what was written
  if (c.row->id == route_attachments_create) return rebuild_attachment(c, id);
  if (c.row->id == route_webhooks_create) return rebuild_webhook(c, id);
  if (c.row->id == route_content_upload) return rebuild_upload(c, id);
  if (c.row->method == "DELETE") return c.no_content();
  int status = c.row->method == "POST" ? 201 : 200;
  pg_query select{storage::entity_statement(storage::entity_op::select, c.entity()), {c.who.tenant_id, id}, true};
  run_records(c, {std::move(select)}, false, [c, status](std::vector<storage::pg_rows>& sets) {
    if (sets.at(0).rows.empty())
      return c.fail(error_of(errc::resource_not_found, "the record this key wrote has been deleted since"));
    answer_record(c, status, sets[0]);
  });
}

caf::error in_progress() {
  return caf::make_error(errc::idempotency_in_progress, std::string{"a request with this key is in progress"},
                         std::string{"1"});  // Retry-After
}

// What a key already in the table means for this request.
void decide(route_context&& c, const storage::pg_rows& rows, next_fn next) {
  if (rows.rows.empty()) {
    if (next) return next(std::move(c));
    // the conflicting row is gone again (expired meanwhile): the client may retry
    return c.fail(in_progress());
  }
  if (rows.cell(0, k_fingerprint) != c.idem->fingerprint)
    return c.fail(error_of(errc::idempotency_key_reused,
                           "this Idempotency-Key was used for another request (method, path or body) in the last 24 h"));
  if (!rows.cell(0, k_status).empty()) return replay(c, rows);
  auto age = std::chrono::milliseconds(std::stoll(rows.cell(0, k_age_ms).empty() ? "0" : rows.cell(0, k_age_ms)));
  if (age < orphan_after(c)) return c.fail(in_progress());
  rebuild(c, rows.cell(0, k_resource));
}

void look_up(route_context&& c, next_fn next) {
  auto storage = c.storage();
  pg_query lookup{storage::stmt_idem_lookup, {c.who.tenant_id, c.who.user_id, c.idem->key}, true};
  c.self->request(storage, c.timeout(), db_atom::value, db_request{c.who.tenant_id, {std::move(lookup)}})
      .then([c, next](db_result& res) mutable { decide(std::move(c), res.sets.at(0), next); },
            [c](caf::error& e) { c.fail(e); });
}

} // namespace

bool keyed_request(const route_context& c) {
  auto id = c.row->id;
  return (id == route_entity_create || id == route_entity_patch || id == route_entity_delete ||
          id == route_attachments_create || id == route_webhooks_create || id == route_content_upload) &&
         !c.req().header_value("idempotency-key").empty();
}

void run_keyed(const route_context& c, std::vector<storage::pg_query> queries, std::function<void(db_result&)> then,
               std::function<void(caf::error&)> failed, std::function<void()> lost_race) {
  c.self->request(c.storage(), c.timeout(), db_atom::value, db_request{c.who.tenant_id, std::move(queries)})
      .then(
          [c, then = std::move(then)](db_result& res) {
            if (c.idem) c.idem->committed = true;
            then(res);
          },
          [c, failed = std::move(failed), lost_race = std::move(lost_race)](caf::error& err) {
            if (c.idem && storage::violation_of(err).constraint == storage::idempotency_key_constraint) {
              if (lost_race) lost_race();
              return idempotency_conflict(c);
            }
            if (failed) return failed(err);
            c.fail(err);
          });
}

void idempotency_admit(route_context&& c, void (*next)(route_context&&)) {
  auto key = protocols::parse_idempotency_key(c.req().header_value("idempotency-key"));
  if (!key)
    return c.fail(error_of(errc::idempotency_invalid_key,
                           "Idempotency-Key: 1 to 255 visible ASCII characters, optionally in double quotes"));
  auto t = std::make_shared<idempotency_ticket>();
  t->key = std::move(*key);
  // an upload's body went to a file as it came: its SHA-256 stands for it,
  // with what the upload declares (a raw body's Content-Type, a form part's
  // name and type; not the form's boundary, which a client may draw anew)
  const auto& rq = c.req();
  std::string streamed;
  if (const auto& up = rq.upload) {
    bool form = protocols::ascii_lower(rq.header_value("content-type").substr(0, 10)) == "multipart/";
    streamed = "upload sha256 " + up->sha256() + "\n" +
               (form ? up->part_filename() + "\n" + up->part_content_type() : std::string{rq.header_value("content-type")});
  }
  t->fingerprint = protocols::request_fingerprint(rq.method, rq.target, rq.upload ? std::string_view{streamed} : rq.body);
  c.idem = std::move(t);
  maybe_sweep(c);
  look_up(std::move(c), next);
}

void idempotency_conflict(const route_context& c) { look_up(route_context{c}, nullptr); }

void idempotency_store(const route_context& c, http::response r) {
  c.idem->stored = true;
  auto storage = c.storage();
  if (!storage) return c.reply(std::move(r));
  protocols::header_list headers;
  if (!r.content_type.empty()) headers.emplace_back("Content-Type", r.content_type);
  for (const auto& h : r.headers) headers.push_back(h);
  pg_query store{storage::stmt_idem_store,
                 {c.who.tenant_id, c.who.user_id, c.idem->key, c.idem->fingerprint, std::to_string(r.status),
                  protocols::encode_headers(headers), r.body},
                 true};
  auto answer = std::make_shared<http::response>(std::move(r));
  c.self->request(storage, c.timeout(), db_atom::value, db_request{c.who.tenant_id, {std::move(store)}})
      .then([c, answer](db_result&) { c.reply(std::move(*answer)); },
            [c, answer](caf::error&) { c.reply(std::move(*answer)); });
}

} // namespace crm::actors
