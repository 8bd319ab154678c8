#!/usr/bin/env python3
"""Integration: Idempotency-Key on the writes of CRM records (docs/IDEMPOTENCY.md).

Two nextcrm processes on one PostgreSQL and one Redis, sharing their JWT
keys: a key names one write of one user for 24 hours on every node (the
five entities' POST, PATCH and DELETE, attachments and webhooks). A
repeated request answers the first answer and has its effect once (one row,
one audit row, one event); the same key with another request is 422; a
malformed key is 400 and writes nothing. A node SIGKILLed while keyed
creates are in flight: every client retries with its key on the other node
and ends with exactly one row per key.
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
from nextcrm_harness import API  # noqa: E402

STREAM = "nxp:test:idem:%s" % uuid.uuid4().hex[:8]
A = B = None
CUSTOMERS = API + "/customers"


def setUpModule():
    global A, B
    h.require_env()
    env = {"NEXTCRM_BUS_STREAM": STREAM, "NEXTCRM_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
    A = h.start_module_server(env=dict(env))
    B = h.start_module_server(env=dict(env, NEXTCRM_PLATFORM_TOKEN=A.platform_token,
                                       NEXTCRM_JWT_KEYS=A.env["NEXTCRM_JWT_KEYS"]))


def keyed(port, method, path, body, token, key, timeout=30):
    return h.api(port, method, path, body, token=token, headers={"Idempotency-Key": key}, timeout=timeout)


class Base(unittest.TestCase):
    def setUp(self):
        self.tenant = h.bootstrap_tenant(A)
        self.token = h.login_token(A, self.tenant)["access_token"]
        self.url = h.require_env()["NEXTCRM_TEST_PG_URL"]

    def sql(self, text):
        return h.psql_tenant(self.url, self.tenant.id, text)

    def count(self, table, where):
        return int(self.sql("SELECT count(*) FROM %s WHERE %s" % (table, where))[0][0])

    def customers_named(self, name):
        return [r[0] for r in self.sql("SELECT id FROM customers WHERE name = '%s'" % name)]

    def events_of(self, record_id, kind="crm.customer.created", timeout=10):
        """The distinct envelope ids of KIND for the record (once the outbox drained)."""
        addr = h.require_env()["NEXTCRM_TEST_REDIS_ADDR"]
        subject = "customers/" + record_id
        h.wait_for(lambda: self.count("outbox", "subject = '%s'" % subject) == 0, timeout, what="the outbox drained")
        time.sleep(0.2)
        return h.envelope_ids(addr, STREAM, self.tenant.id, kind, {subject}).get(subject, set())

    def lose_answer(self, key):
        """As if the key's node had died between its commit and storing the
        answer, longer ago than any request lives."""
        self.sql("UPDATE idempotency_keys SET status = NULL, headers = NULL, body = NULL,"
                 " created_at = now() - interval '1 minute' WHERE key = '%s'" % key)

    def assert_once(self, record_id, action="create", kind="crm.customer.created"):
        self.assertEqual(self.count("audit_logs", "entity_id = '%s' AND action = '%s'" % (record_id, action)), 1)
        self.assertEqual(len(self.events_of(record_id, kind)), 1, "one event")


class Replays(Base):
    def test_a_repeated_create_answers_the_first_answer_on_any_node_and_writes_once(self):
        key = "create-" + h.tag()
        name = "Idem " + h.tag()
        first = keyed(A.port, "POST", CUSTOMERS, {"name": name}, self.token, key)
        self.assertEqual(first.status, 201, first)
        self.assertIsNone(first.header("idempotent-replayed"))
        for port in (A.port, B.port, B.port):
            again = keyed(port, "POST", CUSTOMERS, {"name": name}, self.token, key)
            self.assertEqual(again.status, 201, again)
            self.assertEqual(again.body, first.body, "the first answer, byte for byte")
            for header in ("etag", "location", "content-type"):
                self.assertEqual(again.header(header), first.header(header), header)
            self.assertEqual(again.header("idempotent-replayed"), "true")
        rid = first.json()["data"]["id"]
        self.assertEqual(self.customers_named(name), [rid])
        self.assert_once(rid)

    def test_the_same_key_with_another_body_or_path_is_422_and_writes_nothing(self):
        key = "reuse-" + h.tag()
        name = "Reuse " + h.tag()
        self.assertEqual(keyed(A.port, "POST", CUSTOMERS, {"name": name}, self.token, key).status, 201)
        other = keyed(B.port, "POST", CUSTOMERS, {"name": name + " changed"}, self.token, key)
        h.check_problem(self, other, 422, "idempotency.key_reused")
        other_entity = keyed(A.port, "POST", API + "/products", {"name": name}, self.token, key)
        h.check_problem(self, other_entity, 422, "idempotency.key_reused")
        self.assertEqual(len(self.customers_named(name)), 1)
        self.assertEqual(self.customers_named(name + " changed"), [])

    def test_a_malformed_key_is_400_and_writes_nothing(self):
        name = "Badkey " + h.tag()
        for key in ("", "a" * 256, "with space", 'quote"inside', "caf\u00e9"):
            if key == "":
                continue  # an empty header is no key: the write is plain
            r = keyed(A.port, "POST", CUSTOMERS, {"name": name}, self.token, key.encode("utf-8").decode("latin-1"))
            h.check_problem(self, r, 400, "idempotency.invalid_key")
        self.assertEqual(self.customers_named(name), [])
        # the draft's sf-string form and the bare form name the same key
        quoted = keyed(A.port, "POST", CUSTOMERS, {"name": name}, self.token, '"k-%s"' % name.split()[-1])
        bare = keyed(A.port, "POST", CUSTOMERS, {"name": name}, self.token, "k-%s" % name.split()[-1])
        self.assertEqual((quoted.status, bare.status), (201, 201))
        self.assertEqual(bare.header("idempotent-replayed"), "true")
        self.assertEqual(len(self.customers_named(name)), 1)

    def test_keys_belong_to_their_user(self):
        key = "mine-" + h.tag()
        name = "Owner " + h.tag()
        self.assertEqual(keyed(A.port, "POST", CUSTOMERS, {"name": name}, self.token, key).status, 201)
        # another user's identical request with the same key is a write of its own
        pw = h.new_password()
        email = "idem2-%s@test.dev" % h.tag()
        self.assertEqual(h.api(A.port, "POST", h.USERS, {"email": email, "password": pw, "role": "admin"},
                               token=self.token).status, 201)
        token2 = h.login_token(A, self.tenant, email=email, password=pw)["access_token"]
        r = keyed(B.port, "POST", CUSTOMERS, {"name": name}, token2, key)
        self.assertEqual(r.status, 201, r)
        self.assertIsNone(r.header("idempotent-replayed"))
        self.assertEqual(len(self.customers_named(name)), 2)

    def test_a_repeated_patch_and_delete_have_their_effect_once(self):
        r = h.api(A.port, "POST", CUSTOMERS, {"name": "Patchme " + h.tag()}, token=self.token)
        rid = r.json()["data"]["id"]
        key = "patch-" + h.tag()
        p1 = keyed(A.port, "PATCH", CUSTOMERS + "/" + rid, {"status": "active"}, self.token, key)
        self.assertEqual(p1.status, 200, p1)
        p2 = keyed(B.port, "PATCH", CUSTOMERS + "/" + rid, {"status": "active"}, self.token, key)
        self.assertEqual((p2.status, p2.body), (200, p1.body))
        self.assertEqual(self.count("audit_logs", "entity_id = '%s' AND action = 'update'" % rid), 1)
        self.assertEqual(self.sql("SELECT version FROM customers WHERE id = '%s'" % rid)[0][0], "2")
        dkey = "delete-" + h.tag()
        d1 = keyed(A.port, "DELETE", CUSTOMERS + "/" + rid, None, self.token, dkey)
        d2 = keyed(B.port, "DELETE", CUSTOMERS + "/" + rid, None, self.token, dkey)
        self.assertEqual((d1.status, d2.status), (204, 204), "the second answers the first answer, not 404")
        self.assertEqual(d2.header("idempotent-replayed"), "true")
        plain = h.api(A.port, "DELETE", CUSTOMERS + "/" + rid, token=self.token)
        h.check_problem(self, plain, 404, "resource.not_found")

    def test_a_failed_write_records_no_key_and_a_retry_runs_it_again(self):
        key = "invalid-" + h.tag()
        bad = keyed(A.port, "POST", CUSTOMERS, {"name": ""}, self.token, key)
        h.check_problem(self, bad, 422, "request.validation")
        self.assertEqual(self.count("idempotency_keys", "key = '%s'" % key), 0)
        again = keyed(A.port, "POST", CUSTOMERS, {"name": ""}, self.token, key)
        h.check_problem(self, again, 422, "request.validation")


class OtherWrites(Base):
    """Attachments and webhooks: their creates are keyed like the records'."""

    def customer(self):
        r = h.api(A.port, "POST", CUSTOMERS, {"name": "Holder " + h.tag()}, token=self.token)
        self.assertEqual(r.status, 201, r)
        return r.json()["data"]["id"]

    def test_a_repeated_attach_answers_the_first_answer_and_attaches_once(self):
        rid = self.customer()
        content = h.safe_content_item(self.tenant.id, self.tenant.admin_user_id)
        path = CUSTOMERS + "/" + rid + "/attachments"
        key = "attach-" + h.tag()
        first = keyed(A.port, "POST", path, {"content_id": content}, self.token, key)
        self.assertEqual(first.status, 201, first)
        for port in (B.port, A.port):
            again = keyed(port, "POST", path, {"content_id": content}, self.token, key)
            self.assertEqual((again.status, again.body), (201, first.body))
            self.assertEqual(again.header("idempotent-replayed"), "true")
        aid = first.json()["data"]["id"]
        self.assertEqual(self.count("attachments", "entity_id = '%s'" % rid), 1)
        self.assertEqual(self.count("audit_logs", "entity = 'attachments' AND entity_id = '%s'" % aid), 1)
        # the answer lost with its node: rebuilt from the attachment
        self.lose_answer(key)
        rebuilt = keyed(B.port, "POST", path, {"content_id": content}, self.token, key)
        self.assertEqual((rebuilt.status, rebuilt.json()), (201, first.json()))
        self.assertEqual(self.count("attachments", "entity_id = '%s'" % rid), 1)
        other = keyed(A.port, "POST", path, {"content_id": h.safe_content_item(self.tenant.id,
                                                                               self.tenant.admin_user_id)},
                      self.token, key)
        h.check_problem(self, other, 422, "idempotency.key_reused")

    def test_a_keyed_attach_of_content_not_yet_safe_keeps_no_key_and_runs_again_once_it_is(self):
        rid = self.customer()
        content = h.safe_content_item(self.tenant.id, self.tenant.admin_user_id)
        self.sql("UPDATE content_items SET status = 'processing' WHERE id = '%s'" % content)
        path = CUSTOMERS + "/" + rid + "/attachments"
        key = "notready-" + h.tag()
        early = keyed(A.port, "POST", path, {"content_id": content}, self.token, key)
        h.check_problem(self, early, 409, "content.not_ready")
        self.assertEqual(self.count("idempotency_keys", "key = '%s'" % key), 0, "nothing written, no key")
        self.assertEqual(self.count("attachments", "entity_id = '%s'" % rid), 0)
        self.sql("UPDATE content_items SET status = 'safe' WHERE id = '%s'" % content)
        later = keyed(B.port, "POST", path, {"content_id": content}, self.token, key)
        self.assertEqual(later.status, 201, later)
        self.assertIsNone(later.header("idempotent-replayed"))
        self.assertEqual(self.count("attachments", "entity_id = '%s'" % rid), 1)

    def test_a_repeated_webhook_create_answers_the_first_answer_and_subscribes_once(self):
        url = "http://127.0.0.1:9/hook-" + h.tag()
        body = {"url": url, "events": ["crm.customer.*"], "secret": "whsec_" + "QUFBQUFBQUFBQUFBQUFBQQ=="}
        key = "hook-" + h.tag()
        first = keyed(A.port, "POST", API + "/webhooks", body, self.token, key)
        self.assertEqual(first.status, 201, first)
        again = keyed(B.port, "POST", API + "/webhooks", body, self.token, key)
        self.assertEqual((again.status, again.body), (201, first.body))
        self.assertEqual(again.header("idempotent-replayed"), "true")
        self.assertEqual(self.count("webhooks", "url = '%s'" % url), 1)
        self.lose_answer(key)
        rebuilt = keyed(A.port, "POST", API + "/webhooks", body, self.token, key)
        self.assertEqual((rebuilt.status, rebuilt.json()), (201, first.json()))
        other = keyed(A.port, "POST", API + "/webhooks", dict(body, events=["crm.deal.*"]), self.token, key)
        h.check_problem(self, other, 422, "idempotency.key_reused")
        self.assertEqual(self.count("webhooks", "url = '%s'" % url), 1)


class Races(Base):
    def test_sixteen_clients_with_one_key_at_once_write_one_row(self):
        for trial in range(5):
            key = "race-%d-%s" % (trial, h.tag())
            name = "Race %d %s" % (trial, h.tag())
            answers = []
            lock = threading.Lock()
            go = threading.Barrier(16)

            def client(i):
                go.wait()
                r = keyed((A.port, B.port)[i % 2], "POST", CUSTOMERS, {"name": name}, self.token, key)
                with lock:
                    answers.append(r)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            statuses = sorted(r.status for r in answers)
            self.assertTrue(set(statuses) <= {201, 409}, statuses)
            for r in answers:
                if r.status == 409:
                    h.check_problem(self, r, 409, "idempotency.in_progress")
                    self.assertEqual(r.header("retry-after"), "1")
            bodies = {r.body for r in answers if r.status == 201}
            self.assertEqual(len(bodies), 1, "every 201 is the same answer")
            rows = self.customers_named(name)
            self.assertEqual(len(rows), 1, "trial %d: one row for one key" % trial)
            self.assert_once(rows[0])


class LostAnswers(Base):
    """A key whose write committed and whose answer was never stored."""

    def test_a_retry_waits_while_the_answer_may_still_come_then_gets_it_rebuilt(self):
        key = "lost-" + h.tag()
        name = "Lost " + h.tag()
        first = keyed(A.port, "POST", CUSTOMERS, {"name": name}, self.token, key)
        self.assertEqual(first.status, 201)
        rid = first.json()["data"]["id"]
        # as if the node had died between the commit and storing the answer
        self.sql("UPDATE idempotency_keys SET status = NULL, headers = NULL, body = NULL WHERE key = '%s'" % key)
        young = keyed(B.port, "POST", CUSTOMERS, {"name": name}, self.token, key)
        h.check_problem(self, young, 409, "idempotency.in_progress")
        self.sql("UPDATE idempotency_keys SET created_at = now() - interval '1 minute' WHERE key = '%s'" % key)
        rebuilt = keyed(B.port, "POST", CUSTOMERS, {"name": name}, self.token, key)
        self.assertEqual(rebuilt.status, 201, rebuilt)
        self.assertEqual(rebuilt.json(), first.json())
        self.assertEqual(rebuilt.header("location"), first.header("location"))
        again = keyed(A.port, "POST", CUSTOMERS, {"name": name}, self.token, key)
        self.assertEqual((again.status, again.body), (201, rebuilt.body))
        self.assertEqual(again.header("idempotent-replayed"), "true")
        self.assertEqual(self.customers_named(name), [rid])
        self.assert_once(rid)

    def test_a_key_older_than_24_hours_names_a_new_write(self):
        key = "old-" + h.tag()
        name = "Old " + h.tag()
        self.assertEqual(keyed(A.port, "POST", CUSTOMERS, {"name": name}, self.token, key).status, 201)
        self.sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = '%s'" % key)
        r = keyed(B.port, "POST", CUSTOMERS, {"name": name}, self.token, key)
        self.assertEqual(r.status, 201, r)
        self.assertIsNone(r.header("idempotent-replayed"))
        self.assertEqual(len(self.customers_named(name)), 2)
        self.assertEqual(self.count("idempotency_keys", "key = '%s'" % key), 1, "the expired row was replaced")


class Crash(Base):
    def test_a_node_killed_under_keyed_creates_leaves_one_row_per_key_after_retries_elsewhere(self):
        victim = h.Server(env={"NEXTCRM_BUS_STREAM": STREAM, "NEXTCRM_PLATFORM_TOKEN": A.platform_token,
                               "NEXTCRM_JWT_KEYS": A.env["NEXTCRM_JWT_KEYS"]})
        self.addCleanup(victim.cleanup)
        victim.start(healthy=True)
        run = h.tag()
        stop = threading.Event()
        sent = {}          # key -> name
        acked = {}         # key -> first 201 answer body
        lock = threading.Lock()

        def writer(w):
            n = 0
            while not stop.is_set():
                key = "crash-%s-%d-%d" % (run, w, n)
                name = "Crash %s %d %d" % (run, w, n)
                n += 1
                with lock:
                    sent[key] = name
                try:
                    r = keyed(victim.port, "POST", CUSTOMERS, {"name": name}, self.token, key, timeout=5)
                except Exception:
                    return  # the node died under this request
                if r.status == 201:
                    with lock:
                        acked[key] = r.body

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(16)]
        for t in threads:
            t.start()
        h.wait_for(lambda: len(acked) >= 100, 60, what="100 acknowledged keyed creates")
        victim.signal(signal.SIGKILL)
        victim.wait_exit(10)
        stop.set()
        for t in threads:
            t.join(10)
        # every client retries every key it sent on another node
        for key, name in sorted(sent.items()):
            deadline = time.monotonic() + 60
            while True:
                r = keyed(B.port, "POST", CUSTOMERS, {"name": name}, self.token, key)
                if r.status != 409 or time.monotonic() > deadline:
                    break
                time.sleep(float(r.header("retry-after") or 1))
            self.assertEqual(r.status, 201, (key, r))
            if key in acked:
                self.assertEqual(r.body, acked[key], "an acknowledged key answers its first answer")
            rows = self.customers_named(name)
            self.assertEqual(rows, [r.json()["data"]["id"]], "one row per key: %s" % key)
        like = "name LIKE 'Crash %s %%'" % run
        self.assertEqual(self.count("customers", like), len(sent))
        self.assertEqual(self.count("audit_logs a JOIN customers c ON c.id = a.entity_id",
                                    "a.action = 'create' AND c." + like), len(sent), "one audit row per key")
        ids = [r[0] for r in self.sql("SELECT id FROM customers WHERE " + like)]
        addr = h.require_env()["NEXTCRM_TEST_REDIS_ADDR"]
        h.wait_for(lambda: self.count("outbox", "true") == 0, 20, what="the outbox drained")
        time.sleep(0.3)
        events = h.envelope_ids(addr, STREAM, self.tenant.id)
        for rid in ids:
            self.assertEqual(len(events.get("customers/" + rid, ())), 1, "one event for %s" % rid)


if __name__ == "__main__":
    h.main()
