#!/usr/bin/env python3
"""Integration: the event bus across outages (Block 8), and what needs a
node alone (every relay and delivery worker serves every tenant).

Redis stopped during a burst of writes: the writes still succeed, the events
wait in the outbox, and once Redis is back every event arrives, once, in the
order of the writes. This module runs one nextcrm only: every relay drains
the outbox of every tenant, so a second server would publish these events to
its own stream.
"""
import json
import os
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import API  # noqa: E402


def setUpModule():
    h.require_env()


class RedisOutage(unittest.TestCase):
    """Writes go on while Redis is down; every event arrives once it is back."""

    def test_events_written_while_redis_is_down_arrive_after_it_returns(self):
        redis = h.RedisServer(persistent=True)
        redis.start()
        stream = "nxp:test:outage:%s" % uuid.uuid4().hex[:8]
        server = h.Server(env={"NEXTCRM_BUS_STREAM": stream, "NEXTCRM_BUS_POLL_MS": "200"}, redis_addr=redis.addr)
        self.addCleanup(redis.cleanup)
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        tenant = h.bootstrap_tenant(server)
        admin = h.login_token(server, tenant)["access_token"]
        ids = []

        def burst(n):
            for i in range(n):
                r = h.api(server.port, "POST", API + "/customers", {"name": "Burst %d" % len(ids)}, token=admin)
                self.assertEqual(r.status, 201, r)
                ids.append(r.json()["data"]["id"])
        burst(20)
        redis.stop()
        burst(30)   # the writes still succeed: the events wait in the outbox
        redis.start()
        burst(10)
        want = {"customers/" + i for i in ids}
        got = h.wait_bus_envelopes(redis.addr, stream, tenant.id,
                             lambda g: want <= {e["subject"] for e in g if e["type"] == "crm.customer.created"},
                             timeout=20)
        created = [e for e in got if e["type"] == "crm.customer.created"]
        by_subject = {}
        for e in created:
            by_subject.setdefault(e["subject"], set()).add(e["id"])
        missing = [n for n, i in enumerate(ids) if "customers/" + i not in by_subject]
        self.assertEqual(missing, [], "every write's event arrived (missing: index in the burst)\n" + server.log_tail(30))
        self.assertTrue(all(len(v) == 1 for v in by_subject.values()), "one envelope id per write")
        # commit order per aggregate, and here the whole burst came from one client in order
        order = [e["subject"] for e in {e["id"]: e for e in created}.values()]
        self.assertEqual(order, ["customers/" + i for i in ids])
        self.assertTrue(server.alive(), server.log_tail())



class WebhookAddresses(unittest.TestCase):
    """An allowed host name resolving to an address that is not allowed
    (localhost -> 127.0.0.1) is refused at delivery: no request leaves."""

    def test_a_name_resolving_to_a_disallowed_address_is_refused(self):
        from test_webhooks import Receiver, SECRET
        server = h.Server(env={"NEXTCRM_BUS_STREAM": "nxp:test:addr:%s" % uuid.uuid4().hex[:8],
                               "NEXTCRM_WEBHOOK_ALLOW_HOSTS": "localhost", "NEXTCRM_WEBHOOK_RETRY_BASE_MS": "100"})
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        rc = Receiver()
        self.addCleanup(rc.close)
        tenant = h.bootstrap_tenant(server)
        admin = h.login_token(server, tenant)["access_token"]
        r = h.api(server.port, "POST", "/api/v1/webhooks",
                  {"url": "http://localhost:%d/hook" % rc.port, "events": ["crm.customer.*"], "secret": SECRET},
                  token=admin)
        self.assertEqual(r.status, 201, r)  # the host is listed
        hook = r.json()["data"]["id"]
        h.api(server.port, "POST", API + "/customers", {"name": "Never sent"}, token=admin)

        def log():
            return h.api(server.port, "GET", "/api/v1/webhooks/%s/deliveries" % hook, token=admin).json()["data"]
        h.wait_for(lambda: log(), 15, what="a logged attempt")
        entry = log()[-1]
        self.assertIsNone(entry["status"])
        self.assertEqual(entry["error"], "address not allowed: 127.0.0.1")
        self.assertEqual(rc.requests, [])


if __name__ == "__main__":
    h.main()
