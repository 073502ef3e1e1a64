"""What many integration and cluster tests share: polling with a deadline, and the
tracking app whose final state proves nothing was lost (idempotent `latest`) and
nothing doubled (`counts`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import cluster


def wait_for(predicate: Callable[[], Any], timeout: float = 90, what: str = "condition") -> Any:
    """Polls `predicate` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def serving(server: Any) -> Iterator[Any]:
    """A local server (LocalKafka, LocalJaeger) for the block; afterwards its process
    must be gone, not merely asked to stop."""
    server.start()
    try:
        yield server
    finally:
        pid = server.pid
        server.stop()
        if pid is not None:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def tracking_app(name: str, bootstrap: str, topic: str, partitions: int,
                 work_s: float = 0.0, **options: Any) -> tuple[cluster.Cluster, Any, Any, Any]:
    """`latest[id] = value` (idempotent) and `counts[key] += 1` over keyed events.

    `work_s`: what a real pipeline would spend per event (blocking), so that a
    steady producer can outrun the app and lag grows.
    """
    app = cluster.Cluster(name, broker=f"kafka://{bootstrap}", **options)
    src = app.topic(topic, partitions=partitions)
    latest = app.table("latest")
    counts = app.table("counts", default=int)

    @app.agent(src)
    async def track(stream):
        async for ev in stream:
            if work_s:
                time.sleep(work_s)
            latest[ev["id"]] = ev["v"]
            counts[ev["k"]] += 1

    return app, src, latest, counts


def tracking_events(n: int, keys: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"k{i % keys}", {"id": f"e{i}", "k": f"k{i % keys}", "v": i}) for i in range(n)]
