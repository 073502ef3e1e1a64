"""Autoscaling end to end on Ray's fake multi-node autoscaler: lag grows, the
coordinator asks for CPUs, nodes join and partitions spread onto them; the load
stops, partitions are packed back, the request is released and the nodes go.
Table values are exact through every move."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

import cluster
from cluster import ScalePolicy
from cluster.local_autoscaling import LocalAutoscalingRay
from tests.helpers import tracking_app, tracking_events, wait_for

pytestmark = pytest.mark.cluster

PARTITIONS = 6


@pytest.fixture
def autoscaling_ray() -> Iterator[LocalAutoscalingRay]:
    import ray

    from tests import conftest

    if ray.is_initialized():
        ray.shutdown()
        conftest._ray_state["local"] = False
    ray_cluster = LocalAutoscalingRay(worker_cpus=2, min_workers=1, max_workers=3,
                                      idle_timeout_s=5)
    ray_cluster.start()
    try:
        ray_cluster.connect()
        yield ray_cluster
    finally:
        ray_cluster.stop()
    assert ray_cluster.processes() == []


def actives_by_node(app: cluster.Cluster) -> Counter:
    return Counter(r["node_id"] for r in app.replicas() if r.get("role") == "active")


def balanced(by_node: Counter, nodes: int) -> Counter | None:
    ok = len(by_node) == nodes and max(by_node.values()) - min(by_node.values()) <= 1
    return by_node if ok else None


def test_lag_scales_out_spreads_then_packs_back_and_releases(autoscaling_ray, bootstrap,
                                                             topic_name, tmp_path):
    # 0.2 ms of work per event: a steady producer outruns the app and lag grows
    app, src, latest, counts = tracking_app(
        f"as-{topic_name}", bootstrap, topic_name, PARTITIONS, work_s=0.0002,
        store="rocksdb://", data_dir=str(tmp_path), standby_replicas=0, autoscale=True,
        max_batch_records=500,
        # one step of 4 CPUs: two more 2-CPU nodes; quiet for ~3 s: scale back in
        scale_policy=ScalePolicy(high_lag=3_000, low_lag=50, rounds_up=2, rounds_down=6,
                                 step_cpus=4, max_cpus=4))
    events = tracking_events(60_100, 24)  # at most 60k under load, 100 after
    app.start()
    try:
        (home,) = autoscaling_ray.workers()
        assert actives_by_node(app) == {home: PARTITIONS}
        sent = 0
        stop = threading.Event()

        def produce() -> None:
            nonlocal sent
            while sent < 60_000 and not stop.is_set():
                src.send_many(events[sent:sent + 1000])
                sent += 1000
                time.sleep(0.02)  # a steady source (~50k events/s), faster than the app

        producer = threading.Thread(target=produce)
        producer.start()
        try:
            nodes = autoscaling_ray.wait_workers(lambda n: n == 3, 120, "3 (scale-out)")
            spread = wait_for(lambda: balanced(actives_by_node(app), 3), 120,
                              "actives spread evenly over the three nodes")
        finally:
            stop.set()
            producer.join(timeout=60)
        assert set(spread) == set(nodes)
        decisions = app.stats()["autoscale"]["decisions"]
        assert decisions[0]["event"] == "scale_out" and decisions[0]["requested_cpus"] == 6

        app.wait_idle(timeout=180)
        produced = events[:sent]
        assert dict(latest.items()) == {ev["id"]: ev["v"] for _, ev in produced}
        assert dict(counts.items()) == dict(Counter(ev["k"] for _, ev in produced))

        # quiet: packed back onto the home node, the request released, the nodes removed
        wait_for(lambda: any(d["event"] == "scale_released"
                             for d in app.stats()["autoscale"]["decisions"]),
                 120, "the scale-in to release its request")
        assert actives_by_node(app) == {home: PARTITIONS}
        assert autoscaling_ray.wait_workers(lambda n: n == 1, 120, "1 (scale-in)") == [home]
        stats = app.stats()
        assert stats["autoscale"]["requested_cpus"] == 0
        moves = stats["moves"]
        assert {m["to"] for m in moves} == set(nodes)  # out to the new nodes and back home
        assert sum(m["to"] == home for m in moves) == sum(m["from"] == home for m in moves)
        # exact after every move, and the app still serves
        assert dict(counts.items()) == dict(Counter(ev["k"] for _, ev in produced))
        src.send_many(events[sent:sent + 100])
        app.wait_idle(timeout=60)
        assert dict(counts.items()) == dict(Counter(ev["k"] for _, ev in events[:sent + 100]))
        print("autoscale decisions:", [(d["event"], d.get("requested_cpus"))
                                       for d in stats["autoscale"]["decisions"]],
              "moves:", len(moves), "pauses:", [m["pause_seconds"] for m in moves])
    finally:
        app.stop()
