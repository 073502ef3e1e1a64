"""Window-close latency and throughput: stream time passes a window, its callback starts.

Why this shape:

* One tumbling table (``--window`` 1 s) with a small positive expiry
  (``--expires`` 0.05 s: ``expires=0`` means "never expires" under Faust's
  falsy rule, and such a table never closes windows) and an
  ``on_window_close`` callback whose first statement takes ``time.time()``
  and reports it to a named Ray actor (the Collector of
  tests/integration/test_window_close.py). The report is not awaited: a
  blocking ``ray.get`` per close would measure the sink (it halves the task
  rate here); the run checks that every window's close arrived (duplicates counted).
* Events step through event time in ticks (4 per window): at each tick every
  one of ``--keys`` keys gets one event stamped with the tick's time, so each
  window holds every key and every window end closes ``--keys`` windows.
  Ticks are produced paced: ``--speed`` event seconds per wall second
  (offered closes/s = keys * speed / window); ``--speed 0`` sends everything at
  once, which measures the most closes/s the runtime sustains.
* Latency of a close = callback start minus the wall time at which the agent
  saw the first event of the tick that moved stream time past the window's
  end + expiry (the agent writes that time into a ``marks`` table once per tick
  per partition). It covers the rest of that batch, the close scan, the Ray
  task submission, scheduling and start of the callback. A second latency,
  from the tick's produce time, adds the time events waited in Kafka (the
  backlog, when closes cannot keep up). The windows closed only by the idle
  partition's clock (the last ones: no later tick) are excluded from latency.
* The first ``--warmup`` windows are left out of the statistics: Ray starts
  the task workers during them.

    .venv/bin/python -m bench.closes [--keys 500] [--windows 20] [--speed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from typing import Any

from rich.console import Console
from rich.table import Table


def collector(name: str) -> Any:
    import ray

    @ray.remote(num_cpus=0)
    class Collector:
        def __init__(self) -> None:
            self.closes: list[tuple[Any, float]] = []

        def record(self, close_id: Any, started: float) -> None:
            self.closes.append((close_id, started))

        def count(self) -> int:
            return len(self.closes)

        def all(self) -> list[tuple[Any, float]]:
            return list(self.closes)

    return Collector.options(name=name).remote()


async def produce(bootstrap: str, topic: str, keys: list[str], parts: dict[str, int], ticks: int,
                  base: float, step: float, speed: float) -> dict[int, float]:
    """Sends tick after tick (one event per key each), paced; returns each tick's send time."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=1 << 20, linger_ms=2)
    await producer.start()
    sent: dict[int, float] = {}
    try:
        t0 = time.monotonic()
        for t in range(ticks):
            if speed > 0:
                await asyncio.sleep(max(0.0, t0 + t * step / speed - time.monotonic()))
            ts_ms = int((base + t * step) * 1000)
            batches = {p: producer.create_batch() for p in set(parts.values())}
            futures = []
            for k in keys:
                kb, vb = json.dumps(k).encode(), json.dumps({"k": k, "t": t}).encode()
                p = parts[k]
                if batches[p].append(key=kb, value=vb, timestamp=ts_ms) is None:
                    futures.append(await producer.send_batch(batches[p], topic, partition=p))
                    batches[p] = producer.create_batch()
                    batches[p].append(key=kb, value=vb, timestamp=ts_ms)
            sent[t] = time.time()
            futures += [await producer.send_batch(b, topic, partition=p) for p, b in batches.items()]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


def warm_workers(task_cpus: float) -> None:
    """Start the task workers the close callbacks will use, before anything is measured.

    Ray starts workers on demand, two at a time here, ~1 s each on a busy
    2-core machine: the first burst of closes would otherwise measure that.
    """
    import ray

    @ray.remote
    def hold() -> None:
        time.sleep(1.0)

    slots = int(ray.available_resources().get("CPU", 1) / task_cpus)
    ray.get([hold.options(num_cpus=task_cpus).remote() for _ in range(max(1, slots))])


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 1 else (xs[0] if xs else float("nan"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--windows", type=int, default=20, help="windows of event time sent")
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--expires", type=float, default=0.05)
    parser.add_argument("--speed", type=float, default=1.0,
                        help="event seconds per wall second; 0 = send everything at once")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--task-cpus", type=float, default=0.25, help="num_cpus of a close task")
    parser.add_argument("--warmup", type=int, default=2, help="first windows left out of stats")
    parser.add_argument("--dump", default=None, help="write raw (close_id, started, latency) here")
    args = parser.parse_args(argv)

    import ray

    import cluster
    from cluster.localdev import LocalKafka, init_local_ray
    from cluster.partitioner import partition_for_bytes

    step, ticks_per_window = args.window / 4, 4
    ticks = args.windows * ticks_per_window
    keys = [f"k{i}" for i in range(args.keys)]
    parts = {k: partition_for_bytes(json.dumps(k).encode(), args.partitions) for k in keys}
    base = float(int(time.time()) - 900)  # whole seconds: window starts are exact
    with LocalKafka() as kafka:
        init_local_ray()
        try:
            name = f"bench-cl-{uuid.uuid4().hex[:6]}"
            sink = collector(f"{name}-sink")
            app = cluster.Cluster(name, broker=f"kafka://{kafka.bootstrap}", idle_advance_after=0.5)
            src = app.topic(name, partitions=args.partitions)
            marks = app.table("marks")
            windows = app.table("w", default=int).tumbling(args.window, expires=args.expires)

            @windows.on_window_close(num_cpus=args.task_cpus)
            def closed(key: Any, value: Any, close_id: Any = None) -> None:
                started = time.time()
                sink.record.remote(close_id, started)  # not awaited: see the module docstring

            @app.agent(src)
            async def count(stream):  # noqa: ANN001, ANN202 - a Faust-style agent
                last = -1
                async for ev in stream.events():
                    t = ev.value["t"]
                    if t != last:  # the first event of a tick on this partition
                        marks[f"{ev.partition}:{t}"] = time.time()
                        last = t
                    windows[ev.value["k"]] += 1

            app.start()
            warm_workers(args.task_cpus)
            try:
                sent = asyncio.run(produce(kafka.bootstrap, name, keys, parts, ticks, base, step,
                                           args.speed))
                expected = args.keys * args.windows
                deadline = time.monotonic() + 300 + expected / 100
                while ray.get(sink.count.remote()) < expected and time.monotonic() < deadline:
                    time.sleep(0.5)
                closes = ray.get(sink.all.remote())
                mark = dict(marks.items())
                stats = app.stats()["partitions"]
            finally:
                app.stop()
        finally:
            ray.shutdown()

    lat, lat_prod, starts, tail, raw = [], [], [], 0, []
    for (_table, k, w_start, _end), started in closes:
        n = round((w_start - base) / args.window)
        closes_at = w_start + args.window + args.expires
        tick = int((closes_at - base) // step) + 1  # first tick strictly after closes_at
        if n < args.warmup:
            continue
        starts.append(started)
        at = mark.get(f"{parts[k]}:{tick}")
        if at is None:
            tail += 1
            continue
        lat.append(started - at)
        lat_prod.append(started - sent[tick])
        raw.append((k, n, started, started - at, started - sent[tick]))
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump({"raw": raw, "marks": mark, "sent": sent}, f)
    span = max(starts) - min(starts) if len(starts) > 1 else float("nan")
    dup = len(closes) - len({c[0] for c in closes})
    failed = sum(s["closes"].get("failed", 0) for s in stats.values())
    result = {
        "keys": args.keys, "windows": args.windows, "partitions": args.partitions,
        "speed": args.speed, "offered_closes_per_s": (args.keys * args.speed / args.window)
        if args.speed else None,
        "closes": len(closes), "expected": args.keys * args.windows, "duplicates": dup,
        "failed": failed, "measured": len(lat), "tail_closes": tail,
        "closes_per_s": round(len(starts) / span) if span == span and span > 0 else None,
        "p50_ms": round(pct(lat, 50) * 1000, 1), "p99_ms": round(pct(lat, 99) * 1000, 1),
        "max_ms": round(max(lat) * 1000, 1) if lat else None,
        "p50_from_produce_ms": round(pct(lat_prod, 50) * 1000, 1),
        "p99_from_produce_ms": round(pct(lat_prod, 99) * 1000, 1),
    }
    print(json.dumps(result), flush=True)
    table = Table(title=f"window closes: tumbling({args.window:g}, expires={args.expires:g}), "
                        f"{args.keys:,} keys x {args.windows} windows, {args.partitions} partitions")
    for col in ("speed", "offered closes/s", "closes/s", "/ offered", "p50 ms", "p99 ms",
                "max ms", "p50 ms (from produce)", "p99 ms (from produce)", "closes", "ok"):
        table.add_column(col)
    offered = result["offered_closes_per_s"]
    got = result["closes_per_s"]
    ok = len(closes) - dup == result["expected"] and not failed
    table.add_row(f"{args.speed:g}" if args.speed else "max", f"{offered:,.0f}" if offered else "-",
                  f"{got:,}" if got else "-", f"{got / offered:.2f}" if got and offered else "-",
                  str(result["p50_ms"]), str(result["p99_ms"]), str(result["max_ms"]),
                  str(result["p50_from_produce_ms"]), str(result["p99_from_produce_ms"]),
                  f"{len(closes):,}/{result['expected']:,}", str(ok))
    Console(width=160).print(table)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
