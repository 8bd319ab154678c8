#!/usr/bin/env python3
"""Integration: cross-node signals over the event bus (Block 8).

Two nextcrm processes on one PostgreSQL and one Redis, sharing their JWT keys
(a token of one is valid on the other). Each caches live sessions and access
profiles in its tenant actors; a logout, a lock or a profile change made on
node A must take effect on node B within 1 s (the change's event reaches B
through the stream; B drops what it cached).
"""
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import API, USERS, ME, LOGOUT, PROFILES, REVOKED  # noqa: E402

A = B = None
DEADLINE = 1.0  # seconds: the bound for a change to reach every node


def setUpModule():
    global A, B
    h.require_env()
    A = h.start_module_server(env={"NEXTCRM_BUS_STREAM": "nxp:test:nodes"})
    B = h.start_module_server(env={"NEXTCRM_BUS_STREAM": "nxp:test:nodes",
                                   "NEXTCRM_PLATFORM_TOKEN": A.platform_token,
                                   "NEXTCRM_JWT_KEYS": A.env["NEXTCRM_JWT_KEYS"]})


class TwoNodes(unittest.TestCase):
    def setUp(self):
        self.tenant = h.bootstrap_tenant(A)
        self.admin = h.login_token(A, self.tenant)["access_token"]

    def new_user(self, role="viewer", profile=None):
        email = "n-%s@nodes.test" % h.tag()
        pw = h.new_password()
        body = {"email": email, "password": pw, "role": role}
        if profile:
            body["access_profile"] = profile
        r = h.api(A.port, "POST", USERS, body, token=self.admin)
        self.assertEqual(r.status, 201, r)
        return r.json()["data"]["id"], h.login_token(A, self.tenant, email=email, password=pw)

    def test_a_logout_on_a_is_refused_on_b_within_a_second(self):
        _, login = self.new_user()
        token = login["access_token"]
        self.assertEqual(h.api(B.port, "GET", ME, token=token).status, 200)  # B caches the live session
        self.assertEqual(h.api(A.port, "POST", LOGOUT, token=token).status, 204)
        took = h.until(lambda: h.api(B.port, "GET", ME, token=token).status == 401, DEADLINE)
        self.assertIsNotNone(took, "node B still accepts a token logged out on node A after %.1f s" % DEADLINE)
        h.check_problem(self, h.api(B.port, "GET", ME, token=token), 401, REVOKED)

    def test_a_lock_on_a_is_enforced_on_b_within_a_second(self):
        user, login = self.new_user()
        token = login["access_token"]
        self.assertEqual(h.api(B.port, "GET", ME, token=token).status, 200)
        self.assertEqual(h.api(A.port, "POST", USERS + "/%s/lock" % user, token=self.admin).status, 200)
        took = h.until(lambda: h.api(B.port, "GET", ME, token=token).status == 401, DEADLINE)
        self.assertIsNotNone(took, "node B still serves a user locked on node A after %.1f s" % DEADLINE)

    def test_a_role_change_on_a_applies_on_b_within_a_second(self):
        user, login = self.new_user(role="sales")
        token = login["access_token"]
        self.assertEqual(h.api(B.port, "GET", API + "/customers", token=token).status, 200)
        self.assertEqual(h.api(A.port, "PATCH", USERS + "/" + user, {"role": "viewer"}, token=self.admin).status, 200)
        took = h.until(lambda: h.api(B.port, "POST", API + "/customers", {"name": "x"}, token=token).status == 403,
                     DEADLINE)
        self.assertIsNotNone(took, "node B still lets a sales user write after the change to viewer on node A")

    def test_a_profile_change_on_a_is_enforced_on_b_within_a_second(self):
        profile = {"name": "nodes_p", "entities": {"customers": {"read": ["name", "email"], "write": []}}}
        self.assertEqual(h.api(A.port, "PUT", PROFILES + "/nodes_p", profile, token=self.admin).status, 201)
        _, login = self.new_user(role="viewer", profile="nodes_p")
        token = login["access_token"]
        r = h.api(A.port, "POST", API + "/customers", {"name": "Seen", "email": "s@x.test"}, token=self.admin)
        cid = r.json()["data"]["id"]
        self.assertEqual(h.api(B.port, "GET", API + "/customers/" + cid, token=token).json()["data"]["email"],
                         "s@x.test")  # B caches the profile
        profile["entities"]["customers"]["read"] = ["name"]
        self.assertEqual(h.api(A.port, "PUT", PROFILES + "/nodes_p", profile, token=self.admin).status, 200)
        took = h.until(lambda: "email" not in h.api(B.port, "GET", API + "/customers/" + cid,
                                                  token=token).json()["data"], DEADLINE)
        self.assertIsNotNone(took, "node B still shows a field the profile hid on node A after %.1f s" % DEADLINE)


if __name__ == "__main__":
    h.main()
