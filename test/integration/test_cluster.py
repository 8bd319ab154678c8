#!/usr/bin/env python3
"""Integration: a cluster on one machine (docs/CLUSTER.md).

Three core nodes, content nodes and a runner node on one PostgreSQL and one
Redis behind one nginx gateway, as `NEXTCRM_DEV_NODES=3 deploy/dev.sh up`
starts them. PostgreSQL and Redis are the only truth:
- a lock, a logout or a profile change made on one node holds on every
  other within 1 s; a guard budget counts a user's calls over all nodes once;
- a content node killed with a job in `processing` leaves it to another
  content node, which finishes it;
- every core node restarted in turn (SIGTERM: drained) under a mixed load
  through the gateway: no read fails, no acknowledged write is lost, and a
  write whose answer was lost is retried with its Idempotency-Key once.
"""
import json
import os
import signal
import sys
import threading
import time
import unittest
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import API, USERS, ME, PROFILES  # noqa: E402

DEADLINE = 1.0  # seconds: the bound for a change to reach every node
CUSTOMERS = API + "/customers"


def setUpModule():
    h.require_env()


class ClusterCase(unittest.TestCase):
    cluster = None
    env = {}
    kwargs = {}

    @classmethod
    def setUpClass(cls):
        cls.stream = "nxp:test:cluster:%s" % uuid.uuid4().hex[:8]
        env = dict(cls.env, NEXTCRM_BUS_STREAM=cls.stream)
        content_env = [dict(e, NEXTCRM_BUS_STREAM=cls.stream) for e in cls.kwargs.get("content_env", [])] or None
        kwargs = dict(cls.kwargs, content_env=content_env)
        cls.cluster = h.Cluster(env=env, **kwargs)
        cls.addClassCleanup(cls.cluster.cleanup)
        cls.cluster.start()

    def setUp(self):
        c = self.cluster
        self.n1, self.n2, self.n3 = c.core[0], c.core[1], c.core[2]
        self.gw = c.gateway.port
        self.tenant = h.bootstrap_tenant(self.n1)
        self.admin = h.login_token(self.n1, self.tenant)["access_token"]
        self.url = h.require_env()["NEXTCRM_TEST_PG_URL"]

    def new_user(self, role="viewer", profile=None):
        email = "cl-%s@cluster.test" % h.tag()
        pw = h.new_password()
        body = {"email": email, "password": pw, "role": role}
        if profile:
            body["access_profile"] = profile
        r = h.api(self.n2.port, "POST", USERS, body, token=self.admin)
        self.assertEqual(r.status, 201, r)
        return r.json()["data"]["id"], h.login_token(self.n1, self.tenant, email=email, password=pw)["access_token"]

    def sql(self, text):
        return h.psql_tenant(self.url, self.tenant.id, text)


class OneTruth(ClusterCase):
    kwargs = {"cores": 3, "contents": 0, "runner": False}

    def test_a_user_logged_in_on_1_and_locked_on_2_is_refused_on_3_within_a_second(self):
        user, token = self.new_user()  # logged in via node 1
        for node in (self.n1, self.n2, self.n3):
            self.assertEqual(h.api(node.port, "GET", ME, token=token).status, 200)  # every node caches it
        self.assertEqual(h.api(self.n2.port, "POST", USERS + "/%s/lock" % user, token=self.admin).status, 200)
        took = h.until(lambda: h.api(self.n3.port, "GET", ME, token=token).status == 401, DEADLINE)
        self.assertIsNotNone(took, "node 3 still serves a user locked on node 2 after %.1f s" % DEADLINE)
        for node in (self.n1, self.n2):
            self.assertEqual(h.api(node.port, "GET", ME, token=token).status, 401)

    def test_a_profile_change_on_2_shapes_answers_on_3_within_a_second(self):
        name = "cl_%s" % h.tag()
        profile = {"name": name, "entities": {"customers": {"read": ["name", "email"], "write": []}}}
        self.assertEqual(h.api(self.n1.port, "PUT", PROFILES + "/" + name, profile, token=self.admin).status, 201)
        _, token = self.new_user(profile=name)
        r = h.api(self.n1.port, "POST", CUSTOMERS, {"name": "Seen", "email": "s@x.test"}, token=self.admin)
        cid = r.json()["data"]["id"]
        self.assertEqual(h.api(self.n3.port, "GET", CUSTOMERS + "/" + cid, token=token).json()["data"]["email"],
                         "s@x.test")  # node 3 caches the profile
        profile["entities"]["customers"]["read"] = ["name"]
        self.assertEqual(h.api(self.n2.port, "PUT", PROFILES + "/" + name, profile, token=self.admin).status, 200)
        took = h.until(lambda: "email" not in h.api(self.n3.port, "GET", CUSTOMERS + "/" + cid,
                                                  token=token).json()["data"], DEADLINE)
        self.assertIsNotNone(took, "node 3 still shows a field the profile hid on node 2 after %.1f s" % DEADLINE)

    def test_a_guard_budget_over_three_nodes_blocks_at_its_limit_not_three_times_it(self):
        uid, token = self.new_user(role="sales")
        block = 45
        r = h.api(self.n1.port, "POST", API + "/guard/budgets",
                  {"scope": "user:" + uid, "metric": "requests", "window_s": 60, "warn": block - 1, "block": block},
                  token=self.admin)
        self.assertEqual(r.status, 201, r)
        time.sleep(1)  # the other nodes apply it on the event's signal
        admitted, stopped = h.calls_until_refused([self.n1, self.n2, self.n3], CUSTOMERS, token, 3 * block + 10)
        self.assertIsNotNone(stopped, "never blocked")
        self.assertIn(stopped.status, (401, 403), stopped)
        # each node's own calls exactly, the others' at most one flush (50 ms) behind (docs/GUARD.md)
        self.assertGreaterEqual(admitted, block)
        self.assertLessEqual(admitted, block + 15, "counted per node, not once over all three")


class ContentFailover(ClusterCase):
    """Two content nodes; the first holds each job 4 s in `processing`."""
    kwargs = {"cores": 3, "contents": 2, "runner": False,
              "content_env": [{"NEXTCRM_CONTENT_HOLD_MS": "4000", "NEXTCRM_CONTENT_LEASE_S": "2"},
                              {"NEXTCRM_CONTENT_LEASE_S": "2"}]}

    def test_a_content_node_killed_mid_job_leaves_it_to_another_which_finishes_it(self):
        import content_fixtures as fx
        c1, c2 = self.cluster.content
        r = h.request(c1.port, "POST", "/content/v1/uploads?filename=a.jpg",
                      headers={"Authorization": "Bearer " + self.admin, "Content-Type": "image/jpeg"},
                      body=fx.jpeg_with_gps_exif())
        self.assertEqual(r.status, 202, r)
        item = r.json()["data"]["id"]

        def status(node):
            return h.api(node.port, "GET", "/content/v1/items/" + item, token=self.admin).json()["data"]["status"]
        h.wait_for(lambda: status(c1) == "processing", 10, what="processing on content node 1")
        owner = self.sql("SELECT lease_owner FROM content_items WHERE id = '%s'" % item)[0][0]
        c1.signal(signal.SIGKILL)
        c1.wait_exit(10)
        h.wait_for(lambda: status(c2) in ("safe", "rejected"), 30, what="content node 2 finished the job")
        self.assertEqual(status(c2), "safe")
        self.assertFalse(c1.alive(), "node 1 stayed dead: node 2 did the job")
        self.assertTrue(owner, "the job was leased by node 1")
        token = h.api(c2.port, "POST", "/content/v1/items/%s/download-tokens" % item, token=self.admin).json()
        got = h.request(self.gw, "GET", token["data"]["url"])
        self.assertEqual(got.status, 200, got)
        for marker in fx.GPS_MARKERS:
            self.assertNotIn(marker, got.body)


class RollingRestart(ClusterCase):
    kwargs = {"cores": 3, "contents": 0, "runner": True}

    def test_every_core_node_restarted_in_turn_under_load_fails_no_read_and_loses_no_write(self):
        # one user's load (thousands of writes a minute on a fast machine)
        # would rightly be stopped by the guard's default budgets
        h.raise_guard_budgets(self.gw, self.admin)
        seed = [h.api(self.gw, "POST", CUSTOMERS, {"name": "Seed %d" % i}, token=self.admin).json()["data"]["id"]
                for i in range(20)]
        run = h.tag()
        stop = threading.Event()
        lock = threading.Lock()
        reads = {"ok": 0, "failed": []}
        writes = {}      # key -> (name, first status or None, body)

        def reader(r):
            i = 0
            while not stop.is_set():
                path = CUSTOMERS if i % 3 == 0 else CUSTOMERS + "/" + seed[(r + i) % len(seed)]
                i += 1
                try:
                    resp = h.api(self.gw, "GET", path, token=self.admin, timeout=15)
                    ok = resp.status == 200
                    what = resp
                except Exception as e:  # noqa: BLE001
                    ok, what = False, e
                with lock:
                    if ok:
                        reads["ok"] += 1
                    else:
                        reads["failed"].append((path, what))

        def writer(w):
            n = 0
            while not stop.is_set():
                key = "roll-%s-%d-%d" % (run, w, n)
                name = "Roll %s %d %d" % (run, w, n)
                n += 1
                try:
                    resp = h.api(self.gw, "POST", CUSTOMERS, {"name": name}, token=self.admin,
                                 headers={"Idempotency-Key": key}, timeout=15)
                    got = (name, resp.status, resp.body)
                except Exception:  # noqa: BLE001
                    got = (name, None, None)
                with lock:
                    writes[key] = got

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
        threads += [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(1)
            for node in self.cluster.core:
                self.cluster.restart(node)
                time.sleep(1)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        lost = [k for k, (_, status, _) in writes.items() if status != 201]
        sys.stderr.write("\nrolling restart: %d reads ok, %d failed; %d writes, %d unanswered or failed\n"
                         % (reads["ok"], len(reads["failed"]), len(writes), len(lost)))
        self.assertEqual(reads["failed"], [], "no read fails: nginx retries them on another node")
        self.assertGreater(reads["ok"], 100)
        # a write without an answer is retried with its key: once, whatever happened to the first
        for key in lost:
            name = writes[key][0]
            resp = h.api(self.gw, "POST", CUSTOMERS, {"name": name}, token=self.admin,
                         headers={"Idempotency-Key": key})
            self.assertEqual(resp.status, 201, (key, resp))
            writes[key] = (name, 201, resp.body)
        names = {name: json.loads(body)["data"]["id"] for name, _, body in writes.values()}
        rows = dict((r[1], r[0]) for r in self.sql("SELECT id, name FROM customers WHERE name LIKE 'Roll %s %%'" % run))
        self.assertEqual(rows, {n: i for n, i in names.items()}, "every acknowledged write, once")
        audited = self.sql("SELECT count(*), count(DISTINCT entity_id) FROM audit_logs WHERE action = 'create' AND "
                           "entity_id IN (SELECT id FROM customers WHERE name LIKE 'Roll %s %%')" % run)[0]
        self.assertEqual((int(audited[0]), int(audited[1])), (len(rows), len(rows)), "one audit row each")
        addr = h.require_env()["NEXTCRM_TEST_REDIS_ADDR"]
        want = {"customers/" + i for i in rows.values()}

        def events():
            return h.envelope_ids(addr, self.stream, self.tenant.id, subjects=want)
        h.wait_for(lambda: set(events()) == want, 20, what="every write's event on the stream")
        self.assertTrue(all(len(ids) == 1 for ids in events().values()), "exactly one event each")


if __name__ == "__main__":
    h.main()
