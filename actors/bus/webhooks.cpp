#include "actors/bus/webhooks.hpp"

#include "protocols/access_profile.hpp"
#include "protocols/entity.hpp"
#include "protocols/json_body.hpp"
#include "protocols/uuid.hpp"
#include "storage/sql/event_sql.hpp"
#include "storage/sql/guard_sql.hpp"
#include "storage/sql/identity_sql.hpp"
#include "storage/sql/webhook_sql.hpp"

#include <curl/curl.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>

#include <arpa/inet.h>

namespace crm::actors {

using storage::pg_query;

namespace {

constexpr const char* consumer_name = "webhooks";

struct envelope_head {
  std::string id, type, tenant;
};

std::optional<envelope_head> head_of(std::string_view envelope) {
  protocols::json_body body{envelope};
  if (!body.ok()) return std::nullopt;
  auto id = body.string("id", {true, 1, 64});
  auto type = body.string("type", {true, 1, 200});
  auto tenant = body.string("tenantid", {true, 1, 64});
  if (!id || !type || !tenant || !protocols::is_uuid(*id) || !protocols::is_uuid(*tenant)) return std::nullopt;
  return envelope_head{*id, *type, *tenant};
}

std::vector<pg_query> fan_out_queries(const envelope_head& h, const std::string& envelope) {
  return {pg_query{storage::stmt_webhook_fanout, {h.tenant, h.id, h.type, envelope}, true},
          pg_query{storage::stmt_event_processed, {std::string{consumer_name}, h.id, h.tenant}, true}};
}

size_t discard_body(char*, size_t size, size_t n, void* cap) {
  auto* left = static_cast<size_t*>(cap);
  size_t bytes = size * n;
  if (bytes > *left) return 0;  // past the cap: abort the transfer
  *left -= bytes;
  return bytes;
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace

webhook_module::webhook_module(webhook_options options, run_db_fn run_db, event_fn on_event)
    : options_(std::move(options)), run_db_(std::move(run_db)), on_event_(std::move(on_event)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

webhook_module::~webhook_module() { stop(); }

std::vector<std::string> webhook_module::fan_out(const std::vector<stream_entry>& batch) {
  std::vector<std::string> results(batch.size());
  std::vector<std::optional<envelope_head>> heads;
  for (size_t i = 0; i < batch.size(); ++i) {
    heads.push_back(head_of(batch[i].envelope));
    if (!heads.back()) results[i] = "not an NXP envelope (id, type and tenantid needed)";
  }
  // one transaction per tenant's run of entries would be finer; one per
  // entry keeps a failing entry from holding back the others
  bool any = false;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!heads[i]) continue;
    // in the event's tenant: its subscriptions, its jobs, its processed mark
    db_request rq{heads[i]->tenant, fan_out_queries(*heads[i], batch[i].envelope)};
    auto res = run_db_(std::move(rq));
    if (!res) results[i] = "storage: " + caf::to_string(res.error());
    else any = true;
  }
  if (any) wake_.notify_all();
  return results;
}

void webhook_module::start() {
  stopping_ = false;
  for (size_t i = 0; i < options_.workers; ++i)
    workers_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "nx-webhook");
      work();
    });
}

void webhook_module::stop() {
  stopping_ = true;
  wake_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

void webhook_module::work() {
  while (!stopping_) {
    bool did = false;
    try {
      did = deliver_one();
    } catch (const std::exception& e) {
      if (on_event_) on_event_("webhook.worker_error", e.what());
    }
    if (did) continue;
    std::unique_lock<std::mutex> lock{mutex_};
    wake_.wait_for(lock, options_.idle_poll);
  }
}

bool webhook_module::deliver_one() {
  // claim one due job of any tenant (a lease: a worker that dies gives it back)
  auto lease = std::to_string(std::max<int64_t>(5, 2 * options_.timeout.count() / 1000));
  auto claimed = run_db_(db_request{{}, {pg_query{storage::stmt_relay_context, {}, true},
                                         pg_query{storage::stmt_webhook_claim, {lease}, true}}});
  if (!claimed || claimed->sets.size() < 2 || claimed->sets[1].rows.empty()) return false;
  const auto& row = claimed->sets[1];
  auto cell = [&](size_t c) { return row.cell(0, c); };
  std::string tenant = cell(0), job = cell(1), webhook = cell(2), event_id = cell(3), type = cell(4),
              envelope = cell(5), url = cell(7), secret = cell(8), owner = cell(10);
  int attempt = std::stoi(cell(6));
  // the owner as it is now: locked -> wait; its profile shapes what leaves
  auto owner_state = run_db_(db_request{tenant, {pg_query{storage::stmt_webhook_owner, {tenant, owner}, true}}});
  if (!owner_state || owner_state->sets.at(0).rows.empty()) return true;  // the lease expires: retried later
  if (owner_state->sets[0].cell(0, 0) == "t") {
    auto pause = std::to_string(options_.locked_owner_pause.count() / 1000.0);
    run_db_(db_request{tenant, {pg_query{storage::stmt_webhook_postpone, {tenant, job, pause}, true}}});
    return true;
  }
  // the owner's role must still allow reading this kind of event (a role
  // changed since the subscription was made): otherwise it is given up
  auto needed = protocols::permission_for_event(type);
  auto permissions = "," + owner_state->sets[0].cell(0, 2) + ",";
  bool permitted = !needed.empty() && permissions.find("," + needed + ",") != std::string::npos;
  protocols::json_body entities{owner_state->sets[0].cell(0, 1)};
  auto profile = protocols::read_access_entities(entities, "", false);
  auto body = protocols::shape_for_subscriber(envelope, profile);
  auto key = protocols::webhook_key(secret);
  protocols::json_body head{envelope};
  auto traceparent = head.string("traceparent", {false, 0, 128}).value_or("");
  attempt_result result;
  if (!permitted) {
    result.error = "the owner's role may not read " + type + " events (needs " + (needed.empty() ? "?" : needed) + ")";
    attempt = std::max(attempt, options_.max_attempts);  // no retry: give it up, logged
  } else if (!body || !key) {
    result.error = !body ? "the event is not JSON" : "the subscription's secret is unusable";
  } else {
    result = post(url, *body, *key, event_id, traceparent);
  }
  bool ok = result.status >= 200 && result.status < 300;
  std::string state = ok ? "delivered" : attempt >= options_.max_attempts ? "dead" : "pending";
  static thread_local std::mt19937 rng{std::random_device{}()};
  auto delay = protocols::webhook_retry_delay(attempt + 1, options_.retry_base, options_.retry_cap,
                                              std::uniform_real_distribution<double>{0.0, 1.0}(rng));
  std::optional<std::string> status = result.status ? std::optional<std::string>{std::to_string(result.status)}
                                                    : std::nullopt;
  std::optional<std::string> error = result.error.empty() ? std::nullopt : std::optional<std::string>{result.error};
  db_request outcome{
      tenant,
      {pg_query{storage::stmt_webhook_log, {tenant, webhook, event_id, type, std::to_string(attempt), status,
                                            std::to_string(result.latency_ms), error}, true},
       pg_query{storage::stmt_webhook_job_state, {tenant, job, state, std::to_string(delay.count() / 1000.0)}, true}}};
  // a refusal of ours is no failure of the receiver: the subscription's health stays
  if (permitted)
    outcome.queries.push_back(pg_query{storage::stmt_webhook_health,
                                       {tenant, webhook, ok ? "true" : "false", std::to_string(options_.disable_after)},
                                       true});
  auto done = run_db_(std::move(outcome));
  if (ok) honeytoken_delivered(tenant, owner, head.string("subject", {false, 0, 200}).value_or(""), traceparent);
  if (ok) ++stats_.delivered;
  else ++stats_.failed_attempts;
  if (state == "dead") ++stats_.given_up;
  if (done && done->sets.size() > 2 && !done->sets[2].rows.empty() && done->sets[2].cell(0, 0) == "f" && on_event_)
    on_event_("webhook.disabled", webhook);
  return true;
}

// A webhook is a read (docs/GUARD.md): an event about a honeytoken record
// delivered to its subscriber raises an incident with the event's trace id;
// a `block` honeytoken locks the subscriber (every node drops their sessions
// on the crm.user.locked signal).
void webhook_module::honeytoken_delivered(const std::string& tenant, const std::string& owner,
                                          const std::string& subject, const std::string& traceparent) {
  auto slash = subject.find('/');
  if (slash == std::string::npos || traceparent.size() < 35) return;
  auto entity = subject.substr(0, slash), record = subject.substr(slash + 1);
  if (!protocols::entity_by_path(entity) || !protocols::is_uuid(record)) return;
  auto trace = traceparent.substr(3, 32);
  auto raised = run_db_(db_request{
      tenant,
      {storage::event_context(traceparent),
       pg_query{storage::stmt_guard_honeytoken_delivered, {tenant, owner, entity, record, trace}, true}}});
  if (!raised || raised->sets.size() < 2 || raised->sets[1].rows.empty() || raised->sets[1].cell(0, 8) != "block") return;
  run_db_(db_request{tenant,
                     {storage::event_context(traceparent), pg_query{storage::stmt_user_lock_guard, {tenant, owner}, true},
                      pg_query{storage::stmt_sessions_end_lock, {tenant, owner}, true}}});
}

webhook_module::attempt_result webhook_module::post(const std::string& url, const std::string& body,
                                                    const std::string& key, const std::string& event_id,
                                                    const std::string& traceparent) {
  attempt_result out;
  auto start = std::chrono::steady_clock::now();
  auto finish = [&] {
    out.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    return out;
  };
  auto target = protocols::parse_webhook_url(url);
  if (!target || !options_.allow.allows_host(target->host)) {
    out.error = "host not allowed";
    return finish();
  }
  // resolve once, check every address, connect only to a checked one
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(target->host.c_str(), nullptr, &hints, &found) != 0 || !found) {
    out.error = "cannot resolve " + target->host;
    return finish();
  }
  std::string address, refused;
  for (auto* a = found; a; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = a->ai_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                                              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (!inet_ntop(a->ai_family, raw, text, sizeof text)) continue;
    if (options_.allow.allows_address(text)) {
      address = text;
      break;
    }
    refused = text;
  }
  freeaddrinfo(found);
  if (address.empty()) {
    out.error = "address not allowed: " + refused;
    return finish();
  }
  CURL* curl = curl_easy_init();
  if (!curl) {
    out.error = "no curl handle";
    return finish();
  }
  auto pinned = target->host + ":" + std::to_string(target->port) + ":" +
                (address.find(':') != std::string::npos ? "[" + address + "]" : address);
  curl_slist* resolve = curl_slist_append(nullptr, pinned.c_str());
  auto timestamp = std::to_string(unix_seconds());
  curl_slist* headers = nullptr;
  for (const auto& h : {std::string{"Content-Type: application/json"}, "webhook-id: " + event_id,
                        "webhook-timestamp: " + timestamp,
                        "webhook-signature: " + protocols::webhook_signature(key, event_id, std::stoll(timestamp), body),
                        std::string{"User-Agent: nextcrm-webhooks/1"}})
    headers = curl_slist_append(headers, h.c_str());
  if (!traceparent.empty()) headers = curl_slist_append(headers, ("traceparent: " + traceparent).c_str());
  size_t cap = options_.response_cap;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max<int64_t>(1000, options_.timeout.count() / 3)));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &cap);
  auto rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  out.status = static_cast<int>(status);
  if (rc == CURLE_WRITE_ERROR) out.error = "response larger than " + std::to_string(options_.response_cap) + " bytes";
  else if (rc != CURLE_OK) out.error = curl_easy_strerror(rc);
  else if (status < 200 || status >= 300) out.error = "status " + std::to_string(status);
  if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR) out.status = 0;
  curl_slist_free_all(headers);
  curl_slist_free_all(resolve);
  curl_easy_cleanup(curl);
  return finish();
}

} // namespace crm::actors
