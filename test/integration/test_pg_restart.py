#!/usr/bin/env python3
"""PostgreSQL restarts under a running nextcrm: /health turns 503 with
checks.postgres "down" while the server is gone, the other endpoints keep
answering, and once PostgreSQL is back the pool reconnects (with backoff) and
/health is 200 again, without restarting nextcrm.
Run: python3 test/integration/test_pg_restart.py (needs the NEXTCRM_TEST_*
variables of test/run-all.sh, including NEXTCRM_TEST_PG_RUN_DIR/PORT).
"""

import os
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402

TRANSITION_S = 15
LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "lib.sh")


def pg_ctl(verb):
    """pg_stop / pg_init_start of deploy/lib.sh on the suite's shared cluster."""
    env = h.require_env("NEXTCRM_TEST_PG_RUN_DIR", "NEXTCRM_TEST_PG_PORT")
    cmd = {"stop": 'pg_stop "$D"', "start": 'pg_init_start "$D" "$P"'}[verb]
    subprocess.run(["bash", "-c", 'source "$L" && ' + cmd], check=True, stdin=subprocess.DEVNULL,
                   env=dict(os.environ, L=LIB, D=env["NEXTCRM_TEST_PG_RUN_DIR"],
                            P=env["NEXTCRM_TEST_PG_PORT"], NEXTCRM_PG_FAST="1"))


class PostgresRestart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_env()
        h.require_env("NEXTCRM_TEST_PG_RUN_DIR", "NEXTCRM_TEST_PG_PORT")
        cls.server = h.Server()
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start(healthy=True)

    def wait_health(self, status):
        return h.wait_status(self.server, "/health", status, TRANSITION_S)

    def test_pool_reconnects_after_postgres_restart(self):
        pid = self.server.pid
        try:
            pg_ctl("stop")
            r, body = self.wait_health(503)
            self.assertEqual(body, {"status": "degraded", "checks": {"postgres": "down", "redis": "ok"}})
            self.assertEqual(h.get(self.server.port, "/api/version").status, 200)
        finally:
            pg_ctl("start")  # the shared cluster must come back for the other suites
        started = time.monotonic()
        r, body = self.wait_health(200)
        print("healthy again %.1fs after PostgreSQL was back" % (time.monotonic() - started))
        self.assertEqual(body, {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}})
        self.assertEqual(self.server.pid, pid, "nextcrm was restarted")
        log = self.server.log_tail(400)
        self.assertIn("pg.connection_lost", log)
        self.assertEqual(self.server.stop(), 0, "exit status after SIGTERM\n" + self.server.log_tail())


if __name__ == "__main__":
    h.main()
