// actors/api/webhooks_api.cpp: the webhook subscriptions of the caller's
// tenant (users:manage; ADR-0047). A subscription belongs to the user who
// creates it: what it delivers is shaped by that user's access profile at
// delivery time (actors/bus/webhook_sender.cpp). Targets must be hosts of
// NEXTCRM_WEBHOOK_ALLOW_HOSTS; the secret is never returned.
#include "actors/api/handlers.hpp"
#include "actors/api/idempotency.hpp"
#include "actors/api/list_params.hpp"
#include "actors/api/records.hpp"
#include "actors/core/random.hpp"
#include "protocols/base64.hpp"
#include "protocols/uuid.hpp"
#include "protocols/webhook.hpp"
#include "storage/sql/webhook_sql.hpp"

namespace crm::actors {

using protocols::errc;
using protocols::error_of;
using storage::pg_query;

namespace {

// {"id","owner_user_id","url","events","enabled","failures","disabled_reason","created_at"} of row `i`.
void write_webhook(protocols::json_writer& w, const storage::pg_rows& rows, size_t i) {
  const auto& r = rows.rows.at(i);
  w.begin_object();
  w.key("id").string(r.at(0).value_or("")).key("owner_user_id").string(r.at(1).value_or(""));
  w.key("url").string(r.at(2).value_or("")).key("events").raw(r.at(3).value_or("[]"));
  w.key("enabled").boolean(r.at(4) == std::optional<std::string>{"t"});
  w.key("failures").raw(r.at(5).value_or("0"));
  w.key("disabled_reason");
  r.at(6) ? w.string(*r[6]) : w.null();
  w.key("created_at").string(r.at(7).value_or(""));
  w.end_object();
}

// Answers {"data": subscription} from the first row, or 404.
auto answer_webhook(const route_context& c, int status) {
  return [c, status](db_result& res) {
    const auto& rows = res.sets.at(0);
    if (rows.rows.empty()) return c.fail(error_of(errc::resource_not_found, "no such webhook"));
    protocols::json_writer w;
    w.begin_object().key("data");
    write_webhook(w, rows, 0);
    w.end_object();
    c.reply_json(status, std::move(w).str());
  };
}

// The id an `after` cursor (the base64url of an id) names, "" for none;
// false with 400 answered when it names none.
bool id_after(const route_context& c, const list_params& p, std::string& out) {
  if (p.after.empty()) return true;
  auto decoded = protocols::base64url_decode(p.after);
  if (!decoded || !protocols::is_uuid(*decoded)) {
    c.fail(error_of(errc::query_bad_cursor, "after is not a cursor of this list"));
    return false;
  }
  out = std::move(*decoded);
  return true;
}

// "page":{"size","next_cursor"}: the cursor names the last id shown when more follow.
void write_page(protocols::json_writer& w, size_t limit, const storage::pg_rows& rows, size_t shown) {
  w.key("page").begin_object().key("size").number(uint64_t{limit}).key("next_cursor");
  if (rows.rows.size() > limit && shown > 0) w.string(protocols::base64url_encode(rows.cell(shown - 1, 0)));
  else w.null();
  w.end_object();
}

bool webhook_id_of(const route_context& c) {
  if (protocols::is_uuid(c.param)) return true;
  c.fail(error_of(errc::resource_not_found, "no such webhook"));
  return false;
}

} // namespace

void create_webhook(route_context c) {
  auto& body = *c.body;
  body.allow_only("", {"url", "events", "secret"});
  auto url = body.string("url", {true, 1, 2048});
  if (url) {
    auto target = protocols::parse_webhook_url(*url);
    if (!target)
      body.add_error("url", "format", "url must be an http or https URL without credentials");
    else if (!c.deps->webhook_allow.allows_host(target->host))
      body.add_error("url", "not_allowed", "the host is not in NEXTCRM_WEBHOOK_ALLOW_HOSTS");
  }
  std::vector<std::string> events;
  if (auto n = body.array("events", true, 50)) {
    if (*n == 0) body.add_error("events", "too_short", "name at least one event type or pattern");
    for (size_t i = 0; i < *n; ++i) {
      auto path = "events." + std::to_string(i);
      auto p = body.string(path, {true, 1, 120});
      if (p && !protocols::is_event_pattern(*p))
        body.add_error(path, "format", "an event type (crm.customer.created) or crm.<entity>.*");
      if (p) events.push_back(*p);
    }
  }
  auto secret = body.string("secret", {true, 1, 200});
  if (secret && !protocols::webhook_key(*secret))
    body.add_error("secret", "format", "secret must be whsec_ and the base64 of 16 to 64 random bytes");
  if (!body.errors().empty()) return c.fail_validation();
  auto id = new_uuid();
  pg_query insert{storage::stmt_webhook_insert,
                  {c.who.tenant_id, id, c.who.user_id, *url, protocols::pg_array_literal(events), *secret},
                  true};
  run_keyed(c, {write_context_of(c, c.idem ? "webhooks/" + id : ""), std::move(insert)}, [c](db_result& res) {
    res.sets.erase(res.sets.begin());  // the context's
    answer_webhook(c, 201)(res);
  });
}

void rebuild_webhook(const route_context& c, const std::string& id) {
  c.ask(c.storage(), c.timeout(), answer_webhook(c, 201), db_atom::value,
        db_request{c.who.tenant_id, {pg_query{storage::stmt_webhook_get, {c.who.tenant_id, id}, true}}});
}

void list_webhooks(route_context c) {
  protocols::json_body errors{"{}"};
  auto params = read_list_params(c.req().query, 50, 100, {}, errors);
  std::string after;
  if (!id_after(c, params, after)) return;
  if (!errors.errors().empty()) return c.fail(errors.validation_error());
  auto limit = params.limit;
  pg_query list{storage::stmt_webhook_list, {c.who.tenant_id, after, std::to_string(limit + 1)}, true};
  c.ask(
      c.storage(), c.timeout(),
      [c, limit](db_result& res) {
        const auto& rows = res.sets.at(0);
        size_t shown = std::min(rows.rows.size(), limit);
        protocols::json_writer w;
        w.begin_object().key("data").begin_array();
        for (size_t i = 0; i < shown; ++i) write_webhook(w, rows, i);
        w.end_array();
        write_page(w, limit, rows, shown);
        w.end_object();
        c.reply_json(200, std::move(w).str());
      },
      db_atom::value, db_request{c.who.tenant_id, {std::move(list)}});
}

void get_webhook(route_context c) {
  if (!webhook_id_of(c)) return;
  c.ask(c.storage(), c.timeout(), answer_webhook(c, 200), db_atom::value,
        db_request{c.who.tenant_id, {pg_query{storage::stmt_webhook_get, {c.who.tenant_id, c.param}, true}}});
}

// PATCH {"enabled": true|false}: re-enables a subscription disabled after
// failures (its failure count starts again) or pauses one.
void patch_webhook(route_context c) {
  auto& body = *c.body;
  body.allow_only("", {"enabled"});
  auto enabled = body.boolean("enabled", true);
  if (!body.errors().empty()) return c.fail_validation();
  if (!webhook_id_of(c)) return;
  c.ask(c.storage(), c.timeout(), answer_webhook(c, 200), db_atom::value,
        db_request{c.who.tenant_id,
                   {pg_query{storage::stmt_webhook_enable, {c.who.tenant_id, c.param, *enabled ? "true" : "false"},
                             true}}});
}

void delete_webhook(route_context c) {
  if (!webhook_id_of(c)) return;
  c.ask(
      c.storage(), c.timeout(),
      [c](db_result& res) {
        if (res.sets.at(0).rows.empty()) return c.fail(error_of(errc::resource_not_found, "no such webhook"));
        c.no_content();
      },
      db_atom::value,
      db_request{c.who.tenant_id, {pg_query{storage::stmt_webhook_delete, {c.who.tenant_id, c.param}, true}}});
}

// The delivery log, newest first: one entry per attempt.
void list_webhook_deliveries(route_context c) {
  if (!webhook_id_of(c)) return;
  protocols::json_body errors{"{}"};
  auto params = read_list_params(c.req().query, 50, 200, {}, errors);
  std::string after_id;
  if (!id_after(c, params, after_id)) return;
  if (!errors.errors().empty()) return c.fail(errors.validation_error());
  auto after = after_id.empty() ? std::nullopt : std::optional<std::string>{after_id};
  auto limit = params.limit;
  db_request rq{c.who.tenant_id,
                {pg_query{storage::stmt_webhook_get, {c.who.tenant_id, c.param}, true},
                 pg_query{storage::stmt_webhook_deliveries, {c.who.tenant_id, c.param, after, std::to_string(limit + 1)},
                          true}}};
  c.ask(
      c.storage(), c.timeout(),
      [c, limit](db_result& res) {
        if (res.sets.at(0).rows.empty()) return c.fail(error_of(errc::resource_not_found, "no such webhook"));
        const auto& rows = res.sets.at(1);
        size_t shown = std::min(rows.rows.size(), limit);
        protocols::json_writer w;
        w.begin_object().key("data").begin_array();
        for (size_t i = 0; i < shown; ++i) {
          const auto& r = rows.rows[i];
          w.begin_object().key("id").string(r.at(0).value_or("")).key("event_id").string(r.at(1).value_or(""));
          w.key("event_type").string(r.at(2).value_or("")).key("attempt").raw(r.at(3).value_or("0"));
          w.key("status");
          r.at(4) ? w.raw(*r[4]) : w.null();
          w.key("latency_ms").raw(r.at(5).value_or("0")).key("error");
          r.at(6) ? w.string(*r[6]) : w.null();
          w.key("at").string(r.at(7).value_or("")).end_object();
        }
        w.end_array();
        write_page(w, limit, rows, shown);
        w.end_object();
        c.reply_json(200, std::move(w).str());
      },
      db_atom::value, std::move(rq));
}

} // namespace crm::actors
