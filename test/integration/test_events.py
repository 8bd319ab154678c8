#!/usr/bin/env python3
"""Integration: the transactional outbox and the bus relay (Block 8).

Every mutation writes exactly one NXP envelope (CloudEvents 1.0 + tenantid +
traceparent) in its own transaction; the relay moves it to the Redis stream.
A mutation that fails or rolls back writes none. (Redis and PostgreSQL
outages: test_bus_restart.py, which runs no other relay beside its own.)
"""
import json
import os
import re
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import API, USERS, LOGOUT, PROFILES  # noqa: E402

SERVER = None
STREAM = "nxp:test:events:%s" % uuid.uuid4().hex[:8]
ENVELOPE_KEYS = {"specversion", "id", "source", "type", "time", "datacontenttype", "subject", "tenantid",
                 "traceparent", "data"}


def setUpModule():
    global SERVER
    h.require_env()
    SERVER = h.start_module_server(env={"NEXTCRM_BUS_STREAM": STREAM})


class Outbox(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = h.require_env()["NEXTCRM_TEST_REDIS_ADDR"]

    def call(self, method, path, body=None, token=None, headers=None):
        return h.api(SERVER.port, method, path, body, token=token, headers=headers)

    def test_every_mutation_writes_exactly_one_envelope_with_its_trace(self):
        tenant = h.bootstrap_tenant(SERVER)
        admin = h.login_token(SERVER, tenant)["access_token"]
        expected = [("crm.tenant.created", "tenants/" + tenant.id, None)]  # (type, subject, trace id)

        def did(r, status, type_, subject):
            self.assertEqual(r.status, status, r)
            expected.append((type_, subject, r.trace_id()))
            return r

        r = did(self.call("POST", USERS, {"email": "u-%s@ev.test" % h.tag(), "password": h.new_password(),
                                          "role": "viewer"}, token=admin), 201, "crm.user.created", None)
        user = r.json()["data"]["id"]
        expected[-1] = (expected[-1][0], "users/" + user, expected[-1][2])
        did(self.call("PATCH", USERS + "/" + user, {"role": "sales"}, token=admin), 200, "crm.user.updated",
            "users/" + user)
        did(self.call("POST", USERS + "/" + user + "/lock", token=admin), 200, "crm.user.locked", "users/" + user)
        did(self.call("POST", USERS + "/" + user + "/unlock", token=admin), 200, "crm.user.unlocked",
            "users/" + user)
        profile = {"name": "ev_profile", "entities": {"customers": {"read": ["name"], "write": []}}}
        did(self.call("PUT", PROFILES + "/ev_profile", profile, token=admin), 201, "crm.access_profile.created",
            "access-profiles/ev_profile")
        did(self.call("PUT", PROFILES + "/ev_profile", profile, token=admin), 200, "crm.access_profile.updated",
            "access-profiles/ev_profile")
        r = self.call("POST", API + "/customers", {"name": "Evented", "annual_revenue": "12.5"}, token=admin)
        cid = r.json()["data"]["id"]
        did(r, 201, "crm.customer.created", "customers/" + cid)
        did(self.call("PATCH", API + "/customers/" + cid, {"status": "active"}, token=admin), 200,
            "crm.customer.updated", "customers/" + cid)
        content = h.safe_content_item(tenant.id, tenant.admin_user_id)  # written directly: no event
        did(self.call("POST", API + "/customers/%s/attachments" % cid, {"content_id": content},
                      token=admin), 201, "crm.customer.attachment_added", "customers/" + cid)
        did(self.call("DELETE", API + "/customers/" + cid, token=admin), 204, "crm.customer.deleted",
            "customers/" + cid)
        second = h.login_token(SERVER, tenant)
        did(self.call("POST", LOGOUT, token=second["access_token"]), 204, "crm.session.revoked",
            "sessions/" + second["session_id"])

        got = h.wait_bus_envelopes(self.redis, STREAM, tenant.id, lambda g: len({e["id"] for e in g}) >= len(expected))
        unique = list({e["id"]: e for e in got}.values())  # the relay is at least once: dedupe by id
        self.assertEqual([(e["type"], e["subject"]) for e in unique], [(t, s) for t, s, _ in expected])
        for e, (type_, subject, trace) in zip(unique, expected):
            with self.subTest(type_):
                self.assertEqual(set(e), ENVELOPE_KEYS)
                self.assertEqual(e["specversion"], "1.0")
                self.assertEqual(e["datacontenttype"], "application/json")
                self.assertEqual(e["source"], "nextcrm/core")
                self.assertEqual(e["tenantid"], tenant.id)
                self.assertTrue(h.is_uuid(e["id"]))
                self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
                self.assertRegex(e["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
                if trace:
                    self.assertEqual(e["traceparent"].split("-")[1], trace, "the request's trace")
                self.assertIsInstance(e["data"], dict)
                self.assertNotIn("password_hash", json.dumps(e["data"]))
        created = unique[[t for t, _, _ in expected].index("crm.customer.created")]
        self.assertEqual(created["data"]["name"], "Evented")
        self.assertEqual(created["data"]["annual_revenue"], "12.50", "money as in the API")
        self.assertEqual(created["data"]["version"], 1)
        deleted = unique[[t for t, _, _ in expected].index("crm.customer.deleted")]
        self.assertEqual(deleted["data"], {"id": cid, "version": 2})

    def test_a_failed_or_refused_mutation_writes_no_envelope(self):
        tenant = h.bootstrap_tenant(SERVER)
        admin = h.login_token(SERVER, tenant)["access_token"]
        r = self.call("POST", API + "/customers", {"name": "Kept"}, token=admin)
        cid = r.json()["data"]["id"]
        failures = [
            self.call("PATCH", API + "/customers/" + cid, {"status": "active"}, token=admin,
                      headers={"If-Match": '"7"'}),                                           # 412
            self.call("DELETE", API + "/customers/" + cid, token=admin, headers={"If-Match": '"9"'}),  # 412
            self.call("POST", API + "/deals", {"name": "D", "customer_id": str(uuid.uuid4())}, token=admin),  # 422
            self.call("POST", API + "/customers", {"name": "x\u0000y"}, token=admin),           # 422 NUL
            self.call("POST", USERS, {"email": tenant.email, "password": h.new_password(), "role": "viewer"},
                      token=admin),                                                            # 409 taken
        ]
        self.assertEqual([r.status for r in failures], [412, 412, 422, 422, 409])
        # a later event of the tenant arrives: everything before it was relayed
        self.call("PATCH", API + "/customers/" + cid, {"notes": "marker"}, token=admin)
        got = h.wait_bus_envelopes(self.redis, STREAM, tenant.id,
                             lambda g: any(e["type"] == "crm.customer.updated" for e in g))
        types = sorted({(e["type"], e["subject"]) for e in got})
        self.assertEqual(types, sorted({("crm.tenant.created", "tenants/" + tenant.id),
                                        ("crm.customer.created", "customers/" + cid),
                                        ("crm.customer.updated", "customers/" + cid)}))
        updated = [e for e in got if e["type"] == "crm.customer.updated"]
        self.assertEqual(len({e["id"] for e in updated}), 1)
        self.assertEqual(updated[0]["data"]["notes"], "marker")

    def test_outbox_rows_are_removed_once_published(self):
        tenant = h.bootstrap_tenant(SERVER)
        admin = h.login_token(SERVER, tenant)["access_token"]
        self.call("POST", API + "/customers", {"name": "Gone"}, token=admin)
        cfg = h.require_env()

        def left():
            rows = h.psql_tenant(cfg["NEXTCRM_TEST_PG_URL"], tenant.id, "SELECT count(*) FROM outbox")
            return int(rows[-1][0])
        h.wait_for(lambda: left() == 0, 10, what="the outbox of the tenant to drain")


if __name__ == "__main__":
    h.main()
