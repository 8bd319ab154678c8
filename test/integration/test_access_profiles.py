#!/usr/bin/env python3
"""Access profiles, field-level security (issue 4) against a real nextcrm,
PostgreSQL and Redis.

Covers: the baseline profiles of every tenant and the profiles endpoints
(profiles:manage, 404, PUT create/replace/validation, versions); the roadmap
acceptance (an admin-profile and a sales_rep-profile user read the same
customer and get different field sets; sensitive fields are absent, never
null, in get, create and patch answers; products.cost likewise); writes of
unwritable fields (422 not_writable, nothing written); audit rows read
through a narrow profile lose the fields it cannot read; a PUT reaches live
sessions at once; profiles are allowlists (unlisted fields and entities
are hidden); users naming an unknown profile are refused.

One nextcrm for the module; every test class makes its own tenant.
Run: python3 test/integration/test_access_profiles.py
"""

import copy
import json
import os
import re
import sys
import unittest
from urllib.parse import quote

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import API, USERS, PROFILES, AUDIT, ENTITIES, COMMON, VALIDATION, FORBIDDEN, NOT_FOUND  # noqa: E402



FIELDS = {
    "customers": ("name", "email", "phone", "status", "owner_id", "annual_revenue", "tax_id", "notes"),
    "deals": ("customer_id", "title", "stage", "amount", "currency", "close_date", "owner_id"),
    "products": ("sku", "name", "description", "cost", "active"),
    "warehouses": ("code", "name", "address"),
    "price-lists": ("name", "currency", "valid_from", "valid_to", "items"),
}
SENSITIVE = {"customers": {"annual_revenue", "tax_id"}, "products": {"cost"}}
BASELINE_NAMES = ["admin", "manager", "sales_rep", "viewer"]
DB_TABLES = ("customers", "deals", "products", "audit_logs", "access_profiles", "users")
RFC3339_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")

SERVER = None


def setUpModule():
    global SERVER
    SERVER = h.start_module_server()


tag = h.tag


def path(entity, rid=None):
    return "%s/%s" % (API, entity) + ("/" + rid if rid else "")


def all_fields(entity):
    return set(COMMON) | set(FIELDS[entity])


def readable_by_rep(entity):
    return all_fields(entity) - SENSITIVE.get(entity, set())


def norm_entities(entities):
    """{entity: {"read": set, "write": set}}, entities with nothing left out
    (a server may list every entity, empty ones included)."""
    out = {}
    for e, acc in entities.items():
        r, w = set(acc.get("read") or []), set(acc.get("write") or [])
        if r or w:
            out[e] = {"read": r, "write": w}
    return out


def baseline_want(name):
    """The pinned baseline profiles (issue4-spec "Access profiles")."""
    out = {}
    for e in ENTITIES:
        sens = SENSITIVE.get(e, set()) if name in ("sales_rep", "viewer") else set()
        out[e] = {"read": all_fields(e) - sens,
                  "write": set() if name == "viewer" else set(FIELDS[e]) - sens}
    return out


class ProfileCase(unittest.TestCase):
    """A fresh tenant per class (cls.tenant, cls.admin admin token) and
    helpers for users, records, profiles and the database."""

    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        cls.port = SERVER.port
        cls.app_url = h.require_env("NEXTCRM_TEST_PG_URL")["NEXTCRM_TEST_PG_URL"]
        cls.tenant = h.bootstrap_tenant(SERVER)
        cls.admin = h.login_token(SERVER, cls.tenant)["access_token"]
        cls.admin_id = cls.tenant.admin_user_id

    def tearDown(self):
        self.assertTrue(self.server.alive(), "nextcrm died\n" + self.server.log_tail())

    # ---- HTTP

    def call(self, method, p, body=None, token=None, headers=None):
        return h.api(self.port, method, p, body, token=token, headers=headers, timeout=60)

    def problem(self, r, status, codes=None):
        return h.check_problem(self, r, status, codes)

    def data(self, r, status=200):
        self.assertEqual(r.status, status, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        body = r.json()
        self.assertIn("data", body, body)
        return body["data"]

    def assert_validation(self, r, expected):
        """422 request.validation naming exactly the fields of EXPECTED
        ({field: code or None}); a key ending in '*' matches every error
        field starting with the rest ("entities.customers.read*" also
        matches "entities.customers.read.1")."""
        body = self.problem(r, 422, VALIDATION)
        errors = body.get("errors")
        self.assertIsInstance(errors, list, body)
        self.assertTrue(errors, body)
        matched = set()
        for e in errors:
            for key in ("field", "code", "detail"):
                self.assertIsInstance(e.get(key), str, "error entry without %r: %r" % (key, body))
            key = e["field"] if e["field"] in expected else next(
                (k for k in expected if k.endswith("*") and e["field"].startswith(k[:-1])), None)
            self.assertIsNotNone(key, "unexpected error %r (expected %r)" % (e, expected))
            if expected[key] is not None:
                self.assertEqual(e["code"], expected[key], errors)
            matched.add(key)
        self.assertEqual(matched, set(expected), "not every bad field is named: %r" % errors)
        return body

    # ---- users

    @classmethod
    def make_user(cls, role, profile=None, login=True):
        """A user of the class's tenant (POST /api/v1/users as the admin);
        returns {id, email, password, access_profile, token}."""
        email = "%s-%s@profiles.test" % (role, tag())
        pw = h.new_password()
        body = {"email": email, "password": pw, "role": role}
        if profile is not None:
            body["access_profile"] = profile
        r = h.api(cls.port, "POST", USERS, body, token=cls.admin)
        if r.status != 201:
            raise AssertionError("creating a %s user with profile %r: %r" % (role, profile, r))
        user = r.json()["data"]
        out = {"id": user["id"], "email": email, "password": pw, "access_profile": user["access_profile"]}
        if login:
            out["token"] = h.login_token(SERVER, cls.tenant, email=email, password=pw)["access_token"]
        return out

    # ---- records

    def create(self, entity, body, token=None):
        r = self.call("POST", path(entity), body, token=token or self.admin)
        return self.data(r, 201), r

    def get(self, entity, rid, token=None):
        r = self.call("GET", path(entity, rid), token=token or self.admin)
        return self.data(r), r

    # ---- profiles

    def get_profile(self, name, token=None):
        return self.data(self.call("GET", "%s/%s" % (PROFILES, name), token=token or self.admin))

    def put_profile(self, name, entities, status=(200, 201), extra=None):
        body = {"entities": entities}
        body.update(extra or {})
        r = self.call("PUT", "%s/%s" % (PROFILES, name), body, token=self.admin)
        self.assertIn(r.status, (status,) if isinstance(status, int) else status, r)
        return self.data(r, r.status)

    def assert_profile(self, profile, name=None):
        self.assertIsInstance(profile, dict, profile)
        self.assertTrue({"name", "entities", "version", "updated_at"} <= set(profile), profile)
        if name is not None:
            self.assertEqual(profile["name"], name)
        self.assertIsInstance(profile["entities"], dict, profile)
        for e, acc in profile["entities"].items():
            self.assertIn(e, ENTITIES, profile)
            for key in ("read", "write"):
                values = acc.get(key, [])
                self.assertIsInstance(values, list, profile)
                self.assertEqual(len(values), len(set(values)), "duplicates in %s.%s" % (e, key))
        self.assertIsInstance(profile["version"], int, profile)
        self.assertGreaterEqual(profile["version"], 1, profile)
        self.assertRegex(profile["updated_at"], RFC3339_UTC_RE)

    # ---- database

    def fingerprint(self):
        parts = ["(SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-') "
                 "FROM %s t)" % t for t in DB_TABLES]
        rows = h.psql_tenant(self.app_url, self.tenant.id, "SELECT " + ", ".join(parts))
        return dict(zip(DB_TABLES, rows[0]))


# ------------------------------------------------------------------ the profiles endpoints


class Baseline(ProfileCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = {role: cls.make_user(role) for role in ("manager", "sales", "viewer")}

    def test_baseline_profiles_are_listed_sorted(self):
        t = h.bootstrap_tenant(self.server)  # untouched by the other tests
        token = h.login_token(self.server, t)["access_token"]
        profiles = self.data(self.call("GET", PROFILES, token=token))
        self.assertIsInstance(profiles, list, profiles)
        self.assertEqual([p["name"] for p in profiles], BASELINE_NAMES)
        for p in profiles:
            with self.subTest(profile=p["name"]):
                self.assert_profile(p, p["name"])
                self.assertEqual(norm_entities(p["entities"]), baseline_want(p["name"]))
                self.assertEqual(self.get_profile(p["name"], token=token), p)

    def test_get_one_and_unknown(self):
        p = self.get_profile("sales_rep")
        self.assert_profile(p, "sales_rep")
        self.assertEqual(norm_entities(p["entities"]), baseline_want("sales_rep"))
        for name in ("nope", "Sales_rep", "sales-rep", "Bad-Name", "1abc", "x" * 60, "%20"):
            with self.subTest(name=name):
                self.problem(self.call("GET", "%s/%s" % (PROFILES, quote(name, safe="%")), token=self.admin),
                             404, NOT_FOUND)

    def test_profiles_manage_is_needed(self):
        before = self.fingerprint()
        name = "it_" + tag()
        calls = [("GET", PROFILES, None), ("GET", PROFILES + "/sales_rep", None),
                 ("PUT", PROFILES + "/sales_rep", {"entities": {}}), ("PUT", PROFILES + "/" + name,
                                                                      {"entities": {}}),
                 ("PUT", PROFILES + "/" + name, b"{"), ("PUT", PROFILES + "/Bad-Name", {"x": 1})]
        for role, user in self.users.items():
            for method, p, body in calls:
                with self.subTest(role=role, method=method, path=p):
                    r = self.call(method, p, body, token=user["token"])
                    self.problem(r, 403, FORBIDDEN)
                    self.assertNotIn(b'"errors"', r.body)
                    self.assertNotIn(b"annual_revenue", r.body)
        for method, p, body in calls:
            with self.subTest(role=None, method=method, path=p):
                self.problem(self.call(method, p, body), 401, "auth.missing_token")
        self.assertEqual(self.fingerprint(), before)
        self.problem(self.call("GET", PROFILES + "/" + name, token=self.admin), 404, NOT_FOUND)
        self.assertEqual(norm_entities(self.get_profile("sales_rep")["entities"]), baseline_want("sales_rep"))

    def test_users_default_profiles_and_unknown_profiles(self):
        for role, profile in (("admin", "admin"), ("manager", "manager"), ("sales", "sales_rep"),
                              ("viewer", "viewer")):
            with self.subTest(role=role):
                user = self.make_user(role)
                self.assertEqual(user["access_profile"], profile)
                me = h.me(self.server, user["token"]).json()["data"]["user"]
                self.assertEqual(me["access_profile"], profile)
        # a custom profile is accepted once it exists
        custom = "it_" + tag()
        before = self.fingerprint()
        r = self.call("POST", USERS, {"email": "early-%s@profiles.test" % tag(), "password": h.new_password(),
                                      "role": "viewer", "access_profile": custom}, token=self.admin)
        self.assert_validation(r, {"access_profile": "unknown"})
        self.assertEqual(self.fingerprint(), before)
        self.put_profile(custom, {"customers": {"read": ["id", "name"], "write": []}}, status=201)
        user = self.make_user("viewer", custom, login=False)
        self.assertEqual(user["access_profile"], custom)
        # unknown on create and on patch: 422, nothing written
        victim = self.users["viewer"]
        before = self.fingerprint()
        for name in ("nope", "Viewer", "sales-rep", "", "x" * 41, custom.upper()):
            with self.subTest(create=name):
                r = self.call("POST", USERS, {"email": "u-%s@profiles.test" % tag(), "password": h.new_password(),
                                              "role": "viewer", "access_profile": name}, token=self.admin)
                self.assert_validation(r, {"access_profile": "unknown" if name and len(name) <= 40 else None})
            with self.subTest(patch=name):
                r = self.call("PATCH", "%s/%s" % (USERS, victim["id"]), {"access_profile": name}, token=self.admin)
                self.assert_validation(r, {"access_profile": "unknown" if name and len(name) <= 40 else None})
        self.assertEqual(self.fingerprint(), before)
        self.assertEqual(h.me(self.server, victim["token"]).json()["data"]["user"]["access_profile"], "viewer")
        r = self.call("PATCH", "%s/%s" % (USERS, victim["id"]), {"access_profile": custom}, token=self.admin)
        self.assertEqual(self.data(r)["access_profile"], custom)

    def test_another_tenants_profile_is_unknown(self):
        other = h.bootstrap_tenant(self.server)
        other_admin = h.login_token(self.server, other)["access_token"]
        name = "only_b_" + tag()
        r = self.call("PUT", "%s/%s" % (PROFILES, name), {"entities": {"customers": {"read": ["id"]}}},
                      token=other_admin)
        self.assertEqual(r.status, 201, r)
        self.problem(self.call("GET", "%s/%s" % (PROFILES, name), token=self.admin), 404, NOT_FOUND)
        self.assertNotIn(name, [p["name"] for p in self.data(self.call("GET", PROFILES, token=self.admin))])
        before = self.fingerprint()
        r = self.call("POST", USERS, {"email": "x-%s@profiles.test" % tag(), "password": h.new_password(),
                                      "role": "viewer", "access_profile": name}, token=self.admin)
        self.assert_validation(r, {"access_profile": "unknown"})
        self.assertEqual(self.fingerprint(), before)


class ProfilePut(ProfileCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = cls.make_user("manager")

    def test_create_replace_and_versions(self):
        name = "it_" + tag()
        first = {"customers": {"read": ["id", "name", "email"], "write": ["name"]},
                 "price-lists": {"read": ["id", "name", "items"], "write": ["items"]}}
        r = self.call("PUT", "%s/%s" % (PROFILES, name), {"entities": first}, token=self.admin)
        made = self.data(r, 201)
        self.assert_profile(made, name)
        self.assertEqual(norm_entities(made["entities"]), norm_entities(first))
        self.assertEqual(made["version"], 1)
        self.assertEqual(self.get_profile(name), made)
        listed = self.data(self.call("GET", PROFILES, token=self.admin))
        names = [p["name"] for p in listed]
        self.assertEqual(names, sorted(names), "the list is not sorted by name")
        self.assertIn(name, names)
        self.assertEqual(next(p for p in listed if p["name"] == name), made)

        second = {"deals": {"read": ["id", "title", "stage"], "write": ["title", "stage"]}}
        r = self.call("PUT", "%s/%s" % (PROFILES, name), {"entities": second}, token=self.admin)
        replaced = self.data(r, 200)
        self.assert_profile(replaced, name)
        self.assertEqual(norm_entities(replaced["entities"]), norm_entities(second), "a PUT replaces")
        self.assertEqual(replaced["version"], 2)
        self.assertGreaterEqual(h.parse_rfc3339(replaced["updated_at"]), h.parse_rfc3339(made["updated_at"]))
        self.assertEqual(self.get_profile(name), replaced)

        # a "name" member equal to the path is allowed
        r = self.call("PUT", "%s/%s" % (PROFILES, name), {"name": name, "entities": first}, token=self.admin)
        third = self.data(r, 200)
        self.assertEqual((third["version"], norm_entities(third["entities"])), (3, norm_entities(first)))
        # the empty profile is a profile
        r = self.call("PUT", "%s/%s" % (PROFILES, name), {"entities": {}}, token=self.admin)
        self.assertEqual((self.data(r)["version"], norm_entities(self.data(r)["entities"])), (4, {}))
        # the longest name
        longest = "z" + tag() * 4 + "_" * 6
        self.assertEqual(len(longest), 39)
        longest += "9"
        self.assertEqual(self.put_profile(longest, first, status=201)["name"], longest)

    def test_validation_changes_nothing(self):
        name = "it_" + tag()
        good = {"customers": {"read": ["id", "name"], "write": ["name"]}}
        kept = self.put_profile(name, good, status=201)
        fresh = "it_" + tag()
        cases = [
            ({"entities": {"widgets": {"read": ["id"]}}}, {"entities.widgets": "unknown"}),
            ({"entities": {"price_lists": {"read": ["id"]}}}, {"entities.price_lists": "unknown"}),
            ({"entities": {"customers": {"read": ["nam"]}}}, {"entities.customers.read": "unknown"}),
            ({"entities": {"customers": {"read": ["id"], "write": ["bogus"]}}}, {"entities.customers.write": "unknown"}),
            ({"entities": {"customers": {"read": ["id"], "write": ["id"]}}}, {"entities.customers.write": "read_only"}),
            ({"entities": {"customers": {"write": ["version"]}}}, {"entities.customers.write": "read_only"}),
            ({"entities": {"deals": {"write": ["created_at"]}}}, {"entities.deals.write": "read_only"}),
            ({"entities": {"customers": {"read": "name"}}}, {"entities.customers.read": "type"}),
            ({"entities": {"customers": {"read": ["name", 5]}}}, {"entities.customers.read*": "type"}),
            ({"entities": {"customers": {"write": {"name": True}}}}, {"entities.customers.write": "type"}),
            ({"entities": {"customers": "all"}}, {"entities.customers": "type"}),
            ({"entities": ["customers"]}, {"entities": "type"}),
            ({"entities": "customers"}, {"entities": "type"}),
            ({"entities": {"widgets": {}, "customers": {"read": "x", "write": ["id"]},
                           "products": {"read": ["cost", "price"]}}},
             {"entities.widgets": "unknown", "entities.customers.read": "type",
              "entities.customers.write": "read_only", "entities.products.read": "unknown"}),
            ({"name": "someone_else", "entities": good}, {"name": None}),
            ({}, {"entities": None}),
            ({"entities": None}, {"entities": None}),
        ]
        for target in (name, fresh):
            for body, expected in cases:
                with self.subTest(target="existing" if target == name else "new", body=json.dumps(body)[:80]):
                    before = self.fingerprint()
                    r = self.call("PUT", "%s/%s" % (PROFILES, target), body, token=self.admin)
                    problem = self.assert_validation(r, expected)
                    self.assertEqual(self.fingerprint(), before)
                    if expected == {"entities.customers.read": "unknown"}:
                        self.assertIn("nam", problem["errors"][0]["detail"], "the detail names the field")
        self.assertEqual(self.get_profile(name), kept)
        self.problem(self.call("GET", "%s/%s" % (PROFILES, fresh), token=self.admin), 404, NOT_FOUND)
        # bad names
        before = self.fingerprint()
        for bad in ("Bad-Name", "1abc", "_x", "a" * 41, "bad name", "ab-c", "ÄBC", "UPPER"):
            with self.subTest(name=bad):
                r = self.call("PUT", "%s/%s" % (PROFILES, quote(bad)), {"entities": good}, token=self.admin)
                self.assert_validation(r, {"name": None})
                self.problem(self.call("GET", "%s/%s" % (PROFILES, quote(bad)), token=self.admin), 404, NOT_FOUND)
        # malformed JSON, media type, no rights
        for raw in (b"{", b"", b'{"entities":'):
            self.problem(self.call("PUT", "%s/%s" % (PROFILES, name), raw, token=self.admin), 400,
                         "request.malformed_json")
        r = self.call("PUT", "%s/%s" % (PROFILES, name), json.dumps({"entities": {}}).encode(), token=self.admin,
                      headers={"Content-Type": "text/plain"})
        self.problem(r, 415, "request.unsupported_media_type")
        self.problem(self.call("PUT", "%s/%s" % (PROFILES, name), {"entities": {}}, token=self.manager["token"]),
                     403, FORBIDDEN)
        self.assertEqual(self.fingerprint(), before)
        self.assertEqual(self.get_profile(name), kept)


# ------------------------------------------------------------------ shaping


class FieldSecurity(ProfileCase):
    """The roadmap acceptance: the same records through different profiles."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sales = cls.make_user("sales")                          # role sales, profile sales_rep
        cls.rep_manager = cls.make_user("manager", "sales_rep")     # may write products, not their cost
        cls.viewer_manager = cls.make_user("manager", "viewer")     # the role may write, the profile not

    def secret_customer(self):
        t = tag()
        body = {"name": "Secretive " + t, "email": "s-%s@example.test" % t, "status": "active",
                "annual_revenue": "987654.32", "tax_id": "TAX-SECRET-" + t, "notes": "n"}
        rec, _ = self.create("customers", body)
        return rec, [body["tax_id"], "987654.32"]

    def assert_hidden(self, r, entity, secrets, data=None):
        data = self.data(r, r.status) if data is None else data
        self.assertEqual(set(data), readable_by_rep(entity), "sensitive fields must be absent (not null)")
        text = r.body.decode("utf-8", "replace")
        for s in secrets:
            self.assertNotIn(s, text)
        for f in SENSITIVE[entity]:
            self.assertNotIn('"%s"' % f, text)
        return data

    def test_admin_and_sales_rep_read_different_fields(self):
        rec, secrets = self.secret_customer()
        admin_view, r_admin = self.get("customers", rec["id"])
        self.assertEqual(set(admin_view), all_fields("customers"))
        self.assertEqual(admin_view, rec)
        self.assertEqual((admin_view["tax_id"], admin_view["annual_revenue"]), (secrets[0], secrets[1]))
        for user in (self.sales, self.rep_manager, self.viewer_manager):
            with self.subTest(profile=user["access_profile"], email=user["email"]):
                r = self.call("GET", path("customers", rec["id"]), token=user["token"])
                view = self.assert_hidden(r, "customers", secrets)
                self.assertEqual(view, {k: v for k, v in admin_view.items() if k in view})
                self.assertEqual(r.header("etag"), r_admin.header("etag"))

    def test_sales_rep_create_and_patch_answers_lack_sensitive_fields(self):
        token = self.sales["token"]
        r = self.call("POST", path("customers"), {"name": "by sales " + tag(), "email": "x@example.test"}, token=token)
        self.assertEqual(r.status, 201, r)
        made = self.assert_hidden(r, "customers", [])
        full, _ = self.get("customers", made["id"])
        self.assertEqual((full["tax_id"], full["annual_revenue"]), (None, None))
        self.assertEqual({k: full[k] for k in made}, made)

        rec, secrets = self.secret_customer()
        r = self.call("PATCH", path("customers", rec["id"]), {"notes": "patched by sales", "status": "churned"},
                      token=token, headers={"If-Match": '"1"'})
        self.assertEqual(r.status, 200, r)
        patched = self.assert_hidden(r, "customers", secrets)
        self.assertEqual((patched["notes"], patched["status"], patched["version"]), ("patched by sales", "churned", 2))
        full, _ = self.get("customers", rec["id"])
        self.assertEqual((full["tax_id"], full["annual_revenue"], full["notes"]), (secrets[0], secrets[1],
                                                                                  "patched by sales"))
        # a 412 of a sales_rep tells nothing either
        r = self.call("PATCH", path("customers", rec["id"]), {"notes": "stale"}, token=token,
                      headers={"If-Match": '"1"'})
        self.problem(r, 412, "resource.precondition_failed")
        for s in secrets:
            self.assertNotIn(s, r.body.decode())

    def test_products_cost_is_hidden(self):
        t = tag()
        prod, _ = self.create("products", {"sku": "COST-" + t, "name": "costly", "cost": "4321.09"})
        self.assertEqual(prod["cost"], "4321.09")
        secrets = ["4321.09"]
        for user in (self.sales, self.rep_manager, self.viewer_manager):
            with self.subTest(user=user["email"]):
                r = self.call("GET", path("products", prod["id"]), token=user["token"])
                self.assert_hidden(r, "products", secrets)
        token = self.rep_manager["token"]
        r = self.call("POST", path("products"), {"sku": "REP-" + t, "name": "by rep"}, token=token)
        self.assertEqual(r.status, 201, r)
        made = self.assert_hidden(r, "products", [])
        r = self.call("PATCH", path("products", prod["id"]), {"name": "renamed by rep"}, token=token)
        self.assertEqual(r.status, 200, r)
        self.assert_hidden(r, "products", secrets)
        full, _ = self.get("products", prod["id"])
        self.assertEqual((full["cost"], full["name"]), ("4321.09", "renamed by rep"))
        self.assertIsNone(self.get("products", made["id"])[0]["cost"])

    def test_unwritable_fields_are_not_writable(self):
        rec, secrets = self.secret_customer()
        prod, _ = self.create("products", {"sku": "NW-" + tag(), "name": "p", "cost": "1.00"})
        cust_for_deal, _ = self.create("customers", {"name": "deal owner"})
        sales, rep, viewer_mgr = self.sales["token"], self.rep_manager["token"], self.viewer_manager["token"]
        cases = [
            (sales, "POST", path("customers"), {"name": "n", "tax_id": "T1"}, {"tax_id": "not_writable"}),
            (sales, "POST", path("customers"), {"name": "n", "tax_id": "T1", "annual_revenue": "5"},
             {"tax_id": "not_writable", "annual_revenue": "not_writable"}),
            (sales, "POST", path("customers"), {"name": "n", "tax_id": "T1", "email": "bad"},
             {"tax_id": "not_writable", "email": "format"}),
            (sales, "PATCH", path("customers", rec["id"]), {"annual_revenue": "1"},
             {"annual_revenue": "not_writable"}),
            (sales, "PATCH", path("customers", rec["id"]), {"notes": "ok", "tax_id": "T2"}, {"tax_id": "not_writable"}),
            (rep, "POST", path("products"), {"sku": "X-" + tag(), "name": "p", "cost": "2"}, {"cost": "not_writable"}),
            (rep, "PATCH", path("products", prod["id"]), {"cost": "3"}, {"cost": "not_writable"}),
            (viewer_mgr, "POST", path("customers"), {"name": "n"}, {"name": "not_writable"}),
            (viewer_mgr, "PATCH", path("customers", rec["id"]), {"notes": "x", "status": "lead"},
             {"notes": "not_writable", "status": "not_writable"}),
            (viewer_mgr, "POST", path("deals"), {"customer_id": cust_for_deal["id"], "title": "t"},
             {"customer_id": "not_writable", "title": "not_writable"}),
            (viewer_mgr, "POST", path("warehouses"), {"code": "W-" + tag()}, {"code": "not_writable"}),
        ]
        before = self.fingerprint()
        for token, method, p, body, expected in cases:
            with self.subTest(method=method, path=p, body=sorted(body)):
                self.assert_validation(self.call(method, p, body, token=token), expected)
                self.assertEqual(self.fingerprint(), before, "a refused write wrote something")
        self.assertEqual(self.get("customers", rec["id"])[0], rec)
        self.assertEqual(self.get("products", prod["id"])[0], prod)


class AuditShaping(ProfileCase):
    """Audit rows read through a profile lose the fields it cannot read."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        helper = cls()
        cls.narrow_name = "auditor_" + tag()
        readable = sorted(readable_by_rep("customers"))
        helper.put_profile(cls.narrow_name, {"customers": {"read": readable, "write": []}}, status=201)
        # a manager (audit:read) moved to the narrow profile with PATCH /users/{id}
        user = cls.make_user("manager", login=False)
        r = h.api(cls.port, "PATCH", "%s/%s" % (USERS, user["id"]), {"access_profile": cls.narrow_name},
                  token=cls.admin)
        if r.status != 200 or r.json()["data"]["access_profile"] != cls.narrow_name:
            raise AssertionError("assigning the narrow profile: %r" % r)
        cls.narrow = dict(user, token=h.login_token(SERVER, cls.tenant, email=user["email"],
                                                    password=user["password"])["access_token"])
        cls.rep_manager = cls.make_user("manager", "sales_rep")

        # history: a customer with secrets created, updated twice, deleted; a product with a cost
        t = tag()
        cls.secrets = ["TAX-SECRET-A-" + t, "TAX-SECRET-B-" + t, "TAX-SECRET-C-" + t,
                       "987654.32", "123456.78", "4321.09", "8765.43"]
        cust, _ = helper.create("customers", {"name": "Audited " + t, "tax_id": cls.secrets[0],
                                              "annual_revenue": cls.secrets[3], "status": "active"})
        for body in ({"tax_id": cls.secrets[1], "annual_revenue": cls.secrets[4], "notes": "visible note"},
                     {"tax_id": cls.secrets[2]}):
            helper.data(h.api(cls.port, "PATCH", path("customers", cust["id"]), body, token=cls.admin))
        r = h.api(cls.port, "DELETE", path("customers", cust["id"]), token=cls.admin)
        helper.assertEqual(r.status, 204, r)
        prod, _ = helper.create("products", {"sku": "AUD-" + t, "name": "audited product", "cost": cls.secrets[5]})
        helper.data(h.api(cls.port, "PATCH", path("products", prod["id"]), {"cost": cls.secrets[6], "name": "renamed"},
                          token=cls.admin))
        cls.customer, cls.product = cust, prod

    def audit(self, token, **params):
        q = "&".join("%s=%s" % (k, quote(str(v), safe="")) for k, v in params.items())
        r = self.call("GET", AUDIT + ("?" + q if q else ""), token=token)
        rows = self.data(r)
        self.assertIsInstance(rows, list, rows)
        return rows, r.body.decode("utf-8", "replace")

    def test_admin_sees_every_field(self):
        rows, _ = self.audit(self.admin, entity="customers", entity_id=self.customer["id"])
        self.assertEqual([a["action"] for a in rows], ["delete", "update", "update", "create"])
        delete, update2, update1, create = rows
        for row in (create, update1, delete):
            self.assertTrue({"tax_id", "annual_revenue"} <= set(row["changes"]), row)
        self.assertEqual(set(update2["changes"]), {"tax_id"})
        self.assertEqual(create["changes"]["tax_id"], {"from": None, "to": self.secrets[0]})
        self.assertEqual(update1["changes"]["tax_id"], {"from": self.secrets[0], "to": self.secrets[1]})
        self.assertEqual(delete["changes"]["tax_id"], {"from": self.secrets[2], "to": None})
        rows, _ = self.audit(self.admin, entity="products", entity_id=self.product["id"])
        self.assertEqual([set(a["changes"]) >= {"cost"} for a in rows], [True, True])

    def test_narrow_readers_never_see_sensitive_changes(self):
        readers = {"custom narrow profile": self.narrow["token"], "sales_rep profile": self.rep_manager["token"]}
        for label, token in readers.items():
            with self.subTest(reader=label):
                rows, text = self.audit(token, entity="customers", entity_id=self.customer["id"])
                self.assertEqual([a["action"] for a in rows], ["delete", "update", "update", "create"])
                delete, update2, update1, create = rows
                for row in rows:
                    self.assertFalse({"tax_id", "annual_revenue"} & set(row["changes"]), row)
                self.assertEqual(create["changes"]["name"], {"from": None, "to": self.customer["name"]})
                self.assertEqual(create["changes"]["status"], {"from": None, "to": "active"})
                self.assertEqual(update1["changes"], {"notes": {"from": None, "to": "visible note"}})
                self.assertEqual(update2["changes"], {})
                self.assertEqual(delete["changes"]["name"], {"from": self.customer["name"], "to": None})
                for s in self.secrets:
                    self.assertNotIn(s, text)
                for key in ("tax_id", "annual_revenue", "cost"):
                    self.assertNotIn('"%s"' % key, text)
                # the whole log, unfiltered
                rows, text = self.audit(token, limit=200)
                self.assertGreaterEqual(len(rows), 6)
                for s in self.secrets:
                    self.assertNotIn(s, text)
                for key in ("tax_id", "annual_revenue", "cost"):
                    self.assertNotIn('"%s"' % key, text)

    def test_products_through_each_profile(self):
        rows, text = self.audit(self.rep_manager["token"], entity="products", entity_id=self.product["id"])
        self.assertEqual([a["action"] for a in rows], ["update", "create"])
        self.assertEqual(rows[0]["changes"], {"name": {"from": "audited product", "to": "renamed"}})
        self.assertEqual(rows[1]["changes"]["sku"], {"from": None, "to": self.product["sku"]})
        # the narrow profile lists no products: their changes are empty
        rows, text = self.audit(self.narrow["token"], entity="products", entity_id=self.product["id"])
        for row in rows:
            self.assertEqual(row["changes"], {}, row)
        self.assertNotIn(self.product["sku"], text)
        self.assertNotIn("4321.09", text)


# ------------------------------------------------------------------ live changes and allowlists


class LiveChange(ProfileCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sales = cls.make_user("sales")
        cls.viewer = cls.make_user("viewer")

    def test_a_put_reaches_a_live_session(self):
        rec, _ = self.create("customers", {"name": "live", "email": "live@example.test"})
        token = self.sales["token"]
        view, _ = self.get("customers", rec["id"], token=token)
        self.assertEqual(view["email"], "live@example.test")
        original = self.get_profile("sales_rep")
        changed = copy.deepcopy(original["entities"])
        # write implies read (issue 9): email leaves both lists
        changed["customers"]["read"] = [f for f in changed["customers"]["read"] if f != "email"]
        changed["customers"]["write"] = [f for f in changed["customers"]["write"] if f != "email"]
        try:
            r = self.call("PUT", PROFILES + "/sales_rep", {"entities": changed}, token=self.admin)
            put = self.data(r, 200)
            self.assertEqual(put["version"], original["version"] + 1)
            # the same token, the very next request: no email
            view2, r = self.get("customers", rec["id"], token=token)
            self.assertEqual(set(view2), set(view) - {"email"})
            self.assertNotIn(b"live@example.test", r.body)
            r = self.call("POST", path("customers"), {"name": "new", "email": "new@example.test"}, token=token)
            self.assertEqual([e["field"] for e in self.problem(r, 422, VALIDATION)["errors"]], ["email"])
            r = self.call("POST", path("customers"), {"name": "new"}, token=token)
            self.assertEqual(r.status, 201, r)
            self.assertNotIn("email", r.json()["data"])
            # another profile's session is untouched
            self.assertEqual(self.get("customers", rec["id"], token=self.viewer["token"])[0]["email"],
                             "live@example.test")
        finally:
            r = self.call("PUT", PROFILES + "/sales_rep", {"entities": original["entities"]}, token=self.admin)
            self.assertEqual(r.status, 200, r)
        view3, _ = self.get("customers", rec["id"], token=token)
        self.assertEqual(view3["email"], "live@example.test")
        self.assertEqual(set(view3), set(view))
        restored = self.get_profile("sales_rep")
        self.assertEqual(norm_entities(restored["entities"]), baseline_want("sales_rep"))
        self.assertEqual(restored["version"], original["version"] + 2)


class Allowlist(ProfileCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        helper = cls()
        cls.profile = "names_" + tag()
        helper.put_profile(cls.profile, {"customers": {"read": ["id", "name"], "write": ["name"]}}, status=201)
        cls.user = cls.make_user("sales", cls.profile)  # the role reads every entity
        cust, _ = helper.create("customers", {"name": "Listed " + tag(), "email": "l@example.test",
                                              "tax_id": "T-ALLOW", "annual_revenue": "5.00", "notes": "hidden"})
        deal, _ = helper.create("deals", {"customer_id": cust["id"], "title": "hidden deal", "amount": "9"})
        prod, _ = helper.create("products", {"sku": "HID-" + tag(), "name": "hidden product"})
        cls.customer, cls.deal, cls.product = cust, deal, prod

    def test_only_listed_fields(self):
        token = self.user["token"]
        self.assertEqual(self.user["access_profile"], self.profile)
        view, r = self.get("customers", self.customer["id"], token=token)
        self.assertEqual(view, {"id": self.customer["id"], "name": self.customer["name"]})
        for hidden in ("l@example.test", "T-ALLOW", "hidden", "version"):
            self.assertNotIn(hidden, r.body.decode())
        r = self.call("POST", path("customers"), {"name": "made"}, token=token)
        made = self.data(r, 201)
        self.assertEqual(set(made), {"id", "name"})
        self.assertEqual(r.header("etag"), '"1"')
        r = self.call("PATCH", path("customers", made["id"]), {"name": "remade"}, token=token)
        self.assertEqual(self.data(r), {"id": made["id"], "name": "remade"})
        self.assertEqual(self.get("customers", made["id"])[0]["version"], 2)

    def test_unlisted_entities_render_only_the_id(self):
        # id addresses the record and is always readable (ADR-0033); nothing else shows
        token = self.user["token"]
        for entity, rec in (("deals", self.deal), ("products", self.product)):
            with self.subTest(entity=entity):
                view, r = self.get(entity, rec["id"], token=token)
                self.assertEqual(view, {"id": rec["id"]})
                self.assertNotIn(b"hidden", r.body)

    def test_writes_outside_the_list(self):
        token = self.user["token"]
        before = self.fingerprint()
        cases = [
            ("PATCH", path("customers", self.customer["id"]), {"email": "new@example.test"},
             {"email": "not_writable"}),
            ("PATCH", path("customers", self.customer["id"]), {"name": "ok", "notes": "x"}, {"notes": "not_writable"}),
            ("POST", path("customers"), {"name": "n", "status": "active"}, {"status": "not_writable"}),
            ("POST", path("deals"), {"customer_id": self.customer["id"], "title": "t"},
             {"customer_id": "not_writable", "title": "not_writable"}),
        ]
        for method, p, body, expected in cases:
            with self.subTest(method=method, path=p, body=sorted(body)):
                self.assert_validation(self.call(method, p, body, token=token), expected)
        # the role still decides first
        self.problem(self.call("DELETE", path("customers", self.customer["id"]), token=token), 403, FORBIDDEN)
        self.problem(self.call("POST", path("products"), {"sku": "x", "name": "y"}, token=token), 403, FORBIDDEN)
        self.assertEqual(self.fingerprint(), before)


if __name__ == "__main__":
    h.main()
