#!/usr/bin/env python3
"""Integration: every answer at the gateway's door is a problem.

nginx (deploy/nginx.dev.conf.template + deploy/nginx-problems.conf) in front
of a real nextcrm: each malformed or oversized request that nginx refuses by
itself, and an upstream that is down, must be answered as
application/problem+json with a stable code, the request id and a trace id
that is the one of `traceparent` -- never nginx's HTML page. The same
requests sent to nextcrm directly are problems too (the two doors agree
on the status where both refuse).
"""
import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402

SERVER = None
GATEWAY = None

# name -> (raw request, status, code) as nginx answers it
EDGE_CASES = {
    "a 20 KB header field": (
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431, "request.headers_too_large"),
    "a Content-Length that is not a number": (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "request.malformed"),
    "a 20 KB request target": (
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request.uri_too_long"),
    "a body over the route's limit": (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n", 413, "request.too_large"),
    "a chunk size that is not hex": (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
        "request.malformed"),
    "a duplicate Authorization": (
        b"GET /api/v1/auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
        400, "request.malformed"),
    "%00 in the path": (b"GET /api/%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request.malformed"),
    "a bare CR in a header": (b"GET /health HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400, "request.malformed"),
    "an obs-fold header line": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400, "request.malformed"),
    "a NUL in a header": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: b\x00c\r\n\r\n", 400, "request.malformed"),
    "a space before the colon": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", 400, "request.malformed"),
    "HTTP/2.0 in the request line": (b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505, "request.version_not_supported"),
    "bytes that are not HTTP": (b"\x16\x03\x01hello\r\n\r\n", 400, "request.malformed"),
    "a transfer coding nginx does not know": (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
        "request.not_implemented"),
    "TRACE": (b"TRACE /health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "request.method_not_allowed"),
}


def setUpModule():
    global SERVER, GATEWAY
    h.require_env()
    SERVER = h.start_module_server(env={"NEXTCRM_TRUSTED_PROXIES": "127.0.0.1/32,::1/128"})
    GATEWAY = h.Gateway(SERVER).start()


def tearDownModule():
    if GATEWAY:
        GATEWAY.stop()


def send_raw(port, data):
    with h.RawConnection(port) as c:
        c.send(data)
        return c.read_response()


class GatewayProblems(unittest.TestCase):
    def assert_gateway_problem(self, r, status, code):
        body = h.check_problem(self, r, status, code)
        self.assertRegex(body["trace_id"], r"^[0-9a-f]{32}$")
        self.assertTrue(r.header("x-request-id"), r)
        self.assertNotIn(b"<html", r.body.lower())
        return body

    def test_every_edge_refusal_is_a_problem(self):
        for name, (data, status, code) in EDGE_CASES.items():
            with self.subTest(name):
                self.assert_gateway_problem(send_raw(GATEWAY.port, data), status, code)

    def test_nextcrm_refuses_the_same_requests_as_problems(self):
        # the server's own door: a problem for each (it may refuse earlier or
        # otherwise, e.g. 431 for a long target; never HTML, never 2xx)
        for name, (data, _, _) in EDGE_CASES.items():
            with self.subTest(name):
                try:
                    r = send_raw(SERVER.port, data)
                except h.ConnectionClosed:
                    continue  # closed without an answer: allowed for bytes that are not HTTP
                self.assertGreaterEqual(r.status, 400, r)
                h.check_problem(self, r, r.status)

    def test_a_gateway_problem_keeps_the_callers_trace_and_request_id(self):
        trace = "0af7651916cd43dd8448eb211c80319c"
        data = (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: my-request-1\r\n"
                b"traceparent: 00-" + trace.encode() + b"-b7ad6b7169203331-01\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        r = send_raw(GATEWAY.port, data)
        # nginx has not parsed the headers when it refuses them: a new trace
        # and request id are allowed, a missing one is not
        body = self.assert_gateway_problem(r, 431, "request.headers_too_large")
        self.assertEqual(body["trace_id"], r.trace_id())
        r = h.request(GATEWAY.port, "POST", "/api/v1/auth/login", body=b"x" * 100000,
                      headers={"X-Request-Id": "my-request-2", "Content-Type": "application/json",
                               "traceparent": "00-%s-b7ad6b7169203331-01" % trace})
        body = self.assert_gateway_problem(r, 413, "request.too_large")
        self.assertEqual(body["trace_id"], trace)
        self.assertEqual(r.header("x-request-id"), "my-request-2")

    def test_server_problems_pass_through_unchanged(self):
        r = h.get(GATEWAY.port, "/api/v1/nothing-here")
        h.check_problem(self, r, 404, "resource.not_found")
        r = h.request(GATEWAY.port, "DELETE", "/api/v1/auth/me")
        h.check_problem(self, r, 405, "request.method_not_allowed")
        self.assertIn("GET", r.header("allow") or "")


class UpstreamDown(unittest.TestCase):
    def test_an_unreachable_upstream_is_a_503_problem_with_retry_after(self):
        # a second gateway whose upstream port has nothing listening
        class Nothing:
            port = h.free_port()
        gw = h.Gateway(Nothing())
        r = gw._run()
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            for method, path in (("GET", "/health"), ("POST", "/api/v1/auth/login"), ("GET", "/content/version")):
                with self.subTest(path):
                    resp = h.request(gw.port, method, path, body=b"{}" if method == "POST" else None,
                                     headers={"Content-Type": "application/json"})
                    body = h.check_problem(self, resp, 503, "dependency.unavailable")
                    self.assertEqual(resp.header("retry-after"), "1")
                    self.assertRegex(body["trace_id"], r"^[0-9a-f]{32}$")
        finally:
            gw.stop()


if __name__ == "__main__":
    h.main()
