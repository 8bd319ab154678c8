#!/usr/bin/env python3
"""Prometheus metrics on the admin listener only.
Run: python3 test/integration/test_metrics.py
"""

import os
import re
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402

# name{labels} value [timestamp]  (Prometheus text exposition format 0.0.4)
SAMPLE_RE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?'
    r' ([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|NaN|Inf))( -?[0-9]+)?$')
TYPES = {
    "nextcrm_http_requests_total": "counter",
    "nextcrm_http_request_duration_seconds": "histogram",
    "nextcrm_http_open_connections": "gauge",
    "nextcrm_actors_running": "gauge",
}


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_env()
        cls.server = h.Server()
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start(healthy=True)
        for path in ("/health", "/api/version", "/content/version", "/api/no-such-route"):
            h.get(cls.server.port, path)

    def scrape(self):
        r = h.get(self.server.admin_port, "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("text/plain"), r)
        return r.body.decode("utf-8")

    def samples(self, text):
        out = []
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = SAMPLE_RE.match(line)
            self.assertIsNotNone(m, "not a Prometheus sample line: %r" % line)
            out.append((m.group(1), m.group(2) or "", float(m.group(3).replace("Inf", "inf"))))
        return out

    def test_metric_families(self):
        text = self.scrape()
        for name, kind in TYPES.items():
            with self.subTest(metric=name):
                self.assertIn(name, text)
                self.assertRegex(text, r"(?m)^# TYPE %s %s$" % (re.escape(name), kind))
        self.assertIn("nextcrm_http_request_duration_seconds_bucket", text)
        self.assertIn('le="+Inf"', text)

    def test_request_counts_by_route_and_status(self):
        samples = self.samples(self.scrape())
        requests = [(labels, v) for name, labels, v in samples if name == "nextcrm_http_requests_total"]
        self.assertTrue(requests, "no nextcrm_http_requests_total samples")
        self.assertGreaterEqual(sum(v for _, v in requests), 4)
        self.assertTrue(any('"404"' in labels for labels, v in requests if v >= 1),
                        "no request counted with status 404: %r" % requests)
        self.assertTrue(any('"200"' in labels for labels, v in requests if v >= 1),
                        "no request counted with status 200: %r" % requests)

    def test_counts_grow(self):
        def total():
            return sum(v for name, _, v in self.samples(self.scrape())
                       if name == "nextcrm_http_requests_total")
        before = total()
        for _ in range(3):
            h.get(self.server.port, "/api/version")
        h.wait_for(lambda: total() >= before + 3, 3, what="the request counter to grow by 3")

    def test_gauges(self):
        values = {}
        for name, _, v in self.samples(self.scrape()):
            values[name] = values.get(name, 0) + v  # summed over label sets
        self.assertGreaterEqual(values.get("nextcrm_actors_running", 0), 1, values)
        self.assertIn("nextcrm_http_open_connections", values)
        self.assertGreaterEqual(values["nextcrm_http_open_connections"], 0)

    def test_not_on_public_listener(self):
        r = h.get(self.server.port, "/metrics")
        self.assertEqual(r.status, 404, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/problem+json"), r)

    def test_admin_health(self):
        r = h.get(self.server.admin_port, "/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("status"), "ok")


if __name__ == "__main__":
    h.main()
