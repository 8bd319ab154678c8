"""Helpers for the Next_CRM integration tests (Python 3 standard library only).

The tests run against a real `nextcrm` binary, PostgreSQL and Redis. The
suite runner (test/run-all.sh) starts a throw-away PostgreSQL cluster and Redis
and exports:

  NEXTCRM_BIN                absolute path of build/nextcrm
  NEXTCRM_SOURCE_DIR         the source tree (storage/migrations lives there)
  NEXTCRM_TEST_PG_URL        libpq conninfo of the app role (nextcrm_app)
  NEXTCRM_TEST_PG_OWNER_URL  libpq conninfo of the owner role (nextcrm_owner)
  NEXTCRM_TEST_REDIS_ADDR    host:port of the shared Redis
  NEXTCRM_TEST_REDIS_DIR     a folder where a test may start its own Redis

A test whose variables are missing fails (it never skips): run it through
test/run-all.sh, or export the variables by hand and run
`python3 test/integration/test_<name>.py`.

Every Server gets its own platform token and a fresh NEXTCRM_JWT_KEYS (one
random HS256 key) unless the test passes its own in env; server.jwt_keys
holds the (kid, secret) pairs so that a test can forge tokens (jwt_sign).
"""

import atexit
import datetime
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openapi_contract  # noqa: E402

ENV_VARS = (
    "NEXTCRM_BIN",
    "NEXTCRM_SOURCE_DIR",
    "NEXTCRM_TEST_PG_URL",
    "NEXTCRM_TEST_PG_OWNER_URL",
    "NEXTCRM_TEST_REDIS_ADDR",
    "NEXTCRM_TEST_REDIS_DIR",
)

TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
PROBLEM_KEYS = ("type", "title", "status", "detail", "code", "trace_id")

_LIVE = []  # processes to kill if a test dies without cleaning up
_KEEP = os.environ.get("NEXTCRM_KEEP_RUN") == "1"


class MissingEnvironment(AssertionError):
    """Raised (as a failure, not a skip) when the suite's variables are missing."""


def require_env(*names):
    """Returns {name: value} for NAMES (default: all of ENV_VARS); fails when any is unset."""
    names = names or ENV_VARS
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise MissingEnvironment(
            "missing environment variable(s) %s: run the integration tests through "
            "test/run-all.sh (it starts PostgreSQL/Redis and exports them)" % ", ".join(missing))
    return {n: os.environ[n] for n in names}



def is_uuid(value):
    """True for the canonical lower-case text form of a UUID."""
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def parse_rfc3339(text):
    """An RFC 3339 timestamp (with Z or an offset) as an aware datetime."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))

def free_port():
    """A free TCP port on 127.0.0.1 (closed again, so there is a small race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    """Polls PREDICATE until it returns a truthy value; returns it, or raises
    AssertionError after TIMEOUT seconds (with the last value or exception)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)



def until(predicate, timeout):
    """Seconds until PREDICATE held (polled every 10 ms), or None after TIMEOUT:
    for bounds the issue sets ("within 1 s"), measured, not waited for."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def wait_status(server, path, status, timeout, interval=0.2):
    """Polls GET PATH on SERVER until it answers STATUS; returns (response,
    parsed JSON body). On timeout the assertion carries the server's log tail."""
    def probe():
        r = get(server.port, path, timeout=3)
        return (r, r.json()) if r.status == status else None
    try:
        return wait_for(probe, timeout, interval=interval, what="%s %d" % (path, status))
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, server.log_tail())) from None

def _cleanup_live():
    for proc in _LIVE:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_cleanup_live)


# ----------------------------------------------------------------- HTTP


class Response:
    """A parsed HTTP response: status, reason, headers (lower-case names), body."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.header_list = headers  # [(lower-case name, value)]
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.header_list:
            if k == name:
                return v
        return default

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def trace_id(self):
        """The trace id of the traceparent response header (None when absent/invalid)."""
        m = TRACEPARENT_RE.match(self.header("traceparent") or "")
        return m.group(2) if m else None

    def __repr__(self):
        return "<Response %d %r headers=%r body=%r>" % (
            self.status, self.reason, self.header_list, self.body[:300])


def request(port, method, path, headers=None, body=None, timeout=10, host="127.0.0.1"):
    """One request on a fresh connection with http.client; returns a Response."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        resp = Response(r.status, r.reason, [(k.lower(), v) for k, v in r.getheaders()], data)
    finally:
        conn.close()
    check_contract(method, path, resp)
    return resp


def check_contract(method, path, resp):
    """Fails the calling test when RESP is not what docs/openapi.yaml
    describes for METHOD PATH (test/integration/openapi_contract.py)."""
    if not openapi_contract.enabled():
        return
    errors = openapi_contract.check(method, path, resp.status, resp.header_list, resp.body)
    if errors:
        raise AssertionError("response not described by docs/openapi.yaml:\n  " + "\n  ".join(errors)
                             + "\n  " + repr(resp))


def get(port, path, headers=None, timeout=10):
    return request(port, "GET", path, headers=headers, timeout=timeout)


class ConnectionClosed(Exception):
    """The peer closed (or reset) the connection."""


class RawConnection:
    """A plain socket with a tiny HTTP/1.1 response reader, for what
    http.client cannot do: pipelining, malformed requests, slow clients."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("no complete response in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise ConnectionClosed(str(e))
        if not chunk:
            raise ConnectionClosed("EOF")
        self.buf += chunk

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _take_line(self, deadline):
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_response(self, timeout=10, head_request=False):
        """Reads exactly one response (Content-Length, chunked or until close)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError("bad status line %r" % lines[0])
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        hmap = dict(headers)
        if head_request or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in hmap.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._take_line(deadline).split(b";")[0], 16)
                if size == 0:
                    while self._take_line(deadline):  # trailers up to the empty line
                        pass
                    break
                body += self._take(size, deadline)
                self._take(2, deadline)
        elif "content-length" in hmap:
            body = self._take(int(hmap["content-length"]), deadline)
        else:
            try:
                while True:
                    self._fill(deadline)
            except ConnectionClosed:
                pass
            body, self.buf = self.buf, b""
        return Response(status, reason, headers, body)

    def closed_within(self, timeout):
        """True when the server closes the connection within TIMEOUT seconds
        (whatever it sends before closing is read and dropped)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except ConnectionClosed:
            return True
        except socket.timeout:
            return False


# ----------------------------------------------------------------- Redis


class Redis:
    """A minimal RESP client (one connection): command(*args) returns str,
    int, None or nested lists; a Redis error raises RedisError."""

    class RedisError(Exception):
        pass

    def __init__(self, addr, timeout=10):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed()
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed()
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise Redis.RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._take(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise AssertionError("bad RESP reply %r" % line)

    def command(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def stream(self, name, start="-"):
        """Every entry of stream NAME from START: [(entry id, {field: value})]."""
        out = []
        for entry_id, fields in self.command("XRANGE", name, start, "+") or []:
            out.append((entry_id, dict(zip(fields[0::2], fields[1::2]))))
        return out



class RedisServer:
    """A private redis-server (no persistence) on a free port, in a folder
    under NEXTCRM_TEST_REDIS_DIR; can be stopped and started again on the
    same port."""

    def __init__(self, persistent=False, replica_of=None):
        self.persistent = persistent  # appendonly yes, everysec: what survives a restart (IO-NOTES 3.4)
        self.replica_of = replica_of  # a RedisServer: start as its replica
        base = require_env("NEXTCRM_TEST_REDIS_DIR")["NEXTCRM_TEST_REDIS_DIR"]
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=base)
        self.port = free_port()
        self.proc = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self, timeout=10):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "yes" if self.persistent else "no",
             "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log"),
             "--repl-diskless-sync-delay", "0"]  # a replica syncs at once (5 s by default)
            + (["--replicaof", "127.0.0.1", str(self.replica_of.port)] if self.replica_of else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _LIVE.append(self.proc)
        wait_for(self.ping, timeout, what="redis on port %d" % self.port)

    def kill(self):
        """SIGKILL: the primary dies as a machine would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        wait_for(lambda: not self.ping(), 5, what="redis to be down")

    def cleanup(self):
        self.stop()
        if not _KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)


class RedisSentinel:
    """A Redis Sentinel (redis-server --sentinel) on a free port watching
    PRIMARY (a RedisServer) as "nextcrm": quorum 1, the primary is down
    after 500 ms without an answer, a failover may take 3 s."""

    def __init__(self, primary, name="nextcrm"):
        base = require_env("NEXTCRM_TEST_REDIS_DIR")["NEXTCRM_TEST_REDIS_DIR"]
        self.dir = tempfile.mkdtemp(prefix="sentinel-", dir=base)
        self.port = free_port()
        self.name = name
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:  # rewritten by the sentinel as it learns
            f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                    "sentinel monitor %s 127.0.0.1 %d 1\n"
                    "sentinel down-after-milliseconds %s 500\n"
                    "sentinel failover-timeout %s 3000\n"
                    "sentinel parallel-syncs %s 1\n"
                    % (self.port, self.dir, os.path.join(self.dir, "sentinel.log"), name, primary.port,
                       name, name, name))
        self.proc = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10):
        self.proc = subprocess.Popen(["redis-server", self.conf, "--sentinel"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _LIVE.append(self.proc)
        wait_for(lambda: self.primary() is not None, timeout, what="the sentinel on port %d" % self.port)

    def primary(self):
        """The primary's port the sentinel names (None when it cannot say)."""
        try:
            r = Redis(self.addr, timeout=1)
            try:
                got = r.command("SENTINEL", "get-master-addr-by-name", self.name)
            finally:
                r.close()
            return int(got[1]) if got else None
        except (OSError, Redis.RedisError, ConnectionClosed):
            return None

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        if not _KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)


def bus_envelopes(redis_addr, stream, tenant=None):
    """The envelopes of STREAM (only TENANT's when given), in stream order."""
    r = Redis(redis_addr)
    try:
        out = [json.loads(fields["envelope"]) for _, fields in r.stream(stream)]
    finally:
        r.close()
    return [e for e in out if tenant is None or e["tenantid"] == tenant]


def envelope_ids(redis_addr, stream, tenant, kind="crm.customer.created", subjects=None):
    """{subject: {envelope id, ...}} of the tenant's KIND events on STREAM
    (only SUBJECTS when given): one id per subject is one event, however
    often it was published (delivery is at least once, the id stays)."""
    got = {}
    for e in bus_envelopes(redis_addr, stream, tenant):
        if e["type"] == kind and (subjects is None or e["subject"] in subjects):
            got.setdefault(e["subject"], set()).add(e["id"])
    return got


def raise_guard_budgets(port, token, factor=1000):
    """Multiplies every guard budget of the caller's tenant by FACTOR, for
    load tests of one user: at the default budgets the guard rightly locks
    a client sending thousands of writes a minute. The guard stays on."""
    r = api(port, "GET", API + "/guard/budgets", token=token)
    if r.status != 200:
        raise AssertionError("GET guard budgets: %r" % r)
    for b in r.json()["data"]:
        body = {k: b[k] for k in ("scope", "metric", "window_s")}
        body.update(warn=b["warn"] * factor, block=b["block"] * factor)
        put = api(port, "PUT", API + "/guard/budgets/" + b["id"], body, token=token)
        if put.status != 200:
            raise AssertionError("PUT guard budget: %r" % put)


def calls_until_refused(nodes, path, token, most):
    """GET PATH with TOKEN on NODES in turn (10 ms apart), at most MOST
    times, until one is not 200: (calls admitted, the refusing response or
    None)."""
    for i in range(most):
        r = api(nodes[i % len(nodes)].port, "GET", path, token=token)
        if r.status != 200:
            return i, r
        time.sleep(0.01)
    return most, None


def wait_bus_envelopes(redis_addr, stream, tenant, predicate, timeout=10):
    """The tenant's envelopes once PREDICATE(list) holds (else the last list)."""
    deadline = time.monotonic() + timeout
    while True:
        got = bus_envelopes(redis_addr, stream, tenant)
        if predicate(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


# ----------------------------------------------------------------- nextcrm


class Server:
    """One `nextcrm` process on free ports (public and admin), started with
    the suite's PostgreSQL and Redis unless told otherwise.

    env: extra NEXTCRM_* settings (strings); redis_addr: another Redis.
    NEXTCRM_PLATFORM_TOKEN and NEXTCRM_JWT_KEYS default to fresh values per
    server (self.platform_token, self.jwt_keys); pass them in env to share
    them between servers (a restart with the same keys).
    Every NEXTCRM_* variable of the caller's environment except the
    NEXTCRM_TEST_* ones is dropped, so nothing leaks in by accident.
    """

    def __init__(self, env=None, args=("serve", "--role=all"), redis_addr=None):
        cfg = require_env()
        self.bin = cfg["NEXTCRM_BIN"]
        self.args = list(args)
        self.port = free_port()
        self.admin_port = free_port()
        while self.admin_port == self.port:
            self.admin_port = free_port()
        self.platform_token = "it-platform-token-%d-%d" % (os.getpid(), self.port)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("NEXTCRM_") or k.startswith("NEXTCRM_TEST_")}
        self.env.update({
            "NEXTCRM_LISTEN": "127.0.0.1:%d" % self.port,
            "NEXTCRM_ADMIN_LISTEN": "127.0.0.1:%d" % self.admin_port,
            "NEXTCRM_PG_URL": cfg["NEXTCRM_TEST_PG_URL"],
            "NEXTCRM_PG_MIGRATE_URL": cfg["NEXTCRM_TEST_PG_OWNER_URL"],
            "NEXTCRM_REDIS_ADDR": redis_addr or cfg["NEXTCRM_TEST_REDIS_ADDR"],
            "NEXTCRM_MIGRATIONS_DIR": os.path.join(cfg["NEXTCRM_SOURCE_DIR"], "storage", "migrations"),
            "NEXTCRM_PLATFORM_TOKEN": self.platform_token,
            "NEXTCRM_JWT_KEYS": jwt_keys_setting(new_jwt_key("it-%d" % self.port)),
            "NEXTCRM_LOG_LEVEL": "info",
            "NEXTCRM_SHUTDOWN_GRACE_S": "5",
            "NEXTCRM_SHUTDOWN_DRAIN_MS": "0",  # no gateway in front (the cluster tests set it)
            "NEXTCRM_PROFILE": "test",  # NEXTCRM_CHAOS is refused in production
            # as in the dev stack: a gateway on loopback reports the client
            "NEXTCRM_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
        })
        self.env.update(env or {})
        self.platform_token = self.env["NEXTCRM_PLATFORM_TOKEN"]
        # [(kid, secret bytes)], the first one signs (as nextcrm reads it)
        self.jwt_keys = parse_jwt_keys(self.env["NEXTCRM_JWT_KEYS"])
        self.grace = float(self.env["NEXTCRM_SHUTDOWN_GRACE_S"])
        self.workdir = tempfile.mkdtemp(prefix="nextcrm-it-")
        # the content role's quarantine and store: per server, removed with it
        self.env.setdefault("NEXTCRM_CONTENT_DIR", os.path.join(self.workdir, "content"))
        self.log_path = os.path.join(self.workdir, "nextcrm.log")  # stdout: JSON lines
        self.err_path = os.path.join(self.workdir, "nextcrm.err")  # stderr
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, ready=True, healthy=True, timeout=30):
        """Starts the process (again, after stop(): same ports, logs appended)."""
        for f in (getattr(self, "_log", None), getattr(self, "_err", None)):
            if f:
                f.close()
        self._log = open(self.log_path, "ab")
        self._err = open(self.err_path, "ab")
        self.proc = subprocess.Popen([self.bin] + self.args, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._err, cwd=self.workdir)
        _LIVE.append(self.proc)
        if ready:
            self.wait_ready(healthy=healthy, timeout=timeout)
        return self

    def wait_ready(self, healthy=True, timeout=30):
        """Waits until GET /health answers (200 when HEALTHY)."""
        def probe():
            if self.proc.poll() is not None:
                raise AssertionError("nextcrm exited with %s during start-up" % self.proc.returncode)
            r = get(self.port, "/health", timeout=2)
            return r.status == 200 if healthy else True
        try:
            wait_for(probe, timeout, interval=0.1, what="nextcrm /health on port %d" % self.port)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.log_tail())) from None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=None):
        """Waits for the process to exit; returns its exit status (negative: signal)."""
        timeout = self.grace + 5 if timeout is None else timeout
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("nextcrm did not exit within %.1fs of SIGTERM\n%s"
                                 % (timeout, self.log_tail()))

    def stop(self):
        """SIGTERM and wait; returns the exit status (0 expected)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.signal(signal.SIGTERM)
        return self.wait_exit()

    def cleanup(self):
        """Kills the process if still running and removes its folder."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(5)
        for f in (getattr(self, "_log", None), getattr(self, "_err", None)):
            if f:
                f.close()
        if not _KEEP:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self, path=None):
        """The stdout log (or the file PATH) as text."""
        try:
            with open(path or self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self):
        """The JSON objects of the log (lines that are not JSON are skipped)."""
        out = []
        for line in self.log_text().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def log_tail(self, n=40):
        out = []
        for name, path in (("stdout", self.log_path), ("stderr", self.err_path)):
            lines = self.log_text(path).splitlines()[-n:]
            if lines:
                out.append("--- last %d lines of nextcrm's %s (%s):\n%s"
                           % (len(lines), name, path, "\n".join(lines)))
        return "\n".join(out) or "--- nextcrm wrote no output"


def run_nextcrm(args, env=None, timeout=120):
    """Runs `nextcrm ARGS` to completion with the suite's settings; returns
    the CompletedProcess (stdout and stderr as text)."""
    cfg = require_env()
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith("NEXTCRM_") or k.startswith("NEXTCRM_TEST_")}
    full_env.update({
        "NEXTCRM_PG_URL": cfg["NEXTCRM_TEST_PG_URL"],
        "NEXTCRM_PG_MIGRATE_URL": cfg["NEXTCRM_TEST_PG_OWNER_URL"],
        "NEXTCRM_REDIS_ADDR": cfg["NEXTCRM_TEST_REDIS_ADDR"],
        "NEXTCRM_MIGRATIONS_DIR": os.path.join(cfg["NEXTCRM_SOURCE_DIR"], "storage", "migrations"),
        "NEXTCRM_JWT_KEYS": jwt_keys_setting(new_jwt_key("it-cli")),
    })
    full_env.update(env or {})
    return subprocess.run([cfg["NEXTCRM_BIN"]] + list(args), env=full_env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def psql_bin():
    found = shutil.which("psql")
    if found:
        return found
    for base in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        cand = os.path.join("/usr/lib/postgresql", base, "bin", "psql")
        if os.access(cand, os.X_OK):
            return cand
    raise AssertionError("psql not found")


def psql(conninfo, sql):
    """Runs SQL with psql; returns the rows as lists of strings ('|'-separated output)."""
    r = subprocess.run([psql_bin(), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                        "-d", conninfo, "-c", sql],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("psql failed (%d): %s" % (r.returncode, r.stderr))
    return [line.split("|") for line in r.stdout.splitlines() if line]


def psql_tenant(conninfo, tenant_id, sql):
    """Runs SQL in one transaction that first sets app.tenant_id to TENANT_ID
    with set_config(..., true), as the server does; returns the rows of SQL."""
    script = ("SELECT set_config('app.tenant_id', '%s', true) \\g /dev/null\n%s;\n"
              % (str(uuid.UUID(tenant_id)), sql.rstrip().rstrip(";")))
    r = subprocess.run([psql_bin(), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-1",
                        "-d", conninfo, "-f", "-"],
                       input=script, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("psql failed (%d): %s" % (r.returncode, r.stderr))
    return [line.split("|") for line in r.stdout.splitlines() if line]


# ----------------------------------------------------------------- shared names
# Paths and problem codes of the pinned API that several suites use
# (`from nextcrm_harness import API, USERS, ...`).
API = "/api/v1"
USERS = "/api/v1/users"
ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
PROFILES = "/api/v1/access-profiles"
AUDIT = "/api/v1/audit-logs"
ENTITIES = ("customers", "deals", "products", "warehouses", "price-lists")
COMMON = ("id", "created_at", "updated_at", "version")
VALIDATION = "request.validation"
FORBIDDEN = "auth.forbidden"
REVOKED = "auth.session_revoked"
NOT_FOUND = "resource.not_found"


# ----------------------------------------------------------------- JWT
#
# NEXTCRM_JWT_KEYS is "kid:base64secret[,kid:base64secret...]" (standard
# base64, secret >= 32 bytes); the first key signs, all of them verify.
# Tokens: header {"alg":"HS256","typ":"JWT","kid"}, claims {"iss":"nextcrm",
# "sub":user_id,"tid":tenant_id,"sid":session_id,"iat","nbf","exp"}.


def safe_content_item(tenant_id, created_by):
    """The id of a new content item of TENANT_ID in state `safe` (what an
    attachment may name, docs/CONTENT.md), written directly through the app
    role: for suites about records and events; the pipeline itself is
    test_content.py's."""
    rows = psql_tenant(require_env("NEXTCRM_TEST_PG_URL")["NEXTCRM_TEST_PG_URL"], tenant_id, """
        INSERT INTO content_items (tenant_id, id, status, filename, declared_mime, size, sha256, created_by,
                                   traceparent, safe_mime, safe_size, safe_sha256)
        VALUES (current_setting('app.tenant_id')::uuid, gen_random_uuid(), 'safe', 'x.pdf', 'application/pdf',
                1, repeat('0', 64), '%s', '00-%s-00f067aa0ba902b7-01', 'application/pdf', 1, repeat('0', 64))
        RETURNING id""" % (created_by, "0" * 32))
    return rows[0][0]


def new_jwt_key(kid=None, nbytes=32):
    """A fresh (kid, secret) pair."""
    return (kid or "it-" + os.urandom(4).hex(), os.urandom(nbytes))


def jwt_keys_setting(*keys):
    """The NEXTCRM_JWT_KEYS value for (kid, secret) pairs; the first one signs."""
    return ",".join("%s:%s" % (kid, base64.b64encode(secret).decode("ascii")) for kid, secret in keys)


def parse_jwt_keys(setting):
    """[(kid, secret)] of a NEXTCRM_JWT_KEYS value."""
    out = []
    for entry in setting.split(","):
        kid, _, secret = entry.strip().partition(":")
        out.append((kid, base64.b64decode(secret)))
    return out


def b64url(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def json_compact(obj):
    return json.dumps(obj, separators=(",", ":"))


_HMAC_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def jwt_sign(header, claims, secret, alg=None):
    """A compact JWS of HEADER and CLAIMS (dicts, or str/bytes taken as they
    are) signed with HMAC of ALG (default: header["alg"]; "none": no
    signature) keyed with SECRET."""
    alg = alg or (header.get("alg") if isinstance(header, dict) else "HS256")
    h64 = b64url(header if isinstance(header, (str, bytes)) else json_compact(header))
    c64 = b64url(claims if isinstance(claims, (str, bytes)) else json_compact(claims))
    signing_input = ("%s.%s" % (h64, c64)).encode("ascii")
    if alg not in _HMAC_DIGESTS:
        return "%s.%s." % (h64, c64)
    sig = hmac.new(secret, signing_input, _HMAC_DIGESTS[alg]).digest()
    return "%s.%s.%s" % (h64, c64, b64url(sig))


def jwt_parts(token):
    """(header dict, claims dict, signature bytes) of a compact JWS, unverified."""
    h64, c64, s64 = token.split(".")
    return json.loads(b64url_decode(h64)), json.loads(b64url_decode(c64)), b64url_decode(s64)


def jwt_verify(token, secret):
    """True when TOKEN's HS256 signature is right for SECRET."""
    h64, c64, s64 = token.split(".")
    want = hmac.new(secret, ("%s.%s" % (h64, c64)).encode("ascii"), hashlib.sha256).digest()
    return hmac.compare_digest(want, b64url_decode(s64))


# ----------------------------------------------------------------- API calls


def api(port, method, path, body=None, token=None, headers=None, timeout=30):
    """One JSON API call: BODY (dict/list: JSON-encoded; bytes/str: sent as
    they are) with Content-Type application/json; TOKEN as a Bearer token."""
    hdrs = {}
    if body is not None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        hdrs["Content-Type"] = "application/json"
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    hdrs.update(headers or {})
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = b""
    return request(port, method, path, headers=hdrs, body=body, timeout=timeout)


def start_module_server(**kwargs):
    """A Server shared by a whole test module (call it from setUpModule):
    started and healthy, cleaned up when the module's tests are done."""
    import unittest
    require_env()
    server = Server(**kwargs)
    unittest.addModuleCleanup(server.cleanup)
    server.start(healthy=True)
    return server


def tag():
    """8 random hex characters, for names that must not collide."""
    return os.urandom(4).hex()


def unique_slug(prefix="it"):
    """A tenant slug that no other test uses: PREFIX-<12 random hex>."""
    return "%s-%s" % (prefix, os.urandom(6).hex())


def new_password():
    """A password of the policy (>= 12 characters), different every call."""
    return "pw-" + os.urandom(12).hex()


class Tenant:
    """What bootstrap_tenant made: id, slug, name, admin_user_id, admin
    email and password."""

    def __init__(self, data, email, password):
        self.data = data
        self.id = data["id"]
        self.slug = data["slug"]
        self.name = data["name"]
        self.admin_user_id = data["admin_user_id"]
        self.email = email
        self.password = password

    def __repr__(self):
        return "<Tenant %s %s>" % (self.slug, self.id)


def bootstrap_tenant(server, slug=None, name=None, email=None, password=None, expect=201):
    """POST /api/v1/tenants with SERVER's platform token; returns a Tenant
    (the answer must be EXPECT, default 201)."""
    slug = slug or unique_slug()
    email = email or "admin@%s.test" % slug
    password = password or new_password()
    body = {"slug": slug, "name": name or "Tenant %s" % slug,
            "admin": {"email": email, "password": password}}
    r = api(server.port, "POST", "/api/v1/tenants", body, token=server.platform_token)
    if r.status != expect:
        raise AssertionError("POST /api/v1/tenants %s: expected %d, got %r\n%s"
                             % (slug, expect, r, server.log_tail()))
    return Tenant(r.json()["data"], email, password)


def login(server, tenant_slug, email, password):
    """POST /api/v1/auth/login; returns the Response."""
    return api(server.port, "POST", "/api/v1/auth/login",
               {"tenant": tenant_slug, "email": email, "password": password})


def login_token(server, tenant, email=None, password=None):
    """Logs in as TENANT's admin (or EMAIL/PASSWORD); returns the login body
    (access_token, token_type, expires_in, session_id). Fails unless 200."""
    r = login(server, tenant.slug, email or tenant.email, password or tenant.password)
    if r.status != 200:
        raise AssertionError("login to %s: expected 200, got %r" % (tenant.slug, r))
    return r.json()


def me(server, token, headers=None):
    """GET /api/v1/auth/me with TOKEN (None: no Authorization header)."""
    return api(server.port, "GET", "/api/v1/auth/me", token=token, headers=headers)


def check_problem(tc, r, status, codes=None):
    """Asserts (on the unittest.TestCase TC) that R is an RFC 9457 problem
    with STATUS and, when given, a code among CODES (a string or a tuple);
    returns the parsed body."""
    tc.assertEqual(r.status, status, r)
    ctype = r.header("content-type") or ""
    tc.assertTrue(ctype.startswith("application/problem+json"), "Content-Type %r: %r" % (ctype, r))
    body = r.json()
    for key in PROBLEM_KEYS:
        tc.assertIn(key, body, "problem without %r: %r" % (key, body))
    tc.assertEqual(body["status"], status, body)
    # dotted area.reason, or the one pinned undotted code (docs/protocols/ERROR-CONTRACT.md)
    tc.assertRegex(body["code"], r"^([a-z_]+\.[a-z_.]+|internal)$")
    tc.assertTrue(body["type"].endswith(body["code"]), body)
    if codes is not None:
        codes = (codes,) if isinstance(codes, str) else tuple(codes)
        tc.assertIn(body["code"], codes, body)
    tc.assertEqual(body["trace_id"], r.trace_id(), "trace_id of the body vs the traceparent header")
    return body


def main():
    """unittest.main with verbose output, for `python3 test_x.py`."""
    import unittest
    sys.stdout.reconfigure(line_buffering=True)
    unittest.main(verbosity=2)


# ----------------------------------------------------------------- gateway


class Gateway:
    """nginx rendered from deploy/nginx.dev.conf.template in front of SERVER
    (both upstreams), or of the servers CORE and CONTENT (lists), on a free
    loopback port; `port` is the gateway's."""

    def __init__(self, server=None, core=None, content=None):
        cfg = require_env("NEXTCRM_SOURCE_DIR")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="nextcrm-gw-")
        os.makedirs(os.path.join(self.dir, "logs"))
        os.makedirs(os.path.join(self.dir, "tmp"))
        with open(os.path.join(cfg["NEXTCRM_SOURCE_DIR"], "deploy", "nginx.dev.conf.template")) as f:
            text = f.read()
        def servers(nodes):  # as deploy/lib.sh's nginx_server_lines
            return "\n".join("        server 127.0.0.1:%d max_fails=1 fail_timeout=2s;" % n.port for n in nodes)
        core = core or [server]
        content = content or [server or core[0]]
        values = {"USER_DIRECTIVE": "user root;" if os.geteuid() == 0 else "",
                  "RUN_DIR": self.dir, "GATEWAY_PORT": str(self.port),
                  "DEPLOY_DIR": os.path.join(cfg["NEXTCRM_SOURCE_DIR"], "deploy"),
                  "CORE_SERVERS": servers(core), "CONTENT_SERVERS": servers(content)}
        for k, v in values.items():
            text = text.replace("@%s@" % k, v)
        if re.search(r"@[A-Z_]+@", text):
            raise AssertionError("unreplaced placeholder in the gateway template")
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        self.nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    def _run(self, *extra):
        return subprocess.run([self.nginx, "-p", self.dir + "/", "-e", os.path.join(self.dir, "logs", "error.log"),
                               "-c", self.conf] + list(extra),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)

    def start(self):
        r = self._run()
        if r.returncode != 0:
            raise AssertionError("nginx did not start: %s" % r.stderr)
        wait_for(lambda: get(self.port, "/health", timeout=2).status == 200, 15,
                 what="the gateway on port %d" % self.port)
        return self

    def stop(self):
        self._run("-s", "quit")
        pidfile = os.path.join(self.dir, "nginx.pid")
        deadline = time.time() + 10
        while os.path.exists(pidfile) and time.time() < deadline:
            time.sleep(0.05)
        if not _KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)


# ----------------------------------------------------------------- cluster


class Cluster:
    """N core nodes (`serve --role=core`), content nodes and a runner node on
    one PostgreSQL and one Redis, sharing their JWT keys and platform token,
    behind one nginx gateway (deploy/nginx.dev.conf.template with every core
    node in nextcrm_core and every content node in nextcrm_content), as
    `NEXTCRM_DEV_NODES=N deploy/dev.sh up` starts them. `core`, `content`:
    lists of Server; `gateway.port` is the entry for clients. ENV goes to
    every node; CONTENT_ENV (a list, one dict per content node) to those."""

    def __init__(self, cores=3, contents=1, runner=True, env=None, content_env=None):
        base = {"NEXTCRM_SHUTDOWN_DRAIN_MS": "1000"}
        base.update(env or {})
        first = Server(env=dict(base), args=("serve", "--role=core"))
        shared = dict(base, NEXTCRM_PLATFORM_TOKEN=first.platform_token,
                      NEXTCRM_JWT_KEYS=first.env["NEXTCRM_JWT_KEYS"])
        self.core = [first] + [Server(env=dict(shared), args=("serve", "--role=core")) for _ in range(cores - 1)]
        content_env = content_env or [{} for _ in range(contents)]
        # the content nodes share one quarantine and store (docs/CLUSTER.md)
        self.dir = tempfile.mkdtemp(prefix="nextcrm-cl-")
        shared_content = dict(shared, NEXTCRM_CONTENT_DIR=os.path.join(self.dir, "content"))
        self.content = [Server(env=dict(shared_content, **content_env[i]), args=("serve", "--role=content"))
                        for i in range(contents)]
        self.runner = [Server(env=dict(shared), args=("serve", "--role=runner"))] if runner else []
        self.gateway = None

    @property
    def nodes(self):
        return self.core + self.content + self.runner

    @property
    def platform_token(self):
        return self.core[0].platform_token

    def start(self):
        for n in self.nodes:
            n.start(ready=False)
        for n in self.nodes:
            n.wait_ready(healthy=True)
        self.gateway = Gateway(core=self.core, content=self.content or self.core[:1]).start()
        return self

    def cleanup(self):
        if self.gateway:
            self.gateway.stop()
        for n in self.nodes:
            n.cleanup()
        if not _KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self, node, sig=signal.SIGTERM):
        """Stops NODE (SIGTERM: drained; SIGKILL: killed) and starts it again."""
        node.signal(sig)
        node.wait_exit()
        node.start(healthy=True)
