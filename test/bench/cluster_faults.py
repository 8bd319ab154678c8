#!/usr/bin/env python3
"""Load for test/bench/bench_cluster.sh's fault phases: closed-loop clients
(threads) through the gateway, half DSL queries and half creates (each with
an Idempotency-Key), for SECONDS; prints one line of JSON: requests, errors
(non-2xx or no answer), the error rate, p50/p99 latency in ms, and the
statuses seen. Stdlib only.

  cluster_faults.py PORT TOKEN SECONDS [CLIENTS]
"""
import http.client
import json
import sys
import threading
import time
import uuid

QUERY = json.dumps({"filter": {"field": "status", "op": "eq", "value": "active"},
                    "sort": [{"field": "created_at", "dir": "desc"}], "page": {"size": 20}})


def main():
    port, token, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    clients = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    lock = threading.Lock()
    lat, statuses = [], {}
    stop = time.monotonic() + seconds

    def client(c):
        n = 0
        while time.monotonic() < stop:
            create = (c + n) % 2 == 0
            n += 1
            headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
            if create:
                path, body = "/api/v1/customers", json.dumps({"name": "Bench %d %d" % (c, n)})
                headers["Idempotency-Key"] = uuid.uuid4().hex
            else:
                path, body = "/api/v1/customers/query", QUERY
            t0 = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                status = r.status
                conn.close()
            except Exception:  # noqa: BLE001
                status = 0  # no answer
            dt = (time.monotonic() - t0) * 1000
            with lock:
                lat.append(dt)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    total = len(lat)
    errors = sum(v for k, v in statuses.items() if not 200 <= k < 300)

    def pct(p):
        return round(lat[min(total - 1, int(total * p))], 1) if total else 0
    print(json.dumps({"requests": total, "errors": errors, "error_rate": round(errors / total, 4) if total else 0,
                      "p50_ms": pct(0.50), "p99_ms": pct(0.99), "statuses": statuses}))


if __name__ == "__main__":
    main()
