"""Failover time: from losing the active's node to the promoted standby's first event.

Why this shape:

* Several raylets on this machine (``tests.multinode.MultiNodeCluster``: a head
  with 0 CPUs, so partition actors live on worker nodes with 2 CPUs each; the
  head's health checks are the tests' fast ones, 1 s x 4), an app with
  ``standby_replicas=1`` on a 2-partition topic, and a producer thread sending
  ``--rate`` events/s the whole time, so there is always an event waiting.
* A run kills the node running partition 0's active (``remove_node``, not
  graceful: its raylet and workers die at once). "First event processed by the
  promoted standby" is that replica's ``first_batch_at`` (``PartitionRuntime.
  stats()``): a standby never processes a batch, so the first value it gets is
  the wall time of its first batch after promotion. Every process shares this
  machine's clock.
* What dominates is read from the coordinator's events: ``replica_dead`` (the
  dead active is noticed), ``standby_promoted`` (``seconds`` the promote call
  took, ``at`` when it returned). Detection = replica_dead.at - kill.
* The cluster is reused between runs: before each kill a spare node is added and
  every partition must again have a standby on another node than its active
  (the coordinator places standbys away from actives), so each run starts in
  the same shape without paying Ray and app start-up again. The coordinator's
  rebalancing is off (``rebalance=False``), so the spare only receives standbys.

    .venv/bin/python -m bench.failover [--runs 3] [--rate 400] [--store memory]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.helpers import wait_for

TARGET_S = 3.0


class Pump(threading.Thread):
    """Sends `rate` keyed events/s to `topic` until stopped (one producer, its own loop)."""

    def __init__(self, bootstrap: str, topic: str, rate: int) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.rate = bootstrap, topic, rate
        self.sent = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=2)
        await producer.start()
        try:
            tick = 0.02
            per_tick = max(1, int(self.rate * tick))
            next_at = time.monotonic()
            while not self.stopping.is_set():
                for _ in range(per_tick):
                    i = self.sent
                    key = f"k{i % 32}"
                    await producer.send(self.topic, json.dumps({"id": i, "k": key}).encode(),
                                        key=json.dumps(key).encode())
                    self.sent += 1
                next_at += tick
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await producer.flush()
        finally:
            await producer.stop()


def placed(app: Any, partitions: int) -> dict[int, dict[str, str]] | None:
    """{partition: {role: node}} once every partition has an active and a standby elsewhere."""
    roles: dict[int, dict[str, str]] = {}
    for r in app.replicas():
        if r.get("error") or not r.get("node_id"):
            return None
        roles.setdefault(r["partition"], {})[r["role"]] = r["node_id"]
    ok = len(roles) == partitions and all(
        "standby" in x and "active" in x and x["standby"] != x["active"] for x in roles.values())
    return roles if ok else None


def one_run(mc: Any, app: Any, partitions: int) -> dict[str, Any]:
    """Kill partition 0's active node; time detection, promotion and the first event."""
    mc.add_node(num_cpus=2)  # the spare: replacements never have to share a node
    roles = wait_for(lambda: placed(app, partitions), 120, "a standby for every partition")
    victim_node = roles[0]["active"]
    victim = next(w for w in mc.workers if w.node_id == victim_node)
    time.sleep(1.0)  # steady state: the standby tails, the active processes the pump's events
    killed_at = time.time()
    mc.remove_node(victim)
    removed_s = time.time() - killed_at

    def first_batch() -> dict[str, Any] | None:
        s = app.stats()["partitions"].get(0, {})
        if s.get("node_id") not in (None, victim_node) and s.get("first_batch_at"):
            return s
        return None

    new = wait_for(first_batch, 120, "partition 0's first batch on its new owner")
    events = [e for e in app.stats()["events"] if e["at"] >= killed_at and e.get("partition") == 0]
    dead = next((e for e in events if e["event"] == "replica_dead" and e.get("role") == "active"),
                None)
    promoted = next((e for e in events if e["event"] in ("standby_promoted",
                                                          "partition_restarted")), None)
    result = {
        "failover_s": round(new["first_batch_at"] - killed_at, 3),
        "remove_node_s": round(removed_s, 3),
        "detect_s": round(dead["at"] - killed_at, 3) if dead else None,
        "how": promoted["event"] if promoted else None,
        "promotion_s": promoted.get("seconds") if promoted else None,
        "promoted_to_first_batch_s": round(new["first_batch_at"] - promoted["at"], 3)
        if promoted else None,
        "dead_error": (dead or {}).get("error", "")[:120],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=int, default=400, help="events/s sent during the runs")
    parser.add_argument("--store", default="memory://")
    args = parser.parse_args(argv)

    import cluster
    from cluster.localdev import LocalKafka  # before ray is imported: keeps Ray on loopback
    from tests.multinode import FAST_HEALTH_CHECKS, MultiNodeCluster

    partitions = 2
    runs: list[dict[str, Any]] = []
    with LocalKafka() as kafka, MultiNodeCluster(head_cpus=0) as mc:
        for _ in range(2):
            mc.add_node(num_cpus=2)
        name = f"bench-fo-{uuid.uuid4().hex[:6]}"
        # no rebalancing: the spare node would pull an active onto it mid-benchmark, and a
        # move can leave a partition's active on the node of its own standby
        app = cluster.Cluster(name, broker=f"kafka://{kafka.bootstrap}", store=args.store,
                              data_dir=tempfile.mkdtemp(prefix="bench-failover-"),
                              standby_replicas=1, rebalance=False)
        src = app.topic(name, partitions=partitions)
        latest = app.table("latest", default=int)

        @app.agent(src)
        async def track(stream):  # noqa: ANN001, ANN202 - a Faust-style agent
            async for event in stream:
                latest[event["k"]] = event["id"]

        app.start()
        pump = Pump(kafka.bootstrap, name, args.rate)
        pump.start()
        try:
            for i in range(args.runs):
                r = {"run": i + 1, **one_run(mc, app, partitions)}
                runs.append(r)
                print(json.dumps(r), flush=True)
        finally:
            pump.stopping.set()
            pump.join(timeout=30)
            app.stop()

    values = sorted(r["failover_s"] for r in runs)
    table = Table(title=f"failover: node of partition 0's active killed -> first event on the "
                        f"promoted standby (target < {TARGET_S:g} s; health checks "
                        f"{FAST_HEALTH_CHECKS['health_check_period_ms']} ms x "
                        f"{FAST_HEALTH_CHECKS['health_check_failure_threshold']})")
    for col in ("run", "failover s", "dead noticed s", "promotion s", "promoted -> 1st batch s",
                "how", "/ target"):
        table.add_column(col)
    for r in runs:
        table.add_row(str(r["run"]), f"{r['failover_s']:.2f}", str(r["detect_s"]),
                      str(r["promotion_s"]), str(r["promoted_to_first_batch_s"]), str(r["how"]),
                      f"{r['failover_s'] / TARGET_S:.2f}")
    if values:
        med = statistics.median(values)
        table.add_row("median", f"{med:.2f}", _med(runs, "detect_s"), _med(runs, "promotion_s"),
                      _med(runs, "promoted_to_first_batch_s"), f"min {values[0]:.2f} max "
                      f"{values[-1]:.2f}", f"{med / TARGET_S:.2f}")
    Console(width=160).print(table)
    return 0 if runs and statistics.median(values) < TARGET_S else 1


def _med(runs: list[dict[str, Any]], key: str) -> str:
    xs = [r[key] for r in runs if r.get(key) is not None]
    return f"{statistics.median(xs):.2f}" if xs else "-"


if __name__ == "__main__":
    sys.exit(main())
