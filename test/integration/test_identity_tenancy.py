#!/usr/bin/env python3
"""Tenancy (issue 3): two tenants never see each other; PostgreSQL row-level
security scopes a query that forgets the tenant predicate; sessions survive a
restart (and a crash) of nextcrm, logged-out ones stay dead.
Run: python3 test/integration/test_identity_tenancy.py
"""

import os
import signal
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402

TENANT_TABLES = ("users", "roles", "sessions")


class Isolation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cfg = h.require_env()
        cls.server = h.Server()
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start(healthy=True)

    def tearDown(self):
        self.assertTrue(self.server.alive(), "nextcrm died\n" + self.server.log_tail())

    def test_login_is_per_tenant(self):
        a = h.bootstrap_tenant(self.server)
        b = h.bootstrap_tenant(self.server)
        for slug, email, pw in ((b.slug, a.email, a.password), (a.slug, b.email, b.password)):
            with self.subTest(tenant=slug, email=email):
                r = h.login(self.server, slug, email, pw)
                h.check_problem(self, r, 401, "auth.invalid_credentials")

    def test_same_email_in_two_tenants(self):
        """Emails are unique per tenant only: one address, two users, two passwords."""
        email = "same-%s@shared.test" % os.urandom(4).hex()
        a = h.bootstrap_tenant(self.server, email=email)
        b = h.bootstrap_tenant(self.server, email=email.upper())
        self.assertNotEqual(a.admin_user_id, b.admin_user_id)
        h.check_problem(self, h.login(self.server, b.slug, email, a.password), 401, "auth.invalid_credentials")
        h.check_problem(self, h.login(self.server, a.slug, email, b.password), 401, "auth.invalid_credentials")
        for t in (a, b):
            with self.subTest(tenant=t.slug):
                token = h.login_token(self.server, t, email=email)["access_token"]
                data = h.me(self.server, token).json()["data"]
                self.assertEqual(data["tenant"], {"id": t.id, "slug": t.slug})
                self.assertEqual(data["user"]["id"], t.admin_user_id)

    def test_token_shows_only_its_tenant(self):
        a = h.bootstrap_tenant(self.server)
        b = h.bootstrap_tenant(self.server)
        ta = h.login_token(self.server, a)
        tb = h.login_token(self.server, b)
        for _ in range(5):  # interleaved, so that no state leaks from one to the next
            for t, login, other in ((a, ta, b), (b, tb, a)):
                r = h.me(self.server, login["access_token"])
                self.assertEqual(r.status, 200, r)
                data = r.json()["data"]
                self.assertEqual(data["tenant"], {"id": t.id, "slug": t.slug})
                self.assertEqual(data["user"]["id"], t.admin_user_id)
                self.assertEqual(data["session"]["id"], login["session_id"])
                text = r.body.decode()
                for leak in (other.id, other.slug, other.admin_user_id, other.email):
                    self.assertNotIn(leak, text, "tenant %s's answer names tenant %s" % (t.slug, other.slug))

    def test_logout_in_one_tenant_leaves_the_other(self):
        a = h.bootstrap_tenant(self.server)
        b = h.bootstrap_tenant(self.server)
        ta = h.login_token(self.server, a)["access_token"]
        tb = h.login_token(self.server, b)["access_token"]
        self.assertEqual(h.api(self.server.port, "POST", "/api/v1/auth/logout", token=ta).status, 204)
        h.check_problem(self, h.me(self.server, ta), 401, "auth.session_revoked")
        self.assertEqual(h.me(self.server, tb).status, 200)


class RowLevelSecurity(unittest.TestCase):
    """Straight to PostgreSQL as the application role (what nextcrm connects as)."""

    @classmethod
    def setUpClass(cls):
        cls.cfg = h.require_env()
        cls.app = cls.cfg["NEXTCRM_TEST_PG_URL"]
        cls.owner = cls.cfg["NEXTCRM_TEST_PG_OWNER_URL"]
        cls.server = h.Server()
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start(healthy=True)
        cls.a = h.bootstrap_tenant(cls.server)
        cls.b = h.bootstrap_tenant(cls.server)
        for t in (cls.a, cls.b):
            h.login_token(cls.server, t)  # a session row for each

    def scalar(self, sql, tenant=None, url=None):
        rows = h.psql_tenant(url or self.app, tenant, sql) if tenant else h.psql(url or self.app, sql)
        self.assertEqual(len(rows), 1, rows)
        return rows[0][0]

    def test_tables_force_rls_and_carry_tenant_id(self):
        for table in TENANT_TABLES:
            with self.subTest(table=table):
                rows = h.psql(self.app, "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                                        "WHERE relname = '%s' AND relkind = 'r'" % table)
                self.assertEqual(rows, [["t", "t"]], "%s: ENABLE and FORCE ROW LEVEL SECURITY" % table)
                cols = h.psql(self.app, "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                                        "'public' AND table_name = '%s' AND column_name = 'tenant_id'" % table)
                self.assertEqual(cols, [["1"]], "%s has no tenant_id column" % table)
        rows = h.psql(self.app, "SELECT 1 FROM pg_class WHERE relname = 'tenants' AND relkind = 'r'")
        self.assertEqual(rows, [["1"]], "no table tenants")

    def test_no_tenant_set_sees_nothing(self):
        for table in TENANT_TABLES + ("tenants",):
            with self.subTest(table=table):
                self.assertEqual(self.scalar("SELECT count(*) FROM %s" % table), "0")
                # FORCE: not even the owner of the tables sees rows without a tenant
                self.assertEqual(self.scalar("SELECT count(*) FROM %s" % table, url=self.owner), "0")

    def test_tenant_set_sees_only_its_rows(self):
        for t, other in ((self.a, self.b), (self.b, self.a)):
            with self.subTest(tenant=t.slug):
                # no WHERE clause: the policy alone scopes the query
                self.assertEqual(self.scalar("SELECT count(*) FROM users", t.id), "1")
                self.assertEqual(h.psql_tenant(self.app, t.id, "SELECT id, slug FROM tenants"), [[t.id, t.slug]])
                self.assertEqual(h.psql_tenant(self.app, t.id, "SELECT id FROM users"), [[t.admin_user_id]])
                for table in TENANT_TABLES:
                    tids = h.psql_tenant(self.app, t.id, "SELECT DISTINCT tenant_id FROM %s" % table)
                    self.assertIn(tids, ([[t.id]], []) if table == "roles" else ([[t.id]],), table)
                    self.assertEqual(self.scalar("SELECT count(*) FROM %s WHERE tenant_id = '%s'"
                                                 % (table, other.id), t.id), "0", table)
                self.assertEqual(self.scalar("SELECT count(*) FROM users WHERE id = '%s'"
                                             % other.admin_user_id, t.id), "0")

    def test_writes_cannot_reach_another_tenant(self):
        changed = self.scalar("WITH u AS (UPDATE users SET email = email WHERE tenant_id = '%s' RETURNING 1) "
                              "SELECT count(*) FROM u" % self.b.id, self.a.id)
        self.assertEqual(changed, "0")
        deleted = self.scalar("WITH d AS (DELETE FROM sessions WHERE tenant_id = '%s' RETURNING 1) "
                              "SELECT count(*) FROM d" % self.b.id, self.a.id)
        self.assertEqual(deleted, "0")
        moved = None
        try:  # the policy's WITH CHECK (or a privilege) refuses the move
            moved = self.scalar("WITH u AS (UPDATE users SET tenant_id = '%s' RETURNING 1) "
                                "SELECT count(*) FROM u" % self.b.id, self.a.id)
        except AssertionError:
            pass
        self.assertIn(moved, (None, "0"), "a user was moved to another tenant")
        self.assertEqual(self.scalar("SELECT count(*) FROM users", self.a.id), "1")
        self.assertEqual(self.scalar("SELECT count(*) FROM users", self.b.id), "1")
        self.assertEqual(h.me(self.server, h.login_token(self.server, self.b)["access_token"]).status, 200)

    def test_app_role_cannot_switch_rls_off(self):
        with self.assertRaises(AssertionError):
            h.psql(self.app, "ALTER TABLE users DISABLE ROW LEVEL SECURITY")
        with self.assertRaises(AssertionError):
            h.psql(self.app, "ALTER TABLE users NO FORCE ROW LEVEL SECURITY")


class Restart(unittest.TestCase):
    """Sessions live in PostgreSQL: a new process (same keys) recovers them on
    first use; logged-out ones stay revoked. Also after a SIGKILL."""

    def start(self):
        server = h.Server(env=self.env)
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        return server

    def test_sessions_survive_restart_and_crash(self):
        h.require_env()
        self.env = {"NEXTCRM_JWT_KEYS": h.jwt_keys_setting(h.new_jwt_key("it-restart")),
                    "NEXTCRM_PLATFORM_TOKEN": "it-restart-" + os.urandom(8).hex()}
        s1 = self.start()
        t = h.bootstrap_tenant(s1)
        live = h.login_token(s1, t)
        dead = h.login_token(s1, t)
        spare = h.login_token(s1, t)
        self.assertEqual(h.api(s1.port, "POST", "/api/v1/auth/logout", token=dead["access_token"]).status, 204)
        self.assertEqual(s1.stop(), 0, s1.log_tail())

        s2 = self.start()
        r = h.me(s2, live["access_token"])
        self.assertEqual(r.status, 200, "a session of before the restart: %r\n%s" % (r, s2.log_tail()))
        data = r.json()["data"]
        self.assertEqual(data["session"]["id"], live["session_id"])
        self.assertEqual(data["user"]["id"], t.admin_user_id)
        self.assertEqual(data["user"]["role"], "admin")
        self.assertEqual(data["tenant"], {"id": t.id, "slug": t.slug})
        h.check_problem(self, h.me(s2, dead["access_token"]), 401, "auth.session_revoked")
        _, claims, _ = h.jwt_parts(live["access_token"])
        now = int(time.time())
        forged = h.jwt_sign({"alg": "HS256", "typ": "JWT", "kid": "it-restart"},
                            dict(claims, sid=str(uuid.uuid4()), iat=now, nbf=now, exp=now + 600),
                            s2.jwt_keys[0][1])
        h.check_problem(self, h.me(s2, forged), 401, "auth.session_revoked")
        # logout on the new process of a session made by the old one
        self.assertEqual(h.api(s2.port, "POST", "/api/v1/auth/logout", token=live["access_token"]).status, 204)
        h.check_problem(self, h.me(s2, live["access_token"]), 401, "auth.session_revoked")
        after = h.login_token(s2, t)
        s2.signal(signal.SIGKILL)
        s2.proc.wait(10)

        s3 = self.start()
        for login in (spare, after):
            r = h.me(s3, login["access_token"])
            self.assertEqual(r.status, 200, "after a SIGKILL: %r\n%s" % (r, s3.log_tail()))
            self.assertEqual(r.json()["data"]["session"]["id"], login["session_id"])
        for login in (live, dead):
            h.check_problem(self, h.me(s3, login["access_token"]), 401, "auth.session_revoked")
        self.assertEqual(s3.stop(), 0, s3.log_tail())


if __name__ == "__main__":
    h.main()
