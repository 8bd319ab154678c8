// actors/api/content_api.cpp: /content/v1 (docs/CONTENT.md): uploads into
// the quarantine, items and their state, short-lived download tokens and
// their redemption, and the tenant's content settings. The bytes arrive on
// disk already (actors/api/content_edge.hpp); the content pool
// (actors/content) takes the job from here.
#include "actors/api/handlers.hpp"
#include "actors/api/idempotency.hpp"

#include "actors/api/guard_front.hpp"
#include "actors/api/list_params.hpp"
#include "actors/api/records.hpp"
#include "actors/content/content.hpp"
#include "actors/core/random.hpp"
#include "protocols/content.hpp"
#include "protocols/content_access.hpp"
#include "protocols/hex.hpp"
#include "protocols/problem.hpp"
#include "protocols/uuid.hpp"
#include "protocols/values.hpp"
#include "storage/sql/content_sql.hpp"
#include "storage/sql/idempotency_sql.hpp"
#include "storage/sql/event_sql.hpp"

#include <caf/all.hpp>

#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace crm::actors {

using protocols::errc;
using protocols::error_of;
using storage::pg_query;

namespace {

constexpr int64_t max_token_ttl_s = 3600;

std::string rfc3339(int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// One transaction of the caller's tenant; database errors become problems.
void run_tenant(const route_context& c, std::vector<pg_query> queries, std::function<void(std::vector<storage::pg_rows>&)> then) {
  db_request rq{c.who.tenant_id, std::move(queries)};
  c.ask(c.storage(), c.timeout(), [then = std::move(then)](db_result& r) { then(r.sets); }, db_atom::value,
        std::move(rq));
}

void write_item(protocols::json_writer& w, const storage::pg_rows& rows) {
  using namespace storage;
  auto text = [&](const char* key, size_t col) {
    w.key(key);
    const auto& v = rows.rows.at(0).at(col);
    v ? w.string(*v) : w.null();
  };
  w.begin_object();
  text("id", ci_id);
  text("status", ci_status);
  text("reason", ci_reason);
  text("detail", ci_detail);
  text("filename", ci_filename);
  w.key("size").raw(rows.cell(0, ci_size));
  text("sha256", ci_sha256);
  text("declared_mime", ci_declared);
  text("sniffed_mime", ci_sniffed);
  const auto& sniffed = rows.rows[0][ci_sniffed];
  w.key("type_mismatch").boolean(sniffed && *sniffed != rows.cell(0, ci_declared));
  w.key("safe");
  if (rows.rows[0][ci_safe_sha256]) {
    w.begin_object();
    text("mime", ci_safe_mime);
    w.key("size").raw(rows.cell(0, ci_safe_size));
    text("sha256", ci_safe_sha256);
    w.end_object();
  } else {
    w.null();
  }
  text("created_by", ci_created_by);
  text("created_at", ci_created_at);
  text("updated_at", ci_updated_at);
  w.end_object();
}

std::string item_json(const storage::pg_rows& rows) {
  protocols::json_writer w;
  w.begin_object().key("data");
  write_item(w, rows);
  w.end_object();
  return std::move(w).str();
}

caf::error item_not_found() { return error_of(errc::resource_not_found, "no such content item"); }

protocols::content_settings settings_of(const storage::pg_rows& rows) {
  protocols::content_settings s;
  if (rows.rows.empty()) return s;
  s.max_upload_bytes = std::stoll(rows.cell(0, 0));
  s.allowed_types = protocols::parse_pg_text_array(rows.cell(0, 1));
  s.archives = rows.cell(0, 2) == "t";
  s.pdf_rasterize = rows.cell(0, 3) == "t";
  s.retain_original_s = std::stoll(rows.cell(0, 4));
  return s;
}

std::string settings_json(const protocols::content_settings& s, int64_t node_cap) {
  protocols::json_writer w;
  w.begin_object().key("data").begin_object();
  // what binds: the tenant's cap within the node's
  w.key("max_upload_bytes").raw(std::to_string(std::min(s.max_upload_bytes, node_cap)));
  w.key("node_max_upload_bytes").raw(std::to_string(node_cap));
  w.key("allowed_types").begin_array();
  for (const auto& t : s.allowed_types) w.string(t);
  w.end_array();
  w.key("archives").boolean(s.archives);
  w.key("pdf_rasterize").boolean(s.pdf_rasterize);
  w.key("retain_original_s").raw(std::to_string(s.retain_original_s));
  w.end_object().end_object();
  return std::move(w).str();
}

// attachment; filename="<ASCII>"; filename*=UTF-8''<percent-encoded> (RFC 6266)
std::string disposition(const std::string& name) {
  std::string ascii, encoded;
  for (unsigned char ch : name) {
    ascii += (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' || ch == ';') ? '_' : static_cast<char>(ch);
    if (std::isalnum(ch) || std::string_view{"-._~"}.find(static_cast<char>(ch)) != std::string_view::npos) {
      encoded += static_cast<char>(ch);
    } else {
      static const char* hex = "0123456789ABCDEF";
      encoded += '%';
      encoded += hex[ch >> 4];
      encoded += hex[ch & 15];
    }
  }
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

void serve_download(route_context&& c);

// The token acts for its session: it dies with a logout, a lock or a guard
// block, and its redemptions count against its user's `downloads`.
void redeem(route_context c, protocols::content_token t) {
  auto registry = c.registry();
  auto tenant = t.tenant, session = t.session, user = t.user;
  auto token = std::make_shared<protocols::content_token>(std::move(t));
  c.ask(
      registry, c.timeout(),
      [c, token](principal& who) mutable {
        c.who = std::move(who);
        c.download = token;
        if (c.who.gauge) return guard_admit(std::move(c), serve_download);
        serve_download(std::move(c));
      },
      auth_atom::value, std::move(tenant), std::move(session), std::move(user), std::string{});
}

void serve_download(route_context&& c) {
  const auto& t = *c.download;
  // HEAD (link checkers, proxies) answers the headers without using up a
  // one-time token or counting as a download
  bool head = c.req().method == "HEAD";
  pg_query q{storage::stmt_content_download,
             {c.who.tenant_id, t.content, t.nonce, std::to_string(t.expires), t.once && !head ? "true" : "false"},
             true};
  run_tenant(c, {std::move(q)}, [c, head](std::vector<storage::pg_rows>& sets) {
    const auto& rows = sets.at(0);
    if (rows.rows.empty()) return c.fail(item_not_found());
    if (rows.cell(0, 4) != "t") return c.fail(error_of(errc::content_token_expired, "this one-time download token was used"));
    auto path = store_path(c.deps->content_dir, c.who.tenant_id, rows.cell(0, 0));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb {};
    if (fd < 0 || ::fstat(fd, &sb) != 0 || std::to_string(sb.st_size) != rows.cell(0, 2)) {
      if (fd >= 0) ::close(fd);
      return c.fail(error_of(errc::dependency_unavailable, "the stored file cannot be read"));
    }
    http::response r;
    r.status = 200;
    r.content_type = rows.cell(0, 1);
    r.file = std::make_shared<http::file_body>(fd, static_cast<uint64_t>(sb.st_size));
    r.headers.emplace_back("Content-Disposition",
                           disposition(protocols::download_name(rows.cell(0, 3), rows.cell(0, 1))));
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Content-Security-Policy", "sandbox; default-src 'none'");
    r.headers.emplace_back("Cache-Control", "private, no-store");
    r.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
    r.cost.downloads = head ? 0 : 1;
    c.reply(std::move(r));
  });
}

} // namespace

// 202 {"data": {"id","status","filename","size","sha256","declared_mime"}} + Location.
void answer_upload(const route_context& c, const storage::pg_rows& item, const std::string& status) {
  auto id = item.cell(0, storage::ci_id);
  protocols::json_writer w;
  w.begin_object().key("data").begin_object();
  w.key("id").string(id);
  w.key("status").string(status);
  w.key("filename").string(item.cell(0, storage::ci_filename));
  w.key("size").raw(item.cell(0, storage::ci_size));
  w.key("sha256").string(item.cell(0, storage::ci_sha256));
  w.key("declared_mime").string(item.cell(0, storage::ci_declared));
  w.end_object().end_object();
  auto r = json_response(202, std::move(w).str());
  r.headers.emplace_back("Location", "/content/v1/items/" + id);
  c.reply(std::move(r));
}

void upload_content(route_context c) {
  auto up = c.req().upload;
  if (!up) return c.fail(error_of(errc::internal, "the upload was not streamed"));
  if (up->discarded())
    return c.fail(error_of(errc::request_unsupported_media_type,
                           "send the file as the raw body with its Content-Type, or as multipart/form-data with a boundary"));
  if (up->failed())
    return c.fail(error_of(up->disk_error() ? errc::dependency_unavailable : errc::request_malformed, up->error()));
  if (up->size() == 0) return c.fail(protocols::validation_error_of("file", "required", "the upload is empty"));
  std::string filename, declared;
  if (protocols::ascii_lower(c.req().header_value("content-type").substr(0, 10)) == "multipart/") {
    filename = up->part_filename();
    declared = up->part_content_type();
  } else {
    for (auto& [k, v] : query_pairs(c.req().query))
      if (k == "filename") filename = v;
    declared = std::string{c.req().header_value("content-type")};
  }
  auto id = new_uuid();
  auto quarantine_name = up->path().substr(up->path().rfind('/') + 1);
  auto size = std::to_string(up->size());
  // one transaction: the tenant's cap (for the 413's detail) and the insert,
  // which itself writes nothing past that cap
  pg_query settings{storage::stmt_content_settings, {c.who.tenant_id}, true};
  pg_query insert{storage::stmt_content_insert,
                  {c.who.tenant_id, id, protocols::clean_filename(filename), protocols::clean_mime(declared), size,
                   up->sha256(), quarantine_name, c.who.user_id, c.traceparent(),
                   std::to_string(c.deps->content_max_upload),
                   std::to_string(protocols::content_settings{}.max_upload_bytes)},
                  true};
  // kept from here on: should the answer of a committed insert be lost (a
  // deadline), the row still finds its file; a file no row names is swept
  // by the pool after an hour
  up->keep();
  // a keyed upload records its key in the same transaction (its write
  // context sets the traceparent too), and keeps it only if the insert wrote
  std::vector<pg_query> queries{c.idem ? write_context_of(c, "content/items/" + id) : storage::event_context(c.traceparent()),
                                std::move(settings), std::move(insert)};
  if (c.idem) queries.push_back({storage::stmt_idem_unless_uploaded, {c.who.tenant_id, c.who.user_id, c.idem->key, id}, true});
  run_keyed(c, std::move(queries), [c, up, id](db_result& res) {
               auto& sets = res.sets;
               const auto& item = sets.at(2);
               if (item.rows.empty()) {
                 if (c.idem) c.idem->committed = false;  // nothing written, no key: no stored answer
                 up->remove();  // nothing was written: nor is anything kept
                 auto cap = std::min<int64_t>(settings_of(sets.at(1)).max_upload_bytes, c.deps->content_max_upload);
                 return c.fail(error_of(errc::request_too_large, "the upload is larger than this tenant's limit of " +
                                                                     std::to_string(cap) + " bytes"));
               }
               if (auto pool = c.deps->content_pool ? c.deps->content_pool->get() : caf::actor{})
                 caf::anon_send(pool, cnew_atom::value, c.who.tenant_id, id, c.traceparent());
               answer_upload(c, item, "quarantined");
             },
             {}, [up] { up->remove(); });  // a repeat that lost the race to its first: its file goes
}

void rebuild_upload(const route_context& c, const std::string& id) {
  run_tenant(c, {{storage::stmt_content_get, {c.who.tenant_id, id}, true}}, [c](std::vector<storage::pg_rows>& sets) {
    if (sets.at(0).rows.empty()) return c.fail(item_not_found());
    answer_upload(c, sets[0], sets[0].cell(0, storage::ci_status));  // where the item is now
  });
}

void get_content_item(route_context c) {
  if (!protocols::is_uuid(c.param)) return c.fail(item_not_found());
  run_tenant(c, {{storage::stmt_content_get, {c.who.tenant_id, protocols::ascii_lower(c.param)}, true}},
             [c](std::vector<storage::pg_rows>& sets) {
               if (sets.at(0).rows.empty()) return c.fail(item_not_found());
               c.reply_json(200, item_json(sets[0]));
             });
}

void create_download_token(route_context c) {
  if (!protocols::is_uuid(c.param)) return c.fail(item_not_found());
  int64_t ttl = c.deps->content_token_ttl_s;
  bool once = false;
  if (!c.req().body.empty()) {
    if (!is_json(c.req().header_value("content-type")))
      return c.fail(error_of(errc::request_unsupported_media_type, "send application/json (or no body)"));
    protocols::json_body b{c.req().body};
    if (!b.ok()) return c.fail(b.malformed_error());
    b.allow_only("", {"ttl_s", "once"});
    auto t = b.integer("ttl_s", false, 1, max_token_ttl_s);
    auto o = b.boolean("once", false);
    if (!b.errors().empty()) return c.fail(b.validation_error());
    if (t) ttl = *t;
    if (o) once = *o;
  }
  auto id = protocols::ascii_lower(c.param);
  run_tenant(c, {{storage::stmt_content_get, {c.who.tenant_id, id}, true}},
             [c, id, ttl, once](std::vector<storage::pg_rows>& sets) {
               const auto& rows = sets.at(0);
               if (rows.rows.empty()) return c.fail(item_not_found());
               auto status = rows.cell(0, storage::ci_status);
               if (status == "rejected")
                 return c.fail(error_of(errc::content_rejected, "the content was rejected (" +
                                                                    rows.cell(0, storage::ci_reason) + ") and is never served"));
               if (status != "safe")
                 return c.fail(error_of(errc::content_not_ready, "the content is " + status + "; try again once it is safe"));
               protocols::content_token t;
               t.tenant = c.who.tenant_id;
               t.content = id;
               t.user = c.who.user_id;
               t.session = c.who.session_id;
               auto nonce = random_bytes(12);
               t.nonce = protocols::to_hex(reinterpret_cast<const uint8_t*>(nonce.data()), nonce.size());
               t.expires = c.deps->now() + ttl;
               t.once = once;
               auto token = protocols::sign_content_token(t, c.deps->content_token_key);
               protocols::json_writer w;
               w.begin_object().key("data").begin_object();
               w.key("token").string(token);
               w.key("expires_at").string(rfc3339(t.expires));
               w.key("url").string("/content/v1/download/" + token);
               w.key("once").boolean(once);
               w.end_object().end_object();
               c.reply_json(201, std::move(w).str());
             });
}

void download_content(route_context c) {
  auto t = protocols::verify_content_token(c.param, c.deps->content_token_key, c.deps->now());
  if (!t) return c.fail(t.error());
  // A caller who also sends its own token must be of the token's tenant:
  // another tenant's download is not found, like its records.
  auto bearer = bearer_token(c.req().header_value("authorization"));
  if (!c.req().header_value("authorization").empty()) {
    auto claims = protocols::verify_jwt(bearer, *c.deps->keys, c.deps->now());
    if (!claims) return c.fail(claims.error());
    if (claims->tid != t->tenant) return c.fail(error_of(errc::resource_not_found, "no such download"));
  }
  redeem(std::move(c), std::move(*t));
}

void get_content_settings(route_context c) {
  run_tenant(c, {{storage::stmt_content_settings, {c.who.tenant_id}, true}}, [c](std::vector<storage::pg_rows>& sets) {
    c.reply_json(200, settings_json(settings_of(sets.at(0)), c.deps->content_max_upload));
  });
}

void put_content_settings(route_context c) {
  auto s = protocols::read_content_settings(*c.body, c.deps->content_max_upload);
  if (!s) return c.fail_validation();
  pg_query q{storage::stmt_content_settings_put,
             {c.who.tenant_id, std::to_string(s->max_upload_bytes), protocols::pg_array_literal(s->allowed_types),
              s->archives ? "true" : "false", s->pdf_rasterize ? "true" : "false", std::to_string(s->retain_original_s)},
             true};
  run_tenant(c, {storage::event_context(c.traceparent()), std::move(q)}, [c](std::vector<storage::pg_rows>& sets) {
    c.reply_json(200, settings_json(settings_of(sets.at(1)), c.deps->content_max_upload));
  });
}

} // namespace crm::actors
