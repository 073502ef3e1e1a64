"""raytables on the benchmark workload: the same two tables the peers compute."""

from __future__ import annotations

import time
import uuid
from typing import Any

import cluster


def run(bootstrap: str, topic: str, n_events: int, store: str, data_dir: str,
        timeout: float = 600.0, check: dict | None = None,
        guarantee: str = "at_least_once", tracing: Any = None) -> dict[str, Any]:
    app = cluster.Cluster(f"bench-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}",
                          store=store, data_dir=data_dir, processing_guarantee=guarantee,
                          tracing=tracing)
    source = app.topic(topic)  # json values, 8 partitions, already produced
    counts = app.table("counts", default=int)
    windowed = app.table("windowed", default=int).tumbling(10)

    @app.agent(source)
    async def count(stream):
        async for event in stream:
            key = event["key"]
            counts[key] += 1
            windowed[key] += 1

    t0 = time.monotonic()
    app.start()
    started = time.monotonic() - t0
    try:
        app.wait_idle(timeout=timeout, settle_rounds=1)
        stats = app.stats()["partitions"]
        parts = [s for s in stats.values() if s.get("first_batch_at")]
        first = min(s["first_batch_at"] for s in parts)
        last = max(s["last_batch_at"] for s in parts)
        events = sum(s["counters"].get("events", 0) for s in stats.values())
        result = {
            "peer": ("raytables" if guarantee == "at_least_once" else "raytables-eos")
                    + ("+tracing" if tracing else ""),
            "store": store, "events": events,
            "batches": sum(s["counters"].get("batches", 0) for s in stats.values()),
            "seconds": round(last - first, 3), "events_per_s": round(events / (last - first)),
            "peak_rss_mb": round(sum(s["peak_rss_mb"] for s in stats.values())),
            "start_seconds": round(started, 2),
        }
        if check is not None:
            from bench.workload import check_counts

            per_key = dict(counts.items())
            per_window = {(k, int(r[0])): v for (k, r), v in windowed.table.items()}
            result["check"] = check_counts(check, per_key, per_window)
        return result
    finally:
        app.stop()
