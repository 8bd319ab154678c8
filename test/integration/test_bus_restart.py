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



class PostgresOutage(unittest.TestCase):
    def test_a_backlog_left_in_the_outbox_drains_after_postgresql_restarts(self):
        from test_pg_restart import pg_ctl
        redis = h.RedisServer(persistent=True)
        redis.start()
        self.addCleanup(redis.cleanup)
        stream = "nxp:test:pgout:%s" % uuid.uuid4().hex[:8]
        server = h.Server(env={"NEXTCRM_BUS_STREAM": stream, "NEXTCRM_BUS_POLL_MS": "200"}, redis_addr=redis.addr)
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        tenant = h.bootstrap_tenant(server)
        admin = h.login_token(server, tenant)["access_token"]
        redis.stop()  # the events stay in the outbox
        ids = [h.api(server.port, "POST", API + "/customers", {"name": "Backlog %d" % i}, token=admin).json()["data"]["id"]
               for i in range(10)]
        pg_ctl("stop")
        try:
            redis.start()
            time.sleep(1)  # the relay runs into a dead database
        finally:
            pg_ctl("start")
        want = {"customers/" + i for i in ids}
        got = h.wait_bus_envelopes(redis.addr, stream, tenant.id,
                                   lambda g: want <= {e["subject"] for e in g}, timeout=30)
        self.assertTrue(want <= {e["subject"] for e in got}, "every committed event arrived after the restart")
        self.assertTrue(server.alive(), server.log_tail())

    def test_an_entry_the_consumer_failed_on_is_retried_by_it_not_left_for_the_claim_idle(self):
        # A consumer that read an entry while PostgreSQL was away (a node
        # starting, a replay, an outage) retries it itself once PostgreSQL is
        # back; waiting for XAUTOCLAIM's idle time (10 min here) would leave
        # the event undelivered that long.
        from test_pg_restart import pg_ctl
        from test_webhooks import subscribed_tenant
        stream = "nxp:test:pgretry:%s" % uuid.uuid4().hex[:8]
        server = h.Server(env={"NEXTCRM_BUS_STREAM": stream, "NEXTCRM_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
                               "NEXTCRM_BUS_CLAIM_IDLE_MS": "600000"})
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        rc, tenant, admin = subscribed_tenant(self, server)
        h.api(server.port, "POST", API + "/customers", {"name": "Before"}, token=admin)
        rc.wait(1)
        redis_addr = h.require_env()["NEXTCRM_TEST_REDIS_ADDR"]
        first = [e for e in h.bus_envelopes(redis_addr, stream, tenant.id) if e["type"] == "crm.customer.created"][0]
        late = dict(first, id=str(uuid.uuid4()), subject="customers/" + str(uuid.uuid4()))
        pg_ctl("stop")
        try:
            r = h.Redis(redis_addr)
            r.command("XADD", stream, "*", "envelope", json.dumps(late))
            r.close()
            time.sleep(1.5)  # read and failed: PostgreSQL is away
        finally:
            pg_ctl("start")
        rc.wait(2, timeout=30)
        self.assertEqual(sorted(json.loads(b)["subject"] for _, b in rc.requests),
                         sorted([first["subject"], late["subject"]]))
        self.assertTrue(server.alive(), server.log_tail())


class Kills(unittest.TestCase):
    """kill -9 in the middle: the outbox and the consumer group lose nothing,
    and each event has its effect once (one webhook job per event)."""

    def count_jobs(self, tenant_id):
        cfg = h.require_env()
        rows = h.psql_tenant(cfg["NEXTCRM_TEST_PG_URL"], tenant_id,
                             "SELECT count(*), count(DISTINCT event_id) FROM webhook_jobs")
        return int(rows[-1][0]), int(rows[-1][1])

    def test_a_node_killed_mid_stream_loses_and_doubles_nothing(self):
        from test_webhooks import subscribed_tenant
        stream = "nxp:test:kill:%s" % uuid.uuid4().hex[:8]
        env = {"NEXTCRM_BUS_STREAM": stream, "NEXTCRM_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
               "NEXTCRM_BUS_CLAIM_IDLE_MS": "500", "NEXTCRM_WEBHOOK_RETRY_BASE_MS": "100",
               "NEXTCRM_WEBHOOK_TIMEOUT_MS": "2000"}
        a = h.Server(env=dict(env))
        self.addCleanup(a.cleanup)
        a.start(healthy=True)
        b = h.Server(env=dict(env, NEXTCRM_PLATFORM_TOKEN=a.platform_token, NEXTCRM_JWT_KEYS=a.env["NEXTCRM_JWT_KEYS"]))
        self.addCleanup(b.cleanup)
        b.start(healthy=True)
        rc, tenant, admin = subscribed_tenant(self, a)
        ids = []
        for i in range(60):
            if i == 25:
                a.signal(9)   # relay, consumer and delivery workers of A die mid-stream
                a.wait_exit(10)
            r = h.api(b.port, "POST", API + "/customers", {"name": "Killed %d" % i}, token=admin)
            self.assertEqual(r.status, 201, r)
            ids.append(r.json()["data"]["id"])
        want = {"customers/" + i for i in ids}

        def delivered():
            return {json.loads(body)["subject"] for _, body in rc.requests} & want
        h.wait_for(lambda: delivered() == want, 30, what="every event delivered after the kill")
        jobs, distinct = self.count_jobs(tenant.id)
        self.assertEqual((jobs, distinct), (60, 60), "one job per event: each event had its effect once")
        self.assertTrue(b.alive(), b.log_tail())
        # and A comes back: the backlog it left (pending entries, leased jobs) is not doubled
        a.start(healthy=True)
        time.sleep(1.5)
        self.assertEqual(self.count_jobs(tenant.id), (60, 60))


class Replay(unittest.TestCase):
    def test_a_replay_from_a_stream_position_feeds_a_new_subscription_the_past_events(self):
        from test_webhooks import Receiver, SECRET
        stream = "nxp:test:replay:%s" % uuid.uuid4().hex[:8]
        server = h.Server(env={"NEXTCRM_BUS_STREAM": stream, "NEXTCRM_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"})
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        tenant = h.bootstrap_tenant(server)
        admin = h.login_token(server, tenant)["access_token"]
        early = [h.api(server.port, "POST", API + "/customers", {"name": "Early %d" % i}, token=admin).json()["data"]["id"]
                 for i in range(3)]
        h.wait_bus_envelopes(h.require_env()["NEXTCRM_TEST_REDIS_ADDR"], stream, tenant.id,
                             lambda g: len([e for e in g if e["type"] == "crm.customer.created"]) == 3)
        rc = Receiver()
        self.addCleanup(rc.close)
        r = h.api(server.port, "POST", "/api/v1/webhooks",
                  {"url": rc.url, "events": ["crm.customer.created"], "secret": SECRET}, token=admin)
        self.assertEqual(r.status, 201, r)
        time.sleep(1)
        self.assertEqual(rc.requests, [], "a new subscription starts with new events")
        server.stop()
        server.env["NEXTCRM_BUS_REPLAY_FROM"] = "0"
        server.start(healthy=True)
        rc.wait(3)
        time.sleep(1)
        subjects = sorted(json.loads(body)["subject"] for _, body in rc.requests)
        self.assertEqual(subjects, sorted("customers/" + i for i in early), "each past event once")


class RunnerRole(unittest.TestCase):
    def test_the_runner_role_runs_the_consumers_and_the_core_role_does_not(self):
        from test_webhooks import subscribed_tenant
        stream = "nxp:test:roles:%s" % uuid.uuid4().hex[:8]
        env = {"NEXTCRM_BUS_STREAM": stream, "NEXTCRM_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
        core = h.Server(env=dict(env), args=("serve", "--role=core"))
        self.addCleanup(core.cleanup)
        core.start(healthy=True)
        rc, tenant, admin = subscribed_tenant(self, core)
        h.api(core.port, "POST", API + "/customers", {"name": "Waits for a runner"}, token=admin)
        time.sleep(1.5)
        self.assertEqual(rc.requests, [], "a core node runs no consumer")
        runner = h.Server(env=dict(env), args=("serve", "--role=runner"))
        self.addCleanup(runner.cleanup)
        runner.start(healthy=True)
        with h.RawConnection(runner.port) as conn:  # (the document describes the API roles, not this one)
            conn.send(b"GET /api/v1/customers HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(conn.read_response().status, 404, "a runner serves no API")
        # the group starts at the end of the stream: the event of before is
        # replayed only on request; a new one is delivered by the runner
        h.api(core.port, "POST", API + "/customers", {"name": "Delivered by the runner"}, token=admin)
        body = json.loads(rc.wait(1)[0][1])
        self.assertEqual(body["data"]["name"], "Delivered by the runner")


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
