"""What every peer shares: its command line, its result line, its safety nets.

Standard library only: this module is imported by peers running in the Faust
and Quix venvs, which do not have the main project's dependencies.

The contract between a peer process and :mod:`bench.peers.run`:

* arguments: ``--bootstrap --topic --events --store --group --timeout
  [--dump PATH] [--datadir DIR]``;
* exactly one stdout line starting with ``{"peer"`` carrying the result
  (:func:`emit_result`); everything else goes to stderr or is ignored;
* with ``--dump``, the peer writes its final tables to PATH as JSON
  (:func:`dump_tables`) so the runner can check them against the reference;
* the process ends by itself once N events are processed, or after
  ``--timeout`` seconds with an ``"error"`` result line and exit code 3.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import threading
import time
import uuid
from typing import Any

RESULT_PREFIX = '{"peer"'
TIMEOUT_EXIT_CODE = 3


def parse_args(peer: str, stores: tuple[str, ...], argv: list[str] | None = None):
    """The common peer command line."""
    p = argparse.ArgumentParser(prog=f"bench.peers.{peer}", description=f"{peer} peer")
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap host:port")
    p.add_argument("--topic", required=True, help="topic made by bench.workload")
    p.add_argument("--events", type=int, required=True, help="stop after N events")
    p.add_argument("--store", default=stores[0], choices=stores)
    p.add_argument(
        "--group",
        default=None,
        help="consumer group / app id; default: a fresh one, so the topic is read from offset 0",
    )
    p.add_argument("--timeout", type=float, default=600.0, help="hard limit in seconds")
    p.add_argument("--dump", default=None, help="write the final tables to this JSON file")
    p.add_argument("--datadir", default=None, help="state directory (default: a temp dir)")
    args = p.parse_args(argv)
    if args.group is None:
        args.group = fresh_group(peer)
    return args


def fresh_group(peer: str) -> str:
    """A consumer group / app id never used before (reads from the beginning)."""
    return f"bench-{peer}-{uuid.uuid4().hex[:10]}"


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def result_line(peer: str, store: str, events: int, seconds: float, **extra: Any) -> dict:
    """The result dict every peer prints (``seconds``: first to N-th event)."""
    return {
        "peer": peer,
        "store": store,
        "events": events,
        "seconds": round(seconds, 4),
        "events_per_s": round(events / seconds) if seconds > 0 else None,
        "peak_rss_mb": peak_rss_mb(),
        **extra,
    }


def emit_result(result: dict) -> None:
    """Print the one JSON result line and flush (peers may ``os._exit`` next)."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def arm_hard_timeout(
    peer: str, store: str, seconds: float, cleanup_dirs: tuple[str, ...] = ()
) -> threading.Timer:
    """Kill this process after ``seconds`` with an error result line.

    A thread timer, not a signal or an asyncio task: it fires even when the
    peer's event loop is stuck (or busy in C code that keeps the GIL only
    briefly). ``cleanup_dirs`` (temp state dirs) are removed first, since
    ``os._exit`` skips every other cleanup.
    """
    started = time.monotonic()

    def fire() -> None:
        emit_result(
            {
                "peer": peer,
                "store": store,
                "error": f"hard timeout after {time.monotonic() - started:.0f}s",
                "peak_rss_mb": peak_rss_mb(),
            }
        )
        sys.stderr.flush()
        for d in cleanup_dirs:
            shutil.rmtree(d, ignore_errors=True)
        os._exit(TIMEOUT_EXIT_CODE)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def dump_tables(
    path: str,
    per_key: dict[str, int],
    per_window: dict[tuple[str, int], int],
) -> None:
    """Write the peer's final tables: window keys as ``[key, start_s, count]``."""
    with open(path, "w") as f:
        json.dump(
            {
                "per_key": per_key,
                "per_window": [[k, int(s), n] for (k, s), n in per_window.items()],
            },
            f,
        )


def load_tables(path: str) -> tuple[dict[str, int], dict[tuple[str, int], int]]:
    """Read what :func:`dump_tables` wrote."""
    with open(path) as f:
        d = json.load(f)
    return d["per_key"], {(k, int(s)): n for k, s, n in d["per_window"]}
