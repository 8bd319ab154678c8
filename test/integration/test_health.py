#!/usr/bin/env python3
"""GET /health follows its dependencies: 200 with both checks ok; Redis
stopped -> 503 degraded with checks.redis "down"; Redis back on the same port
-> 200 again, without restarting nextcrm. Run: python3 test/integration/test_health.py
"""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402

# /health is refreshed by a background probe (at most ~1 s old) and the Redis
# client reconnects with a backoff: allow this long for each transition.
TRANSITION_S = 10


class HealthFollowsDependencies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_env()
        cls.redis = h.RedisServer()
        cls.addClassCleanup(cls.redis.cleanup)
        cls.redis.start()
        cls.server = h.Server(redis_addr=cls.redis.addr)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start(healthy=True)

    def health(self):
        r = h.get(self.server.port, "/health", timeout=3)
        return r, r.json()

    def wait_health(self, status):
        return h.wait_status(self.server, "/health", status, TRANSITION_S)

    def test_health_follows_redis(self):
        pid = self.server.pid

        r, body = self.health()
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        self.assertEqual(body, {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}})

        self.redis.stop()
        started = time.monotonic()
        r, body = self.wait_health(503)
        print("degraded after %.1fs" % (time.monotonic() - started))
        self.assertEqual(body.get("status"), "degraded", body)
        self.assertEqual(body.get("checks", {}).get("redis"), "down", body)
        self.assertEqual(body.get("checks", {}).get("postgres"), "ok", body)
        # the other endpoints do not need Redis and keep answering
        self.assertEqual(h.get(self.server.port, "/api/version").status, 200)

        self.redis.start()
        started = time.monotonic()
        r, body = self.wait_health(200)
        print("healthy again after %.1fs" % (time.monotonic() - started))
        self.assertEqual(body, {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}})

        self.assertTrue(self.server.alive(), "nextcrm died")
        self.assertEqual(self.server.pid, pid)
        self.assertEqual(self.server.stop(), 0, "exit status after SIGTERM\n" + self.server.log_tail())


if __name__ == "__main__":
    h.main()
