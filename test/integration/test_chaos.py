#!/usr/bin/env python3
"""Integration: the chaos facility under load (docs/CLUSTER.md).

Two core nodes, a content node and a runner node behind the gateway, each
with NEXTCRM_CHAOS killing an actor of every kind (front, tenant, session,
budget, storage, relay, content pool, content job) and dropping a
PostgreSQL, a Redis and a consumer connection, each kind every 50 ms. A
mixed load runs through the gateway for 60 s: reads, keyed creates and
uploads. Then:
- no process crashed (every node alive, and exits 0 on SIGTERM);
- every request got an answer by its deadline: the nodes answer 503 at
  their handler deadline (10 s here), and a request still unanswered when
  the client gives up (three deadlines) counts as hung; a success, or a 5xx
  problem;
- every acknowledged create is in PostgreSQL with its audit row and exactly
  one event (one envelope id) on the stream;
- a create whose answer was a 5xx is retried with its key once the chaos is
  over and exists once; every upload ends `safe`, or `rejected` as stopped
  more than 3 times (never stuck).
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

CUSTOMERS = API + "/customers"
LOAD_S = float(os.environ.get("NEXTCRM_CHAOS_LOAD_S", "60"))
DEADLINE_S = 10    # the nodes' handler deadline (NEXTCRM_HANDLER_TIMEOUT_MS)
CLIENT_S = 3 * DEADLINE_S  # past this a request is hung, not slow
CHAOS = os.environ.get("NEXTCRM_CHAOS_PLAN", "all=50")


def setUpModule():
    h.require_env()


class ChaosUnderLoad(unittest.TestCase):
    def test_killing_every_kind_every_50ms_loses_no_acknowledged_write_and_hangs_no_request(self):
        import content_fixtures as fx
        stream = "nxp:test:chaos:%s" % uuid.uuid4().hex[:8]
        env = {"NEXTCRM_BUS_STREAM": stream, "NEXTCRM_CONTENT_LEASE_S": "2",
               "NEXTCRM_HANDLER_TIMEOUT_MS": str(DEADLINE_S * 1000)}
        cluster = h.Cluster(cores=2, contents=1, runner=True, env=env)
        self.addCleanup(cluster.cleanup)
        cluster.start()
        gw = cluster.gateway.port
        tenant = h.bootstrap_tenant(cluster.core[0])
        token = h.login_token(cluster.core[0], tenant)["access_token"]
        # the guard stays on (its budget actors are among the victims), with
        # budgets this one user's minute of load does not reach: at the
        # defaults the guard rightly locks a client sending 10,000 calls a
        # minute, and the books below need its session afterwards
        h.raise_guard_budgets(gw, token)
        # every node again, now with the chaos (the token and the session survive)
        for n in cluster.nodes:
            n.stop()
            n.env["NEXTCRM_CHAOS"] = CHAOS
            n.start(ready=False)
        for n in cluster.nodes:
            n.wait_ready(healthy=False)

        run = h.tag()
        stop = threading.Event()
        lock = threading.Lock()
        answers = []      # (method, path, status, body, content-type) of every request
        hung = []
        slowest = [0.0]   # the longest wait for an answer (reported, not asserted)
        creates = {}      # key -> (name, status, body)
        uploads = []      # ids accepted

        def call(method, path, body=None, headers=None, raw=None, ctype=None):
            hdrs = {"Authorization": "Bearer " + token}
            hdrs.update(headers or {})
            began = time.monotonic()
            try:
                if raw is not None:
                    hdrs["Content-Type"] = ctype
                    resp = h.request(gw, method, path, headers=hdrs, body=raw, timeout=CLIENT_S)
                else:
                    resp = h.api(gw, method, path, body, token=token, headers=headers, timeout=CLIENT_S)
            except Exception as e:  # noqa: BLE001
                with lock:
                    hung.append((method, path, repr(e)))
                return None
            with lock:
                slowest[0] = max(slowest[0], time.monotonic() - began)
                answers.append((method, path, resp.status, resp.body, resp.header("content-type") or ""))
            return resp

        def reader(i):
            n = 0
            while not stop.is_set():
                call("GET", CUSTOMERS if n % 2 else CUSTOMERS + "?limit=5")
                n += 1

        def writer(w):
            n = 0
            while not stop.is_set():
                key = "chaos-%s-%d-%d" % (run, w, n)
                name = "Chaos %s %d %d" % (run, w, n)
                n += 1
                resp = call("POST", CUSTOMERS, {"name": name}, headers={"Idempotency-Key": key})
                with lock:
                    creates[key] = (name, resp.status if resp else None, resp.body if resp else None)

        def uploader():
            n = 0
            while not stop.is_set():
                resp = call("POST", "/content/v1/uploads?filename=c%d.jpg" % n, raw=fx.jpeg(), ctype="image/jpeg")
                n += 1
                if resp is not None and resp.status == 202:
                    with lock:
                        uploads.append(resp.json()["data"]["id"])
                time.sleep(0.5)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
        threads += [threading.Thread(target=writer, args=(i,)) for i in range(3)]
        threads.append(threading.Thread(target=uploader))
        for t in threads:
            t.start()
        time.sleep(LOAD_S)
        stop.set()
        for t in threads:
            t.join(60)

        ok = sum(1 for a in answers if a[2] < 400)
        failed = [a for a in answers if a[2] >= 400]
        sys.stderr.write("\nchaos (%s, %.0f s): %d answers, %d ok, %d failed (%s), %d hung, slowest %.1f s;"
                         " %d creates acknowledged of %d; %d uploads\n" % (
                             CHAOS, LOAD_S, len(answers), ok, len(failed),
                             sorted({a[2] for a in failed}), len(hung), slowest[0],
                             sum(1 for c in creates.values() if c[1] == 201), len(creates), len(uploads)))
        for n in cluster.nodes:
            self.assertTrue(n.alive(), "a node crashed: %s" % n.log_tail())
        self.assertEqual(hung, [], "every request is answered before the client's deadline")
        for method, path, status, body, ctype in failed:
            self.assertGreaterEqual(status, 500, (method, path, status, body[:300]))
            self.assertTrue(ctype.startswith("application/problem+json"), (method, path, status, ctype))
            self.assertEqual(json.loads(body)["status"], status)
        self.assertGreater(ok, 0)

        # the chaos ends: every node restarted without it, then the books are checked
        for n in cluster.nodes:
            n.env.pop("NEXTCRM_CHAOS", None)
            self.assertEqual(n.stop(), 0, "a node under chaos exits 0 on SIGTERM: %s" % n.log_tail())
            n.start(healthy=True)
        for key, (name, status, body) in list(creates.items()):
            if status == 201:
                continue
            resp = h.api(gw, "POST", CUSTOMERS, {"name": name}, token=token, headers={"Idempotency-Key": key})
            self.assertEqual(resp.status, 201, (key, resp))
            if status is None or status >= 500:
                creates[key] = (name, 201, resp.body)
        url = h.require_env()["NEXTCRM_TEST_PG_URL"]
        tenant_id = tenant.id
        rows = {r[1]: r[0] for r in h.psql_tenant(url, tenant_id,
                                                   "SELECT id, name FROM customers WHERE name LIKE 'Chaos %s %%'" % run)}
        want = {name: json.loads(body)["data"]["id"] for name, status, body in creates.values()}
        self.assertEqual(rows, want, "every acknowledged create once, every retried one once")
        audit = h.psql_tenant(url, tenant_id, "SELECT count(*), count(DISTINCT entity_id) FROM audit_logs WHERE "
                              "action = 'create' AND entity_id IN (SELECT id FROM customers WHERE name LIKE "
                              "'Chaos %s %%')" % run)[0]
        self.assertEqual((int(audit[0]), int(audit[1])), (len(rows), len(rows)), "one audit row each")
        addr = h.require_env()["NEXTCRM_TEST_REDIS_ADDR"]
        subjects = {"customers/" + i for i in rows.values()}

        def events():
            return h.envelope_ids(addr, stream, tenant_id, subjects=subjects)
        h.wait_for(lambda: set(events()) == subjects, 30, what="every create's event on the stream")
        self.assertTrue(all(len(ids) == 1 for ids in events().values()), "exactly one event (envelope id) each")
        # each upload ends: safe, or rejected as a job stopped more than 3 times
        # (a poison file must not be retried forever; under this chaos a job
        # dies every 50 ms): never stuck in the pipeline
        for cid in uploads:
            def item():
                return h.api(gw, "GET", "/content/v1/items/" + cid, token=token).json()["data"]
            h.wait_for(lambda: item()["status"] in ("safe", "rejected"), 60, what="upload %s finished" % cid)
            it = item()
            if it["status"] == "rejected":
                self.assertEqual(it["reason"], "processing.failed", it)


if __name__ == "__main__":
    h.main()
