#!/usr/bin/env python3
"""Security round (issue 9): each attack of the adversarial probe, replayed.

1. Revocation races: four threads use a token every 10 ms while it is logged
   out, its user locked, downgraded from manager to viewer, or moved to a
   profile that hides tax_id; every request that *starts* after the call
   answered must see the new state (200 trials per kind, 0 survivors). Also
   a login racing a lock, an admin's password reset (ends the user's
   sessions) and a user changing their own password (keeps the current one).
2. NUL characters: a NUL in any string of any entity, user, profile, tenant
   or login is refused (422 naming the field; 401 at login, identical to a
   wrong credential) and nothing is written.
3. The per-account login throttle cannot be dodged with a NUL suffix.
4. Throttles behind the gateway: the client address comes from the trusted
   gateway (X-Forwarded-For through nginx), an attacker at one address cannot
   make a correct login from another address fail, and forwarded headers
   from an untrusted peer are ignored.
5. Write implies read: a profile may not write a field it cannot read.
6. HTTP edges: HTTP/1.1 without Host is 400, another major version is 505.
Run: python3 test/integration/test_security.py (through test/run-all.sh)
"""

import json
import os
import random
import sys
import threading
import time
import unittest
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import API, USERS, ME, LOGIN, LOGOUT, PROFILES, AUDIT, VALIDATION, REVOKED  # noqa: E402


INVALID = "auth.invalid_credentials"

TRIALS = int(os.environ.get("NEXTCRM_RACE_TRIALS", "200"))
NUL = "\u0000"

SERVER = None


def setUpModule():
    global SERVER
    h.require_env()
    # Loopback is the trusted gateway here (as in the dev stack).
    SERVER = h.start_module_server(env={"NEXTCRM_TRUSTED_PROXIES": "127.0.0.1/32,::1/128"})


class SecurityCase(unittest.TestCase):
    def setUp(self):
        self.server = SERVER
        self.port = SERVER.port

    def tearDown(self):
        self.assertTrue(self.server.alive(), "nextcrm died\n" + self.server.log_tail())

    def call(self, method, path, body=None, token=None, headers=None, port=None):
        return h.api(port or self.port, method, path, body, token=token, headers=headers, timeout=60)

    def problem(self, r, status, codes=None):
        return h.check_problem(self, r, status, codes)

    def data(self, r, status=200):
        self.assertEqual(r.status, status, r)
        return r.json()["data"]

    def new_user(self, admin, role, **extra):
        pw = h.new_password()
        body = {"email": "%s-%s@sec.test" % (role, h.tag()), "password": pw, "role": role}
        body.update(extra)
        user = self.data(self.call("POST", USERS, body, token=admin), 201)
        return user, pw

    def login(self, tenant, email, password, headers=None, port=None):
        return self.call("POST", LOGIN, {"tenant": tenant.slug, "email": email, "password": password},
                         headers=headers, port=port)


# ------------------------------------------------------------------ 1. races


class RevocationRaces(SecurityCase):
    """The probe's four kinds: a call changes what token T may do while four
    threads use T every 10 ms. A request that started after the call's
    answer arrived and still sees the old state is a survivor."""

    @classmethod
    def setUpClass(cls):
        cls.tenant = h.bootstrap_tenant(SERVER)
        cls.admin = h.login_token(SERVER, cls.tenant)["access_token"]

    def race(self, token, probe, revoke, stale):
        """Runs TRIALS... one trial: 4 threads probe(token) every 10 ms from
        before revoke() until after its answer; returns the survivors (probe
        results that started after the answer and are stale(result))."""
        stop = threading.Event()
        results = []  # (started, result)
        lock = threading.Lock()

        def worker():
            while not stop.is_set():
                started = time.monotonic()
                r = probe(token)
                with lock:
                    results.append((started, r))
                time.sleep(0.01)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.0, 0.03))
        answer = revoke()
        answered = time.monotonic()
        time.sleep(0.03)  # let every thread start at least one more request
        stop.set()
        for t in threads:
            t.join(30)
        final = probe(token)
        after = [r for started, r in results if started > answered] + [final]
        return answer, [r for r in after if stale(r)]

    def run_kind(self, name, setup, probe, revoke, stale):
        survivors = []
        for trial in range(TRIALS):
            token, ctx = setup(trial)
            answer, bad = self.race(token, probe, lambda: revoke(ctx), stale)
            self.assertIn(answer.status, (200, 204), "%s trial %d: the call itself failed: %r" % (name, trial, answer))
            if bad:
                survivors.append((trial, bad[0]))
        self.assertEqual(survivors, [], "%s: %d of %d trials had a stale answer after the call answered"
                         % (name, len(survivors), TRIALS))

    def me(self, token):
        return self.call("GET", ME, token=token)

    def test_logout(self):
        user, pw = self.new_user(self.admin, "sales")

        def setup(_):
            token = self.login(self.tenant, user["email"], pw).json()["access_token"]
            return token, token

        self.run_kind("logout", setup, self.me,
                      lambda token: self.call("POST", LOGOUT, token=token),
                      lambda r: r.status != 401)

    def test_lock(self):
        user, pw = self.new_user(self.admin, "sales")

        def setup(_):
            self.assertEqual(self.call("POST", "%s/%s/unlock" % (USERS, user["id"]), token=self.admin).status, 200)
            return self.login(self.tenant, user["email"], pw).json()["access_token"], None

        def probe(token):
            return self.call("POST", API + "/customers", {"name": "from a locked user " + h.tag()}, token=token)

        self.run_kind("lock", setup, probe,
                      lambda _: self.call("POST", "%s/%s/lock" % (USERS, user["id"]), token=self.admin),
                      lambda r: r.status != 401)

    def test_role_downgrade(self):
        user, pw = self.new_user(self.admin, "manager")
        path = "%s/%s" % (USERS, user["id"])

        def setup(_):
            self.assertEqual(self.call("PATCH", path, {"role": "manager"}, token=self.admin).status, 200)
            return self.login(self.tenant, user["email"], pw).json()["access_token"], None

        def stale(r):
            return r.status != 200 or r.json()["data"]["user"]["role"] != "viewer"

        self.run_kind("downgrade", setup, self.me,
                      lambda _: self.call("PATCH", path, {"role": "viewer"}, token=self.admin), stale)
        # and the downgraded token has lost audit:read
        token = self.login(self.tenant, user["email"], pw).json()["access_token"]
        self.problem(self.call("GET", AUDIT, token=token), 403, "auth.forbidden")

    def test_profile_change(self):
        user, pw = self.new_user(self.admin, "manager", access_profile="manager")
        path = "%s/%s" % (USERS, user["id"])
        customer = self.data(self.call("POST", API + "/customers", {"name": "Taxed", "tax_id": "DE-999"},
                                       token=self.admin), 201)
        cpath = "%s/customers/%s" % (API, customer["id"])

        def setup(_):
            self.assertEqual(self.call("PATCH", path, {"access_profile": "manager"}, token=self.admin).status, 200)
            return self.login(self.tenant, user["email"], pw).json()["access_token"], None

        def probe(token):
            return self.call("GET", cpath, token=token)

        def stale(r):
            return r.status != 200 or "tax_id" in r.json()["data"]

        self.run_kind("profile", setup, probe,
                      lambda _: self.call("PATCH", path, {"access_profile": "sales_rep"}, token=self.admin), stale)

    def test_login_racing_a_lock(self):
        """A login that was under way while the user was locked may answer
        200, but the token it got must be dead once the lock has answered."""
        user, pw = self.new_user(self.admin, "sales")
        survivors = []
        for trial in range(max(20, TRIALS // 4)):
            self.assertEqual(self.call("POST", "%s/%s/unlock" % (USERS, user["id"]), token=self.admin).status, 200)
            got = {}

            def do_login():
                got["r"] = self.login(self.tenant, user["email"], pw)

            t = threading.Thread(target=do_login, daemon=True)
            t.start()
            time.sleep(random.uniform(0.0, 0.06))
            self.assertEqual(self.call("POST", "%s/%s/lock" % (USERS, user["id"]), token=self.admin).status, 200)
            t.join(30)
            r = got["r"]
            if r.status == 200:
                after = self.me(r.json()["access_token"])
                if after.status != 401:
                    survivors.append((trial, after))
            else:
                self.problem(r, 403, "auth.user_locked")
        self.assertEqual(survivors, [])

    def test_admin_password_reset_ends_every_session_of_the_user(self):
        user, pw = self.new_user(self.admin, "sales")
        tokens = [self.login(self.tenant, user["email"], pw).json()["access_token"] for _ in range(2)]
        for t in tokens:
            self.assertEqual(self.me(t).status, 200)
        new_pw = h.new_password()
        self.assertEqual(self.call("PATCH", "%s/%s" % (USERS, user["id"]), {"password": new_pw},
                                   token=self.admin).status, 200)
        for t in tokens:
            self.problem(self.me(t), 401, REVOKED)
        self.problem(self.login(self.tenant, user["email"], pw), 401, INVALID)
        self.assertEqual(self.login(self.tenant, user["email"], new_pw).status, 200)

    def test_own_password_change_keeps_the_current_session_only(self):
        tenant = h.bootstrap_tenant(self.server)
        current = h.login_token(self.server, tenant)["access_token"]
        other = h.login_token(self.server, tenant)["access_token"]
        new_pw = h.new_password()
        r = self.call("PATCH", "%s/%s" % (USERS, tenant.admin_user_id), {"password": new_pw}, token=current)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.me(current).status, 200)
        self.problem(self.me(other), 401, REVOKED)
        # kept in PostgreSQL too: a node that rebuilds the session from its row keeps it
        sid = h.jwt_parts(current)[1]["sid"]
        rows = h.psql_tenant(h.require_env("NEXTCRM_TEST_PG_URL")["NEXTCRM_TEST_PG_URL"], tenant.id,
                             "SELECT revoked_at IS NULL FROM sessions WHERE id = '%s'" % sid)
        self.assertEqual(rows, [["t"]])

    def test_a_reset_is_recorded_in_the_sessions_table(self):
        """The revocation is in PostgreSQL too, not only in memory."""
        user, pw = self.new_user(self.admin, "sales")
        sid = self.login(self.tenant, user["email"], pw).json()["session_id"]
        self.call("PATCH", "%s/%s" % (USERS, user["id"]), {"password": h.new_password()}, token=self.admin)
        rows = h.psql_tenant(h.require_env("NEXTCRM_TEST_PG_URL")["NEXTCRM_TEST_PG_URL"], self.tenant.id,
                             "SELECT revoked_at IS NOT NULL, revoked_reason FROM sessions WHERE id = '%s'" % sid)
        self.assertEqual(rows, [["t", "password"]])


# ------------------------------------------------------------------ 2./3. NUL


ENTITY_BODIES = {
    "customers": {"name": "Acme", "email": "a@acme.test", "phone": "+49 30 1", "status": "lead",
                  "annual_revenue": "10", "tax_id": "DE123", "notes": "n"},
    "products": {"sku": "SKU", "name": "P", "description": "d", "cost": "1.00"},
    "warehouses": {"code": "WH", "name": "W", "address": "a"},
    "deals": {"title": "D", "stage": "prospect", "amount": "5", "currency": "EUR", "close_date": "2026-12-31"},
    "price-lists": {"name": "PL", "currency": "EUR", "valid_from": "2026-01-01", "valid_to": "2026-12-31"},
}
TABLES = {"customers": "customers", "deals": "deals", "products": "products", "warehouses": "warehouses",
          "price-lists": "price_lists"}


def with_nul(value):
    """VALUE with a NUL in the middle (or after it, for one character)."""
    return value[:len(value) // 2 + 1] + NUL + " Evil" + value[len(value) // 2 + 1:]


class NulCharacters(SecurityCase):
    @classmethod
    def setUpClass(cls):
        cls.tenant = h.bootstrap_tenant(SERVER)
        cls.admin = h.login_token(SERVER, cls.tenant)["access_token"]
        cls.app_url = h.require_env("NEXTCRM_TEST_PG_URL")["NEXTCRM_TEST_PG_URL"]

    def count(self, table):
        return int(h.psql_tenant(self.app_url, self.tenant.id, "SELECT count(*) FROM %s" % table)[0][0])

    def refused(self, r, field):
        body = self.problem(r, 422, VALIDATION)
        self.assertIn(field, [e["field"] for e in body.get("errors", [])], body)

    def bodies(self, entity):
        """(base body, {field: string value}) for ENTITY with references made."""
        base = dict(ENTITY_BODIES[entity])
        t = h.tag()
        for k in ("name", "sku", "code", "title"):
            if k in base:
                base[k] = base[k] + "-" + t
        owner = self.tenant.admin_user_id
        if entity == "customers":
            base["owner_id"] = owner
        if entity == "deals":
            cust = self.data(self.call("POST", API + "/customers", {"name": "ref " + t}, token=self.admin), 201)
            base.update(customer_id=cust["id"], owner_id=owner)
        if entity == "price-lists":
            prod = self.data(self.call("POST", API + "/products", {"sku": "ref-" + t, "name": "ref"},
                                       token=self.admin), 201)
            base["items"] = [{"product_id": prod["id"], "price": "2.50"}]
        return base

    def string_paths(self, body):
        """(json path, setter) for every string in BODY, items included."""
        out = []
        for k, v in body.items():
            if isinstance(v, str):
                out.append((k, lambda b, k=k: b.__setitem__(k, with_nul(b[k]))))
        if "items" in body:
            for sub in ("product_id", "price"):
                out.append(("items.0." + sub,
                            lambda b, sub=sub: b["items"][0].__setitem__(sub, with_nul(b["items"][0][sub]))))
        return out

    def test_every_string_field_of_every_entity_on_create_and_patch(self):
        for entity, table in TABLES.items():
            base = self.bodies(entity)
            rec = self.data(self.call("POST", "%s/%s" % (API, entity), base, token=self.admin), 201)
            rows, audits = self.count(table), self.count("audit_logs")
            for field, poison in self.string_paths(base):
                with self.subTest(entity=entity, field=field):
                    body = json.loads(json.dumps(base))
                    for k in ("name", "sku", "code", "title"):
                        if k in body and k != field:
                            body[k] = body[k] + "-x" + h.tag()
                    poison(body)
                    self.refused(self.call("POST", "%s/%s" % (API, entity), body, token=self.admin), field)
                    top = field.split(".")[0]
                    self.refused(self.call("PATCH", "%s/%s/%s" % (API, entity, rec["id"]), {top: body[top]},
                                           token=self.admin), field)
            self.assertEqual(self.count(table), rows, "a refused %s body left a row" % entity)
            self.assertEqual(self.count("audit_logs"), audits, "a refused %s body left an audit row" % entity)
            again = self.data(self.call("GET", "%s/%s/%s" % (API, entity, rec["id"]), token=self.admin))
            self.assertEqual(again["version"], rec["version"], "a refused patch changed %s" % entity)

    def test_the_probe_body(self):
        r = self.call("POST", API + "/customers", {"name": "Acme\u0000 Evil Corp", "tax_id": "DE123\u0000456"},
                      token=self.admin)
        body = self.problem(r, 422, VALIDATION)
        self.assertEqual(sorted(e["field"] for e in body["errors"]), ["name", "tax_id"])

    def test_users(self):
        users = self.count("users")
        good = {"email": "n-%s@sec.test" % h.tag(), "password": h.new_password(), "role": "sales",
                "access_profile": "sales_rep"}
        for field in good:
            with self.subTest(field=field):
                body = dict(good)
                body[field] = with_nul(body[field])
                self.refused(self.call("POST", USERS, body, token=self.admin), field)
        self.assertEqual(self.count("users"), users)
        user, pw = self.new_user(self.admin, "sales")
        for field in good:
            with self.subTest(patch=field):
                self.refused(self.call("PATCH", "%s/%s" % (USERS, user["id"]), {field: with_nul(good[field])},
                                       token=self.admin), field)
        again = self.data(self.call("GET", "%s/%s" % (USERS, user["id"]), token=self.admin))
        self.assertEqual(again["version"], user["version"])
        self.assertEqual(self.login(self.tenant, user["email"], pw).status, 200)

    def test_profiles(self):
        name = "nul_" + h.tag()
        r = self.call("PUT", "%s/%s" % (PROFILES, name),
                      {"entities": {"customers": {"read": ["id", "na" + NUL + "me"], "write": []}}}, token=self.admin)
        self.refused(r, "entities.customers.read.1")
        r = self.call("PUT", "%s/%s%%00x" % (PROFILES, name),
                      {"entities": {"customers": {"read": ["id", "name"], "write": []}}}, token=self.admin)
        self.assertIn(r.status, (404, 422), r)
        self.problem(r, r.status)
        self.assertEqual(self.call("GET", "%s/%s" % (PROFILES, name), token=self.admin).status, 404)

    def test_tenant_bootstrap(self):
        slug = h.unique_slug()
        good = {"slug": slug, "name": "N", "admin": {"email": "a@%s.test" % slug, "password": h.new_password()}}
        for field in ("slug", "name", "admin.email", "admin.password"):
            with self.subTest(field=field):
                body = json.loads(json.dumps(good))
                if "." in field:
                    body["admin"][field.split(".")[1]] = with_nul(body["admin"][field.split(".")[1]])
                else:
                    body[field] = with_nul(body[field])
                r = self.call("POST", API + "/tenants", body, token=self.server.platform_token)
                self.refused(r, field)
        self.assertEqual(h.psql(h.require_env("NEXTCRM_TEST_PG_OWNER_URL")["NEXTCRM_TEST_PG_OWNER_URL"],
                                "SELECT count(*) FROM tenants WHERE slug LIKE '%s%%'" % slug[:10])[0][0], "0")

    def test_login_with_nul_is_a_wrong_credential(self):
        user, pw = self.new_user(self.admin, "sales")
        wrong = self.problem(self.login(self.tenant, user["email"], "wrong " + pw), 401, INVALID)
        attempts = [
            {"tenant": self.tenant.slug + NUL + "junk", "email": user["email"], "password": pw},
            {"tenant": self.tenant.slug, "email": user["email"] + NUL + "junk", "password": pw},
            {"tenant": self.tenant.slug, "email": user["email"], "password": pw + NUL + "junk"},
        ]
        for body in attempts:
            with self.subTest(body=repr(body)):
                got = self.problem(self.call("POST", LOGIN, body), 401, INVALID)
                self.assertEqual((got["title"], got["detail"]), (wrong["title"], wrong["detail"]))

    def test_nul_suffix_does_not_dodge_the_account_throttle(self):
        """Issue 9.3: the throttle key kept the suffix, the lookup dropped it."""
        user, pw = self.new_user(self.admin, "sales")
        for n in range(8):
            r = self.login(self.tenant, "%s%s%d" % (user["email"], NUL, n), "wrong " + pw)
            self.problem(r, 401, INVALID)
        # the suffixed address never reached the account: even the right password is refused
        self.problem(self.login(self.tenant, user["email"] + NUL + "9", pw), 401, INVALID)
        # and the account's own throttle works: 5 failures, then 429 even for the right password
        for _ in range(5):
            self.problem(self.login(self.tenant, user["email"], "wrong " + pw), 401, INVALID)
        r = self.login(self.tenant, user["email"], pw)
        self.problem(r, 429, "rate.limited")
        self.assertTrue(int(r.header("retry-after")) >= 1, r)


# ------------------------------------------------------------------ 4. gateway


class ThrottleBehindTheGateway(SecurityCase):
    @classmethod
    def setUpClass(cls):
        cls.gateway = h.Gateway(SERVER).start()

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()

    def via(self, tenant, email, password, address):
        return self.login(tenant, email, password, headers={"X-Forwarded-For": address}, port=self.gateway.port)

    def test_an_attacker_cannot_lock_out_a_user_at_another_address(self):
        tenant = h.bootstrap_tenant(self.server)
        attacker, victim = "203.0.113.66", "198.51.100.7"
        statuses = []
        for i in range(12):  # the victim's account, wrong passwords
            statuses.append(self.via(tenant, tenant.email, "wrong-%d-%s" % (i, h.tag()), attacker).status)
        for i in range(20):  # made-up accounts
            statuses.append(self.via(tenant, "ghost%d@%s.test" % (i, tenant.slug), "x" * 12, attacker).status)
        self.assertEqual(set(statuses[:5]), {401}, statuses)
        self.assertIn(429, statuses, "the attacker's address was never throttled")
        # the attacker's address is throttled for every account, the right password included
        self.problem(self.via(tenant, tenant.email, tenant.password, attacker), 429, "rate.limited")
        # the real user, from their own address, logs in
        r = self.via(tenant, tenant.email, tenant.password, victim)
        self.assertEqual(r.status, 200, r)
        # and the address reached the log line of that login (written after the answer)
        def line_of_login():
            for line in open(self.server.log_path, "rb").read().decode("utf-8", "replace").splitlines():
                if line.startswith("{"):
                    x = json.loads(line)
                    if x.get("route") == LOGIN and x.get("request_id") == r.header("x-request-id"):
                        return x
            return None
        h.wait_for(line_of_login, 10, what="the access log line of the login")
        self.assertEqual(line_of_login().get("client"), victim)

    def test_an_oversized_body_is_refused_by_the_gateway_before_it_is_sent(self):
        """nginx's body limits are the server's: 413 problem from the
        Content-Length alone, the body never sent (issue 10.7)."""
        for path, size in (("/api/v1/auth/login", 17 * 1024), ("/api/v1/customers", 300 * 1024)):
            with h.RawConnection(self.gateway.port) as c:
                c.send(("POST %s HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\n\r\n" % (path, size)).encode())
                r = c.read_response(timeout=10)
            self.problem(r, 413, "request.too_large")
        # within the limits, the server answers
        tenant = h.bootstrap_tenant(self.server)
        token = h.login_token(self.server, tenant)["access_token"]
        r = self.call("POST", API + "/customers", {"name": "big", "notes": "n" * 9000}, token=token,
                      port=self.gateway.port)
        self.assertEqual(r.status, 201, r)

    def test_the_gateway_address_is_used_when_the_client_sends_none(self):
        tenant = h.bootstrap_tenant(self.server)
        r = self.login(tenant, tenant.email, tenant.password, port=self.gateway.port)
        self.assertEqual(r.status, 200, r)


class UntrustedForwardedHeaders(SecurityCase):
    """A server that trusts no loopback proxy ignores X-Forwarded-For and
    X-Real-IP from loopback clients: rotating them does not escape the
    per-address throttle."""

    def test_rotating_forwarded_headers_does_not_escape_the_address_throttle(self):
        server = h.Server(env={"NEXTCRM_TRUSTED_PROXIES": "192.0.2.1/32"})
        self.addCleanup(server.cleanup)
        server.start()
        tenant = h.bootstrap_tenant(server)
        statuses = []
        for i in range(24):
            addr = "10.0.%d.%d" % (i, i + 1)
            statuses.append(self.login(tenant, "ghost%d@x.test" % i, "x" * 12, port=server.port,
                                       headers={"X-Forwarded-For": addr, "X-Real-IP": addr}).status)
        self.assertEqual(statuses[:20], [401] * 20, statuses)
        self.assertEqual(statuses[20:], [429] * 4, statuses)


# ------------------------------------------------------------------ 5. write implies read


class WriteImpliesRead(SecurityCase):
    @classmethod
    def setUpClass(cls):
        cls.tenant = h.bootstrap_tenant(SERVER)
        cls.admin = h.login_token(SERVER, cls.tenant)["access_token"]

    def test_a_write_only_field_is_refused(self):
        name = "wo_" + h.tag()
        r = self.call("PUT", "%s/%s" % (PROFILES, name),
                      {"entities": {"products": {"read": ["id", "name"], "write": ["sku", "name"]}}},
                      token=self.admin)
        body = self.problem(r, 422, VALIDATION)
        errs = body["errors"]
        self.assertEqual([(e["field"], e["code"]) for e in errs], [("entities.products.write", "not_readable")])
        self.assertIn("sku", errs[0]["detail"])
        self.assertEqual(self.call("GET", "%s/%s" % (PROFILES, name), token=self.admin).status, 404)

    def test_the_probe_oracle_is_closed(self):
        """With write implying read, the 409 on a duplicate sku tells nothing
        the profile could not read anyway; the write-only profile cannot exist."""
        name = "rw_" + h.tag()
        r = self.call("PUT", "%s/%s" % (PROFILES, name),
                      {"entities": {"products": {"read": ["id", "name", "sku"], "write": ["sku", "name"]}}},
                      token=self.admin)
        self.assertIn(r.status, (200, 201), r)

    def test_the_database_refuses_a_write_only_profile(self):
        owner = h.require_env("NEXTCRM_TEST_PG_OWNER_URL")["NEXTCRM_TEST_PG_OWNER_URL"]
        with self.assertRaises(AssertionError) as ctx:
            h.psql_tenant(owner, self.tenant.id,
                          "INSERT INTO access_profiles (tenant_id, name, entities) VALUES ('%s', 'db_wo',"
                          " '{\"products\":{\"read\":[\"id\"],\"write\":[\"sku\"]}}')" % self.tenant.id)
        self.assertIn("access_profiles_write_implies_read", str(ctx.exception))


# ------------------------------------------------------------------ 6. HTTP edges


class HttpEdges(SecurityCase):
    def raw(self, data):
        with h.RawConnection(self.port) as c:
            c.send(data)
            return c.read_response()

    def test_http11_without_host_is_400(self):
        r = self.raw(b"GET /health HTTP/1.1\r\n\r\n")
        self.problem(r, 400, "request.malformed")

    def test_two_hosts_are_400(self):
        r = self.raw(b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        self.problem(r, 400, "request.malformed")

    def test_http10_without_host_is_fine(self):
        r = self.raw(b"GET /health HTTP/1.0\r\n\r\n")
        self.assertEqual(r.status, 200, r)

    def test_http2_request_line_is_505(self):
        r = self.raw(b"GET /health HTTP/2.0\r\nHost: a\r\n\r\n")
        self.problem(r, 505, "request.version_not_supported")


if __name__ == "__main__":
    h.main()
