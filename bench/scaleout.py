"""Throughput before, during and after an autoscaled scale-out from 1 to 3 nodes.

Why this shape:

* Ray's fake multi-node autoscaler (``cluster.local_autoscaling``): a CPU-less
  head and 2-CPU worker nodes, one at first, at most three. The app runs with
  ``autoscale=True``: its coordinator notices the lag, calls
  ``request_resources`` for 4 more CPUs, the autoscaler starts two nodes and the
  coordinator moves actives onto them one live move at a time.
* Steady load: a backlog of the throughput benchmark's workload (8 partitions,
  per-key and tumbling counts) produced before the app starts, so every
  partition always has events waiting and the app runs as fast as it can.
* Processed events come from the committed offsets (``progress()``: end offset
  minus lag), sampled every 0.5 s. Phases come from the coordinator's events:
  *before* is up to the ``scale_out`` decision (the policy waits ~10 s of lag
  on purpose, to have a before), *during* until the last move of the spread,
  *after* the next ``--after`` seconds.
* The final tables are checked against the exact reference: every move kept
  the counts.
* All fake nodes share this machine's 2 cores, so a scale-out here adds no CPU:
  the ratios show what the moves cost, not what the extra nodes would give on
  real machines.

    .venv/bin/python -m bench.scaleout [--events 10000000] [--after 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any

from rich.console import Console
from rich.table import Table


def processed(app: Any, total: int) -> int | None:
    try:
        return total - sum(p.get("total_lag", 0) for p in app.progress())
    except Exception:  # noqa: BLE001 - a partition mid-move: skip this sample
        return None


def rate(samples: list[tuple[float, int]], start: float, end: float) -> float | None:
    inside = [s for s in samples if start <= s[0] <= end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--after", type=float, default=10.0, help="seconds measured after")
    parser.add_argument("--store", default="memory://")
    args = parser.parse_args(argv)

    import cluster
    from bench.workload import check_counts, produce_workload
    from cluster.config import ScalePolicy
    from cluster.local_autoscaling import LocalAutoscalingRay
    from cluster.localdev import LocalKafka  # before ray is imported: keeps Ray on loopback

    topic = f"bench-scale-{uuid.uuid4().hex[:6]}"
    with LocalKafka() as kafka, LocalAutoscalingRay(worker_cpus=2, min_workers=1,
                                                    max_workers=3) as ray_cluster:
        spec = produce_workload(kafka.bootstrap, topic, args.events)
        print(f"produced {args.events} events in {spec['produce_seconds']} s", flush=True)
        ray_cluster.connect()
        app = cluster.Cluster(
            topic, broker=f"kafka://{kafka.bootstrap}", store=args.store,
            data_dir=tempfile.mkdtemp(prefix="bench-scaleout-"), standby_replicas=0,
            autoscale=True, scale_policy=ScalePolicy(high_lag=50_000, rounds_up=4,
                                                     rounds_down=10**6, step_cpus=4, max_cpus=4))
        source = app.topic(topic)
        counts = app.table("counts", default=int)
        windowed = app.table("windowed", default=int).tumbling(10)

        @app.agent(source)
        async def count(stream):  # noqa: ANN001, ANN202 - a Faust-style agent
            async for event in stream:
                counts[event["key"]] += 1
                windowed[event["key"]] += 1

        app.start()
        try:
            samples: list[tuple[float, int]] = []
            phases: dict[str, float] = {}
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                done = processed(app, args.events)
                now = time.time()
                if done is not None:
                    samples.append((now, done))
                    if done >= args.events:
                        break
                if "spread" not in phases:
                    events = app.stats()["events"]
                    out = [e for e in events if e["event"] == "scale_out"]
                    if out and "scale_out" not in phases:
                        phases["scale_out"] = out[0]["at"]
                    by_node: dict[str, int] = {}
                    for r in app.replicas():
                        if r.get("role") == "active":
                            by_node[r["node_id"]] = by_node.get(r["node_id"], 0) + 1
                    if len(by_node) == 3 and max(by_node.values()) - min(by_node.values()) <= 1:
                        moves = [e for e in events if e["event"] == "partition_moved"]
                        phases["spread"] = max(e["at"] for e in moves)
                elif now > phases["spread"] + args.after:
                    break
                time.sleep(0.5)
            app.wait_idle(timeout=600, settle_rounds=1)
            stats = app.stats()
            per_key = dict(counts.items())
            per_window = {(k, int(r[0])): v for (k, r), v in windowed.table.items()}
            check = check_counts(spec, per_key, per_window)
        finally:
            app.stop()
    if "spread" not in phases:
        print("the app never spread over three nodes; phases seen:", phases,
              "autoscale:", stats["autoscale"], "samples:", samples[:3], samples[-3:],
              "moves:", stats["moves"], [(e["at"], e["event"]) for e in stats["events"]][-30:],
              file=sys.stderr)
        return 1
    first = samples[0][0]
    before = rate(samples, first, phases["scale_out"])
    during = rate(samples, phases["scale_out"], phases["spread"])
    after = rate(samples, phases["spread"], phases["spread"] + args.after)
    pauses = [m["pause_seconds"] for m in stats["moves"]]
    nodes_joined = next((e["at"] for e in stats["events"] if e["event"] == "rebalance"), None)
    result = {"before_eps": before and round(before), "during_eps": during and round(during),
              "after_eps": after and round(after),
              "scale_out_to_first_move_s": nodes_joined and round(nodes_joined
                                                                  - phases["scale_out"], 2),
              "spread_s": round(phases["spread"] - phases["scale_out"], 2),
              "moves": len(pauses), "pause_median_s": statistics.median(pauses),
              "pause_max_s": max(pauses), "check": check}
    print(json.dumps(result), flush=True)
    table = Table(title=f"scale-out 1 -> 3 fake nodes under a {args.events:,}-event backlog "
                        f"({args.store}); tables exact: {check['ok']}")
    for col in ("phase", "seconds", "events/s", "/ before"):
        table.add_column(col)
    for name, lo, hi, r in (("before", first, phases["scale_out"], before),
                            ("during (request -> nodes -> moves)", phases["scale_out"],
                             phases["spread"], during),
                            ("after", phases["spread"], phases["spread"] + args.after, after)):
        table.add_row(name, f"{hi - lo:.1f}", f"{r:,.0f}" if r else "-",
                      f"{r / before:.2f}" if r and before else "-")
    Console(width=140).print(table)
    print(f"moves: {len(pauses)}, pause per migrated partition: median "
          f"{statistics.median(pauses):.3f} s, max {max(pauses):.3f} s; first move "
          f"{result['scale_out_to_first_move_s']} s after the request")
    return 0 if check["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
