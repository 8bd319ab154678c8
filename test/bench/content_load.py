#!/usr/bin/env python3
"""The content benchmark's driver (run by test/bench/bench_content.sh).

Phase 1: the pipeline end to end (upload -> scan -> sandboxed sanitize ->
store -> safe) against the bare tools (vips, qpdf) on the same files, the
same number at once, in alternating rounds; medians. Phase 2: resident
memory of nextcrm under concurrent 50 MB uploads.
"""
import concurrent.futures as cf
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import content_fixtures as fx  # noqa: E402
from nextcrm_harness import Redis  # noqa: E402

PORT = int(os.environ["BENCH_PORT"])
TOKEN = os.environ["BENCH_TOKEN"]
PID = int(os.environ["BENCH_PID"])
DIR = os.environ["BENCH_DIR"]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
FILES = int(os.environ.get("BENCH_FILES", "24"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "2"))
BIG = int(os.environ.get("BENCH_BIG", "20"))
REDIS = os.environ["BENCH_REDIS"]
STREAM = os.environ.get("BENCH_STREAM", "nxp:events")


class Outcomes:
    """Follows the event stream (as a client of the bus would, instead of
    polling every item): item id -> its final status, with a waiter each."""

    def __init__(self):
        self.done = {}
        self.cond = threading.Condition()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        r = Redis(REDIS, timeout=30)
        last = "$"
        while not self.stop:
            reply = r.command("XREAD", "BLOCK", "200", "COUNT", "500", "STREAMS", STREAM, last)
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    f = dict(zip(fields[0::2], fields[1::2]))
                    env = json.loads(f.get("envelope", "{}"))
                    kind = env.get("type", "")
                    if kind in ("content.item.safe", "content.item.rejected"):
                        with self.cond:
                            self.done[env["subject"].split("/")[-1]] = kind.rsplit(".", 1)[1]
                            self.cond.notify_all()

    def wait(self, cid, timeout=300):
        with self.cond:
            if not self.cond.wait_for(lambda: cid in self.done, timeout):
                raise SystemExit("item %s not done in time" % cid)
            if self.done[cid] != "safe":
                raise SystemExit("item %s rejected" % cid)


OUTCOMES = None


def call(method, path, body=None, headers=None, timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    hdrs = {"Authorization": "Bearer " + TOKEN}
    hdrs.update(headers or {})
    c.request(method, path, body=body, headers=hdrs)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def upload(data, name, ctype):
    status, body = call("POST", "/content/v1/uploads?filename=" + name, data, {"Content-Type": ctype})
    if status != 202:
        raise SystemExit("upload answered %d: %s" % (status, body[:300]))
    return json.loads(body)["data"]["id"]


def pipeline(data, name, ctype):
    """Seconds for FILES uploads, CLIENTS at a time, each until safe (its
    content.item.safe event read from the stream)."""
    def one(_):
        cid = upload(data, name, ctype)
        OUTCOMES.wait(cid)
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(FILES)))
    return time.monotonic() - t0


def bare(path, tool):
    """Seconds for FILES conversions by the bare tool, CLIENTS at a time."""
    def one(i):
        out = os.path.join(DIR, "bare-%d%s" % (i, os.path.splitext(path)[1]))
        cmd = (["vips", "jpegsave", path, out, "--Q", "90", "--strip"] if tool == "vips"
               else ["qpdf", "--object-streams=disable", path, out])
        rc = subprocess.run(cmd, capture_output=True).returncode
        if rc not in (0, 3):
            raise SystemExit("%s failed: %d" % (cmd, rc))
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(FILES)))
    return time.monotonic() - t0


def busy_ticks():
    """CPU time of the whole machine (every process: server, PostgreSQL,
    Redis, sandboxed workers, clamd, this client), in clock ticks."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # minus idle and iowait


def timed(fn, *args):
    """(seconds, CPU milliseconds of the machine) of fn(*args)."""
    hz = os.sysconf("SC_CLK_TCK")
    b = busy_ticks()
    secs = fn(*args)
    return secs, (busy_ticks() - b) * 1000.0 / hz


def scanned_pdf():
    """A 10-page PDF of page images (what a scanner makes), made by the
    sanitizer's own rasterizer from the text fixture."""
    src, out = os.path.join(DIR, "text10.pdf"), os.path.join(DIR, "scanned10.pdf")
    with open(src, "wb") as f:
        f.write(fx.pdf_pages(10))
    worker = os.path.join(os.environ["BENCH_BUILD"], "nextcrm-worker")
    subprocess.run([worker, "--in", src, "--out", out, "--allow", "application/pdf", "--rasterize", "1"],
                   check=True, capture_output=True)
    with open(out, "rb") as f:
        return f.read()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def phase_throughput():
    os.makedirs(DIR, exist_ok=True)
    cases = [("jpeg 2 MP", fx.jpeg_2mp(), "photo.jpg", "image/jpeg", "vips"),
             ("pdf 10 pages", fx.pdf_pages(10), "doc.pdf", "application/pdf", "qpdf"),
             ("pdf 10 scans", scanned_pdf(), "scan.pdf", "application/pdf", "qpdf")]
    verdicts = []
    for label, data, name, ctype, tool in cases:
        path = os.path.join(DIR, name)
        with open(path, "wb") as f:
            f.write(data)
        pipeline(data, name, ctype)  # warm: worker pages, statements, tool caches
        bare(path, tool)
        pipe_s, bare_s, pipe_cpu, bare_cpu = [], [], [], []
        for r in range(ROUNDS):
            secs, cpu = timed(pipeline, data, name, ctype)
            pipe_s.append(secs)
            pipe_cpu.append(cpu / FILES)
            secs, cpu = timed(bare, path, tool)
            bare_s.append(secs)
            bare_cpu.append(cpu / FILES)
            print("%-12s round %d: pipeline %.2f s (%.0f ms CPU a file), bare %s %.2f s (%.0f ms CPU a file) for %d files" %
                  (label, r + 1, pipe_s[-1], pipe_cpu[-1], tool, bare_s[-1], bare_cpu[-1], FILES), flush=True)
        p, b = statistics.median(pipe_s), statistics.median(bare_s)
        mb = len(data) * FILES / 1e6
        overhead = p / b - 1
        verdicts.append(overhead <= 0.30)
        print("%-12s %d bytes: pipeline %.1f uploads/s %.2f MB/s; bare %s %.1f files/s %.2f MB/s; "
              "overhead %+.0f%% (target <= 30%%: %s); CPU a file %.0f ms vs %.0f ms (machine-wide)" %
              (label, len(data), FILES / p, mb / p, tool, FILES / b, mb / b, 100 * overhead,
               "met" if overhead <= 0.30 else "NOT met", statistics.median(pipe_cpu), statistics.median(bare_cpu)),
              flush=True)
    return verdicts


class BigBody:
    """50 MB streamed in 64 KiB pieces: the client holds one piece."""

    def __init__(self, size):
        self.left = size
        self.piece = os.urandom(65536)

    def read(self, n=-1):
        if self.left <= 0:
            return b""
        n = min(self.left, len(self.piece) if n < 0 else min(n, len(self.piece)))
        self.left -= n
        return self.piece[:n]


def phase_memory():
    size = 50 * 1024 * 1024
    idle = rss_kb(PID)
    peak = [idle]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(PID))
            time.sleep(0.02)
    sampler = threading.Thread(target=sample)
    sampler.start()

    def one(i):
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=300)
        c.putrequest("POST", "/content/v1/uploads?filename=big-%d.bin" % i)
        c.putheader("Authorization", "Bearer " + TOKEN)
        c.putheader("Content-Type", "application/octet-stream")
        c.putheader("Content-Length", str(size))
        c.endheaders()
        body = BigBody(size)
        while True:
            chunk = body.read()
            if not chunk:
                break
            c.send(chunk)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(BIG) as pool:
        statuses = list(pool.map(one, range(BIG)))
    secs = time.monotonic() - t0
    stop.set()
    sampler.join()
    grown = (peak[0] - idle) / 1024
    print("memory: %d concurrent uploads of 50 MB (%d MB in all) in %.1f s (%.0f MB/s): answers %s; nextcrm RSS "
          "idle %.0f MB, peak %.0f MB, growth %.0f MB (%.1f%% of the bytes uploaded)" %
          (BIG, BIG * 50, secs, BIG * 50 / secs, sorted(set(statuses)), idle / 1024, peak[0] / 1024, grown,
           100 * grown / (BIG * 50)), flush=True)
    return all(s == 202 for s in statuses) and grown < 100


def main():
    global OUTCOMES
    OUTCOMES = Outcomes()
    time.sleep(0.3)  # the reader is blocked on the stream before the first upload
    verdicts = phase_throughput()
    flat = phase_memory()
    print("memory flat (growth < 100 MB): %s" % ("met" if flat else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
