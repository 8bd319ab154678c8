#!/usr/bin/env python3
"""Integration: the CRM Guard (Block 6, docs/GUARD.md) on one node behind nginx.

Budgets per profile or user, sliding windows counted in Redis, warn (the call
succeeds with X-Guard: warn, one incident per budget and window) and block
(403 guard.blocked, a block incident, the user locked, every token 401
auth.session_revoked), RateLimit headers, paging exfiltration caught by
rows_read and distinct_records, honeytokens, the per-user baseline, the
endpoints' permission and validation, and silence under normal traffic.
"""
import base64
import http.server
import os
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import API, USERS, REVOKED  # noqa: E402

S = GW = None
BUDGETS = API + "/guard/budgets"
INCIDENTS = API + "/guard/incidents"
HONEYTOKENS = API + "/guard/honeytokens"
STREAM = "nxp:test:guard"
METRICS = {"requests", "rows_read", "distinct_records", "writes", "deletes", "downloads"}
PROFILES = {"admin", "manager", "sales_rep", "viewer"}


def setUpModule():
    global S, GW
    h.require_env()
    # a baseline that learns in seconds: 2 s periods, 3 of history, 5x the mean, past 20 rows
    S = h.start_module_server(env={"NEXTCRM_BUS_STREAM": STREAM, "NEXTCRM_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
                                   "NEXTCRM_GUARD_BASELINE_PERIOD_S": "2",
                                   "NEXTCRM_GUARD_BASELINE_MIN_PERIODS": "3",
                                   "NEXTCRM_GUARD_BASELINE_FACTOR": "5",
                                   "NEXTCRM_GUARD_BASELINE_FLOOR": "20"})
    GW = h.Gateway(S).start()
    unittest.addModuleCleanup(GW.stop)


def seed_customers(tenant_id, n, prefix="g"):
    """N customers in one INSERT ... SELECT (the app role, RLS on); returns their ids."""
    app_url = h.require_env("NEXTCRM_TEST_PG_URL")["NEXTCRM_TEST_PG_URL"]
    rows = h.psql_tenant(app_url, tenant_id, """
        INSERT INTO customers (tenant_id, id, name, status)
        SELECT current_setting('app.tenant_id')::uuid, gen_random_uuid(), '%s' || g, 'active'
          FROM generate_series(1, %d) g RETURNING id""" % (prefix, n))
    return [r[0] for r in rows]


class GuardCase(unittest.TestCase):
    port = None  # the server's own port unless a test goes through the gateway

    def setUp(self):
        self.tenant = h.bootstrap_tenant(S)
        self.admin = h.login_token(S, self.tenant)["access_token"]

    def call(self, method, path, body=None, token=None, port=None, headers=None):
        return h.api(port or S.port, method, path, body, token=token or self.admin, headers=headers)

    def new_user(self, role="sales", profile=None):
        email = "g-%s@guard.test" % h.tag()
        pw = h.new_password()
        body = {"email": email, "password": pw, "role": role}
        if profile:
            body["access_profile"] = profile
        r = self.call("POST", USERS, body)
        self.assertEqual(r.status, 201, r)
        uid = r.json()["data"]["id"]
        return uid, email, pw, h.login_token(S, self.tenant, email=email, password=pw)["access_token"]

    def budget(self, scope, metric, window_s, warn, block):
        r = self.call("POST", BUDGETS, {"scope": scope, "metric": metric, "window_s": window_s,
                                        "warn": warn, "block": block})
        self.assertEqual(r.status, 201, r)
        return r.json()["data"]

    def incidents(self, query=""):
        r = self.call("GET", INCIDENTS + "?limit=200" + query)
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]

    def wait_incidents(self, predicate, timeout=5):
        found = []

        def probe():
            found[:] = [i for i in self.incidents() if predicate(i)]
            return bool(found)
        h.wait_for(probe, timeout, what="an incident")
        return found

    def user(self, uid):
        r = self.call("GET", USERS + "/" + uid)
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]


class Budgets(GuardCase):
    def test_a_new_tenant_has_default_budgets_for_every_baseline_profile(self):
        r = self.call("GET", BUDGETS)
        self.assertEqual(r.status, 200, r)
        rows = r.json()["data"]
        seen = {(b["scope"], b["metric"]) for b in rows}
        for p in PROFILES:
            for m in METRICS:
                self.assertIn(("profile:" + p, m), seen)
        for b in rows:
            self.assertTrue(h.is_uuid(b["id"]))
            self.assertLessEqual(b["warn"], b["block"])
            self.assertGreater(b["window_s"], 0)

    def test_guard_manage_is_needed_for_budgets_incidents_and_honeytokens(self):
        _, _, _, manager = self.new_user(role="manager")
        some = "00000000-0000-4000-8000-000000000000"
        for method, path, body in [("GET", BUDGETS, None),
                                   ("POST", BUDGETS, {"scope": "profile:viewer", "metric": "requests",
                                                      "window_s": 60, "warn": 1, "block": 2}),
                                   ("PUT", BUDGETS + "/" + some, {"scope": "profile:viewer", "metric": "requests",
                                                                  "window_s": 60, "warn": 1, "block": 2}),
                                   ("DELETE", BUDGETS + "/" + some, None),
                                   ("GET", INCIDENTS, None), ("POST", INCIDENTS + "/query", {}),
                                   ("GET", INCIDENTS + "/" + some, None),
                                   ("POST", INCIDENTS + "/" + some + "/resolve", None),
                                   ("GET", HONEYTOKENS, None),
                                   ("POST", HONEYTOKENS, {"entity": "customers", "record_id": some})]:
            r = self.call(method, path, body, token=manager)
            h.check_problem(self, r, 403, "auth.forbidden")
        self.assertEqual(self.call("GET", BUDGETS).status, 200)

    def test_a_bad_budget_is_422_naming_every_field_and_writes_nothing(self):
        before = self.call("GET", BUDGETS).json()["data"]
        r = self.call("POST", BUDGETS, {"scope": "team:x", "metric": "bytes", "window_s": 0, "warn": 10,
                                        "block": 5, "extra": True})
        h.check_problem(self, r, 422, h.VALIDATION)
        fields = {e["field"] for e in r.json()["errors"]}
        self.assertEqual(fields, {"scope", "metric", "window_s", "block", "extra"})
        self.assertEqual(self.call("GET", BUDGETS).json()["data"], before)
        b = before[0]
        r = self.call("PUT", BUDGETS + "/" + b["id"], {"scope": b["scope"], "metric": b["metric"],
                                                       "window_s": b["window_s"], "warn": 5, "block": 4})
        h.check_problem(self, r, 422, h.VALIDATION)
        self.assertEqual(self.call("GET", BUDGETS).json()["data"], before)
        r = self.call("PUT", BUDGETS + "/" + "00000000-0000-4000-8000-000000000000",
                      {"scope": "profile:viewer", "metric": "requests", "window_s": 60, "warn": 1, "block": 2})
        h.check_problem(self, r, 404, h.NOT_FOUND)
        # the same scope, metric and window twice: a conflict, not a second row
        r = self.call("POST", BUDGETS, {"scope": b["scope"], "metric": b["metric"], "window_s": b["window_s"],
                                        "warn": 1, "block": 2})
        h.check_problem(self, r, 409, "resource.conflict")
        self.assertEqual(self.call("GET", BUDGETS).json()["data"], before)

    def test_put_and_delete_change_what_binds(self):
        uid, _, _, token = self.new_user()
        b = self.budget("user:" + uid, "requests", 60, 2, 1000)
        for _ in range(2):
            self.assertIsNone(self.call("GET", API + "/customers", token=token).header("x-guard"))
        self.assertEqual(self.call("GET", API + "/customers", token=token).header("x-guard"), "warn")
        r = self.call("PUT", BUDGETS + "/" + b["id"], {"scope": "user:" + uid, "metric": "requests",
                                                       "window_s": 60, "warn": 100, "block": 1000})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["warn"], 100)
        self.assertIsNone(self.call("GET", API + "/customers", token=token).header("x-guard"))
        warned = self.wait_incidents(lambda i: i["user_id"] == uid and i["budget_id"] == b["id"])
        self.assertEqual(self.call("DELETE", BUDGETS + "/" + b["id"]).status, 204)
        h.check_problem(self, self.call("DELETE", BUDGETS + "/" + b["id"]), 404, h.NOT_FOUND)
        # the incident stays, naming no budget any more
        r = self.call("GET", INCIDENTS + "/" + warned[0]["id"])
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json()["data"]["budget_id"])

    def test_a_users_own_budget_overrides_its_profiles(self):
        viewer = [b for b in self.call("GET", BUDGETS).json()["data"]
                  if b["scope"] == "profile:viewer" and b["metric"] == "requests"][0]
        r = self.call("PUT", BUDGETS + "/" + viewer["id"], dict(
            scope="profile:viewer", metric="requests", window_s=60, warn=3, block=1000))
        self.assertEqual(r.status, 200, r)
        plain, _, _, plain_token = self.new_user(role="viewer")
        special, _, _, special_token = self.new_user(role="viewer")
        self.budget("user:" + special, "requests", 60, 50, 1000)
        plain_guard = [self.call("GET", API + "/products", token=plain_token).header("x-guard") for _ in range(5)]
        special_guard = [self.call("GET", API + "/products", token=special_token).header("x-guard") for _ in range(5)]
        self.assertEqual(plain_guard, [None, None, None, "warn", "warn"])
        self.assertEqual(special_guard, [None] * 5)


class WarnThenBlock(GuardCase):
    def test_a_burst_through_nginx_warns_then_blocks_locks_and_revokes_every_token(self):
        uid, email, pw, token = self.new_user()
        second = h.login_token(S, self.tenant, email=email, password=pw)["access_token"]
        self.budget("user:" + uid, "requests", 60, 20, 40)
        statuses, guards = [], []
        for i in range(41):
            r = h.api(GW.port, "GET", API + "/customers", token=token)
            statuses.append(r.status)
            guards.append(r.header("x-guard"))
            if r.status == 200:
                self.assertIn('"requests-60";q=40;w=60', r.header("ratelimit-policy"))
                self.assertIsNotNone(r.header("ratelimit"))
        self.assertEqual(statuses[:40], [200] * 40)
        self.assertEqual(guards[:20], [None] * 20)
        self.assertEqual(guards[20:40], ["warn"] * 20)
        h.check_problem(self, r, 403, "guard.blocked")
        # then the user is locked and every token of theirs is dead, through nginx too
        for t in (token, second):
            h.wait_for(lambda t=t: h.api(GW.port, "GET", API + "/auth/me", token=t).status == 401, 5,
                       what="the token revoked")
            h.check_problem(self, h.api(GW.port, "GET", API + "/customers", token=t), 401, REVOKED)
        self.assertTrue(self.user(uid)["locked"])
        h.check_problem(self, h.login(S, self.tenant.slug, email, pw), 403, "auth.user_locked")
        mine = self.wait_incidents(lambda i: i["user_id"] == uid and i["severity"] == "block")
        warns = [i for i in self.incidents("&user_id=" + uid) if i["severity"] == "warn"]
        self.assertEqual(len(warns), 1, "one warn incident per budget and window, not one per request")
        self.assertEqual(len(mine), 1)
        block = mine[0]
        self.assertEqual((block["metric"], block["threshold"], block["window_s"], block["action"], block["kind"]),
                         ("requests", 40, 60, "blocked", "budget"))
        self.assertGreater(block["observed"], 40)
        self.assertRegex(block["first_trace_id"], "^[0-9a-f]{32}$")
        self.assertEqual(block["client_addr"], "127.0.0.1")
        self.assertIsNone(block["resolved_at"])
        # every incident is an event on the bus
        raised = lambda envs: [e for e in envs if e["type"] == "crm.guard_incident.raised"  # noqa: E731
                               and e["data"]["id"] == block["id"]]
        envs = h.wait_bus_envelopes(S.env["NEXTCRM_REDIS_ADDR"], STREAM, self.tenant.id, raised)
        self.assertEqual(len(raised(envs)), 1)
        self.assertEqual(raised(envs)[0]["traceparent"][3:35], block["first_trace_id"])

    def test_resolving_records_who_and_when_and_does_not_unlock(self):
        uid, email, pw, token = self.new_user()
        self.budget("user:" + uid, "requests", 60, 1, 3)
        for _ in range(4):
            r = self.call("GET", API + "/customers", token=token)
        h.check_problem(self, r, 403, "guard.blocked")
        inc = self.wait_incidents(lambda i: i["user_id"] == uid and i["severity"] == "block")[0]
        r = self.call("POST", INCIDENTS + "/" + inc["id"] + "/resolve")
        self.assertEqual(r.status, 200, r)
        done = r.json()["data"]
        self.assertEqual(done["resolved_by"], self.tenant.admin_user_id)
        self.assertIsNotNone(done["resolved_at"])
        again = self.call("POST", INCIDENTS + "/" + inc["id"] + "/resolve").json()["data"]
        self.assertEqual(again["resolved_at"], done["resolved_at"])
        self.assertTrue(self.user(uid)["locked"], "resolving is not unlocking")
        # unlocking is its own act; the counts start afresh
        self.assertEqual(self.call("POST", USERS + "/" + uid + "/unlock").status, 200)
        fresh = h.login_token(S, self.tenant, email=email, password=pw)["access_token"]
        self.assertEqual(self.call("GET", API + "/customers", token=fresh).status, 200)
        # the incident list, filtered and queried with the DSL
        self.assertEqual([i["id"] for i in self.incidents("&resolved=true")], [inc["id"]])
        r = self.call("POST", INCIDENTS + "/query", {"filter": {"and": [
            {"field": "severity", "op": "eq", "value": "block"},
            {"field": "user_id", "op": "eq", "value": uid}]}, "fields": ["id", "metric", "observed"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([(i["id"], i["metric"]) for i in r.json()["data"]], [(inc["id"], "requests")])
        self.assertEqual(set(r.json()["data"][0]), {"id", "metric", "observed"})
        h.check_problem(self, self.call("POST", INCIDENTS + "/query", {"filter": {"field": "nope", "op": "eq",
                                                                                   "value": 1}}),
                         400, "query.unknown_field")
        h.check_problem(self, self.call("GET", INCIDENTS + "?severity=loud"), 422, h.VALIDATION)
        h.check_problem(self, self.call("POST", INCIDENTS + "/00000000-0000-4000-8000-000000000000/resolve"),
                         404, h.NOT_FOUND)

    def test_a_burst_straddling_a_window_boundary_is_still_blocked(self):
        uid, _, _, token = self.new_user()
        window, block = 10, 20
        self.budget("user:" + uid, "requests", window, block - 1, block)
        # just before a multiple of the window (where a fixed window would reset)
        while not (window - 0.8 <= time.time() % window < window - 0.5):
            time.sleep(0.02)
        first = [self.call("GET", API + "/customers", token=token).status for _ in range(block // 2)]
        while time.time() % window > window / 2 or time.time() % window < 0.2:
            time.sleep(0.02)
        second = [self.call("GET", API + "/customers", token=token).status for _ in range(block // 2 + 1)]
        self.assertEqual(first, [200] * (block // 2))
        self.assertEqual(second[:-1], [200] * (block // 2))
        self.assertEqual(second[-1], 403, "the burst across the boundary was not blocked")


class Exfiltration(GuardCase):
    @classmethod
    def setUpClass(cls):
        cls.seeded = {}

    def walk(self, token, size=50):
        """Pages through every customer with cursors; returns (records seen, the answer that stopped it)."""
        seen, after = 0, None
        while True:
            page = {"size": size}
            if after:
                page["after"] = after
            r = self.call("POST", API + "/customers/query", {"page": page}, token=token)
            if r.status != 200:
                return seen, r
            seen += len(r.json()["data"])
            after = r.json()["page"]["next_cursor"]
            if not after:
                return seen, r

    def assert_stopped(self, uid, r, metric):
        self.assertIn((r.status, r.json().get("code")), [(403, "guard.blocked"), (401, REVOKED)], r)
        inc = self.wait_incidents(lambda i: i["user_id"] == uid and i["severity"] == "block")[0]
        self.assertEqual(inc["metric"], metric)
        h.wait_for(lambda: self.user(uid)["locked"], 5, what="the user locked")

    def test_rows_read_catches_a_sales_user_walking_every_customer(self):
        seed_customers(self.tenant.id, 600)
        uid, _, _, token = self.new_user()
        self.budget("user:" + uid, "rows_read", 600, 150, 300)
        # normal use: a page and a few records stay silent
        r = self.call("POST", API + "/customers/query", {"page": {"size": 20}}, token=token)
        self.assertEqual(r.status, 200, r)
        for c in r.json()["data"][:5]:
            g = self.call("GET", API + "/customers/" + c["id"], token=token)
            self.assertEqual(g.status, 200)
            self.assertIsNone(g.header("x-guard"))
        self.assertEqual([i for i in self.incidents() if i["user_id"] == uid], [])
        seen, r = self.walk(token)
        self.assertLess(seen, 600, "the walk was never stopped")
        self.assertLessEqual(seen, 300 + 50)
        self.assert_stopped(uid, r, "rows_read")

    def test_distinct_records_counts_records_not_rereads(self):
        seed_customers(self.tenant.id, 600)
        uid, _, _, token = self.new_user()
        self.budget("user:" + uid, "distinct_records", 600, 150, 300)
        # the same 50 records read 12 times: 600 rows, 50 distinct: silent
        for _ in range(12):
            r = self.call("POST", API + "/customers/query", {"page": {"size": 50}}, token=token)
            self.assertEqual(r.status, 200, r)
            self.assertIsNone(r.header("x-guard"))
        time.sleep(0.3)  # flushed
        self.assertEqual([i for i in self.incidents() if i["user_id"] == uid], [])
        seen, r = self.walk(token)
        self.assertLess(seen, 600, "the walk was never stopped")
        self.assert_stopped(uid, r, "distinct_records")


class Honeytokens(GuardCase):
    def test_reading_a_honeytoken_raises_an_incident_with_the_trace_id(self):
        ids = seed_customers(self.tenant.id, 3, prefix="honey")
        bad = {"entity": "customers", "record_id": "nope", "action": "loud"}
        r = self.call("POST", HONEYTOKENS, bad)
        h.check_problem(self, r, 422, h.VALIDATION)
        self.assertEqual(self.call("GET", HONEYTOKENS).json()["data"], [])
        r = self.call("POST", HONEYTOKENS, {"entity": "customers", "record_id": ids[0]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"]["action"], "warn")
        uid, _, _, token = self.new_user()
        trace = os.urandom(16).hex()
        g = self.call("GET", API + "/customers/" + ids[0], token=token,
                      headers={"traceparent": "00-%s-%s-01" % (trace, os.urandom(8).hex())})
        self.assertEqual(g.status, 200)
        inc = self.wait_incidents(lambda i: i["user_id"] == uid and i["kind"] == "honeytoken")
        self.assertEqual(len(inc), 1)
        self.assertEqual((inc[0]["record_entity"], inc[0]["record_id"], inc[0]["first_trace_id"],
                          inc[0]["severity"]), ("customers", ids[0], trace, "warn"))
        self.assertFalse(self.user(uid)["locked"])

    def test_a_block_honeytoken_in_a_query_page_locks_the_reader(self):
        ids = seed_customers(self.tenant.id, 3, prefix="trap")
        r = self.call("POST", HONEYTOKENS, {"entity": "customers", "record_id": ids[1], "action": "block"})
        self.assertEqual(r.status, 201, r)
        uid, _, _, token = self.new_user()
        r = self.call("POST", API + "/customers/query", {"page": {"size": 10}}, token=token)
        self.assertEqual(r.status, 200)
        inc = self.wait_incidents(lambda i: i["user_id"] == uid and i["kind"] == "honeytoken")
        self.assertEqual(inc[0]["severity"], "block")
        h.wait_for(lambda: self.user(uid)["locked"], 5, what="the reader locked")
        h.wait_for(lambda: self.call("GET", API + "/customers", token=token).status == 401, 5,
                   what="the reader's token revoked")
        # deleting the honeytoken: others read the record freely
        hid = self.call("GET", HONEYTOKENS).json()["data"][0]["id"]
        self.assertEqual(self.call("DELETE", HONEYTOKENS + "/" + hid).status, 204)
        other, _, _, other_token = self.new_user()
        self.assertEqual(self.call("GET", API + "/customers/" + ids[1], token=other_token).status, 200)
        time.sleep(0.5)
        self.assertEqual([i for i in self.incidents() if i["user_id"] == other], [])


    def test_a_honeytoken_delivered_by_a_webhook_raises_an_incident_for_the_subscriber(self):
        ids = seed_customers(self.tenant.id, 1, prefix="hook")
        got = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                got.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        r = self.call("POST", API + "/webhooks", {"url": "http://127.0.0.1:%d/hook" % httpd.server_address[1],
                                                  "events": ["crm.customer.*"], "secret": secret})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.call("POST", HONEYTOKENS, {"entity": "customers", "record_id": ids[0]}).status, 201)
        trace = os.urandom(16).hex()
        r = self.call("PATCH", API + "/customers/" + ids[0], {"status": "churned"},
                      headers={"traceparent": "00-%s-%s-01" % (trace, os.urandom(8).hex())})
        self.assertEqual(r.status, 200, r)
        h.wait_for(lambda: got, 15, what="the delivery")
        inc = self.wait_incidents(lambda i: i["kind"] == "honeytoken" and i["client_addr"] == "webhook", 10)
        self.assertEqual((inc[0]["user_id"], inc[0]["record_id"], inc[0]["first_trace_id"], inc[0]["severity"]),
                         (self.tenant.admin_user_id, ids[0], trace, "warn"))


class Baseline(GuardCase):
    def test_a_burst_far_above_the_users_own_normal_warns(self):
        ids = seed_customers(self.tenant.id, 200, prefix="base")
        uid, _, _, token = self.new_user()
        # learn: 5 rows per 2 s period, for 4 periods (the server needs 3)
        deadline = time.time() + 8.5
        while time.time() < deadline:
            r = self.call("POST", API + "/customers/query", {"page": {"size": 5}}, token=token)
            self.assertEqual(r.status, 200)
            time.sleep(2)
        self.assertEqual([i for i in self.incidents() if i["user_id"] == uid], [], "no incident while learning")
        # then 150 rows in one period: far above 5 per period, still far under every static budget
        r = self.call("POST", API + "/customers/query", {"page": {"size": 150}}, token=token)
        self.assertEqual(r.status, 200)
        time.sleep(0.2)
        self.call("GET", API + "/customers/" + ids[0], token=token)  # a flush after the burst
        inc = self.wait_incidents(lambda i: i["user_id"] == uid and i["kind"] == "baseline")
        self.assertEqual((inc[0]["severity"], inc[0]["metric"], inc[0]["action"]), ("warn", "rows_read", "flagged"))
        self.assertGreaterEqual(inc[0]["observed"], 150)
        self.assertFalse(self.user(uid)["locked"])


class NormalTraffic(GuardCase):
    def test_twenty_users_of_normal_mixed_traffic_for_a_minute_raise_nothing(self):
        seed_customers(self.tenant.id, 300, prefix="normal")
        roles = ["sales"] * 10 + ["manager"] * 5 + ["viewer"] * 5
        users = [self.new_user(role=r) for r in roles]
        failures, warned = [], []
        stop = time.time() + 60

        def work(i, uid, token, role):
            n = 0
            while time.time() < stop:
                n += 1
                if n % 4 == 0 and role != "viewer":
                    r = self.call("POST", API + "/customers", {"name": "n%d-%d" % (i, n)}, token=token)
                    ok = 201
                elif n % 4 == 1:
                    r = self.call("POST", API + "/customers/query", {"page": {"size": 25}}, token=token)
                    ok = 200
                else:
                    r = self.call("GET", API + "/customers?limit=10", token=token)
                    ok = 200
                if r.status != ok:
                    failures.append((uid, r.status))
                if r.header("x-guard"):
                    warned.append(uid)
                time.sleep(0.5)

        threads = [threading.Thread(target=work, args=(i, u[0], u[3], roles[i])) for i, u in enumerate(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        self.assertEqual(warned, [])
        self.assertEqual(self.incidents(), [], "a false incident under normal traffic")


if __name__ == "__main__":
    h.main()
