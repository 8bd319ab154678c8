#!/usr/bin/env python3
"""The HTTP contract (docs/openapi.yaml, docs/protocols/ERROR-CONTRACT.md) and the edge limits of issue 2, over a real
socket against a real `nextcrm serve`.
Run: python3 test/integration/test_http_contract.py
"""

import json
import os
import re
import signal
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402

SEMVER_RE = re.compile(r"^\d+\.\d+\.\d+([-+].*)?$")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = "00-%s-%s-01" % (TRACE_ID, PARENT_SPAN)

# short timeouts so the slow-client tests run fast
TIMEOUT_ENV = {"NEXTCRM_REQUEST_TIMEOUT_MS": "1000", "NEXTCRM_IDLE_TIMEOUT_MS": "2000"}


def get_request(path, extra=""):
    return ("GET %s HTTP/1.1\r\nHost: test\r\n%s\r\n" % (path, extra)).encode()


class ContractTestCase(unittest.TestCase):
    def assert_trace_headers(self, r):
        self.assertTrue(r.header("x-request-id"), "no X-Request-Id: %r" % r)
        self.assertRegex(r.header("traceparent") or "", h.TRACEPARENT_RE, r)

    def assert_problem(self, r, status, code=None):
        self.assertEqual(r.status, status, r)
        ctype = r.header("content-type") or ""
        self.assertTrue(ctype.startswith("application/problem+json"), "Content-Type %r: %r" % (ctype, r))
        body = r.json()
        for key in h.PROBLEM_KEYS:
            self.assertIn(key, body, "problem without %r: %r" % (key, body))
        self.assertEqual(body["status"], status)
        self.assertIsInstance(body["title"], str)
        self.assertIsInstance(body["detail"], str)
        self.assertRegex(body["code"], r"^[a-z_]+\.[a-z_.]+$")
        self.assertTrue(body["type"].endswith(body["code"]), body)
        if code is not None:
            self.assertEqual(body["code"], code)
        self.assert_trace_headers(r)
        self.assertEqual(body["trace_id"], r.trace_id(), "trace_id of the body vs the traceparent header")
        return body


class HttpContract(ContractTestCase):
    """One server with short request/idle timeouts for the whole class."""

    @classmethod
    def setUpClass(cls):
        h.require_env()
        cls.server = h.Server(env=TIMEOUT_ENV)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start(healthy=True)
        cls.port = cls.server.port

    def tearDown(self):
        self.assertTrue(self.server.alive(), "nextcrm died\n" + self.server.log_tail())

    # ---- endpoints

    def test_versions(self):
        for path, service in (("/api/version", "core"), ("/content/version", "content")):
            with self.subTest(path=path):
                r = h.get(self.port, path)
                self.assertEqual(r.status, 200, r)
                self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
                body = r.json()
                self.assertEqual(body.get("service"), service, body)
                self.assertRegex(body.get("version", ""), SEMVER_RE)
                self.assertIsInstance(body.get("commit"), str)
                self.assertTrue(body["commit"], body)
                self.assert_trace_headers(r)

    def test_health_shape(self):
        r = h.get(self.port, "/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}})
        self.assert_trace_headers(r)

    def test_unknown_route_is_404_problem(self):
        for path in ("/api/no-such-route", "/content/no-such-route", "/no-such-route"):
            with self.subTest(path=path):
                self.assert_problem(h.get(self.port, path), 404, "resource.not_found")

    def test_wrong_method_is_405_with_allow(self):
        for method, path in (("DELETE", "/health"), ("POST", "/api/version")):
            with self.subTest(method=method, path=path):
                r = h.request(self.port, method, path, body=b"" if method == "POST" else None)
                self.assert_problem(r, 405)
                allow = [m.strip() for m in (r.header("allow") or "").split(",")]
                self.assertIn("GET", allow, r)

    # ---- tracing and request ids

    def test_traceparent_is_continued(self):
        r = h.get(self.port, "/api/version", headers={"traceparent": TRACEPARENT})
        self.assertEqual(r.status, 200)
        m = h.TRACEPARENT_RE.match(r.header("traceparent") or "")
        self.assertIsNotNone(m, r)
        self.assertEqual(m.group(2), TRACE_ID)
        self.assertNotEqual(m.group(3), "0" * 16)

    def test_trace_id_in_problem_follows_traceparent(self):
        r = h.get(self.port, "/api/no-such-route", headers={"traceparent": TRACEPARENT})
        body = self.assert_problem(r, 404, "resource.not_found")
        self.assertEqual(body["trace_id"], TRACE_ID)

    def test_invalid_traceparent_starts_a_new_trace(self):
        for bad in ("garbage", "00-%s-%s-01" % ("0" * 32, PARENT_SPAN), "00-%s-%s-01" % (TRACE_ID, "0" * 16),
                    "00-%s-%s-01" % (TRACE_ID.upper(), PARENT_SPAN)):
            with self.subTest(traceparent=bad):
                r = h.get(self.port, "/api/version", headers={"traceparent": bad})
                self.assertEqual(r.status, 200, r)
                tid = r.trace_id()
                self.assertIsNotNone(tid, r)
                self.assertNotEqual(tid, "0" * 32)
                if bad.startswith("00-%s-%s" % (TRACE_ID, "0" * 16)):
                    self.assertNotEqual(tid, TRACE_ID)

    def test_new_trace_per_request(self):
        a = h.get(self.port, "/api/version").trace_id()
        b = h.get(self.port, "/api/version").trace_id()
        self.assertIsNotNone(a)
        self.assertNotEqual(a, b)

    def test_request_id_is_echoed_or_generated(self):
        r = h.get(self.port, "/api/version", headers={"X-Request-Id": "it-req-42"})
        self.assertEqual(r.header("x-request-id"), "it-req-42")
        r = h.get(self.port, "/api/no-such-route", headers={"X-Request-Id": "it-req-43"})
        self.assertEqual(r.header("x-request-id"), "it-req-43")
        a = h.get(self.port, "/api/version").header("x-request-id")
        b = h.get(self.port, "/api/version").header("x-request-id")
        self.assertTrue(a and b and a != b, (a, b))

    # ---- connection handling

    def test_keep_alive(self):
        with h.RawConnection(self.port) as c:
            for _ in range(3):
                c.send(get_request("/api/version"))
                self.assertEqual(c.read_response().status, 200)

    def test_pipelined_requests_answered_in_order(self):
        with h.RawConnection(self.port) as c:
            c.send(get_request("/api/version", "X-Request-Id: pipe-1\r\n")
                   + get_request("/content/version", "X-Request-Id: pipe-2\r\n")
                   + get_request("/api/no-such-route", "X-Request-Id: pipe-3\r\n"))
            r1, r2, r3 = (c.read_response() for _ in range(3))
        self.assertEqual([r.header("x-request-id") for r in (r1, r2, r3)], ["pipe-1", "pipe-2", "pipe-3"])
        self.assertEqual([r.status for r in (r1, r2, r3)], [200, 200, 404])
        self.assertEqual(r1.json()["service"], "core")
        self.assertEqual(r2.json()["service"], "content")
        self.assert_problem(r3, 404, "resource.not_found")

    def test_request_split_into_many_packets(self):
        data = get_request("/api/version", "X-Request-Id: split-1\r\n")
        with h.RawConnection(self.port) as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(data), 7):
                c.send(data[i:i + 7])
                time.sleep(0.005)
            r = c.read_response()
        self.assertEqual((r.status, r.header("x-request-id")), (200, "split-1"))

    # ---- limits and bad input

    def test_big_but_allowed_headers(self):
        r = h.get(self.port, "/api/version", headers={"X-Fill": "a" * 8192})
        self.assertEqual(r.status, 200, r)

    def test_header_block_over_16k_is_431(self):
        with h.RawConnection(self.port) as c:
            c.send(get_request("/api/version", "X-Fill: %s\r\n" % ("a" * (17 * 1024))))
            r = c.read_response()
        self.assertEqual(r.status, 431, r)

    def test_many_headers_over_16k_is_431(self):
        extra = "".join("X-Fill-%d: %s\r\n" % (i, "b" * 100) for i in range(200))
        with h.RawConnection(self.port) as c:
            c.send(get_request("/api/version", extra))
            r = c.read_response()
        self.assertEqual(r.status, 431, r)

    def test_malformed_request_line_is_400(self):
        for raw in (b"THIS IS NOT HTTP\r\n\r\n",
                    b"GET /api/version HTTP/1.1\r\nHost: test\r\nNo colon here\r\n\r\n",
                    b"GET /api/version HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"):
            with self.subTest(raw=raw):
                with h.RawConnection(self.port) as c:
                    c.send(raw)
                    r = c.read_response()
                self.assertEqual(r.status, 400, r)
                self.assertTrue((r.header("content-type") or "").startswith("application/problem+json"), r)

    def test_body_over_limit_is_413(self):
        with h.RawConnection(self.port) as c:
            c.send(b"POST /api/v1/too-large-probe HTTP/1.1\r\nHost: test\r\n"
                   b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{\"a\":")
            r = c.read_response()
        self.assert_problem(r, 413, "request.too_large")

    def test_chunked_body_accepted(self):
        with h.RawConnection(self.port) as c:
            c.send(b"POST /api/v1/chunked-probe HTTP/1.1\r\nHost: test\r\n"
                   b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\n{\"a\":\r\n3\r\n12}\r\n0\r\n\r\n")
            r = c.read_response()
            self.assert_problem(r, 404, "resource.not_found")
            # the connection is still usable after a chunked body
            c.send(get_request("/api/version"))
            self.assertEqual(c.read_response().status, 200)

    # ---- slow clients

    def test_idle_connection_is_closed(self):
        with h.RawConnection(self.port) as c:
            started = time.monotonic()
            self.assertTrue(c.closed_within(6), "idle connection still open after 6s (idle timeout 2s)")
            self.assertGreater(time.monotonic() - started, 0.5, "closed before any timeout")

    def test_idle_keep_alive_connection_is_closed(self):
        with h.RawConnection(self.port) as c:
            c.send(get_request("/api/version"))
            self.assertEqual(c.read_response().status, 200)
            self.assertTrue(c.closed_within(6), "idle keep-alive connection still open after 6s")

    def test_slowloris_partial_header_is_closed(self):
        with h.RawConnection(self.port) as c:
            c.send(b"GET /api/version HTTP/1.1\r\nHost: test\r\nX-Slow: ")
            self.assertTrue(c.closed_within(5), "partial request still open after 5s (request timeout 1s)")

    def test_slowloris_trickle_is_closed(self):
        """One byte every 250 ms keeps an idle timer alive but not the request timeout."""
        with h.RawConnection(self.port) as c:
            c.send(b"GET /api/version HTTP/1.1\r\nHost: test\r\nX-Slow: ")
            deadline = time.monotonic() + 6
            closed = False
            while time.monotonic() < deadline:
                try:
                    c.send(b"a")
                except OSError:
                    closed = True
                    break
                if c.closed_within(0.25):
                    closed = True
                    break
            self.assertTrue(closed, "trickling client still connected after 6s (request timeout 1s)")

    # ---- logs

    def test_one_json_log_line_per_request(self):
        secret = "it-secret-bearer-value-0123456789"
        r = h.get(self.port, "/api/no-such-route",
                  headers={"X-Request-Id": "it-log-1", "traceparent": TRACEPARENT,
                           "Authorization": "Bearer " + secret})
        self.assertEqual(r.status, 404)

        def find():
            return [o for o in self.server.log_lines()
                    if o.get("request_id") == "it-log-1" and "status" in o]
        lines = h.wait_for(find, 5, what="the log line of request it-log-1 (is stdout flushed per line?)")
        self.assertEqual(len(lines), 1, lines)
        line = lines[0]
        for key in ("ts", "level", "msg", "trace_id", "request_id", "route", "method", "status", "dur_ms"):
            self.assertIn(key, line, line)
        self.assertEqual(line["trace_id"], TRACE_ID)
        self.assertEqual(line["method"], "GET")
        self.assertEqual(line["status"], 404)
        log = self.server.log_text()
        self.assertNotIn(secret, log, "a bearer token reached the log")
        self.assertNotIn(self.server.platform_token, log, "the platform token reached the log")
        for raw in log.splitlines():
            if raw.strip():
                json.loads(raw)  # every line of stdout is one JSON object


class ConnectionCap(ContractTestCase):
    def test_connection_cap(self):
        h.require_env()
        server = h.Server(env={"NEXTCRM_MAX_CONNECTIONS": "4", "NEXTCRM_IDLE_TIMEOUT_MS": "30000",
                               "NEXTCRM_REQUEST_TIMEOUT_MS": "30000"})
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        held = []
        try:
            for _ in range(4):
                c = h.RawConnection(server.port)
                held.append(c)
                c.send(get_request("/api/version"))
                self.assertEqual(c.read_response().status, 200)
            extra = h.RawConnection(server.port)
            held.append(extra)
            try:
                extra.send(get_request("/api/version"))
                r = extra.read_response(timeout=5)
                self.assertEqual(r.status, 503, "5th connection over a cap of 4: %r" % r)
            except (h.ConnectionClosed, BrokenPipeError, ConnectionResetError):
                pass  # closed at once: also fine
            # a slot frees up when one of the four goes away
            held.pop(0).close()

            def fifth_ok():
                with h.RawConnection(server.port, timeout=3) as c:
                    c.send(get_request("/api/version"))
                    return c.read_response(timeout=3).status == 200
            h.wait_for(fifth_ok, 5, interval=0.2, what="a connection after one was closed")
        finally:
            for c in held:
                c.close()
        self.assertEqual(server.stop(), 0, server.log_tail())


class GracefulShutdown(ContractTestCase):
    def test_sigterm_finishes_in_flight_request(self):
        h.require_env()
        server = h.Server(env={"NEXTCRM_SHUTDOWN_GRACE_S": "5"})
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        idle = h.RawConnection(server.port)
        self.addCleanup(idle.close)
        idle.send(get_request("/api/version"))
        self.assertEqual(idle.read_response().status, 200)

        with h.RawConnection(server.port) as busy:
            # a request under way: its head is only partly received
            busy.send(b"GET /api/version HTTP/1.1\r\nHost: test\r\nX-Request-Id: in-flight\r\n")
            time.sleep(0.3)
            server.signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertTrue(server.alive(), "exited with a request in flight\n" + server.log_tail())

            # no new connections while draining
            def refused():
                try:
                    with socket.create_connection(("127.0.0.1", server.port), timeout=1) as s:
                        s.sendall(get_request("/api/version"))
                        s.settimeout(1)
                        return s.recv(1) == b""
                except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
                    return True
            h.wait_for(refused, 3, interval=0.2, what="the listener to stop accepting")
            # idle keep-alive connections are closed at once
            self.assertTrue(idle.closed_within(3), "idle connection kept open during the drain")

            busy.send(b"\r\n")
            r = busy.read_response(timeout=5)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-request-id"), "in-flight")
            self.assertEqual(r.json().get("service"), "core")
        self.assertEqual(server.wait_exit(), 0, "exit status after SIGTERM\n" + server.log_tail())


if __name__ == "__main__":
    h.main()
