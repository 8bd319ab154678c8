#!/usr/bin/env python3
"""Access tokens (issue 3): every tampered, forged, expired or foreign token
is 401 auth.invalid_token; a well-signed token of a session that is not live
is 401 auth.session_revoked; keys rotate by kid; NEXTCRM_JWT_TTL_S is honoured.
The server runs with keys this test knows, so it forges tokens itself.
Run: python3 test/integration/test_identity_tokens.py
"""

import os
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
from nextcrm_harness import REVOKED  # noqa: E402

INVALID = "auth.invalid_token"
HOUR = 3600


class Tampering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_env()
        cls.key = h.new_jwt_key("it-sign")
        cls.server = h.Server(env={"NEXTCRM_JWT_KEYS": h.jwt_keys_setting(cls.key)})
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start(healthy=True)
        cls.tenant = h.bootstrap_tenant(cls.server)
        cls.other = h.bootstrap_tenant(cls.server)
        cls.login = h.login_token(cls.server, cls.tenant)
        cls.token = cls.login["access_token"]
        cls.header, cls.claims, _ = h.jwt_parts(cls.token)

    def tearDown(self):
        self.assertTrue(self.server.alive(), "nextcrm died\n" + self.server.log_tail())

    def forge(self, claims=None, header=None, secret=None, alg=None, **changes):
        """A token like the real one, with CHANGES to its claims (None: drop
        the claim), signed with SECRET (default: the server's key)."""
        c = dict(self.claims if claims is None else claims)
        for k, v in changes.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return h.jwt_sign(header or self.header, c, self.key[1] if secret is None else secret, alg=alg)

    def assert_401(self, token, code=INVALID, headers=None):
        r = h.me(self.server, token, headers=headers)
        return h.check_problem(self, r, 401, code)

    def test_real_and_reforged_tokens_work(self):
        """The control: the server accepts the real token and the same claims
        signed here, so the rejections below are about what each one changes."""
        for token in (self.token, self.forge()):
            r = h.me(self.server, token)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["data"]["session"]["id"], self.login["session_id"])
        now = int(time.time())
        r = h.me(self.server, self.forge(iat=now, nbf=now, exp=now + 600))
        self.assertEqual(r.status, 200, "a fresh, correctly signed token of a live session: %r" % r)

    def test_garbage(self):
        for token in ("garbage", "a.b.c", "a.b", "a.b.c.d", "..", "...", "%%%.%%%.%%%",
                      self.token.replace(".", ""), self.token + ".", "." + self.token,
                      self.token.rsplit(".", 1)[0], "\u00e9" * 10, "eyJ" + "A" * 40):
            with self.subTest(token=token[:30]):
                headers = {"Authorization": ("Bearer " + token).encode("utf-8").decode("latin-1")}
                self.assert_401(None, headers=headers)

    def test_changed_payload(self):
        h64, _, s64 = self.token.split(".")
        for change in ({"sub": str(uuid.uuid4())}, {"tid": self.other.id}, {"exp": self.claims["exp"] + HOUR},
                       {"role": "admin"}):
            with self.subTest(change=change):
                claims = dict(self.claims, **change)
                self.assert_401("%s.%s.%s" % (h64, h.b64url(h.json_compact(claims)), s64))

    def test_changed_signature(self):
        h64, c64, s64 = self.token.split(".")
        sig = h.b64url_decode(s64)
        flipped = bytes([sig[0] ^ 1]) + sig[1:]
        for bad in (h.b64url(flipped), h.b64url(sig[:-1]), h.b64url(sig + b"\0"), "", s64[::-1],
                    h.b64url(bytes(32))):
            with self.subTest(signature=bad[:12]):
                self.assert_401("%s.%s.%s" % (h64, c64, bad))

    def test_alg_none(self):
        for alg in ("none", "None", "NONE", "nOnE"):
            with self.subTest(alg=alg):
                header = dict(self.header, alg=alg)
                unsigned = self.forge(header=header, alg="none")
                self.assert_401(unsigned)
                # with the right HS256 signature of the changed header, still no
                self.assert_401(self.forge(header=header, alg="HS256"))
        no_alg = {k: v for k, v in self.header.items() if k != "alg"}
        self.assert_401(self.forge(header=no_alg, alg="HS256"))

    def test_other_algorithms(self):
        for alg, sign_with in (("HS512", "HS512"), ("HS384", "HS384"), ("RS256", "HS256"),
                               ("ES256", "HS256"), ("hs256", "HS256"), ("HS256 ", "HS256")):
            with self.subTest(alg=alg):
                self.assert_401(self.forge(header=dict(self.header, alg=alg), alg=sign_with))

    def test_expired(self):
        now = int(time.time())
        self.assert_401(self.forge(iat=now - 2 * HOUR, nbf=now - 2 * HOUR, exp=now - HOUR))
        self.assert_401(self.forge(exp=None))

    def test_not_yet_valid(self):
        now = int(time.time())
        self.assert_401(self.forge(iat=now, nbf=now + HOUR, exp=now + 2 * HOUR))

    def test_wrong_claim_types(self):
        """Correctly signed, but claims missing or of the wrong type."""
        now = int(time.time())
        for change in ({"exp": str(now + HOUR)}, {"exp": None, "nbf": None, "iat": None}):
            with self.subTest(change=change):
                self.assert_401(self.forge(**change))
        self.assert_401(self.forge(claims={}))
        for change in ({"sid": None}, {"sub": None}, {"tid": None},
                       {"sid": "not-a-uuid"}, {"sid": 12}, {"tid": "not-a-uuid"}):
            with self.subTest(change=change):
                self.assert_401(self.forge(**change), (INVALID, REVOKED))

    def test_wrong_issuer(self):
        self.assert_401(self.forge(iss="someone-else"))

    def test_unknown_kid(self):
        self.assert_401(self.forge(header=dict(self.header, kid="it-unknown")))
        self.assert_401(self.forge(header=dict(self.header, kid="")))
        self.assert_401(self.forge(header=dict(self.header, kid=12)))

    def test_key_not_configured(self):
        """Same kid, another secret (a key this server never had)."""
        self.assert_401(self.forge(secret=os.urandom(32)))
        self.assert_401(self.forge(secret=b""))
        self.assert_401(self.forge(secret=self.key[1][:-1]))

    def test_large_tokens(self):
        """A 12 KB token fits the header limit and is refused by the auth
        check; a 100 KB one is refused already by the HTTP layer (431) or by
        the auth check (401), and the server lives on."""
        fake = "eyJ" + "A" * (12 * 1024) + "." + "B" * 100 + "." + "C" * 43
        self.assert_401(fake)
        huge = "eyJ" + "A" * (100 * 1024) + ".e30." + "C" * 43
        r = h.me(self.server, huge)
        self.assertIn(r.status, (401, 431), r)
        if r.status == 401:
            h.check_problem(self, r, 401, INVALID)
        self.assertEqual(h.me(self.server, self.token).status, 200)

    def test_session_that_does_not_exist(self):
        now = int(time.time())
        self.assert_401(self.forge(sid=str(uuid.uuid4()), iat=now, nbf=now, exp=now + 600), REVOKED)

    def test_session_of_another_tenant(self):
        """The tid of another tenant with this session: 401, never B's data."""
        other_login = h.login_token(self.server, self.other)
        now = int(time.time())
        for change in ({"tid": self.other.id},
                       {"tid": self.other.id, "sub": self.other.admin_user_id},
                       {"sub": self.other.admin_user_id},
                       {"sid": other_login["session_id"]}):
            with self.subTest(change=change):
                token = self.forge(iat=now, nbf=now, exp=now + 600, **change)
                self.assert_401(token, (INVALID, REVOKED))
        self.assertEqual(h.me(self.server, self.token).status, 200)
        self.assertEqual(h.me(self.server, other_login["access_token"]).status, 200)

    def test_token_of_a_logged_out_session(self):
        t = h.bootstrap_tenant(self.server)
        login = h.login_token(self.server, t)
        _, claims, _ = h.jwt_parts(login["access_token"])
        self.assertEqual(h.api(self.server.port, "POST", "/api/v1/auth/logout",
                               token=login["access_token"]).status, 204)
        self.assert_401(login["access_token"], REVOKED)
        # a fresh, correctly signed token for the dead session: still revoked
        now = int(time.time())
        self.assert_401(self.forge(claims=claims, iat=now, nbf=now, exp=now + 600), REVOKED)

    def test_server_survives(self):
        for token in ("", "x" * 5000, "\x00.\x00.\x00", self.token * 3):
            h.me(self.server, None, headers={"Authorization": "Bearer " + token})
        self.assertEqual(h.me(self.server, self.token).status, 200)


class RotationAndTtl(unittest.TestCase):
    """Keys rotate by kid across restarts: [k1] -> [k2, k1] -> [k2]. Sessions
    live in PostgreSQL, so each new process recovers them on first use."""

    def start(self, keys, ttl=None):
        env = {"NEXTCRM_JWT_KEYS": h.jwt_keys_setting(*keys), "NEXTCRM_PLATFORM_TOKEN": self.platform_token}
        if ttl is not None:
            env["NEXTCRM_JWT_TTL_S"] = str(ttl)
        server = h.Server(env=env)
        self.addCleanup(server.cleanup)
        server.start(healthy=True)
        return server

    def test_rotation_and_ttl(self):
        h.require_env()
        self.platform_token = "it-rotation-" + os.urandom(8).hex()
        k1, k2 = h.new_jwt_key("k1-it"), h.new_jwt_key("k2-it")

        s1 = self.start([k1], ttl=600)
        t = h.bootstrap_tenant(s1)
        a = h.login_token(s1, t)
        self.assertEqual(a["expires_in"], 600, a)
        header, claims, _ = h.jwt_parts(a["access_token"])
        self.assertEqual(header["kid"], "k1-it")
        self.assertEqual(claims["exp"] - claims["iat"], 600, claims)
        self.assertTrue(h.jwt_verify(a["access_token"], k1[1]))
        self.assertEqual(s1.stop(), 0, s1.log_tail())

        s2 = self.start([k2, k1])
        r = h.me(s2, a["access_token"])
        self.assertEqual(r.status, 200, "a k1 token once k2 signs and k1 still verifies: %r\n%s" % (r, s2.log_tail()))
        b = h.login_token(s2, t)
        self.assertEqual(b["expires_in"], 3600, b)
        header, _, _ = h.jwt_parts(b["access_token"])
        self.assertEqual(header["kid"], "k2-it", "the first key of NEXTCRM_JWT_KEYS signs")
        self.assertTrue(h.jwt_verify(b["access_token"], k2[1]))
        self.assertEqual(h.me(s2, b["access_token"]).status, 200)
        self.assertEqual(s2.stop(), 0, s2.log_tail())

        s3 = self.start([k2])
        h.check_problem(self, h.me(s3, a["access_token"]), 401, INVALID)
        self.assertEqual(h.me(s3, b["access_token"]).status, 200)
        self.assertEqual(s3.stop(), 0, s3.log_tail())


if __name__ == "__main__":
    h.main()
