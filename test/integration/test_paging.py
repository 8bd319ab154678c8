#!/usr/bin/env python3
"""Integration: one paging story for every GET list.

GET /api/v1/{entity}, GET /api/v1/audit-logs and GET /api/v1/users take
`limit` (1 to the list's maximum) and `after` (the `next_cursor` of the page
before) and answer "page": {"size", "next_cursor"}. A walk with any page
size sees every row exactly once, in order. A parameter a list does not
support, given twice, or out of range is a 422 naming it (never ignored);
a cursor that is not one of the list is 400 query.bad_cursor.
"""
import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import API, USERS, AUDIT, VALIDATION  # noqa: E402

SERVER = None


def setUpModule():
    global SERVER
    h.require_env()
    SERVER = h.start_module_server()


class Paging(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = SERVER.port
        cls.tenant = h.bootstrap_tenant(SERVER)
        cls.admin = h.login_token(SERVER, cls.tenant)["access_token"]
        cls.customers = []
        for i in range(7):
            r = h.api(cls.port, "POST", API + "/customers", {"name": "Paged %d" % i}, token=cls.admin)
            assert r.status == 201, r
            cls.customers.append(r.json()["data"]["id"])
        cls.users = [cls.tenant.email.lower()]
        for i in range(5):
            email = "user%d-%s@paging.test" % (i, h.tag())
            r = h.api(cls.port, "POST", USERS, {"email": email, "password": h.new_password(), "role": "viewer"},
                      token=cls.admin)
            assert r.status == 201, r
            cls.users.append(email)

    def get(self, path, token=None):
        return h.api(self.port, "GET", path, token=token or self.admin)

    def walk(self, path, limit, key):
        """Every item of the list at PATH, `limit` at a time (KEY of each)."""
        seen, after, pages = [], None, 0
        while True:
            sep = "&" if "?" in path else "?"
            url = "%s%slimit=%d" % (path, sep, limit) + ("&after=" + after if after else "")
            r = self.get(url)
            self.assertEqual(r.status, 200, r)
            body = r.json()
            self.assertLessEqual(len(body["data"]), limit)
            self.assertEqual(body["page"]["size"], limit)
            seen += [item[key] for item in body["data"]]
            pages += 1
            after = body["page"]["next_cursor"]
            if after is None:
                return seen, pages
            self.assertEqual(len(body["data"]), limit, "a page before the last is full")
            self.assertLess(pages, 100)

    def test_records_limit_is_honoured_and_pages_walk_every_row_once(self):
        r = self.get(API + "/customers?limit=1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["data"]), 1)
        for limit in (1, 2, 3, 7, 50):
            seen, pages = self.walk(API + "/customers", limit, "id")
            self.assertEqual(sorted(seen), sorted(self.customers), limit)
            self.assertEqual(len(seen), len(set(seen)))
            self.assertEqual(seen, list(reversed(self.customers)), "newest first")

    def test_a_get_cursor_continues_with_the_query_endpoint_too(self):
        first = self.get(API + "/customers?limit=3").json()
        r = h.api(self.port, "POST", API + "/customers/query", {"page": {"size": 3, "after": first["page"]["next_cursor"]}},
                  token=self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([c["id"] for c in r.json()["data"]], list(reversed(self.customers))[3:6])

    def test_audit_log_pages_and_filters(self):
        seen, _ = self.walk(AUDIT + "?entity=customers", 2, "id")
        self.assertEqual(len(seen), len(self.customers))
        self.assertEqual(len(seen), len(set(seen)))
        one = self.customers[0]
        seen, _ = self.walk(AUDIT + "?entity=customers&entity_id=" + one, 1, "entity_id")
        self.assertEqual(seen, [one])

    def test_users_page_by_email(self):
        seen, pages = self.walk(USERS, 2, "email")
        self.assertEqual(seen, sorted(self.users))
        self.assertEqual(pages, 3)
        self.assertEqual(len(self.get(USERS + "?limit=1").json()["data"]), 1)

    def test_parameters_out_of_range_unknown_or_repeated_are_422_naming_them(self):
        cases = [
            (API + "/customers?limit=0", "limit", "range"),
            (API + "/customers?limit=501", "limit", "range"),
            (API + "/customers?limit=abc", "limit", "range"),
            (API + "/customers?offset=10", "offset", "unknown"),
            (API + "/customers?limit=1&limit=2", "limit", "duplicate"),
            (AUDIT + "?limit=201", "limit", "range"),
            (AUDIT + "?page=2", "page", "unknown"),
            (USERS + "?limit=501", "limit", "range"),
            (USERS + "?sort=email", "sort", "unknown"),
        ]
        for path, field, code in cases:
            with self.subTest(path):
                body = h.check_problem(self, self.get(path), 422, VALIDATION)
                self.assertIn({"field": field, "code": code}, [{"field": e["field"], "code": e["code"]}
                                                               for e in body["errors"]], body)

    def test_a_foreign_or_altered_cursor_is_400(self):
        cursor = self.get(API + "/customers?limit=1").json()["page"]["next_cursor"]
        for path in (API + "/deals?after=" + cursor,  # another entity
                     API + "/customers?after=" + cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB"),
                     AUDIT + "?after=" + cursor,
                     USERS + "?after=%25%25%25"):
            with self.subTest(path):
                h.check_problem(self, self.get(path), 400, "query.bad_cursor")


if __name__ == "__main__":
    h.main()
