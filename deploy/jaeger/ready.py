"""Waits until a local Jaeger answers its query API and accepts OTLP, or fails fast.

Used by deploy/jaeger.sh (standard library only):

    python3 ready.py QUERY_URL TIMEOUT_S PID HOST:PORT [HOST:PORT ...]

Ready means: GET QUERY_URL/api/services answers 200, and every HOST:PORT (the
OTLP gRPC and HTTP receivers) accepts a TCP connection. Fails as soon as the
process PID has exited.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.error
import urllib.request


# never through an http(s)_proxy from the environment: this is a loopback address
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _query_ok(url: str) -> bool:
    try:
        with _opener.open(url + "/api/services", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _port_open(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    url, timeout, pid = sys.argv[1].rstrip("/"), float(sys.argv[2]), int(sys.argv[3])
    ports = sys.argv[4:]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"jaeger_ready: jaeger process {pid} exited", file=sys.stderr)
            return 1
        if _query_ok(url) and all(_port_open(p) for p in ports):
            return 0
        time.sleep(0.1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
