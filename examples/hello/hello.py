"""hello: the smallest web app hybrid-kube can run, from your own registry.

Standard library only. Answers `GET /` with a greeting and the build's version, `GET /healthz`
with `ok` (the readiness probe). Listens on port 8080 (PORT overrides it, for local runs), writes
nothing to disk, and stops cleanly on SIGTERM, which Kubernetes sends before it kills a pod.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "dev")
GREETING = os.environ.get("GREETING", "Hello from hybrid-kube")


class Handler(BaseHTTPRequestHandler):
    server_version = "hello"
    sys_version = ""

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, "text/plain; charset=utf-8", b"ok\n")
        elif self.path == "/":
            body = {"message": GREETING, "version": VERSION, "pod": os.environ.get("HOSTNAME")}
            self._send(200, "application/json", json.dumps(body).encode() + b"\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    # PID 1 in a container gets no default SIGTERM action: stop serving on it explicitly.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"hello {VERSION} listening on :{port}", flush=True)
    server.serve_forever()
    server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
