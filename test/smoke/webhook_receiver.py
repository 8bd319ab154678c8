#!/usr/bin/env python3
"""A webhook receiver for trying Next_CRM's webhooks on one machine.

    test/smoke/webhook_receiver.py PORT SECRET

Listens on 127.0.0.1:PORT, verifies each delivery's Standard Webhooks
signature with SECRET (whsec_...), prints one line per delivery (verified or
not, the event type and subject) and answers 204. Standard library only.
"""
import base64
import hashlib
import hmac
import http.server
import json
import sys
import time


def verified(secret, headers, body):
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "0")
    if abs(time.time() - int(ts)) > 300:
        return False
    mac = hmac.new(key, ("%s.%s." % (msg_id, ts)).encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    return any(s.partition(",")[2] == expected for s in headers.get("webhook-signature", "").split(" "))


def main():
    port, secret = int(sys.argv[1]), sys.argv[2]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ok = verified(secret, {k.lower(): v for k, v in self.headers.items()}, body)
            event = json.loads(body)
            print("webhook %s  signature %s  %s %s  data=%s" % (
                self.headers.get("webhook-id"), "ok" if ok else "BAD", event.get("type"), event.get("subject"),
                json.dumps(event.get("data"))), flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    print("listening on http://127.0.0.1:%d/hook" % port, flush=True)
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
