#!/usr/bin/env python3
"""Integration: the webhook connector (Block 8) against a receiver on loopback.

Signatures are checked with an independent implementation of the Standard
Webhooks verification written here (hmac + base64 of the standard library).
Retries keep the webhook-id; the delivery log shows every attempt; targets
outside NEXTCRM_WEBHOOK_ALLOW_HOSTS, names resolving to addresses that are not
allowed and redirects are refused; a subscriber whose profile hides a field
never receives it; deliveries wait while the owner is locked; a poison event
reaches the dead-letter stream and the stream keeps flowing; failures in a row
disable a subscription and PATCH re-enables it.
"""
import base64
import hashlib
import hmac
import http.server
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
from nextcrm_harness import API, USERS, PROFILES  # noqa: E402

SERVER = None
STREAM = "nxp:test:webhooks:%s" % uuid.uuid4().hex[:8]
WEBHOOKS = "/api/v1/webhooks"
KEY = os.urandom(32)
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def verify(secret, headers, body, tolerance=300):
    """Standard Webhooks verification, written from the specification."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance:
        return False
    expected = base64.b64encode(hmac.new(key, ("%s.%s." % (msg_id, ts)).encode() + body, hashlib.sha256).digest())
    for sig in headers["webhook-signature"].split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


class Receiver:
    """An HTTP receiver on 127.0.0.1 answering from a script of statuses
    (the last one repeats); every request is kept."""

    def __init__(self, statuses=(200,), location=None):
        self.statuses = list(statuses)
        self.location = location
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with receiver.lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait(self, n, timeout=15):
        h.wait_for(lambda: len(self.requests) >= n, timeout, what="%d webhook deliveries" % n)
        return self.requests


def subscribed_tenant(tc, server, events=("crm.customer.created",)):
    """A Receiver (closed when TC ends), a new tenant of SERVER and its admin's
    token, the admin subscribed to EVENTS with SECRET: (receiver, tenant, token)."""
    rc = Receiver()
    tc.addCleanup(rc.close)
    tenant = h.bootstrap_tenant(server)
    admin = h.login_token(server, tenant)["access_token"]
    r = h.api(server.port, "POST", "/api/v1/webhooks", {"url": rc.url, "events": list(events), "secret": SECRET},
              token=admin)
    tc.assertEqual(r.status, 201, r)
    return rc, tenant, admin

def setUpModule():
    global SERVER
    h.require_env()
    SERVER = h.start_module_server(env={
        "NEXTCRM_BUS_STREAM": STREAM, "NEXTCRM_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        "NEXTCRM_WEBHOOK_RETRY_BASE_MS": "100", "NEXTCRM_WEBHOOK_DISABLE_AFTER": "4",
        "NEXTCRM_WEBHOOK_MAX_ATTEMPTS": "20", "NEXTCRM_BUS_CLAIM_IDLE_MS": "300", "NEXTCRM_BUS_MAX_DELIVERIES": "2"})


class Webhooks(unittest.TestCase):
    def setUp(self):
        self.tenant = h.bootstrap_tenant(SERVER)
        self.admin = h.login_token(SERVER, self.tenant)["access_token"]

    def call(self, method, path, body=None, token=None):
        return h.api(SERVER.port, method, path, body, token=token or self.admin)

    def subscribe(self, url, events=("crm.customer.*",), token=None):
        r = self.call("POST", WEBHOOKS, {"url": url, "events": list(events), "secret": SECRET}, token=token)
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("whsec_", r.body.decode())
        return r.json()["data"]

    def receiver(self, *args, **kwargs):
        rc = Receiver(*args, **kwargs)
        self.addCleanup(rc.close)
        return rc

    def test_a_signed_delivery_arrives_with_the_event(self):
        rc = self.receiver()
        hook = self.subscribe(rc.url)
        self.assertEqual(hook["events"], ["crm.customer.*"])
        self.assertTrue(hook["enabled"])
        r = self.call("POST", API + "/customers", {"name": "Hooked"})
        cid = r.json()["data"]["id"]
        headers, body = rc.wait(1)[0]
        self.assertTrue(verify(SECRET, headers, body), headers)
        self.assertFalse(verify("whsec_" + base64.b64encode(os.urandom(32)).decode(), headers, body))
        envelope = json.loads(body)
        self.assertEqual(headers["webhook-id"], envelope["id"])
        self.assertEqual(envelope["type"], "crm.customer.created")
        self.assertEqual(envelope["subject"], "customers/" + cid)
        self.assertEqual(envelope["data"]["name"], "Hooked")
        self.assertEqual(headers["traceparent"].split("-")[1], r.trace_id())
        # a deal is not subscribed to
        self.assertEqual(self.call("POST", API + "/deals", {"title": "D", "customer_id": cid}).status, 201)
        self.call("PATCH", API + "/customers/" + cid, {"status": "active"})
        rc.wait(2)
        time.sleep(0.5)
        self.assertEqual([json.loads(b)["type"] for _, b in rc.requests],
                         ["crm.customer.created", "crm.customer.updated"])

    def test_a_receiver_failing_twice_gets_the_event_three_times_with_one_id(self):
        rc = self.receiver(statuses=(500, 503, 200))
        hook = self.subscribe(rc.url)
        self.call("POST", API + "/customers", {"name": "Retried"})
        requests = rc.wait(3)
        ids = {hdr["webhook-id"] for hdr, _ in requests}
        self.assertEqual(len(ids), 1, "every attempt carries the same webhook-id")
        self.assertTrue(all(verify(SECRET, hdr, body) for hdr, body in requests))

        def log():
            return self.call("GET", "%s/%s/deliveries" % (WEBHOOKS, hook["id"])).json()["data"]
        h.wait_for(lambda: len(log()) == 3, 10, what="three logged attempts")
        entries = list(reversed(log()))  # oldest first
        self.assertEqual([e["attempt"] for e in entries], [1, 2, 3])
        self.assertEqual([e["status"] for e in entries], [500, 503, 200])
        self.assertEqual([e["error"] for e in entries], ["status 500", "status 503", None])
        self.assertEqual({e["event_id"] for e in entries}, ids)
        time.sleep(0.6)
        self.assertEqual(len(rc.requests), 3, "a delivered event is not sent again")

    def test_targets_outside_the_allowlist_are_refused(self):
        for url, code in (("http://example.com/hook", "not_allowed"), ("http://localhost:9/hook", "not_allowed"),
                          ("ftp://127.0.0.1/x", "format"), ("http://user:pw@127.0.0.1/x", "format")):
            with self.subTest(url):
                r = self.call("POST", WEBHOOKS, {"url": url, "events": ["crm.deal.*"], "secret": SECRET})
                body = h.check_problem(self, r, 422, "request.validation")
                self.assertEqual([(e["field"], e["code"]) for e in body["errors"]], [("url", code)])
        body = h.check_problem(self, self.call("POST", WEBHOOKS, {"url": "http://127.0.0.1:9/", "events": ["crm.*"],
                                                                   "secret": "plain"}), 422, "request.validation")
        self.assertEqual(sorted(e["field"] for e in body["errors"]), ["events.0", "secret"])

    def test_a_redirect_is_not_followed(self):
        target = self.receiver()
        rc = self.receiver(statuses=(302,), location=target.url)
        hook = self.subscribe(rc.url)
        self.call("POST", API + "/customers", {"name": "Redirected"})
        rc.wait(1)
        h.wait_for(lambda: self.call("GET", "%s/%s/deliveries" % (WEBHOOKS, hook["id"])).json()["data"], 10,
                   what="the logged attempt")
        entry = self.call("GET", "%s/%s/deliveries" % (WEBHOOKS, hook["id"])).json()["data"][-1]
        self.assertEqual((entry["status"], entry["error"]), (302, "status 302"))
        time.sleep(0.5)
        self.assertEqual(target.requests, [], "the Location was not followed")

    def test_a_subscriber_whose_profile_hides_a_field_never_receives_it(self):
        profile = {"name": "no_tax", "entities": {"customers": {
            "read": ["id", "name", "version", "created_at", "updated_at"], "write": []}}}
        self.assertEqual(self.call("PUT", PROFILES + "/no_tax", profile).status, 201)
        email, pw = "hooker-%s@wh.test" % h.tag(), h.new_password()
        self.assertEqual(self.call("POST", USERS, {"email": email, "password": pw, "role": "admin",
                                                    "access_profile": "no_tax"}).status, 201)
        owner = h.login_token(SERVER, self.tenant, email=email, password=pw)["access_token"]
        rc = self.receiver()
        self.subscribe(rc.url, token=owner)
        self.call("POST", API + "/customers", {"name": "Secretive", "tax_id": "FR-SECRET-1", "email": "s@x.test"})
        headers, body = rc.wait(1)[0]
        self.assertTrue(verify(SECRET, headers, body))
        data = json.loads(body)["data"]
        self.assertEqual(data["name"], "Secretive")
        self.assertNotIn("tax_id", data)
        self.assertNotIn("email", data)
        self.assertNotIn(b"FR-SECRET-1", body)

    def test_an_owner_whose_role_no_longer_reads_the_events_receives_none(self):
        email, pw = "demoted-%s@wh.test" % h.tag(), h.new_password()
        r = self.call("POST", USERS, {"email": email, "password": pw, "role": "admin"})
        owner_id = r.json()["data"]["id"]
        owner = h.login_token(SERVER, self.tenant, email=email, password=pw)["access_token"]
        rc = self.receiver()
        hook = self.subscribe(rc.url, events=["crm.user.*"], token=owner)
        # the owner becomes a sales user: no users:manage, so no user events
        self.assertEqual(self.call("PATCH", "%s/%s" % (USERS, owner_id), {"role": "sales"}).status, 200)
        time.sleep(0.3)
        self.assertEqual(self.call("POST", USERS, {"email": "new-%s@wh.test" % h.tag(), "password": h.new_password(),
                                                    "role": "viewer"}).status, 201)

        def log():
            return self.call("GET", "%s/%s/deliveries" % (WEBHOOKS, hook["id"])).json()["data"]
        h.wait_for(lambda: any("may not read" in (e["error"] or "") for e in log()), 10,
                   what="the refusal in the delivery log")
        time.sleep(0.5)
        # the role change's own crm.user.updated may have gone out before it
        # committed the new role; nothing after it leaves
        self.assertFalse(any(json.loads(b)["type"] == "crm.user.created" for _, b in rc.requests), rc.requests)
        entry = [e for e in log() if "may not read" in (e["error"] or "")][0]
        self.assertIsNone(entry["status"])
        self.assertIn("users:manage", entry["error"])
        self.assertTrue(self.call("GET", "%s/%s" % (WEBHOOKS, hook["id"])).json()["data"]["enabled"])

    def test_deliveries_wait_while_the_owner_is_locked(self):
        email, pw = "owner-%s@wh.test" % h.tag(), h.new_password()
        r = self.call("POST", USERS, {"email": email, "password": pw, "role": "admin"})
        owner_id = r.json()["data"]["id"]
        owner = h.login_token(SERVER, self.tenant, email=email, password=pw)["access_token"]
        rc = self.receiver()
        self.subscribe(rc.url, token=owner)
        self.assertEqual(self.call("POST", "%s/%s/lock" % (USERS, owner_id)).status, 200)
        self.call("POST", API + "/customers", {"name": "Held"})
        time.sleep(1.5)
        self.assertEqual(rc.requests, [], "nothing leaves for a locked owner")
        self.assertEqual(self.call("POST", "%s/%s/unlock" % (USERS, owner_id)).status, 200)
        self.assertEqual(json.loads(rc.wait(1, timeout=20)[0][1])["data"]["name"], "Held")

    def test_failures_in_a_row_disable_a_subscription_until_re_enabled(self):
        rc = self.receiver(statuses=(500,))
        hook = self.subscribe(rc.url)
        self.call("POST", API + "/customers", {"name": "Doomed"})
        rc.wait(4)

        def current():
            return self.call("GET", "%s/%s" % (WEBHOOKS, hook["id"])).json()["data"]
        h.wait_for(lambda: not current()["enabled"], 10, what="the subscription to be disabled")
        self.assertIn("4 failed deliveries in a row", current()["disabled_reason"])
        time.sleep(0.6)
        self.assertEqual(len(rc.requests), 4, "nothing is sent to a disabled subscription")
        rc.statuses = [200]
        r = self.call("PATCH", "%s/%s" % (WEBHOOKS, hook["id"]), {"enabled": True})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["data"]["enabled"], r.json()["data"]["failures"]), (True, 0))
        rc.wait(5)
        self.assertEqual({hdr["webhook-id"] for hdr, _ in rc.requests}.__len__(), 1)

    def test_list_get_delete(self):
        rc = self.receiver()
        ids = [self.subscribe(rc.url, events=["crm.deal.created"])["id"] for _ in range(3)]
        r = self.call("GET", WEBHOOKS + "?limit=2")
        self.assertEqual(len(r.json()["data"]), 2)
        rest = self.call("GET", WEBHOOKS + "?limit=2&after=" + r.json()["page"]["next_cursor"]).json()
        self.assertEqual(sorted([w["id"] for w in r.json()["data"] + rest["data"]]), sorted(ids))
        self.assertEqual(self.call("DELETE", "%s/%s" % (WEBHOOKS, ids[0])).status, 204)
        h.check_problem(self, self.call("GET", "%s/%s" % (WEBHOOKS, ids[0])), 404, "resource.not_found")
        h.check_problem(self, self.call("DELETE", "%s/%s" % (WEBHOOKS, ids[0])), 404, "resource.not_found")
        other = h.bootstrap_tenant(SERVER)
        other_admin = h.login_token(SERVER, other)["access_token"]
        h.check_problem(self, self.call("GET", "%s/%s" % (WEBHOOKS, ids[1]), token=other_admin), 404,
                        "resource.not_found")


class DeadLetters(unittest.TestCase):
    def test_a_poison_event_reaches_the_dead_letter_stream_and_the_stream_flows_on(self):
        tenant = h.bootstrap_tenant(SERVER)
        admin = h.login_token(SERVER, tenant)["access_token"]
        rc = Receiver()
        self.addCleanup(rc.close)
        r = h.api(SERVER.port, "POST", WEBHOOKS, {"url": rc.url, "events": ["crm.customer.created"], "secret": SECRET},
                  token=admin)
        self.assertEqual(r.status, 201, r)
        redis = h.Redis(h.require_env()["NEXTCRM_TEST_REDIS_ADDR"])
        self.addCleanup(redis.close)
        poison = redis.command("XADD", STREAM, "*", "id", "poison", "envelope", "{not json")
        h.api(SERVER.port, "POST", API + "/customers", {"name": "After the poison"}, token=admin)
        self.assertEqual(json.loads(rc.wait(1)[0][1])["data"]["name"], "After the poison")
        h.wait_for(lambda: any(f.get("entry") == poison for _, f in redis.stream(STREAM + ":dead")), 20,
                   what="the poison entry in the dead-letter stream")
        dead = [f for _, f in redis.stream(STREAM + ":dead") if f.get("entry") == poison][0]
        self.assertEqual(dead["group"], "webhooks")
        self.assertIn("not an NXP envelope", dead["reason"])
        self.assertEqual(dead["envelope"], "{not json")
        pending = redis.command("XPENDING", STREAM, "webhooks")
        self.assertEqual(pending[0], 0, "nothing stays pending behind it")

        # the figures of /metrics (admin listener)
        def metric(name):
            text = h.get(SERVER.admin_port, "/metrics").body.decode()
            for line in text.splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
            return None
        h.wait_for(lambda: (metric('nextcrm_bus_consumer_dead_letters_total{group="webhooks"}') or 0) >= 1, 10,
                   what="the dead letter counted in /metrics")
        self.assertGreater(metric("nextcrm_bus_published_total"), 0)
        self.assertGreaterEqual(metric("nextcrm_webhook_delivered_total"), 1)
        for name in ('nextcrm_bus_consumer_lag{group="webhooks"}', 'nextcrm_bus_consumer_pending{group="webhooks"}',
                     "nextcrm_bus_relay_lag_ms", "nextcrm_bus_publish_failures_total"):
            self.assertIsNotNone(metric(name), name)


if __name__ == "__main__":
    h.main()
