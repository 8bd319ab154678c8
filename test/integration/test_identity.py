#!/usr/bin/env python3
"""Identity, first slice (issue 3): platform bootstrap of a tenant, login,
/auth/me, logout, bad input, and what reaches the logs.
Run: python3 test/integration/test_identity.py
"""

import datetime
import os
import re
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import ME, LOGIN, LOGOUT  # noqa: E402

TENANTS = "/api/v1/tenants"
RFC3339_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")


SERVER = None


def setUpModule():
    global SERVER
    h.require_env()
    SERVER = h.Server()
    unittest.addModuleCleanup(SERVER.cleanup)
    SERVER.start(healthy=True)


class IdentityCase(unittest.TestCase):
    """One server for the module; every test makes its own tenants."""

    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        cls.port = SERVER.port

    def tearDown(self):
        self.assertTrue(self.server.alive(), "nextcrm died\n" + self.server.log_tail())

    def problem(self, r, status, codes=None):
        return h.check_problem(self, r, status, codes)

    def post_tenant(self, body, token="default", headers=None):
        token = self.server.platform_token if token == "default" else token
        return h.api(self.port, "POST", TENANTS, body, token=token, headers=headers)

    def tenant_body(self, slug=None, **over):
        slug = h.unique_slug() if slug is None else slug
        body = {"slug": slug, "name": "Tenant " + slug,
                "admin": {"email": "admin-%s@acme.test" % os.urandom(4).hex(), "password": h.new_password()}}
        body.update(over)
        return body

    def assert_validation(self, r, fields, secret=None):
        """422 request.validation whose errors name exactly FIELDS."""
        body = self.problem(r, 422, "request.validation")
        errors = body.get("errors")
        self.assertIsInstance(errors, list, body)
        for e in errors:
            self.assertIsInstance(e, dict, body)
            for key in ("field", "code", "detail"):
                self.assertIsInstance(e.get(key), str, "error entry without %r: %r" % (key, body))
        got = {e["field"] for e in errors}
        if "admin" in fields:  # admin not an object: its members may be listed as well
            got -= {"admin.email", "admin.password"}
        self.assertEqual(got, set(fields), body)
        if secret:
            self.assertNotIn(secret, r.body.decode("utf-8", "replace"), "the password is echoed back")
        return body


class Bootstrap(IdentityCase):
    def test_create_tenant(self):
        body = self.tenant_body(name="Acme Ltd")
        r = self.post_tenant(body)
        self.assertEqual(r.status, 201, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        data = r.json()["data"]
        self.assertTrue(h.is_uuid(data.get("id")), data)
        self.assertTrue(h.is_uuid(data.get("admin_user_id")), data)
        self.assertNotEqual(data["id"], data["admin_user_id"])
        self.assertEqual(data["slug"], body["slug"])
        self.assertEqual(data["name"], "Acme Ltd")
        self.assertNotIn(body["admin"]["password"], r.body.decode())

    def test_duplicate_slug_is_409(self):
        t = h.bootstrap_tenant(self.server)
        r = self.post_tenant(self.tenant_body(t.slug))
        self.problem(r, 409, "resource.conflict")
        # the first tenant's admin is untouched
        h.login_token(self.server, t)

    def test_missing_platform_token_is_401(self):
        r = h.api(self.port, "POST", TENANTS, self.tenant_body())
        self.problem(r, 401, "auth.missing_token")
        # authentication comes before validation
        r = h.api(self.port, "POST", TENANTS, {"slug": 1})
        self.problem(r, 401, "auth.missing_token")

    def test_wrong_platform_token_is_401(self):
        slug = h.unique_slug()
        for token in ("wrong-" + self.server.platform_token, self.server.platform_token + "x",
                      self.server.platform_token[:-1], "x"):
            with self.subTest(token=token[:12]):
                self.problem(self.post_tenant(self.tenant_body(slug), token=token), 401, "auth.invalid_token")
        r = self.post_tenant(self.tenant_body(slug), token=None,
                             headers={"Authorization": "Basic " + self.server.platform_token})
        self.problem(r, 401, ("auth.missing_token", "auth.invalid_token"))
        # nothing was written
        self.assertEqual(self.post_tenant(self.tenant_body(slug)).status, 201)

    def test_user_token_is_not_the_platform_token(self):
        t = h.bootstrap_tenant(self.server)
        token = h.login_token(self.server, t)["access_token"]
        r = self.post_tenant(self.tenant_body(), token=token)
        self.assertIn(r.status, (401, 403), r)
        self.problem(r, r.status, "auth.invalid_token" if r.status == 401 else "auth.forbidden")

    def test_malformed_json_is_400_and_writes_nothing(self):
        slug = h.unique_slug()
        prefix = '{"slug":"%s","name":"x","admin":{"email":"a@b.test","password":"%s"}' % (slug, "p" * 16)
        for raw in (b"", b"{", b"not json", b"{'slug': 'x'}", prefix.encode() + b",}",
                    prefix.encode() + b"} trailing", prefix.encode(), b"\xff\xfe{}", b"[1,2"):
            with self.subTest(body=raw[:40]):
                self.problem(self.post_tenant(raw), 400, "request.malformed_json")
        self.assertEqual(self.post_tenant(self.tenant_body(slug)).status, 201)

    def test_non_utf8_string_is_rejected(self):
        slug = h.unique_slug()
        raw = ('{"slug":"%s","name":"bad \xff name","admin":{"email":"a@b.test","password":"%s"}}'
               % (slug, "p" * 16)).encode("latin-1")
        r = self.post_tenant(raw)
        self.assertIn(r.status, (400, 422), r)
        self.problem(r, r.status, "request.malformed_json" if r.status == 400 else "request.validation")
        self.assertEqual(self.post_tenant(self.tenant_body(slug)).status, 201)

    def test_every_bad_field_is_listed(self):
        slug = h.unique_slug()
        pw = "short-pw"
        r = self.post_tenant({"slug": "Bad_" + slug, "name": 123,
                              "admin": {"email": "not-an-email", "password": pw}})
        self.assert_validation(r, {"slug", "name", "admin.email", "admin.password"}, secret=pw)

    def test_missing_fields(self):
        slug = h.unique_slug()
        body = self.assert_validation_any(self.post_tenant({}))
        fields = {e["field"] for e in body["errors"]}
        self.assertTrue({"slug", "name"} <= fields, body)
        self.assertTrue("admin" in fields or {"admin.email", "admin.password"} <= fields, body)
        self.assertTrue(fields <= {"slug", "name", "admin", "admin.email", "admin.password"}, body)
        self.assert_validation(self.post_tenant({"slug": slug, "name": "x", "admin": {}}),
                               {"admin.email", "admin.password"})
        self.assert_validation(self.post_tenant({"slug": slug, "name": "x",
                                                 "admin": {"email": "a@b.test"}}), {"admin.password"})
        self.assert_validation(self.post_tenant({"name": "x", "admin": {"email": "a@b.test",
                                                                       "password": "p" * 16}}), {"slug"})
        self.assertEqual(self.post_tenant(self.tenant_body(slug)).status, 201)

    def assert_validation_any(self, r):
        body = self.problem(r, 422, "request.validation")
        self.assertIsInstance(body.get("errors"), list, body)
        self.assertTrue(body["errors"], body)
        return body

    def test_wrong_types(self):
        slug = h.unique_slug()
        ok = self.tenant_body(slug)
        cases = [
            ({"slug": 5, "name": ["x"], "admin": "a"}, {"slug", "name", "admin"}),
            ({"slug": None, "name": ok["name"], "admin": ok["admin"]}, {"slug"}),
            ({"slug": slug, "name": {"x": 1}, "admin": ok["admin"]}, {"name"}),
            ({"slug": slug, "name": ok["name"], "admin": {"email": 5, "password": True}},
             {"admin.email", "admin.password"}),
            ({"slug": slug, "name": ok["name"], "admin": [ok["admin"]]}, {"admin"}),
        ]
        for body, fields in cases:
            with self.subTest(body=body):
                self.assert_validation(self.post_tenant(body), fields)
        r = self.post_tenant([ok])
        self.assertIn(r.status, (400, 422), r)
        self.problem(r, r.status, "request.malformed_json" if r.status == 400 else "request.validation")
        self.assertEqual(self.post_tenant(ok).status, 201)

    def test_bad_slugs(self):
        suffix = os.urandom(4).hex()
        for slug in ("a", "-" + suffix, "Ab" + suffix, "ab_" + suffix, "ab " + suffix, "ab." + suffix,
                     "é" + suffix, "a" + "b" * 63, "", "ab/" + suffix):
            with self.subTest(slug=slug):
                self.assert_validation(self.post_tenant(self.tenant_body(slug)), {"slug"})

    def test_slug_length_bounds(self):
        long_slug = (h.unique_slug("l") + "-" + "x" * 63)[:63]
        self.assertEqual(self.post_tenant(self.tenant_body(long_slug)).json()["data"]["slug"], long_slug)
        for _ in range(30):  # a 2-character slug (the shared database may hold some)
            short = os.urandom(1).hex()
            r = self.post_tenant(self.tenant_body(short))
            if r.status != 409:
                break
        self.assertEqual(r.status, 201, r)

    def test_bad_emails(self):
        slug = h.unique_slug()
        for email in ("not-an-email", "a@", "@acme.test", "a" * 300 + "@acme.test", ""):
            with self.subTest(email=email[:20]):
                body = self.tenant_body(slug)
                body["admin"]["email"] = email
                self.assert_validation(self.post_tenant(body), {"admin.email"})
        self.assertEqual(self.post_tenant(self.tenant_body(slug)).status, 201)

    def test_over_long_name(self):
        slug = h.unique_slug()
        self.assert_validation(self.post_tenant(self.tenant_body(slug, name="n" * 10000)), {"name"})
        self.assertEqual(self.post_tenant(self.tenant_body(slug)).status, 201)

    def test_password_policy(self):
        slug = h.unique_slug()
        for pw in ("", "p" * 11, "p" * 1025, "é" * 513):  # "é" * 513: 513 characters, 1026 bytes
            with self.subTest(length=len(pw), bytes=len(pw.encode())):
                body = self.tenant_body(slug)
                body["admin"]["password"] = pw
                self.assert_validation(self.post_tenant(body), {"admin.password"}, secret=pw or None)
        self.assertEqual(self.post_tenant(self.tenant_body(slug)).status, 201)

    def test_password_bounds_accepted(self):
        for pw in ("p" * 12, "q" * 1024, "é" * 512):  # 12 characters; 1024 bytes
            with self.subTest(length=len(pw), bytes=len(pw.encode())):
                t = h.bootstrap_tenant(self.server, password=pw)
                h.login_token(self.server, t)


class Login(IdentityCase):
    def test_login_answer(self):
        t = h.bootstrap_tenant(self.server)
        before = int(time.time())
        r = h.login(self.server, t.slug, t.email, t.password)
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        body = r.json()
        self.assertEqual(body.get("token_type"), "Bearer", body)
        self.assertEqual(body.get("expires_in"), 3600, body)
        self.assertTrue(h.is_uuid(body.get("session_id")), body)
        token = body.get("access_token")
        self.assertIsInstance(token, str, body)
        self.assertNotIn(t.password, r.body.decode())
        header, claims, sig = h.jwt_parts(token)
        kid, secret = self.server.jwt_keys[0]
        self.assertEqual(header.get("alg"), "HS256", header)
        self.assertEqual(header.get("kid"), kid, header)
        self.assertTrue(h.jwt_verify(token, secret), "the token is not HS256-signed with the first key")
        self.assertEqual(claims.get("iss"), "nextcrm", claims)
        self.assertEqual(claims.get("sub"), t.admin_user_id, claims)
        self.assertEqual(claims.get("tid"), t.id, claims)
        self.assertEqual(claims.get("sid"), body["session_id"], claims)
        for key in ("iat", "nbf", "exp"):
            self.assertIsInstance(claims.get(key), int, claims)
        self.assertEqual(claims["exp"] - claims["iat"], 3600, claims)
        self.assertLessEqual(claims["nbf"], int(time.time()) + 1, claims)
        self.assertTrue(before - 5 <= claims["iat"] <= time.time() + 5, claims)

    def test_unknown_tenant_user_and_wrong_password_look_the_same(self):
        t = h.bootstrap_tenant(self.server)
        other = h.bootstrap_tenant(self.server)
        attempts = {
            "unknown tenant": (h.unique_slug("none"), t.email, t.password),
            "unknown user": (t.slug, "nobody@%s.test" % t.slug, t.password),
            "wrong password": (t.slug, t.email, t.password + "x"),
            "user of another tenant": (t.slug, other.email, other.password),
        }
        bodies = {}
        for what, (slug, email, pw) in attempts.items():
            with self.subTest(what=what):
                r = h.login(self.server, slug, email, pw)
                body = self.problem(r, 401, "auth.invalid_credentials")
                self.assertNotIn(pw, r.body.decode())
                body.pop("trace_id")
                bodies[what] = body
        first = bodies.get("wrong password")
        for what, body in bodies.items():
            self.assertEqual(body, first, "%s answers differently from a wrong password" % what)

    def test_unknown_user_costs_as_much_as_wrong_password(self):
        """No shortcut for unknown users: the answer takes about as long (a
        password hash is checked either way). Lenient: at least half."""
        t = h.bootstrap_tenant(self.server)

        def took(email, pw):
            started = time.monotonic()
            r = h.login(self.server, t.slug, email, pw)
            self.assertEqual(r.status, 401, r)
            return time.monotonic() - started
        wrong = min(took(t.email, "wrong-password-%d" % i) for i in range(3))
        unknown = min(took("nobody%d@%s.test" % (i, t.slug), "wrong-password-x") for i in range(3))
        print("login failure: wrong password %.1f ms, unknown user %.1f ms" % (wrong * 1e3, unknown * 1e3))
        self.assertGreaterEqual(unknown, wrong * 0.5,
                                "an unknown user is answered much faster than a wrong password")

    def test_email_is_case_insensitive(self):
        slug = h.unique_slug()
        t = h.bootstrap_tenant(self.server, slug=slug, email="Mixed.Case@%s.Test" % slug)
        for email in (t.email, t.email.lower(), t.email.upper()):
            with self.subTest(email=email):
                body = h.login_token(self.server, t, email=email)
                r = h.me(self.server, body["access_token"])
                self.assertEqual(r.status, 200, r)
                user = r.json()["data"]["user"]
                self.assertEqual(user["id"], t.admin_user_id)
                self.assertEqual(user["email"].lower(), t.email.lower())

    def test_password_is_case_sensitive(self):
        t = h.bootstrap_tenant(self.server, password="CaseSensitive-Password")
        r = h.login(self.server, t.slug, t.email, "casesensitive-password")
        self.problem(r, 401, "auth.invalid_credentials")

    def test_bad_login_input(self):
        t = h.bootstrap_tenant(self.server)
        for raw in (b"", b"{", b"nope", b'{"tenant":"x",}'):
            with self.subTest(body=raw):
                r = h.api(self.port, "POST", LOGIN, raw)
                self.problem(r, 400, "request.malformed_json")
        for body, fields in (({"email": t.email, "password": t.password}, {"tenant"}),
                             ({"tenant": t.slug, "password": t.password}, {"email"}),
                             ({"tenant": t.slug, "email": t.email}, {"password"}),
                             ({"tenant": 1, "email": [t.email], "password": {"p": 1}},
                              {"tenant", "email", "password"})):
            with self.subTest(body=body):
                r = h.api(self.port, "POST", LOGIN, body)
                err = self.problem(r, 422, "request.validation")
                self.assertEqual({e.get("field") for e in err.get("errors", [])}, fields, err)
                self.assertNotIn(t.password, r.body.decode())


class Throttling(IdentityCase):
    """Failed logins are throttled per account (5 free failures) and per
    client address (20), NIST SP 800-63B style: 429 rate.limited with
    Retry-After, the wait doubling, never a permanent lockout. Each test uses
    its own tenant, so the other tests never meet the throttle."""

    def assert_throttled(self, r):
        body = self.problem(r, 429, "rate.limited")
        retry = r.header("retry-after") or ""
        self.assertRegex(retry, r"^[0-9]+$", r)
        self.assertGreaterEqual(int(retry), 1, r)
        return int(retry), body

    def test_account_is_throttled_then_allowed_again(self):
        t = h.bootstrap_tenant(self.server)
        for i in range(5):
            self.problem(h.login(self.server, t.slug, t.email, "wrong-password-%d" % i),
                         401, "auth.invalid_credentials")
        # throttled, even with the right password (and with another case of the email)
        retry, _ = self.assert_throttled(h.login(self.server, t.slug, t.email.upper(), t.password))
        self.assertLessEqual(retry, 5)
        # only that account: another one from the same address is answered normally
        self.problem(h.login(self.server, t.slug, "other@%s.test" % t.slug, "wrong-password-x"),
                     401, "auth.invalid_credentials")
        time.sleep(retry + 0.2)
        r = h.login(self.server, t.slug, t.email, t.password)
        self.assertEqual(r.status, 200, "no permanent lockout: %r" % r)
        # a success starts the account afresh
        self.problem(h.login(self.server, t.slug, t.email, "wrong-password-y"), 401, "auth.invalid_credentials")

    def test_unknown_account_is_throttled_alike(self):
        """An unknown email is throttled like a real one (no enumeration)."""
        t = h.bootstrap_tenant(self.server)
        for email in (t.email, "nobody@%s.test" % t.slug):
            with self.subTest(email=email):
                for i in range(5):
                    self.problem(h.login(self.server, t.slug, email, "wrong-password-%d" % i),
                                 401, "auth.invalid_credentials")
                _, body = self.assert_throttled(h.login(self.server, t.slug, email, "wrong-password-z"))
                body.pop("trace_id")
                if email == t.email:
                    known = body
                else:
                    self.assertEqual(body, known, "a throttled unknown account answers differently")

    def test_address_is_throttled(self):
        t = h.bootstrap_tenant(self.server)
        for i in range(20):  # 20 accounts, 1 failure each: only the address counter reaches its limit
            self.problem(h.login(self.server, t.slug, "guess%d@%s.test" % (i, t.slug), "wrong-password"),
                         401, "auth.invalid_credentials")
        retry, _ = self.assert_throttled(h.login(self.server, t.slug, t.email, t.password))
        time.sleep(retry + 0.2)
        r = h.login(self.server, t.slug, t.email, t.password)
        self.assertEqual(r.status, 200, "no permanent lockout: %r" % r)


class Me(IdentityCase):
    def test_me(self):
        t = h.bootstrap_tenant(self.server)
        login = h.login_token(self.server, t)
        r = h.me(self.server, login["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        data = r.json()["data"]
        user, tenant, session = data["user"], data["tenant"], data["session"]
        self.assertEqual(user["id"], t.admin_user_id)
        self.assertEqual(user["email"].lower(), t.email.lower())
        self.assertEqual(user["role"], "admin")
        self.assertIn("access_profile", user)
        self.assertEqual(tenant, {"id": t.id, "slug": t.slug})
        self.assertEqual(session["id"], login["session_id"])
        self.assertRegex(session["expires_at"], RFC3339_UTC_RE)
        expires = h.parse_rfc3339(session["expires_at"])
        self.assertGreater(expires, datetime.datetime.now(datetime.timezone.utc), session)
        self.assertNotIn("$argon2", r.body.decode())

    def test_no_token_is_missing_token(self):
        self.problem(h.me(self.server, None), 401, "auth.missing_token")
        for value in ("", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz"):
            with self.subTest(authorization=value):
                r = h.me(self.server, None, headers={"Authorization": value})
                self.problem(r, 401, ("auth.missing_token", "auth.invalid_token"))

    def test_platform_token_is_no_user_token(self):
        self.problem(h.me(self.server, self.server.platform_token), 401, "auth.invalid_token")

    def test_bearer_scheme_is_case_insensitive(self):
        """RFC 9110 11.1: the auth scheme name is case-insensitive."""
        t = h.bootstrap_tenant(self.server)
        token = h.login_token(self.server, t)["access_token"]
        for scheme in ("bearer", "BEARER"):
            with self.subTest(scheme=scheme):
                r = h.me(self.server, None, headers={"Authorization": "%s %s" % (scheme, token)})
                self.assertEqual(r.status, 200, r)

    def test_401_carries_www_authenticate(self):
        """RFC 9110 15.5.2: a 401 carries WWW-Authenticate (RFC 6750: Bearer)."""
        for r in (h.me(self.server, None), h.me(self.server, "garbage")):
            self.assertEqual(r.status, 401, r)
            self.assertTrue((r.header("www-authenticate") or "").lower().startswith("bearer"), r)


class Logout(IdentityCase):
    def test_logout_revokes_only_that_session(self):
        t = h.bootstrap_tenant(self.server)
        first = h.login_token(self.server, t)
        second = h.login_token(self.server, t)
        self.assertNotEqual(first["session_id"], second["session_id"])
        self.assertEqual(h.me(self.server, first["access_token"]).status, 200)
        r = h.api(self.port, "POST", LOGOUT, token=first["access_token"])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.problem(h.me(self.server, first["access_token"]), 401, "auth.session_revoked")
        r = h.api(self.port, "POST", LOGOUT, token=first["access_token"])
        self.problem(r, 401, "auth.session_revoked")
        r = h.me(self.server, second["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["session"]["id"], second["session_id"])
        # a new login after a logout works
        third = h.login_token(self.server, t)
        self.assertEqual(h.me(self.server, third["access_token"]).status, 200)

    def test_logout_needs_a_token(self):
        self.problem(h.api(self.port, "POST", LOGOUT), 401, "auth.missing_token")
        self.problem(h.api(self.port, "POST", LOGOUT, token="garbage"), 401, "auth.invalid_token")

    def test_many_logins_are_independent(self):
        t = h.bootstrap_tenant(self.server)
        logins = [h.login_token(self.server, t) for _ in range(3)]
        self.assertEqual(len({x["session_id"] for x in logins}), 3)
        self.assertEqual(h.api(self.port, "POST", LOGOUT, token=logins[1]["access_token"]).status, 204)
        for i, x in enumerate(logins):
            r = h.me(self.server, x["access_token"])
            if i == 1:
                self.problem(r, 401, "auth.session_revoked")
            else:
                self.assertEqual(r.status, 200, r)


class Logs(IdentityCase):
    def test_request_log_carries_tenant_and_user(self):
        t = h.bootstrap_tenant(self.server)
        token = h.login_token(self.server, t)["access_token"]
        rid = "it-identity-log-%s" % os.urandom(4).hex()
        r = h.me(self.server, token, headers={"X-Request-Id": rid})
        self.assertEqual(r.status, 200, r)

        def find():
            return [o for o in self.server.log_lines() if o.get("request_id") == rid and "status" in o]
        lines = h.wait_for(find, 5, what="the log line of request %s" % rid)
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(lines[0].get("tenant_id"), t.id, lines[0])
        self.assertEqual(lines[0].get("user_id"), t.admin_user_id, lines[0])

    def test_no_secret_reaches_the_logs(self):
        t = h.bootstrap_tenant(self.server)
        bad_pw = "wrong-" + h.new_password()
        short_pw = "Sh0rt-" + os.urandom(2).hex()
        secrets = {"platform token": self.server.platform_token, "password": t.password,
                   "wrong password": bad_pw, "rejected password": short_pw}
        h.login(self.server, t.slug, t.email, bad_pw)
        body = self.tenant_body()
        body["admin"]["password"] = short_pw
        self.post_tenant(body)
        self.post_tenant(self.tenant_body(), token="wrong-" + self.server.platform_token)
        first = h.login_token(self.server, t)
        second = h.login_token(self.server, t)
        h.me(self.server, first["access_token"])
        h.api(self.port, "POST", LOGOUT, token=first["access_token"])
        h.me(self.server, first["access_token"])  # revoked
        h.me(self.server, second["access_token"] + "x")  # invalid
        for name, token in (("access token", first["access_token"]), ("second access token", second["access_token"])):
            secrets[name] = token
            secrets[name + " signature"] = token.rsplit(".", 1)[1]
        time.sleep(0.3)  # log lines are written after the answer
        for stream, path in (("stdout", self.server.log_path), ("stderr", self.server.err_path)):
            text = self.server.log_text(path)
            for name, secret in secrets.items():
                self.assertNotIn(secret, text, "the %s reached nextcrm's %s" % (name, stream))


if __name__ == "__main__":
    h.main()
