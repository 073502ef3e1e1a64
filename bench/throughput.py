"""Throughput: raytables against Faust, Quix Streams and the plain-aiokafka ceiling.

One run, one broker, the same workload for everyone (bench/workload.py: N keyed
JSON events over 8 partitions; a plain count and a tumbling(10) count per
key), one after the other. Every result is checked against the exact
reference before it is printed. Prints events/s, ratios and peak memory.

    .venv/bin/python -m bench.throughput [--events 1000000] [--faust-events 20000] [--skip faust]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

from rich.console import Console
from rich.table import Table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--peer-events", type=int, default=300_000,
                        help="events for the Quix run (it does ~26k/s)")
    parser.add_argument("--faust-events", type=int, default=20_000)
    parser.add_argument("--skip", default="", help="comma list: faust,quix,ceiling")
    parser.add_argument("--tracing", action="store_true", help="also run raytables with tracing on")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    from bench import raytables_peer
    from bench.peers.run import run_peer
    from bench.workload import produce_workload
    from cluster.localdev import LocalKafka, init_local_ray

    results = []
    with LocalKafka() as kafka:
        b = kafka.bootstrap
        prefix = f"bench-{int(time.time())}"
        specs: dict[int, dict] = {}

        def topic(n: int) -> dict:
            if n not in specs:
                specs[n] = produce_workload(b, f"{prefix}-{n}", n)
            return specs[n]

        def peer(name: str, store: str, n: int) -> None:
            spec = topic(n)
            r = run_peer(name, b, spec["topic"], n, "dict" if name == "ceiling" else store)
            results.append(r)
            print(json.dumps(r), flush=True)

        if "ceiling" not in skip:
            peer("ceiling", "memory", args.events)
        init_local_ray()
        runs = [("memory://", "at_least_once", None), ("rocksdb://", "at_least_once", None),
                ("rocksdb://", "exactly_once", None)]
        if args.tracing:  # per-batch spans into an in-memory exporter in each actor
            runs.append(("memory://", "at_least_once", {"exporter": "memory"}))
        for store, guarantee, trace in runs:
            spec = topic(args.events)
            r = raytables_peer.run(b, spec["topic"], args.events, store, tempfile.mkdtemp(),
                                   check=spec, guarantee=guarantee, tracing=trace)
            r["ok"] = r.pop("check")["ok"]
            results.append(r)
            print(json.dumps(r), flush=True)
        if "quix" not in skip:
            peer("quix", "rocksdb", args.peer_events)
        if "faust" not in skip:
            peer("faust", "memory", args.faust_events)
            peer("faust", "rocksdb", args.faust_events)

    def rate(name: str, store: str) -> float | None:
        for r in results:
            if r.get("peer") == name and store in str(r.get("store")) and "events_per_s" in r:
                return float(r["events_per_s"])
        return None

    table = Table(title="throughput (events/s, 8 partitions, plain + tumbling(10) count per key)")
    for col in ("system", "store", "events", "events/s", "x Quix", "x Faust (same store)",
                "/ ceiling", "peak RSS MB"):
        table.add_column(col)
    quix, ceiling = rate("quix", "rocksdb"), rate("ceiling", "dict")
    for r in results:
        eps = r.get("events_per_s")
        store = str(r.get("store", "")).replace("://", "")
        faust = rate("faust", store)
        fmt = lambda a, b: f"{a / b:.2f}" if a and b else "-"  # noqa: E731
        table.add_row(r.get("peer", "?"), store, str(r.get("events", "-")),
                      f"{eps:,.0f}" if eps else r.get("error", "-"), fmt(eps, quix),
                      fmt(eps, faust), fmt(eps, ceiling), str(r.get("peak_rss_mb", "-")))
    Console(width=150).print(table)
    return 0 if all("error" not in r and r.get("ok", True) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
