"""A webhook receiver for tests: a real HTTP server on loopback, run as its own process.

    python receiver.py PORT          (RECEIVER_SECRETS=whsec_a,whsec_b: secrets to start with)

It verifies every delivery with `standardwebhooks.Webhook(secret).verify` against the
secrets it was told, records it, and answers what it was told to answer. Control routes:

    POST /_control/secrets   ["whsec_...", ...]        secrets to verify with
    POST /_control/script    {"/path": [{"status": 500, "retry_after": "1", "delay": 0}, ...]}
                             answers for the next requests to /path, in order (then 200)
    GET  /_control/received  every request so far: path, headers, body, verified, secret, status, at
    GET  /_control/health    200 once it listens
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

lock = threading.Lock()
secrets: list[str] = [s for s in os.environ.get("RECEIVER_SECRETS", "").split(",") if s]
scripts: dict[str, list[dict]] = {}
received: list[dict] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status: int, payload=None, headers: dict | None = None) -> None:
        body = json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def do_GET(self):
        if self.path == "/_control/received":
            with lock:
                return self._answer(200, list(received))
        if self.path == "/_control/health":
            return self._answer(200, {"ok": True})
        return self._answer(404)

    def do_POST(self):
        body = self._body()
        if self.path == "/_control/secrets":
            with lock:
                secrets[:] = json.loads(body)
            return self._answer(200)
        if self.path == "/_control/script":
            with lock:
                for path, steps in json.loads(body).items():
                    scripts.setdefault(path, []).extend(steps)
            return self._answer(200)
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified_with = None
        with lock:
            known = list(secrets)
        for secret in known:
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified_with = secret
            break
        with lock:
            steps = scripts.get(self.path) or []
            step = steps.pop(0) if steps else {"status": 200}
        status = step.get("status", 200) if verified_with else 401
        if step.get("delay"):
            time.sleep(step["delay"])
        with lock:
            received.append(
                {
                    "path": self.path,
                    "headers": headers,
                    "body": body.decode(),
                    "verified": verified_with is not None,
                    "secret": verified_with,
                    "status": status,
                    "at": time.time(),
                }
            )
        extra = {"retry-after": step["retry_after"]} if step.get("retry_after") else None
        try:
            self._answer(status, {"received": True}, extra)
        except OSError:
            pass  # the sender gave up (a timeout test)


class Server(ThreadingHTTPServer):
    """The receivers' server (this one, and tests/ops/test_served.py's in its test process)."""

    # The worker delivers many events at once, each on a connection of its own. With the
    # default backlog of 5, under a full test run's load, connections beyond it were reset
    # (the sender saw a ReadError on its first attempt, then a retry: one attempt too many).
    request_queue_size = 256


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print("listening", flush=True)
    server.serve_forever()
