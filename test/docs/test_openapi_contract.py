#!/usr/bin/env python3
"""The response checker of the integration suites (test/integration/openapi_contract.py)
can fail: each kind of departure from docs/openapi.yaml it must catch, caught."""
import json
import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import openapi_contract as oc  # noqa: E402

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
JSON = [("content-type", "application/json")]
PROBLEM = [("content-type", "application/problem+json")]


def problem(status, code):
    return json.dumps({"type": "https://nextcrm.dev/errors/" + code, "title": "t", "status": status,
                       "detail": "d", "code": code, "trace_id": TRACE}).encode()


class Checker(unittest.TestCase):
    def test_documented_answers_pass(self):
        self.assertEqual(oc.check("GET", "/health", 200, JSON,
                                  b'{"status":"ok","checks":{"postgres":"ok","redis":"ok"}}'), [])
        self.assertEqual(oc.check("GET", "/api/v1/customers/x", 404, PROBLEM, problem(404, "resource.not_found")), [])
        self.assertEqual(oc.check("GET", "/nowhere", 404, PROBLEM, problem(404, "resource.not_found")), [])

    def test_an_undocumented_status_fails(self):
        self.assertTrue(oc.check("GET", "/api/v1/auth/me", 418, PROBLEM, problem(418, "x.y")))

    def test_a_wrong_content_type_fails(self):
        self.assertTrue(oc.check("GET", "/api/v1/auth/me", 401, JSON, problem(401, "auth.missing_token")))

    def test_a_body_off_its_schema_fails(self):
        self.assertTrue(oc.check("GET", "/health", 200, JSON, b'{"status":42}'))
        bad = json.loads(problem(401, "auth.missing_token"))
        del bad["trace_id"]
        self.assertTrue(oc.check("GET", "/api/v1/auth/me", 401, PROBLEM, json.dumps(bad).encode()))

    def test_a_method_the_document_lacks_must_be_405_with_its_allow(self):
        allow = PROBLEM + [("allow", "GET, HEAD")]
        self.assertEqual(oc.check("DELETE", "/api/v1/auth/me", 405, allow,
                                  problem(405, "request.method_not_allowed")), [])
        wrong = PROBLEM + [("allow", "GET, HEAD, POST")]
        self.assertTrue(oc.check("DELETE", "/api/v1/auth/me", 405, wrong, problem(405, "request.method_not_allowed")))
        self.assertTrue(oc.check("DELETE", "/api/v1/auth/me", 200, JSON, b"{}"))

    def test_an_unknown_path_answering_2xx_fails(self):
        self.assertTrue(oc.check("GET", "/api/v1/secret", 200, JSON, b"{}"))

    def test_a_body_where_none_is_documented_fails(self):
        self.assertTrue(oc.check("POST", "/api/v1/auth/logout", 204, JSON, b"{}"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
