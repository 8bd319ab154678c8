#!/usr/bin/env python3
"""Integration: a Redis failover under Redis Sentinel (docs/CLUSTER.md).

A primary, a replica and a sentinel on loopback; nextcrm is told only the
sentinel (NEXTCRM_REDIS_SENTINELS). Under a stream of creates the primary is
SIGKILLed: the sentinel promotes the replica, nextcrm follows it, the writes
go on (PostgreSQL is the truth), and every event is on the new primary's
stream and delivered to a webhook subscriber exactly once.
"""
import json
import os
import sys
import threading
import time
import unittest
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import API  # noqa: E402


def setUpModule():
    h.require_env()


class Failover(unittest.TestCase):
    def test_the_primary_killed_under_writes_the_server_follows_the_replica_and_no_event_is_lost(self):
        from test_webhooks import subscribed_tenant
        primary = h.RedisServer()
        primary.start()
        self.addCleanup(primary.cleanup)
        replica = h.RedisServer(replica_of=primary)
        replica.start()
        self.addCleanup(replica.cleanup)
        h.wait_for(lambda: "master_link_status:up" in (h.Redis(replica.addr).command("INFO", "replication") or ""),
                   15, what="the replica in sync")
        sentinel = h.RedisSentinel(primary)
        sentinel.start()
        self.addCleanup(sentinel.cleanup)
        stream = "nxp:test:sentinel:%s" % uuid.uuid4().hex[:8]
        server = h.Server(env={"NEXTCRM_BUS_STREAM": stream, "NEXTCRM_REDIS_SENTINELS": sentinel.addr,
                               "NEXTCRM_REDIS_ADDR": "127.0.0.1:1",  # unused: the sentinel says where
                               "NEXTCRM_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"})
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        rc, tenant, admin = subscribed_tenant(self, server)
        h.raise_guard_budgets(server.port, admin)  # 4 writers: no budget of one user must stop them

        stop = threading.Event()
        acked, failed = [], []

        def writer(w):
            n = 0
            while not stop.is_set():
                resp = h.api(server.port, "POST", API + "/customers", {"name": "Fo %d %d" % (w, n)}, token=admin)
                n += 1
                (acked if resp.status == 201 else failed).append(resp.json()["data"]["id"] if resp.status == 201
                                                                 else resp)
                time.sleep(0.01)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        at_kill = len(acked)
        primary.kill()
        h.wait_for(lambda: sentinel.primary() == replica.port, 20, what="the sentinel to promote the replica")
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(30)
        self.assertEqual(failed, [], "writes go on through the failover")
        self.assertGreater(len(acked), 50)
        want = {"customers/" + i for i in acked}

        def on_stream():
            return h.envelope_ids(replica.addr, stream, tenant.id)
        try:
            h.wait_for(lambda: want <= set(on_stream()), 30, what="every event on the new primary's stream")
        except AssertionError:
            missing = sorted(want - set(on_stream()))
            outbox = h.psql_tenant(h.require_env()["NEXTCRM_TEST_PG_URL"], tenant.id, "SELECT count(*) FROM outbox")
            order = {"customers/" + a: i for i, a in enumerate(acked)}
            raise AssertionError("%d of %d events missing (outbox %s), at indexes %s (kill at %d); stream has %d" % (
                len(missing), len(want), outbox, sorted(order[m] for m in missing)[:10], at_kill, len(on_stream())))
        self.assertTrue(all(len(ids) == 1 for s, ids in on_stream().items() if s in want), "one event each")

        def delivered():
            return [json.loads(body)["subject"] for _, body in rc.requests]
        h.wait_for(lambda: want <= set(delivered()), 30, what="every event delivered")
        time.sleep(1)
        counts = {}
        for s in delivered():
            counts[s] = counts.get(s, 0) + 1
        self.assertEqual({s: c for s, c in counts.items() if s in want and c != 1}, {}, "each delivered once")
        self.assertTrue(server.alive(), server.log_tail())
        self.assertIn("redis.primary_moved", server.log_text())


if __name__ == "__main__":
    h.main()
