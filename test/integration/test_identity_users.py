#!/usr/bin/env python3
"""Users and roles (issue 3): RBAC on the users endpoints (403 auth.forbidden
before any handler runs, 401 before anything else), the baseline roles as
pinned in docs/openapi.yaml, create/list/get/patch round trips, every validation error
with nothing written, revocation (lock kills every session of the user at
once and for good, logout only its own), and isolation of two tenants with
users of every role: another tenant's ids, real or guessed, are 404 (403 for
a role without users:manage), never its data.
One nextcrm for the module; every test makes its own tenants (login
throttling counts per tenant and account, so no test comes near it).
Run: python3 test/integration/test_identity_users.py
"""

import os
import re
import sys
import unittest
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import USERS, ME, LOGOUT, ENTITIES, FORBIDDEN, REVOKED, NOT_FOUND  # noqa: E402

ROLES = "/api/v1/roles"


ROLE_NAMES = ("admin", "manager", "sales", "viewer")
NON_ADMIN = ("manager", "sales", "viewer")
USER_KEYS = {"id", "email", "role", "access_profile", "locked", "created_at", "updated_at", "version"}
RFC3339_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
PERMISSION_RE = re.compile(r"^[a-z][a-z-]*:[a-z]+$")



def _perms(entities, actions):
    return {"%s:%s" % (e, a) for e in entities for a in actions}


# docs/openapi.yaml (GET /api/v1/roles): the baseline roles of every tenant.
BASELINE = {
    "admin": _perms(ENTITIES, ("read", "write", "delete"))
    | {"users:manage", "profiles:manage", "audit:read", "guard:manage", "content:upload", "content:manage"},
    "manager": _perms(ENTITIES, ("read", "write", "delete")) | {"audit:read", "content:upload"},
    "sales": _perms(("customers", "deals"), ("read", "write"))
    | _perms(("products", "warehouses", "price-lists"), ("read",)) | {"content:upload"},
    "viewer": _perms(ENTITIES, ("read",)),
}


SERVER = None


def setUpModule():
    global SERVER
    h.require_env()
    SERVER = h.Server()
    unittest.addModuleCleanup(SERVER.cleanup)
    SERVER.start(healthy=True)


class Org:
    """A tenant with one user of every role. users[role] is a dict with id,
    email, password, token, session_id (the admin is the bootstrap admin)."""

    def __init__(self, tenant, users):
        self.tenant = tenant
        self.users = users

    @property
    def id(self):
        return self.tenant.id

    def ids(self):
        return {u["id"] for u in self.users.values()}

    def token(self, role):
        return self.users[role]["token"]


class UsersCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        cls.port = SERVER.port
        cls.app_url = h.require_env("NEXTCRM_TEST_PG_URL")["NEXTCRM_TEST_PG_URL"]

    def tearDown(self):
        self.assertTrue(self.server.alive(), "nextcrm died\n" + self.server.log_tail())

    # ------------------------------------------------------------ helpers

    def call(self, method, path, body=None, token=None, headers=None):
        return h.api(self.port, method, path, body, token=token, headers=headers)

    def problem(self, r, status, codes=None):
        return h.check_problem(self, r, status, codes)

    def data(self, r, status=200):
        """Asserts a JSON answer with STATUS; returns its "data"."""
        self.assertEqual(r.status, status, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        body = r.json()
        self.assertIn("data", body, body)
        return body["data"]

    def put_custom_profile(self, admin):
        r = h.api(self.server.port, "PUT", "/api/v1/access-profiles/custom_profile",
                  {"entities": {"customers": {"read": ["id", "name"], "write": ["name"]}}}, admin)
        self.assertIn(r.status, (200, 201), r)

    def admin_token(self, tenant):
        return h.login_token(self.server, tenant)["access_token"]

    @staticmethod
    def email(tag="u"):
        return "%s-%s@users.test" % (tag, os.urandom(5).hex())

    def create(self, token, role="viewer", email=None, password=None, **extra):
        """POST /api/v1/users (must be 201); returns (user data, password)."""
        password = password or h.new_password()
        body = {"email": email or self.email(role), "password": password, "role": role}
        body.update(extra)
        r = self.call("POST", USERS, body, token=token)
        user = self.data(r, 201)
        self.assertNotIn(password, r.body.decode("utf-8", "replace"), "the password is echoed back")
        return user, password

    def user_login(self, tenant, email, password):
        return h.login_token(self.server, tenant, email=email, password=password)

    def get_user(self, token, user_id):
        return self.data(self.call("GET", "%s/%s" % (USERS, user_id), token=token))

    def list_users(self, token):
        users = self.data(self.call("GET", USERS, token=token))
        self.assertIsInstance(users, list)
        return users

    def db_users(self, tenant_id):
        """The tenant's user rows straight from PostgreSQL (as the app role, RLS on)."""
        return h.psql_tenant(self.app_url, tenant_id,
                             "SELECT id, lower(email), role, access_profile, locked, version, "
                             "password_hash FROM users ORDER BY id")

    def make_org(self, emails=None):
        """A fresh tenant with a user of every role (EMAILS: role -> email)."""
        emails = emails or {}
        tenant = h.bootstrap_tenant(self.server, email=emails.get("admin"))
        login = h.login_token(self.server, tenant)
        users = {"admin": {"id": tenant.admin_user_id, "email": tenant.email, "password": tenant.password,
                           "token": login["access_token"], "session_id": login["session_id"]}}
        for role in NON_ADMIN:
            user, pw = self.create(users["admin"]["token"], role, email=emails.get(role))
            login = self.user_login(tenant, user["email"], pw)
            users[role] = {"id": user["id"], "email": user["email"], "password": pw,
                           "token": login["access_token"], "session_id": login["session_id"]}
        return Org(tenant, users)

    def assert_user(self, user, email=None, role=None):
        self.assertEqual(set(user), USER_KEYS, user)
        self.assertTrue(h.is_uuid(user["id"]), user)
        if email is not None:
            self.assertEqual(user["email"].lower(), email.lower(), user)
        if role is not None:
            self.assertEqual(user["role"], role, user)
        self.assertIsInstance(user["access_profile"], str, user)
        self.assertTrue(user["access_profile"], user)
        self.assertIsInstance(user["locked"], bool, user)
        for key in ("created_at", "updated_at"):
            self.assertRegex(user[key], RFC3339_UTC_RE, user)
        self.assertLessEqual(h.parse_rfc3339(user["created_at"]), h.parse_rfc3339(user["updated_at"]), user)
        self.assertIsInstance(user["version"], int, user)
        self.assertNotIsInstance(user["version"], bool, user)
        self.assertGreaterEqual(user["version"], 1, user)

    def assert_validation(self, r, fields, secret=None):
        """422 request.validation whose errors name exactly FIELDS."""
        body = self.problem(r, 422, "request.validation")
        errors = body.get("errors")
        self.assertIsInstance(errors, list, body)
        self.assertTrue(errors, body)
        for e in errors:
            self.assertIsInstance(e, dict, body)
            for key in ("field", "code", "detail"):
                self.assertIsInstance(e.get(key), str, "error entry without %r: %r" % (key, body))
        self.assertEqual({e["field"] for e in errors}, set(fields), body)
        if secret:
            self.assertNotIn(secret, r.body.decode("utf-8", "replace"), "the password is echoed back")
        return body

    def assert_alive(self, token, user_id=None):
        r = h.me(self.server, token)
        self.assertEqual(r.status, 200, r)
        if user_id:
            self.assertEqual(r.json()["data"]["user"]["id"], user_id)

    def assert_revoked(self, token):
        self.problem(h.me(self.server, token), 401, REVOKED)

    def users_calls(self, target_id, create_email=None):
        """One call of every users endpoint, each with a well-formed body:
        (label, method, path, body)."""
        path = "%s/%s" % (USERS, target_id)
        return [
            ("list", "GET", USERS, None),
            ("create", "POST", USERS, {"email": create_email or self.email("rbac"),
                                       "password": h.new_password(), "role": "admin"}),
            ("get", "GET", path, None),
            ("patch", "PATCH", path, {"role": "admin"}),
            ("lock", "POST", path + "/lock", None),
            ("unlock", "POST", path + "/unlock", None),
        ]


class Roles(UsersCase):
    def test_baseline_roles_exactly_as_pinned(self):
        t = h.bootstrap_tenant(self.server)
        r = self.call("GET", ROLES, token=self.admin_token(t))
        roles = self.data(r)
        self.assertIsInstance(roles, list, roles)
        names = [x.get("name") for x in roles]
        self.assertEqual(sorted(names), sorted(ROLE_NAMES), "a fresh tenant has exactly the baseline roles")
        for role in roles:
            with self.subTest(role=role["name"]):
                self.assertTrue({"name", "permissions"} <= set(role), role)
                perms = role["permissions"]
                self.assertIsInstance(perms, list, role)
                for p in perms:
                    self.assertRegex(p, PERMISSION_RE)
                self.assertEqual(len(perms), len(set(perms)), "duplicate permissions: %r" % role)
                want = BASELINE[role["name"]]
                self.assertEqual(set(perms), want, "missing %s, extra %s"
                                 % (sorted(want - set(perms)), sorted(set(perms) - want)))

    def test_every_role_reads_the_same_roles(self):
        org = self.make_org()

        def normal(roles):
            return sorted((x["name"], sorted(x["permissions"])) for x in roles)
        want = normal(self.data(self.call("GET", ROLES, token=org.token("admin"))))
        for role in ROLE_NAMES:
            with self.subTest(role=role):
                got = self.data(self.call("GET", ROLES, token=org.token(role)))
                self.assertEqual(normal(got), want)
                r = h.me(self.server, org.token(role))
                self.assertEqual(r.json()["data"]["user"]["role"], role, r)

    def test_roles_need_a_valid_token(self):
        self.problem(self.call("GET", ROLES), 401, "auth.missing_token")
        self.problem(self.call("GET", ROLES, token="garbage"), 401, "auth.invalid_token")
        self.problem(self.call("GET", ROLES, token=self.server.platform_token), 401, "auth.invalid_token")


class Rbac(UsersCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.org = cls().make_org()  # a helper instance (methodName runTest) for the assertions

    def test_non_admin_roles_are_forbidden_on_every_users_endpoint(self):
        org = self.org
        before = self.db_users(org.id)
        attempted = []
        for role in NON_ADMIN:
            token = org.token(role)
            own = org.users[role]["id"]
            targets = {"own id": own, "the admin": org.users["admin"]["id"],
                       "random uuid": str(uuid.uuid4()), "not a uuid": "not-a-uuid"}
            for what, target in targets.items():
                for label, method, path, body in self.users_calls(target):
                    if label == "create":
                        attempted.append(body["email"])
                    with self.subTest(role=role, call=label, target=what):
                        r = self.call(method, path, body, token=token)
                        self.problem(r, 403, FORBIDDEN)
                        text = r.body.decode()
                        self.assertNotIn(org.users["admin"]["email"], text)
                        self.assertNotIn('"data"', text)
            # a password change of the admin: still forbidden
            r = self.call("PATCH", "%s/%s" % (USERS, org.users["admin"]["id"]),
                          {"password": h.new_password()}, token=token)
            self.problem(r, 403, FORBIDDEN)
        # nothing changed: no user made, no role raised, nobody locked, no password changed
        self.assertEqual(self.db_users(org.id), before)
        emails = {u["email"].lower() for u in self.list_users(org.token("admin"))}
        for email in attempted:
            self.assertNotIn(email.lower(), emails)
        for role in ROLE_NAMES:
            r = h.me(self.server, org.token(role))
            self.assertEqual(r.status, 200, "%s's session: %r" % (role, r))
            self.assertEqual(r.json()["data"]["user"]["role"], role)

    def test_rbac_comes_before_validation(self):
        """Whatever the body, a role without users:manage learns nothing but 403."""
        org = self.org
        before = self.db_users(org.id)
        uid = org.users["viewer"]["id"]
        bad = [
            ("create, empty object", "POST", USERS, {}, None),
            ("create, unknown field", "POST", USERS, {"x": 1}, None),
            ("create, bad fields", "POST", USERS, {"email": "nope", "password": "short", "role": 5}, None),
            ("create, unknown role", "POST", USERS,
             {"email": self.email(), "password": h.new_password(), "role": "nope"}, None),
            ("create, malformed JSON", "POST", USERS, b"{", None),
            ("create, wrong content type", "POST", USERS, b"{}", {"Content-Type": "text/plain"}),
            ("patch, empty object", "PATCH", "%s/%s" % (USERS, uid), {}, None),
            ("patch, unknown field", "PATCH", "%s/%s" % (USERS, uid), {"locked": False}, None),
            ("patch, short password", "PATCH", "%s/%s" % (USERS, uid), {"password": "short"}, None),
            ("patch, unknown role", "PATCH", "%s/%s" % (USERS, uid), {"role": "nope"}, None),
            ("patch, malformed JSON", "PATCH", "%s/%s" % (USERS, uid), b"{", None),
            ("patch of a random id, bad body", "PATCH", "%s/%s" % (USERS, uuid.uuid4()), {"x": 1}, None),
        ]
        for role in NON_ADMIN:
            for label, method, path, body, headers in bad:
                with self.subTest(role=role, call=label):
                    r = self.call(method, path, body, token=org.token(role), headers=headers)
                    self.problem(r, 403, FORBIDDEN)
                    self.assertNotIn(b'"errors"', r.body, "validation details for a forbidden caller")
        self.assertEqual(self.db_users(org.id), before)

    def test_authentication_comes_first(self):
        """No token or a bad one: 401 on every users endpoint, whatever the
        body (as POST /api/v1/tenants does)."""
        uid = self.org.users["viewer"]["id"]
        calls = self.users_calls(uid) + [
            ("create, empty object", "POST", USERS, {}),
            ("create, unknown field", "POST", USERS, {"x": 1}),
            ("create, malformed JSON", "POST", USERS, b"{"),
            ("patch, empty object", "PATCH", "%s/%s" % (USERS, uid), {}),
            ("patch, malformed JSON", "PATCH", "%s/%s" % (USERS, uid), b"{"),
            ("get of a non-uuid", "GET", USERS + "/not-a-uuid", None),
        ]
        before = self.db_users(self.org.id)
        for token, code in ((None, "auth.missing_token"), ("garbage", "auth.invalid_token"),
                            (self.server.platform_token, "auth.invalid_token")):
            for label, method, path, body in calls:
                with self.subTest(token=(token or "none")[:10], call=label):
                    r = self.call(method, path, body, token=token)
                    self.problem(r, 401, code)
                    self.assertNotIn(b'"errors"', r.body)
            with self.subTest(token=(token or "none")[:10], call="create, wrong content type"):
                r = self.call("POST", USERS, b"{}", token=token, headers={"Content-Type": "text/plain"})
                self.problem(r, 401, code)
        self.assertEqual(self.db_users(self.org.id), before)
        self.assert_alive(self.org.token("viewer"), uid)

    def test_admin_manages_users_and_a_new_admin_can_too(self):
        org = self.org
        second, pw = self.create(org.token("admin"), "admin")
        token = self.user_login(org.tenant, second["email"], pw)["access_token"]
        ids = {u["id"] for u in self.list_users(token)}
        self.assertTrue(org.ids() | {second["id"]} <= ids, ids)
        made, _ = self.create(token, "viewer")
        self.assertEqual(self.get_user(token, made["id"]), made)
        patched = self.data(self.call("PATCH", "%s/%s" % (USERS, made["id"]), {"role": "sales"}, token=token))
        self.assertEqual(patched["role"], "sales")
        self.assertTrue(self.data(self.call("POST", "%s/%s/lock" % (USERS, made["id"]), token=token))["locked"])
        self.assertFalse(self.data(self.call("POST", "%s/%s/unlock" % (USERS, made["id"]), token=token))["locked"])

    def test_role_change_reaches_live_sessions(self):
        org = self.org
        admin = org.token("admin")
        user, pw = self.create(admin, "viewer")
        login = self.user_login(org.tenant, user["email"], pw)
        token = login["access_token"]
        path = "%s/%s" % (USERS, user["id"])
        self.problem(self.call("GET", USERS, token=token), 403, FORBIDDEN)
        self.assertEqual(self.data(self.call("PATCH", path, {"role": "admin"}, token=admin))["role"], "admin")
        # the same token, the very next request
        ids = {u["id"] for u in self.list_users(token)}
        self.assertIn(user["id"], ids)
        me = h.me(self.server, token).json()["data"]
        self.assertEqual(me["user"]["role"], "admin")
        self.assertEqual(me["session"]["id"], login["session_id"])
        # and back down: the power goes at once
        self.assertEqual(self.data(self.call("PATCH", path, {"role": "sales"}, token=admin))["role"], "sales")
        self.problem(self.call("GET", USERS, token=token), 403, FORBIDDEN)
        self.problem(self.call("POST", USERS, {"email": self.email(), "password": h.new_password(),
                                               "role": "admin"}, token=token), 403, FORBIDDEN)
        self.assertEqual(h.me(self.server, token).json()["data"]["user"]["role"], "sales")
        self.assertEqual(self.call("GET", ROLES, token=token).status, 200)

    def test_a_demoted_admin_loses_users_manage_at_once(self):
        org = self.org
        other, pw = self.create(org.token("admin"), "admin")
        token = self.user_login(org.tenant, other["email"], pw)["access_token"]
        self.assertEqual(self.call("GET", USERS, token=token).status, 200)
        self.data(self.call("PATCH", "%s/%s" % (USERS, other["id"]), {"role": "manager"},
                            token=org.token("admin")))
        for label, method, path, body in self.users_calls(org.users["viewer"]["id"]):
            with self.subTest(call=label):
                self.problem(self.call(method, path, body, token=token), 403, FORBIDDEN)
        self.assert_alive(org.token("viewer"))


class Crud(UsersCase):
    def test_create_answer_and_login(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        email = self.email("Mixed.Case")
        user, pw = self.create(admin, "sales", email=email)
        self.assert_user(user, email, "sales")
        self.assertFalse(user["locked"])
        self.assertNotEqual(user["id"], t.admin_user_id)
        self.assertNotEqual(user["id"], t.id)
        self.assertEqual(self.get_user(admin, user["id"]), user)
        self.assertNotIn("$argon2", self.call("GET", USERS, token=admin).body.decode())
        # the new user logs in (email in any case) and is who the answer said
        login = self.user_login(t, email.upper(), pw)
        me = h.me(self.server, login["access_token"]).json()["data"]
        self.assertEqual(me["user"]["id"], user["id"])
        self.assertEqual(me["user"]["role"], "sales")
        self.assertEqual(me["user"]["access_profile"], user["access_profile"])
        self.assertEqual(me["tenant"], {"id": t.id, "slug": t.slug})
        # the password is stored as an argon2id hash, never as given
        rows = [row for row in self.db_users(t.id) if row[0] == user["id"]]
        self.assertEqual(len(rows), 1, rows)
        self.assertTrue(rows[0][6].startswith("$argon2id$"), "not an argon2id hash")
        self.assertNotIn(pw, rows[0][6])

    def test_every_role_can_be_given(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        for role in ROLE_NAMES:
            with self.subTest(role=role):
                user, pw = self.create(admin, role)
                self.assert_user(user, role=role)
                me = h.me(self.server, self.user_login(t, user["email"], pw)["access_token"])
                self.assertEqual(me.json()["data"]["user"]["role"], role)
                self.assertEqual(me.json()["data"]["user"]["access_profile"], user["access_profile"])
        # an explicit access profile is kept as given; it must exist in the tenant
        r = h.api(self.server.port, "POST", "/api/v1/users",
                  {"email": self.email("Nope"), "password": h.new_password(), "role": "viewer",
                   "access_profile": "custom_profile"}, admin)
        h.check_problem(self, r, 422, "request.validation")
        self.assertIn("access_profile", [e["field"] for e in r.json()["errors"]])
        self.put_custom_profile(admin)
        user, _ = self.create(admin, "viewer", access_profile="custom_profile")
        self.assertEqual(user["access_profile"], "custom_profile")
        self.assertEqual(self.get_user(admin, user["id"])["access_profile"], "custom_profile")

    def test_list_is_sorted_by_email_and_matches_get(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        tag = os.urandom(4).hex()
        made = {}
        for prefix in ("mm", "zz", "bb", "aa"):
            user, _ = self.create(admin, "viewer", email="%s-%s@users.test" % (prefix, tag))
            made[user["id"]] = user
        users = self.list_users(admin)
        for u in users:
            self.assert_user(u)
        self.assertEqual({u["id"] for u in users}, set(made) | {t.admin_user_id})
        emails = [u["email"].lower() for u in users]
        self.assertEqual(emails, sorted(emails), "the list is not sorted by email")
        for u in users:
            with self.subTest(email=u["email"]):
                self.assertEqual(self.get_user(admin, u["id"]), u)
                if u["id"] in made:
                    self.assertEqual(u, made[u["id"]], "the list differs from the create answer")
        # an upper-case id names the same user (a UUID is case-insensitive)
        some = next(iter(made))
        r = self.call("GET", "%s/%s" % (USERS, some.upper()), token=admin)
        self.assertIn(r.status, (200, 404), r)
        if r.status == 200:
            self.assertEqual(r.json()["data"], made[some])
        else:
            self.problem(r, 404, NOT_FOUND)

    def test_patch_round_trips(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        user, pw = self.create(admin, "viewer")
        path = "%s/%s" % (USERS, user["id"])
        current = user

        def patch(body):
            nonlocal current
            r = self.call("PATCH", path, body, token=admin)
            got = self.data(r)
            self.assert_user(got)
            self.assertEqual(got["id"], user["id"])
            self.assertEqual(got["created_at"], user["created_at"])
            self.assertGreater(got["version"], current["version"], "a change must bump the version")
            self.assertGreaterEqual(h.parse_rfc3339(got["updated_at"]), h.parse_rfc3339(current["updated_at"]))
            self.assertEqual(self.get_user(admin, user["id"]), got, "GET differs from the PATCH answer")
            for secret in [v for k, v in body.items() if k == "password"]:
                self.assertNotIn(secret, r.body.decode())
            current = got
            return got

        got = patch({"role": "manager"})
        self.assertEqual((got["role"], got["email"], got["access_profile"]),
                         ("manager", user["email"], user["access_profile"]))
        self.put_custom_profile(admin)
        got = patch({"access_profile": "custom_profile"})
        self.assertEqual((got["role"], got["access_profile"]), ("manager", "custom_profile"))
        # a new email: login with it works, with the old one not
        new_email = self.email("Renamed")
        got = patch({"email": new_email})
        self.assertEqual(got["email"].lower(), new_email.lower())
        self.user_login(t, new_email.lower(), pw)
        self.problem(h.login(self.server, t.slug, user["email"], pw), 401, "auth.invalid_credentials")
        # the same email in another case is no conflict with itself
        got = patch({"email": new_email.upper()})
        self.assertEqual(got["email"].lower(), new_email.lower())
        # a new password: the old one is refused
        new_pw = h.new_password()
        patch({"password": new_pw})
        self.problem(h.login(self.server, t.slug, new_email, pw), 401, "auth.invalid_credentials")
        login = self.user_login(t, new_email, new_pw)
        # everything at once
        last_email, last_pw = self.email("last"), h.new_password()
        got = patch({"email": last_email, "password": last_pw, "role": "sales", "access_profile": "sales_rep"})
        self.assertEqual((got["email"].lower(), got["role"], got["access_profile"], got["locked"]),
                         (last_email.lower(), "sales", "sales_rep", False))
        login = self.user_login(t, last_email, last_pw)
        me = h.me(self.server, login["access_token"]).json()["data"]["user"]
        self.assertEqual((me["id"], me["role"], me["access_profile"]), (user["id"], "sales", "sales_rep"))
        self.assertEqual([u for u in self.list_users(admin) if u["id"] == user["id"]], [current])

    def test_unknown_ids_are_404(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        for target in (str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000", t.id,
                       "not-a-uuid", "1" * 64, "%27%20OR%201=1--", t.admin_user_id.replace("-", "")):
            for label, method, path, body in self.users_calls(target):
                if label in ("list", "create"):
                    continue
                with self.subTest(target=target[:20], call=label):
                    self.problem(self.call(method, path, body, token=admin), 404, NOT_FOUND)
        self.assertEqual([u["id"] for u in self.list_users(admin)], [t.admin_user_id])


class Validation(UsersCase):
    def assert_nothing_written(self, tenant, admin, before, email):
        """The tenant's users are as BEFORE (API and database); then a create
        with EMAIL succeeds: no half-made user holds it."""
        self.assertEqual(self.db_users(tenant.id), before["db"])
        self.assertEqual(self.list_users(admin), before["api"])
        user, _ = self.create(admin, "viewer", email=email)
        self.assertEqual(user["email"].lower(), email.lower())

    def snapshot(self, tenant, admin):
        return {"db": self.db_users(tenant.id), "api": self.list_users(admin)}

    def test_create_lists_every_bad_field(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        before = self.snapshot(t, admin)
        email = self.email("valid")
        pw = h.new_password()

        def body(**over):
            b = {"email": email, "password": pw, "role": "viewer"}
            for k, v in over.items():
                if v is Ellipsis:
                    b.pop(k)
                else:
                    b[k] = v
            return b
        secret = "short-pw"
        cases = [
            ("all bad at once", {"email": "not-an-email", "password": secret, "role": 7,
                                 "access_profile": [], "extra": 1},
             {"email", "password", "role", "access_profile", "extra"}),
            ("empty object", {}, {"email", "password", "role"}),
            ("nulls", {"email": None, "password": None, "role": None}, {"email", "password", "role"}),
            ("no email", body(email=...), {"email"}),
            ("no password", body(password=...), {"password"}),
            ("no role", body(role=...), {"role"}),
            ("wrong types", body(email=5, password=True, role={"a": 1}, access_profile=5),
             {"email", "password", "role", "access_profile"}),
            ("role a list", body(role=["viewer"]), {"role"}),
            ("empty access profile", body(access_profile=""), {"access_profile"}),
            ("over-long access profile", body(access_profile="p" * 300), {"access_profile"}),
            ("over-long role", body(role="r" * 300), {"role"}),
            ("fields the server owns", body(id=str(uuid.uuid4()), locked=True, tenant_id=str(uuid.uuid4()),
                                            version=9, created_at="2020-01-01T00:00:00Z"),
             {"id", "locked", "tenant_id", "version", "created_at"}),
        ]
        for what, b, fields in cases:
            with self.subTest(case=what):
                self.assert_validation(self.call("POST", USERS, b, token=admin), fields, secret=secret)
        for bad in ("not-an-email", "a@", "@users.test", "a b@users.test", "", "a" * 300 + "@users.test"):
            with self.subTest(email=bad[:24]):
                self.assert_validation(self.call("POST", USERS, body(email=bad), token=admin), {"email"})
        # 12 characters to 1024 bytes ("é" * 11: 22 bytes but 11 characters)
        for bad_pw in ("", "p" * 11, "é" * 11, "p" * 1025, "é" * 513):
            with self.subTest(password_chars=len(bad_pw), password_bytes=len(bad_pw.encode())):
                self.assert_validation(self.call("POST", USERS, body(password=bad_pw), token=admin),
                                       {"password"}, secret=bad_pw if len(bad_pw) > 3 else None)
        self.assert_nothing_written(t, admin, before, email)

    def test_unknown_role(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        before = self.snapshot(t, admin)
        email = self.email("role")
        for role in ("nope", "Admin", "ADMIN", " admin", "admin ", "superuser", "users:manage"):
            with self.subTest(role=role):
                r = self.call("POST", USERS, {"email": email, "password": h.new_password(), "role": role},
                              token=admin)
                body = self.assert_validation(r, {"role"})
                self.assertEqual(body["errors"][0]["field"], "role")
        self.assert_nothing_written(t, admin, before, email)

    def test_bad_json_and_media_type(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        before = self.snapshot(t, admin)
        email = self.email("json")
        good = '{"email":"%s","password":"%s","role":"viewer"' % (email, h.new_password())
        for raw in (b"", b"{", b"nope", b"{'email': 'x'}", good.encode() + b",}", good.encode(),
                    good.encode() + b"} trailing", b"\xff\xfe{}", b"[1,2"):
            with self.subTest(body=raw[:40]):
                self.problem(self.call("POST", USERS, raw, token=admin), 400, "request.malformed_json")
        for raw in (b"[]", b'"text"', b"null", b"5", ("[%s}]" % good).encode()):
            with self.subTest(body=raw[:40]):
                r = self.call("POST", USERS, raw, token=admin)
                self.assertIn(r.status, (400, 422), r)
                self.problem(r, r.status, "request.malformed_json" if r.status == 400 else "request.validation")
        # a string that is not UTF-8
        r = self.call("POST", USERS, (good + "}").replace("@", "\xff@").encode("latin-1"), token=admin)
        self.assertIn(r.status, (400, 422), r)
        self.problem(r, r.status, "request.malformed_json" if r.status == 400 else "request.validation")
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            with self.subTest(content_type=ctype):
                r = self.call("POST", USERS, (good + "}").encode(), token=admin, headers={"Content-Type": ctype})
                self.problem(r, 415, "request.unsupported_media_type")
        r = h.request(self.port, "POST", USERS, headers={"Authorization": "Bearer " + admin},
                      body=(good + "}").encode())
        self.problem(r, 415, "request.unsupported_media_type")
        self.assert_nothing_written(t, admin, before, email)

    def test_duplicate_email_is_409_case_insensitive(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        email = self.email("dup")
        first, pw = self.create(admin, "viewer", email=email)
        before = self.snapshot(t, admin)
        for dup in (email, email.upper(), email.capitalize(), t.email.upper()):
            with self.subTest(email=dup):
                r = self.call("POST", USERS, {"email": dup, "password": h.new_password(), "role": "admin"},
                              token=admin)
                self.problem(r, 409, "resource.conflict")
        self.assertEqual(self.db_users(t.id), before["db"])
        self.assertEqual(self.list_users(admin), before["api"])
        # the first one is untouched: same password, same role
        me = h.me(self.server, self.user_login(t, email, pw)["access_token"]).json()["data"]["user"]
        self.assertEqual((me["id"], me["role"]), (first["id"], "viewer"))

    def test_patch_validation_changes_nothing(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        user, pw = self.create(admin, "viewer")
        other, _ = self.create(admin, "viewer")
        path = "%s/%s" % (USERS, user["id"])
        before = self.snapshot(t, admin)
        cases = [
            ("all bad at once", {"email": 5, "password": "short", "role": [], "access_profile": {}, "zz": 1},
             {"email", "password", "role", "access_profile", "zz"}),
            ("bad email", {"email": "not-an-email"}, {"email"}),
            ("over-long email", {"email": "a" * 300 + "@users.test"}, {"email"}),
            ("short password", {"password": "p" * 11}, {"password"}),
            ("long password", {"password": "é" * 513}, {"password"}),
            ("empty role", {"role": ""}, {"role"}),
            ("empty access profile", {"access_profile": ""}, {"access_profile"}),
            ("fields the server owns", {"locked": True, "id": other["id"], "version": 1},
             {"locked", "id", "version"}),
            ("good role, bad email", {"role": "admin", "email": "x"}, {"email"}),
        ]
        for what, b, fields in cases:
            with self.subTest(case=what):
                self.assert_validation(self.call("PATCH", path, b, token=admin), fields)
        with self.subTest(case="empty object"):
            self.assert_validation_any(self.call("PATCH", path, {}, token=admin))
        with self.subTest(case="unknown role"):
            body = self.assert_validation(self.call("PATCH", path, {"role": "nope"}, token=admin), {"role"})
            self.assertEqual(body["errors"][0]["field"], "role")
        with self.subTest(case="email of another user"):
            r = self.call("PATCH", path, {"email": other["email"].upper()}, token=admin)
            self.problem(r, 409, "resource.conflict")
        with self.subTest(case="email of the admin, with a role change"):
            r = self.call("PATCH", path, {"email": t.email, "role": "admin"}, token=admin)
            self.problem(r, 409, "resource.conflict")
        for raw in (b"", b"{", b'{"role":"admin"', b"\xff"):
            with self.subTest(body=raw):
                self.problem(self.call("PATCH", path, raw, token=admin), 400, "request.malformed_json")
        r = self.call("PATCH", path, b'{"role":"admin"}', token=admin, headers={"Content-Type": "text/plain"})
        self.problem(r, 415, "request.unsupported_media_type")
        self.assertEqual(self.db_users(t.id), before["db"])
        self.assertEqual(self.list_users(admin), before["api"])
        # the user still logs in with the old password, as a viewer
        me = h.me(self.server, self.user_login(t, user["email"], pw)["access_token"]).json()["data"]["user"]
        self.assertEqual(me["role"], "viewer")

    def assert_validation_any(self, r):
        body = self.problem(r, 422, "request.validation")
        self.assertIsInstance(body.get("errors"), list, body)
        self.assertTrue(body["errors"], body)
        return body

    def test_password_bounds_accepted(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        for pw in ("p" * 12, "é" * 12, "q" * 1024, "é" * 512):  # 12 characters; 1024 bytes
            with self.subTest(chars=len(pw), bytes=len(pw.encode())):
                user, _ = self.create(admin, "viewer", password=pw)
                self.assert_alive(self.user_login(t, user["email"], pw)["access_token"], user["id"])


class Revocation(UsersCase):
    def test_lock_kills_every_session_of_that_user_only(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        user, pw = self.create(admin, "manager")
        bystander, bpw = self.create(admin, "viewer")
        first = self.user_login(t, user["email"], pw)
        second = self.user_login(t, user["email"], pw)
        self.assertNotEqual(first["session_id"], second["session_id"])
        other = self.user_login(t, bystander["email"], bpw)
        for login in (first, second):
            self.assert_alive(login["access_token"], user["id"])

        r = self.call("POST", "%s/%s/lock" % (USERS, user["id"]), token=admin)
        locked = self.data(r)
        self.assert_user(locked, user["email"], "manager")
        self.assertTrue(locked["locked"])
        self.assertEqual(locked["id"], user["id"])
        # at once, every session of the user, on any endpoint
        for name, login in (("first", first), ("second", second)):
            with self.subTest(session=name):
                token = login["access_token"]
                self.assert_revoked(token)
                self.problem(self.call("GET", ROLES, token=token), 401, REVOKED)
                self.problem(self.call("POST", LOGOUT, token=token), 401, REVOKED)
        # nobody else
        self.assert_alive(other["access_token"], bystander["id"])
        self.assert_alive(admin, t.admin_user_id)
        self.problem(h.login(self.server, t.slug, user["email"], pw), 403, "auth.user_locked")
        self.assertTrue(self.get_user(admin, user["id"])["locked"])
        flags = {u["id"]: u["locked"] for u in self.list_users(admin)}
        self.assertEqual(flags, {t.admin_user_id: False, user["id"]: True, bystander["id"]: False})
        # the database agrees: every session row of the user is revoked
        rows = h.psql_tenant(self.app_url, t.id, "SELECT id, revoked_at IS NOT NULL FROM sessions "
                                                 "WHERE user_id = '%s'" % user["id"])
        self.assertEqual(sorted(rows), sorted([[first["session_id"], "t"], [second["session_id"], "t"]]))

        r = self.call("POST", "%s/%s/unlock" % (USERS, user["id"]), token=admin)
        self.assertFalse(self.data(r)["locked"])
        self.assertFalse(self.get_user(admin, user["id"])["locked"])
        # unlock lets a new login in; the old tokens stay dead
        for login in (first, second):
            self.assert_revoked(login["access_token"])
        third = self.user_login(t, user["email"], pw)
        self.assertNotIn(third["session_id"], (first["session_id"], second["session_id"]))
        self.assert_alive(third["access_token"], user["id"])
        self.assertEqual(h.me(self.server, third["access_token"]).json()["data"]["user"]["role"], "manager")
        self.assert_alive(other["access_token"], bystander["id"])

    def test_a_locked_admin_can_do_nothing_more(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        second, pw = self.create(admin, "admin")
        token = self.user_login(t, second["email"], pw)["access_token"]
        victim, vpw = self.create(token, "viewer")
        self.assertTrue(self.data(self.call("POST", "%s/%s/lock" % (USERS, second["id"]), token=admin))["locked"])
        before = self.db_users(t.id)
        for label, method, path, body in self.users_calls(victim["id"]):
            with self.subTest(call=label):
                self.problem(self.call(method, path, body, token=token), 401, REVOKED)
        self.assertEqual(self.db_users(t.id), before)
        self.user_login(t, victim["email"], vpw)

    def test_logout_kills_only_its_own_session(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        user, pw = self.create(admin, "sales")
        first = self.user_login(t, user["email"], pw)
        second = self.user_login(t, user["email"], pw)
        r = self.call("POST", LOGOUT, token=first["access_token"])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assert_revoked(first["access_token"])
        self.problem(self.call("GET", ROLES, token=first["access_token"]), 401, REVOKED)
        self.assert_alive(second["access_token"], user["id"])
        self.assertEqual(self.call("GET", ROLES, token=second["access_token"]).status, 200)
        self.assert_alive(admin, t.admin_user_id)
        # a logout is no lock
        self.assertFalse(self.get_user(admin, user["id"])["locked"])
        third = self.user_login(t, user["email"], pw)
        self.assert_alive(third["access_token"], user["id"])
        self.assert_revoked(first["access_token"])

    def test_an_admin_logout_does_not_touch_its_users(self):
        t = h.bootstrap_tenant(self.server)
        admin_login = h.login_token(self.server, t)
        spare_admin = self.admin_token(t)
        user, pw = self.create(admin_login["access_token"], "viewer")
        token = self.user_login(t, user["email"], pw)["access_token"]
        self.assertEqual(self.call("POST", LOGOUT, token=admin_login["access_token"]).status, 204)
        self.problem(self.call("GET", USERS, token=admin_login["access_token"]), 401, REVOKED)
        self.assert_alive(token, user["id"])
        self.assertEqual(len(self.list_users(spare_admin)), 2)


class RestartKeepsRevocation(UsersCase):
    """Sessions are recovered from PostgreSQL after a restart: a lock (even
    one undone since) must not bring its sessions back."""

    def test_locked_sessions_stay_dead_after_a_restart(self):
        t = h.bootstrap_tenant(self.server)
        admin = self.admin_token(t)
        user, pw = self.create(admin, "manager")
        bystander, bpw = self.create(admin, "viewer")
        first = self.user_login(t, user["email"], pw)
        second = self.user_login(t, user["email"], pw)
        other = self.user_login(t, bystander["email"], bpw)
        self.assertTrue(self.data(self.call("POST", "%s/%s/lock" % (USERS, user["id"]), token=admin))["locked"])
        self.assertFalse(self.data(self.call("POST", "%s/%s/unlock" % (USERS, user["id"]), token=admin))["locked"])
        self.assertEqual(self.server.stop(), 0, self.server.log_tail())
        self.server.start(healthy=True)
        for login in (first, second):
            self.assert_revoked(login["access_token"])
        self.assert_alive(other["access_token"], bystander["id"])
        self.assert_alive(admin, t.admin_user_id)
        self.assertFalse(self.get_user(admin, user["id"])["locked"])
        self.assert_alive(self.user_login(t, user["email"], pw)["access_token"], user["id"])


class Isolation(UsersCase):
    """Two tenants with a user of every role, the same emails in both."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tag = os.urandom(4).hex()
        emails = {role: "%s-%s@shared.test" % (role, tag) for role in ROLE_NAMES}
        helper = cls()
        cls.a = helper.make_org(emails)
        cls.b = helper.make_org(emails)

    def pairs(self):
        return ((self.a, self.b), (self.b, self.a))

    def leaks(self, text, other):
        """The parts of OTHER that TEXT names (emails are shared, so ids only)."""
        marks = other.ids() | {other.id, other.tenant.slug} | {u["session_id"] for u in other.users.values()}
        return [m for m in marks if m in text]

    def test_lists_show_only_own_users(self):
        for org, other in self.pairs():
            with self.subTest(tenant=org.tenant.slug):
                r = self.call("GET", USERS, token=org.token("admin"))
                users = self.data(r)
                self.assertEqual({u["id"] for u in users}, org.ids())
                self.assertEqual({u["id"] for u in users}, {row[0] for row in self.db_users(org.id)})
                self.assertEqual(self.leaks(r.body.decode(), other), [])
                for role in NON_ADMIN:
                    self.problem(self.call("GET", USERS, token=org.token(role)), 403, FORBIDDEN)

    def test_other_tenants_real_ids(self):
        snapshot = {org.id: self.db_users(org.id) for org in (self.a, self.b)}
        for org, other in self.pairs():
            for role in ROLE_NAMES:
                for target_role, target in other.users.items():
                    calls = [c for c in self.users_calls(target["id"]) if c[0] not in ("list", "create")]
                    calls.append(("patch, every field", "PATCH", "%s/%s" % (USERS, target["id"]),
                                  {"email": self.email("hijack"), "password": h.new_password(),
                                   "role": "viewer", "access_profile": "viewer"}))
                    for label, method, path, body in calls:
                        with self.subTest(caller="%s of %s" % (role, org.tenant.slug), target=target_role,
                                          call=label):
                            r = self.call(method, path, body, token=org.token(role))
                            if role == "admin":
                                self.problem(r, 404, NOT_FOUND)
                            else:
                                self.problem(r, 403, FORBIDDEN)
                            self.assertEqual(self.leaks(r.body.decode(), other), [])
        # nothing changed on either side; nobody's session was touched
        for org in (self.a, self.b):
            self.assertEqual(self.db_users(org.id), snapshot[org.id])
            for role, u in org.users.items():
                with self.subTest(tenant=org.tenant.slug, session=role):
                    self.assert_alive(u["token"], u["id"])
        self.user_login(self.b.tenant, self.b.users["viewer"]["email"], self.b.users["viewer"]["password"])

    def test_guessed_ids(self):
        snapshot = {org.id: self.db_users(org.id) for org in (self.a, self.b)}
        for org, other in self.pairs():
            guesses = {
                "random uuid": str(uuid.uuid4()),
                "nil uuid": "00000000-0000-0000-0000-000000000000",
                "max uuid": "ffffffff-ffff-ffff-ffff-ffffffffffff",
                "other tenant id": other.id,
                "own tenant id": org.id,
                "other's session id": other.users["admin"]["session_id"],
                "own session id": org.users["admin"]["session_id"],
                "other's admin id, upper case": other.users["admin"]["id"].upper(),
                "other's admin id, no dashes": other.users["admin"]["id"].replace("-", ""),
                "other's admin id, braces": "%7B" + other.users["admin"]["id"] + "%7D",
                "not a uuid": "not-a-uuid",
                "long": "1" * 200,
                "sql": "%27%20OR%20%271%27=%271",
            }
            for role in ROLE_NAMES:
                for what, guess in guesses.items():
                    for label, method, path, body in self.users_calls(guess):
                        if label in ("list", "create"):
                            continue
                        with self.subTest(caller="%s of %s" % (role, org.tenant.slug), guess=what, call=label):
                            r = self.call(method, path, body, token=org.token(role))
                            if role == "admin":
                                self.problem(r, 404, NOT_FOUND)
                            else:
                                self.problem(r, 403, FORBIDDEN)
                            self.assertEqual(self.leaks(r.body.decode(), other), [])
        for org in (self.a, self.b):
            self.assertEqual(self.db_users(org.id), snapshot[org.id])

    def test_tokens_with_mixed_claims_are_refused(self):
        """Claims of one tenant's token pointed at the other (re-signed with
        the server's key): 401, never the other tenant's users."""
        kid, key = self.server.jwt_keys[0]
        header = {"alg": "HS256", "typ": "JWT", "kid": kid}
        for org, other in self.pairs():
            _, claims, _ = h.jwt_parts(org.token("admin"))
            mixes = {
                "other tenant": dict(claims, tid=other.id),
                "other tenant and its admin": dict(claims, tid=other.id, sub=other.users["admin"]["id"]),
                "other admin, own tenant": dict(claims, sub=other.users["admin"]["id"]),
                "other session": dict(claims, sid=other.users["admin"]["session_id"]),
            }
            for what, forged in mixes.items():
                token = h.jwt_sign(header, forged, key)
                for path in (USERS, "%s/%s" % (USERS, other.users["viewer"]["id"]), ROLES):
                    with self.subTest(tenant=org.tenant.slug, mix=what, path=path):
                        r = self.call("GET", path, token=token)
                        self.problem(r, 401, (REVOKED, "auth.invalid_token"))
                        self.assertEqual(self.leaks(r.body.decode(), other), [])
        for org in (self.a, self.b):
            self.assert_alive(org.token("admin"), org.users["admin"]["id"])

    def test_roles_of_both_tenants_are_the_baseline(self):
        for org in (self.a, self.b):
            roles = self.data(self.call("GET", ROLES, token=org.token("viewer")))
            self.assertEqual({x["name"]: set(x["permissions"]) for x in roles}, BASELINE)

    def test_lock_of_a_same_email_user_in_another_tenant(self):
        """Tenant B's admin locks B's user X; tenant A's user X (same email)
        is untouched, and the other way round."""
        email = self.email("twin")
        a = h.bootstrap_tenant(self.server)
        b = h.bootstrap_tenant(self.server)
        a_admin, b_admin = self.admin_token(a), self.admin_token(b)
        ua, pa = self.create(a_admin, "sales", email=email)
        ub, pb = self.create(b_admin, "sales", email=email.upper())
        self.assertNotEqual(ua["id"], ub["id"])
        ta = self.user_login(a, email, pa)
        tb = [self.user_login(b, email, pb) for _ in range(2)]

        self.assertTrue(self.data(self.call("POST", "%s/%s/lock" % (USERS, ub["id"]), token=b_admin))["locked"])
        for login in tb:
            self.assert_revoked(login["access_token"])
        self.problem(h.login(self.server, b.slug, email, pb), 403, "auth.user_locked")
        self.assert_alive(ta["access_token"], ua["id"])
        self.assertEqual(self.call("GET", ROLES, token=ta["access_token"]).status, 200)
        self.assertFalse(self.get_user(a_admin, ua["id"])["locked"])
        self.assertEqual([u["locked"] for u in self.list_users(a_admin)], [False, False])
        self.assert_alive(self.user_login(a, email, pa)["access_token"], ua["id"])
        # A's admin cannot unlock (or even see) B's user
        self.problem(self.call("POST", "%s/%s/unlock" % (USERS, ub["id"]), token=a_admin), 404, NOT_FOUND)
        self.problem(h.login(self.server, b.slug, email, pb), 403, "auth.user_locked")

        # the other way round
        self.assertFalse(self.data(self.call("POST", "%s/%s/unlock" % (USERS, ub["id"]),
                                             token=b_admin))["locked"])
        tb_new = self.user_login(b, email, pb)
        self.assertTrue(self.data(self.call("POST", "%s/%s/lock" % (USERS, ua["id"]), token=a_admin))["locked"])
        self.assert_revoked(ta["access_token"])
        self.assert_alive(tb_new["access_token"], ub["id"])
        self.assertFalse(self.get_user(b_admin, ub["id"])["locked"])
        # B's admin cannot unlock A's user either
        self.problem(self.call("POST", "%s/%s/unlock" % (USERS, ua["id"]), token=b_admin), 404, NOT_FOUND)
        self.problem(h.login(self.server, a.slug, email, pa), 403, "auth.user_locked")


if __name__ == "__main__":
    h.main()
